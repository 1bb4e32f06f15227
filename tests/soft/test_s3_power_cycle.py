"""Subsystem.power_cycle() on a device whose slot has no power controller
(a software controller with `noslot`): the driver takes the suspend-to-RAM
path (python/nvme/s3.py), here on a fake sysfs ($PYNVME_SYSFS) whose
power/state is a plain file, so the "suspend" returns at once."""
import pytest

import nvme as d

NOSLOT = "soft:size=64M,noslot"   # a device of its own
FLUSH = 0x00


@pytest.fixture
def sysfs(tmp_path, monkeypatch):
    for rel, text in {"power/state": "freeze mem", "power/mem_sleep": "s2idle [deep]",
                      "class/rtc/rtc0/wakealarm": ""}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setenv("PYNVME_SYSFS", str(tmp_path))
    return tmp_path


def open_device(addr):
    pcie = d.Pcie(addr)
    nvme0 = d.Controller(pcie)
    return pcie, nvme0, d.Qpair(nvme0, 8)


def close_device(pcie, nvme0, q):
    q.delete()
    nvme0.close()
    pcie.close()


def test_without_slot_power_the_cycle_is_a_suspend_to_ram(sysfs):
    pcie, nvme0, q = open_device(NOSLOT)
    try:
        with pytest.raises(d.NvmeError, match="no power controller"):
            d.Subsystem(nvme0).poweroff()    # no slot power, and poweroff() alone has no S3
        d.Subsystem(nvme0).power_cycle(3)
        assert (sysfs / "power/state").read_text() == "mem"
        assert (sysfs / "class/rtc/rtc0/wakealarm").read_text() == "+3"
        with pytest.raises(d.NvmeError):
            nvme0.getfeatures(7)             # told of the power loss: reset first
        nvme0.reset()
        q.send_cmd(FLUSH).waitdone()
    finally:
        close_device(pcie, nvme0, q)


def test_a_host_without_s3_gets_a_clear_error_and_keeps_its_controller(sysfs):
    (sysfs / "power/state").write_text("freeze disk")
    pcie, nvme0, q = open_device(NOSLOT)
    try:
        with pytest.raises(d.NvmeError, match="offers no suspend to RAM"):
            d.Subsystem(nvme0).power_cycle(3)
        q.send_cmd(FLUSH).waitdone()         # nothing happened to the device
        assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1
    finally:
        close_device(pcie, nvme0, q)


def test_a_slot_with_power_control_is_cycled_by_slot_power(sysfs):
    pcie, nvme0, q = open_device("soft:size=64M")
    try:
        d.Subsystem(nvme0).power_cycle(0)
        assert (sysfs / "power/state").read_text() == "freeze mem", "no suspend"
        nvme0.reset()
        q.send_cmd(FLUSH).waitdone()
    finally:
        close_device(pcie, nvme0, q)
