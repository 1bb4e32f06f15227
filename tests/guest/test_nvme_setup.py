"""tools/nvme-setup on the emulated controller 0000:02:00.0, with the real kernel.

The tests move the function between vfio-pci and the kernel's nvme driver and
always leave it bound to vfio-pci, as the rest of the suite expects.
"""
import os
import re
import subprocess
import time

import pytest

pytestmark = pytest.mark.testbed  # the kernel nvme driver and sysfs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "nvme-setup")
BDF = "0000:02:00.0"
MODULES = os.environ.get("PYNVME_GUEST_MODULES", "")
DEV = f"/sys/bus/pci/devices/{BDF}"


def tool(*args):
    proc = subprocess.run(["/usr/bin/python3", TOOL, "--modules-dir", MODULES, *args],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def sh(*cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stdout}{proc.stderr}"
    return proc.stdout.strip()


def driver():
    try:
        return os.path.basename(os.readlink(f"{DEV}/driver"))
    except OSError:
        return None


def namespace_disk(timeout=30):
    """The kernel's block device for the function's first namespace, once it exists."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for ctrl in os.listdir(f"{DEV}/nvme") if os.path.isdir(f"{DEV}/nvme") else []:
            for name in os.listdir(f"{DEV}/nvme/{ctrl}"):
                if re.fullmatch(r"nvme\d+n1", name) and os.path.exists(f"/dev/{name}"):
                    return name
        time.sleep(0.2)
    raise AssertionError(f"no /dev/nvmeXn1 for {BDF} after {timeout} s")


@pytest.fixture
def on_kernel_driver():
    """02:00.0 on the kernel nvme driver for the test; back on vfio-pci after it."""
    try:
        proc = tool("restore", BDF)
        assert proc.returncode == 0, proc.stderr
        assert f"{BDF}: bound to nvme (was vfio-pci)" in proc.stdout
        assert driver() == "nvme"
        yield namespace_disk()
    finally:
        if driver() != "vfio-pci":
            tool("bind", BDF)
        if driver() != "vfio-pci":  # the tool failed: put it back by hand for the suite
            with open(f"{DEV}/driver_override", "w") as f:
                f.write("vfio-pci")
            if driver():
                with open(f"{DEV}/driver/unbind", "w") as f:
                    f.write(BDF)
            with open("/sys/bus/pci/drivers_probe", "w") as f:
                f.write(BDF)
        assert driver() == "vfio-pci", "02:00.0 must be left on vfio-pci"


def test_check_passes_for_the_function_on_vfio_pci():
    assert driver() == "vfio-pci"
    proc = tool("check", BDF)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ok    {BDF} bound to vfio-pci" in proc.stdout
    assert "FAIL" not in proc.stdout and proc.stdout.rstrip().endswith("ready")


def test_unbind_and_bind_move_the_function_between_nvme_and_vfio(on_kernel_driver):
    disk = on_kernel_driver
    assert os.path.exists(f"/dev/{disk}")
    proc = tool("list")
    assert proc.returncode == 0
    row = next(line for line in proc.stdout.splitlines() if line.startswith(BDF))
    assert row.split()[1] == "1b36:0010"
    assert row.split()[2] == "nvme" and disk in row.split()[4] and row.rstrip().endswith("no")
    proc = tool("check", BDF)
    assert proc.returncode == 1
    assert f"{BDF} is bound to nvme, not vfio-pci: nvme-setup bind {BDF}" in proc.stdout
    proc = tool("unbind", BDF)
    assert proc.returncode == 0 and "already bound to nvme" in proc.stdout
    proc = tool("bind", BDF)
    assert proc.returncode == 0, proc.stderr
    assert f"{BDF}: bound to vfio-pci (was nvme)" in proc.stdout
    assert driver() == "vfio-pci"
    group = os.path.basename(os.readlink(f"{DEV}/iommu_group"))
    assert os.path.exists(f"/dev/vfio/{group}")
    assert not os.path.exists(f"/dev/{disk}"), "the kernel let go of the namespace"


def test_bind_refuses_while_a_filesystem_on_it_is_mounted(on_kernel_driver, tmp_path):
    # 02:00.0's namespace is QEMU's null backend: writes vanish, so a filesystem
    # cannot live on it directly. A dm snapshot keeps the writes in a loop device
    # while every read of unwritten blocks still goes to the namespace, which the
    # kernel then records as held by dm and the filesystem as mounted on top.
    disk = on_kernel_driver
    for mod in ("loop", "dm-snapshot", "ext4"):
        sh("modprobe", "-d", MODULES, mod)
    env = dict(os.environ, DM_DISABLE_UDEV="1")  # no udev in the guest: dmsetup makes nodes
    cow = tmp_path / "cow.img"
    with open(cow, "wb") as f:
        f.truncate(64 << 20)
    loop = sh("losetup", "-f", "--show", str(cow))
    sectors = open(f"/sys/block/{disk}/size").read().strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = created = False
    try:
        sh("dmsetup", "create", "--noudevsync", "pynvme-snap", "--table",
           f"0 {sectors} snapshot /dev/{disk} {loop} N 8", env=env)
        created = True
        sh("mkfs.ext4", "-q", "-F", "/dev/mapper/pynvme-snap")
        sh("mount", "-t", "ext4", "/dev/mapper/pynvme-snap", str(mnt))
        mounted = True
        dm = os.listdir(f"/sys/block/{disk}/holders")[0]

        proc = tool("bind", BDF)
        assert proc.returncode == 1, proc.stdout
        assert f"{disk} is held by {dm} (dm pynvme-snap)" in proc.stderr
        assert f"on {disk} is mounted at {mnt}" in proc.stderr
        assert driver() == "nvme" and os.path.exists(f"/dev/{disk}"), "nothing was touched"
        row = next(line for line in tool("list").stdout.splitlines() if line.startswith(BDF))
        assert f"mounted at {mnt}" in row

        sh("umount", str(mnt))
        mounted = False
        proc = tool("bind", BDF)
        assert proc.returncode == 1, "an unmounted dm holder still pins the disk"
        assert f"{disk} is held by {dm}" in proc.stderr and "mounted" not in proc.stderr
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)])
        if created:
            subprocess.run(["dmsetup", "remove", "--noudevsync", "pynvme-snap"], env=env)
        subprocess.run(["losetup", "-d", loop])
    assert os.listdir(f"/sys/block/{disk}/holders") == []
    proc = tool("bind", BDF)
    assert proc.returncode == 0, proc.stderr
    assert driver() == "vfio-pci"
