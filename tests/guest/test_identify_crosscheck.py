"""Identify data read by pynvme, cross-checked against an independent reader:
the function moved to the kernel's nvme driver and read with nvme-cli
(`nvme id-ctrl -o json`, `nvme id-ns -o json`), then handed back to vfio-pci
with tools/nvme-setup, as the rest of the suite expects."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import nvme as d

pytestmark = pytest.mark.testbed  # nvme-cli through the kernel driver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "nvme-setup")
MODULES = os.environ.get("PYNVME_GUEST_MODULES", "")

CTRL_FIELDS = {  # nvme-cli json key: (byte_end, byte_begin)
    "vid": (1, 0), "ssvid": (3, 2), "mdts": (77, 77), "cntlid": (79, 78), "ver": (83, 80),
    "oacs": (257, 256), "acl": (258, 258), "aerl": (259, 259), "frmw": (260, 260),
    "lpa": (261, 261), "elpe": (262, 262), "sqes": (512, 512), "cqes": (513, 513),
    "nn": (519, 516), "oncs": (521, 520), "vwc": (525, 525), "sgls": (539, 536),
}
CTRL_TEXT = {"sn": (23, 4), "mn": (63, 24), "fr": (71, 64)}


def full_bdf(addr):
    return addr if addr.count(":") == 2 else "0000:" + addr


def tool(*args):
    return subprocess.run(["/usr/bin/python3", TOOL, "--modules-dir", MODULES, *args],
                          capture_output=True, text=True, timeout=120)


def driver(bdf):
    try:
        return os.path.basename(os.readlink(f"/sys/bus/pci/devices/{bdf}/driver"))
    except OSError:
        return None


def kernel_ctrl(bdf, timeout=30):
    """/dev/nvmeX of the function and its first namespace, once they exist."""
    base = f"/sys/bus/pci/devices/{bdf}/nvme"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for ctrl in os.listdir(base) if os.path.isdir(base) else []:
            for name in os.listdir(f"{base}/{ctrl}"):
                if re.fullmatch(rf"{ctrl}n1", name) and os.path.exists(f"/dev/{name}"):
                    return f"/dev/{ctrl}", f"/dev/{name}"
        time.sleep(0.2)
    raise AssertionError(f"no /dev/nvmeXn1 for {bdf} after {timeout} s")


def nvme_cli(*args):
    proc = subprocess.run(["nvme", *args, "-o", "json"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(not shutil.which("nvme"), reason="nvme-cli is not installed")
def test_identify_matches_nvme_cli(pciaddr):
    bdf = full_bdf(pciaddr)
    pcie = d.Pcie(bdf)
    nvme0 = d.Controller(pcie)
    ours = {k: nvme0.id_data(e, b) for k, (e, b) in CTRL_FIELDS.items()}
    ours.update({k: nvme0.id_data(e, b, str) for k, (e, b) in CTRL_TEXT.items()})
    ns = {k: nvme0.id_data(e, b, nsid=1, cns=0)
          for k, (e, b) in {"nsze": (7, 0), "ncap": (15, 8), "nlbaf": (25, 25),
                            "flbas": (26, 26)}.items()}
    lbafs = [nvme0.id_data(128 + 4 * i + 3, 128 + 4 * i, nsid=1, cns=0)
             for i in range(ns["nlbaf"] + 1)]
    nvme0.close()
    pcie.close()

    try:
        proc = tool("restore", bdf)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert driver(bdf) == "nvme"
        ctrl_dev, ns_dev = kernel_ctrl(bdf)
        theirs = nvme_cli("id-ctrl", ctrl_dev)
        theirs_ns = nvme_cli("id-ns", ns_dev)
    finally:
        if driver(bdf) != "vfio-pci":
            tool("bind", bdf)
        assert driver(bdf) == "vfio-pci", f"{bdf} must be left on vfio-pci"

    for key in CTRL_FIELDS:
        assert ours[key] == theirs[key], key
    for key in CTRL_TEXT:
        assert ours[key] == theirs[key].rstrip(" \0"), key
    for key in ("nsze", "ncap", "nlbaf", "flbas"):
        assert ns[key] == theirs_ns[key], key
    for i, raw in enumerate(lbafs):
        lbaf = theirs_ns["lbafs"][i]
        assert raw & 0xffff == lbaf["ms"]
        assert (raw >> 16) & 0xff == lbaf["ds"]
        assert (raw >> 24) & 0x3 == lbaf["rp"]
    # and pynvme still drives it after the round trip
    with d.Controller(d.Pcie(bdf)) as again:
        assert again.id_data(23, 4, str) == ours["sn"]


@pytest.mark.skipif(not shutil.which("nvme"), reason="nvme-cli is not installed")
def test_namespace_view_of_4k_controller_matches_nvme_cli():
    """Namespace.id_data / capacity / lba_size of 0000:02:00.0 (4 KiB LBAs)."""
    bdf = "0000:02:00.0"
    try:
        proc = tool("restore", bdf)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ctrl_dev, ns_dev = kernel_ctrl(bdf)
        idc, idn = nvme_cli("id-ctrl", ctrl_dev), nvme_cli("id-ns", ns_dev)
    finally:
        if driver(bdf) != "vfio-pci":
            tool("bind", bdf)
        assert driver(bdf) == "vfio-pci", f"{bdf} must be left on vfio-pci"
    pcie = d.Pcie(bdf)
    ctrl = d.Controller(pcie)
    ns = d.Namespace(ctrl, 1)
    try:
        assert ctrl.id_data(23, 4, str) == idc["sn"].rstrip(" \0")
        assert ctrl.id_data(77) == idc["mdts"] and ctrl.id_data(519, 516) == idc["nn"]
        assert ns.id_data(7, 0) == ns.capacity == idn["nsze"]
        assert ns.id_data(26) == idn["flbas"]
        lbaf = idn["lbafs"][idn["flbas"] & 0xf]
        assert ns.lba_size == 1 << lbaf["ds"] == 4096
        assert ns.meta_size == lbaf["ms"]
        assert ns.get_lba_format(1 << lbaf["ds"], lbaf["ms"]) == idn["flbas"] & 0xf
    finally:
        ns.close()
        ctrl.close()
        pcie.close()
