"""tools/nvme-setup's safety logic, run against fake sysfs/proc trees.

Each test builds the part of /sys, /proc and /dev the tool reads, points it there
with NVME_SETUP_ROOT and runs it as a user would. For `bind`, a small stand-in
for the kernel watches drivers_probe and moves the driver link the way the PCI
core would, so the writes the tool makes are checked, in order, in the files.
"""
import os
import pwd
import shutil
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "nvme-setup")
BDF = "0000:01:00.0"
PORT = "0000:00:02.0"


class FakeSystem:
    """A minimal sysfs/procfs/devfs with one root port and NVMe functions behind it."""

    def __init__(self, base):
        self.root = str(base)
        self.devnum = 0
        for d in ("sys/bus/pci/drivers/nvme", "sys/bus/pci/drivers/vfio-pci",
                  "sys/bus/pci/drivers/pcieport", "sys/bus/pci/drivers/e1000e",
                  "sys/bus/pci/devices", "sys/block", "sys/kernel/iommu_groups",
                  "proc/self", "dev/vfio"):
            os.makedirs(self.path(d), exist_ok=True)
        for drv in ("nvme", "vfio-pci", "pcieport", "e1000e"):
            self.put(f"sys/bus/pci/drivers/{drv}/unbind", "")
        self.put("sys/bus/pci/drivers_probe", "")
        self.put("proc/mounts", "sysfs /sys sysfs rw 0 0\n")
        self.put("proc/self/mountinfo", "22 1 0:21 / /sys rw - sysfs sysfs rw\n")
        self.put("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n")
        self.pci(PORT, "0x060400", "pcieport", group=3, parent=None)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def put(self, rel, text):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "w") as f:
            f.write(text)

    def get(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    def link(self, rel, target_rel):
        if os.path.lexists(self.path(rel)):
            os.unlink(self.path(rel))
        os.symlink(self.path(target_rel), self.path(rel))

    def pci(self, bdf, cls, driver, group, parent=PORT):
        where = f"sys/devices/pci0000:00/{parent}/{bdf}" if parent else f"sys/devices/pci0000:00/{bdf}"
        for name, text in (("class", cls), ("vendor", "0x144d"), ("device", "0xa808"),
                           ("driver_override", "(null)")):
            self.put(f"{where}/{name}", text + "\n")
        self.link(f"sys/bus/pci/devices/{bdf}", where)
        if driver:
            self.link(f"{where}/driver", f"sys/bus/pci/drivers/{driver}")
        os.makedirs(self.path(f"sys/kernel/iommu_groups/{group}/devices"), exist_ok=True)
        self.link(f"{where}/iommu_group", f"sys/kernel/iommu_groups/{group}")
        self.link(f"sys/kernel/iommu_groups/{group}/devices/{bdf}", where)
        return where

    def nvme(self, bdf=BDF, ctrl=0, driver="nvme", group=7, partitions=0):
        """An NVMe function with one namespace nvme<ctrl>n1 and its partitions."""
        where = self.pci(bdf, "0x010802", driver, group)
        disk = f"nvme{ctrl}n1"
        ns = f"{where}/nvme/nvme{ctrl}/{disk}"
        self.put(f"{ns}/dev", self.next_dev())
        os.makedirs(self.path(f"{ns}/holders"))
        self.link(f"sys/block/{disk}", ns)
        for i in range(1, partitions + 1):
            self.put(f"{ns}/{disk}p{i}/partition", f"{i}\n")
            self.put(f"{ns}/{disk}p{i}/dev", self.next_dev())
            os.makedirs(self.path(f"{ns}/{disk}p{i}/holders"))
        return disk

    def next_dev(self):
        self.devnum += 1
        return f"259:{self.devnum - 1}\n"

    def dev(self, block_rel):
        return self.get(f"sys/block/{block_rel}/dev").strip()

    def mount(self, block_rel, mountpoint, by_number_only=False):
        name = os.path.basename(block_rel)
        with open(self.path("proc/self/mountinfo"), "a") as f:
            f.write(f"30 1 {self.dev(block_rel)} / {mountpoint} rw - ext4 /dev/root rw\n")
        if not by_number_only:
            with open(self.path("proc/mounts"), "a") as f:
                f.write(f"/dev/{name} {mountpoint.replace(' ', chr(92) + '040')} ext4 rw 0 0\n")

    def dm(self, index, name, uuid, members):
        """A device-mapper device holding the given disks/partitions."""
        dm = f"dm-{index}"
        where = f"sys/devices/virtual/block/{dm}"
        self.put(f"{where}/dev", f"254:{index}\n")
        self.put(f"{where}/dm/name", name + "\n")
        self.put(f"{where}/dm/uuid", uuid + "\n")
        os.makedirs(self.path(f"{where}/holders"))
        self.link(f"sys/block/{dm}", where)
        for m in members:
            self.link(f"sys/block/{m}/holders/{dm}", where)
        return dm


def run(fake, *args, kernel=False):
    """Runs the tool against the fake tree; with kernel=True, answers drivers_probe
    like the PCI core: the function goes to its driver_override (or nvme)."""
    env = dict(os.environ, NVME_SETUP_ROOT=fake.root)
    proc = subprocess.Popen(["/usr/bin/python3", TOOL, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if kernel:
        probe = fake.path("sys/bus/pci/drivers_probe")
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            bdf = fake.get("sys/bus/pci/drivers_probe").strip()
            if bdf:
                dev = f"sys/bus/pci/devices/{bdf}"
                override = fake.get(f"{dev}/driver_override").strip() or "nvme"
                fake.link(f"{dev}/driver", f"sys/bus/pci/drivers/{override}")
                group = os.path.basename(os.readlink(fake.path(f"{dev}/iommu_group")))
                fake.put(f"dev/vfio/{group}", "")
                fake.probed = getattr(fake, "probed", []) + [bdf]
                open(probe, "w").close()
            time.sleep(0.01)
    out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def driver(fake, bdf=BDF):
    return os.path.basename(os.readlink(fake.path(f"sys/bus/pci/devices/{bdf}/driver")))


def assert_untouched(fake, bdf=BDF):
    assert fake.get(f"sys/bus/pci/devices/{bdf}/driver_override").strip() == "(null)"
    assert fake.get("sys/bus/pci/drivers/nvme/unbind") == ""
    assert fake.get("sys/bus/pci/drivers_probe") == ""
    assert driver(fake, bdf) == "nvme"


@pytest.fixture
def fake(tmp_path):
    return FakeSystem(tmp_path)


def test_clean_device_is_bound_with_override_unbind_probe(fake):
    fake.nvme(partitions=1)
    fake.pci("0000:01:00.1", "0x010802", None, group=7)  # an unbound group-mate is fine
    user = pwd.getpwuid(os.getuid()).pw_name
    rc, out, err = run(fake, "bind", "01:00.0", "--user", user, kernel=True)
    assert rc == 0, err
    assert fake.get(f"sys/bus/pci/devices/{BDF}/driver_override") == "vfio-pci"
    assert fake.get("sys/bus/pci/drivers/nvme/unbind") == BDF, "unbound from its old driver"
    assert fake.probed == [BDF]
    assert driver(fake) == "vfio-pci"
    assert f"{BDF}: bound to vfio-pci (was nvme), IOMMU group 7" in out
    node = os.stat(fake.path("dev/vfio/7"))
    assert node.st_uid == os.getuid() and node.st_mode & 0o777 == 0o600
    assert "/dev/vfio/7 now belongs to" in out


def test_root_disk_is_refused_without_any_override(fake):
    fake.nvme(partitions=2)
    fake.mount("nvme0n1/nvme0n1p2", "/", by_number_only=True)  # /dev/root in /proc/mounts
    rc, out, err = run(fake, "bind", BDF, kernel=True)
    assert rc == 1
    assert "nvme0n1p2 holds the root filesystem /" in err
    assert "system disk" in err and "--force" not in err
    assert_untouched(fake)
    rc, _, err = run(fake, "bind", "--force", BDF)
    assert rc == 2 and "--force" in err, "there is no override to offer"
    assert_untouched(fake)


def test_mounted_partition_is_refused_naming_the_mount_point(fake):
    fake.nvme(partitions=2)
    fake.mount("nvme0n1/nvme0n1p1", "/srv/my data")
    rc, out, err = run(fake, "bind", BDF, kernel=True)
    assert rc == 1
    assert "nvme0n1p1 is mounted at /srv/my data" in err
    assert_untouched(fake)
    rc, out, _ = run(fake, "list")
    assert rc == 0
    assert BDF in out and "144d:a808" in out and "nvme0n1" in out and "mounted at /srv/my data" in out


def test_swap_partition_is_refused(fake):
    fake.nvme(partitions=2)
    with open(fake.path("proc/swaps"), "a") as f:
        f.write("/dev/nvme0n1p2\tpartition\t8388604\t0\t-2\n")
    rc, out, err = run(fake, "bind", BDF, kernel=True)
    assert rc == 1
    assert "nvme0n1p2 is in use as swap" in err
    assert_untouched(fake)


def test_lvm_holder_is_refused_naming_the_holder_and_its_mount(fake):
    fake.nvme(partitions=1)
    dm = fake.dm(0, "vg0-home", "LVM-abcdef", ["nvme0n1/nvme0n1p1"])
    with open(fake.path("proc/mounts"), "a") as f:
        f.write("/dev/mapper/vg0-home /home ext4 rw 0 0\n")
    rc, out, err = run(fake, "bind", BDF, kernel=True)
    assert rc == 1
    assert f"nvme0n1p1 is held by {dm} (LVM vg0-home)" in err
    assert f"{dm} (LVM vg0-home) on nvme0n1p1 is mounted at /home" in err
    assert_untouched(fake)


def test_unmounted_dm_holder_is_still_refused(fake):
    fake.nvme()
    fake.dm(1, "crypt", "CRYPT-LUKS2-xyz", ["nvme0n1"])
    rc, out, err = run(fake, "bind", BDF, kernel=True)
    assert rc == 1
    assert "nvme0n1 is held by dm-1 (dm-crypt crypt)" in err
    assert_untouched(fake)


def test_group_mate_on_another_driver_is_refused_with_the_list(fake):
    fake.nvme(group=9)
    fake.pci("0000:01:00.1", "0x020000", "e1000e", group=9)
    fake.pci("0000:01:00.2", "0x010802", "vfio-pci", group=9)  # fine
    rc, out, err = run(fake, "bind", BDF, kernel=True)
    assert rc == 1
    assert "IOMMU group 9" in err and "0000:01:00.1 (driver e1000e)" in err
    assert "01:00.2" not in err
    assert_untouched(fake)


def test_bridge_in_the_group_does_not_block(fake):
    fake.nvme(group=3)  # shares group 3 with the root port, bound to pcieport
    rc, out, err = run(fake, "bind", BDF, kernel=True)
    assert rc == 0, err
    assert driver(fake) == "vfio-pci"


def test_refused_and_clean_devices_in_one_call(fake):
    fake.nvme(partitions=1)
    fake.mount("nvme0n1/nvme0n1p1", "/var")
    fake.nvme(bdf="0000:01:00.3", ctrl=1, group=8)
    rc, out, err = run(fake, "bind", BDF, "0000:01:00.3", kernel=True)
    assert rc == 1, "one refusal makes the whole call fail"
    assert "mounted at /var" in err
    assert driver(fake, "0000:01:00.3") == "vfio-pci"
    assert driver(fake, BDF) == "nvme"


def test_unbind_gives_the_function_back_to_nvme(fake):
    fake.nvme(driver="vfio-pci")
    fake.put(f"sys/bus/pci/devices/{BDF}/driver_override", "vfio-pci\n")
    rc, out, err = run(fake, "restore", BDF, kernel=True)
    assert rc == 0, err
    assert fake.get(f"sys/bus/pci/devices/{BDF}/driver_override") == "\n", "override cleared"
    assert fake.get("sys/bus/pci/drivers/vfio-pci/unbind") == BDF
    assert driver(fake) == "nvme"
    assert "bound to nvme (was vfio-pci)" in out


@pytest.mark.parametrize("args, message", [
    (["bind", "01:00"], "'01:00' is not a PCI address"),
    (["bind", "0000:01:00.8"], "is not a PCI address"),
    (["unbind", "zz:00.0"], "is not a PCI address"),
    (["check", "0000:01:00.0x"], "is not a PCI address"),
    (["bind", "0000:05:00.0"], "0000:05:00.0: no such PCI device"),
    (["bind", PORT], f"{PORT}: not an NVMe function (class 0x060400"),
    (["restore", "0000:05:00.0"], "no such PCI device"),
    (["bind", BDF, "--user", "no-such-user-here"], "no such user 'no-such-user-here'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_a_clear_message(fake, args, message):
    fake.nvme()
    rc, out, err = run(fake, *args)
    assert rc == 2
    assert message in err
    assert_untouched(fake)


def test_check_lists_every_missing_piece_with_its_fix(fake):
    fake.nvme()
    fake.put("proc/cpuinfo", "vendor_id\t: GenuineIntel\n")
    fake.put("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet\n")
    fake.put("sys/firmware/acpi/tables/DMAR", "")
    fake.put("proc/meminfo", "HugePages_Total:       0\n")
    shutil.rmtree(fake.path("sys/kernel/iommu_groups"))  # IOMMU off: no groups at all
    os.makedirs(fake.path("sys/kernel/iommu_groups"))
    os.unlink(fake.path(f"sys/bus/pci/devices/{BDF}/iommu_group"))
    rc, out, err = run(fake, "check", BDF)
    assert rc == 1, out
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    text = "\n".join(fails)
    assert "add 'intel_iommu=on iommu=pt' to the kernel command line" in text
    assert "module vfio not" in text and "module vfio-pci not" in text
    assert "/dev/vfio/vfio missing" in text
    assert f"{BDF} is bound to nvme, not vfio-pci: nvme-setup bind {BDF}" in text
    assert f"{BDF} has no IOMMU group" in text
    assert "hint  no hugepages reserved" in out, "hugepages are a hint, not a failure"
    assert "not ready" in out


def test_check_passes_on_a_ready_system(fake):
    fake.nvme(driver="vfio-pci")
    fake.put("proc/cpuinfo", "vendor_id\t: AuthenticAMD\n")
    fake.put("proc/cmdline", "quiet\n")
    fake.put("proc/meminfo", "HugePages_Total:     512\n")
    fake.put("dev/vfio/vfio", "")
    fake.put("dev/vfio/7", "")
    fake.put("proc/self/status", "CapEff:\t0000000000004000\n")  # CAP_IPC_LOCK: no memlock limit
    for m in ("vfio", "vfio_pci"):
        os.makedirs(fake.path(f"sys/module/{m}"))
    env_path = os.path.join(ROOT, "python")
    proc = subprocess.run(["/usr/bin/python3", "-c", "import nvme._nvme"],
                          env=dict(os.environ, PYTHONPATH=env_path), capture_output=True)
    if proc.returncode != 0:
        pytest.skip("the extension is not built (make)")
    env = dict(os.environ, NVME_SETUP_ROOT=fake.root, PYTHONPATH=env_path)
    proc = subprocess.run(["/usr/bin/python3", TOOL, "check", BDF], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert "FAIL" not in proc.stdout and proc.stdout.rstrip().endswith("ready")
    assert f"ok    {BDF} bound to vfio-pci" in proc.stdout


def test_unbind_refuses_while_a_process_holds_the_vfio_group(fake):
    fake.nvme(driver="vfio-pci")
    fake.put(f"sys/bus/pci/devices/{BDF}/driver_override", "vfio-pci\n")
    fake.put("proc/4242/comm", "python3\n")
    os.makedirs(fake.path("proc/4242/fd"))
    os.symlink("/dev/vfio/7", fake.path("proc/4242/fd/9"))
    rc, out, err = run(fake, "unbind", BDF, kernel=True)
    assert rc == 1
    assert "/dev/vfio/7 is open by process 4242 (python3)" in err
    assert fake.get(f"sys/bus/pci/devices/{BDF}/driver_override") == "vfio-pci\n"
    assert fake.get("sys/bus/pci/drivers/vfio-pci/unbind") == ""
    assert driver(fake) == "vfio-pci"
