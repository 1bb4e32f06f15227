"""Subsystem: NSSR, shutdown notification, power off/on through the PCIe
slot's power controller (the test bed puts each drive behind a root port)."""
import time
import warnings

import pytest

import nvme as d

FLUSH = 0x00


def test_nssr_follows_cap(nvme0, subsystem):
    if (nvme0.cap >> 36) & 1:
        subsystem.reset()
        nvme0.reset()
        assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1
    else:
        with pytest.raises(d.NvmeError, match="NSSRS=0"):
            subsystem.reset()


def test_shutdown_notify(nvme0, subsystem):
    for abrupt in (False, True):
        subsystem.shutdown_notify(abrupt)
        assert (nvme0[0x1c] >> 2) & 3 == 2, "CSTS.SHST complete"
        assert (nvme0[0x14] >> 14) & 3 == (2 if abrupt else 1)
        nvme0.reset()
        assert (nvme0[0x14] >> 14) & 3 == 0
        assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1


def vendor_id(pciaddr):
    """The Vendor ID from the hardware (sysfs; VFIO shows a cached one)."""
    bdf = pciaddr if pciaddr.count(":") == 2 else "0000:" + pciaddr
    with open(f"/sys/bus/pci/devices/{bdf}/config", "rb") as f:
        return int.from_bytes(f.read(2), "little")


@pytest.mark.testbed  # slot power through the root port, checked in sysfs
def test_power_cycle_by_slot(nvme0, subsystem, pciaddr, msix_fired):
    q = d.Qpair(nvme0, 8)
    q.send_cmd(FLUSH).waitdone()
    subsystem.poweroff()
    try:
        assert vendor_id(pciaddr) == 0xffff, "no power: config space reads all ones"
    finally:
        subsystem.poweron()
    assert vendor_id(pciaddr) == 0x1b36
    nvme0.reset()
    assert nvme0.id_data(1, 0) == 0x1b36
    q.send_cmd(FLUSH).waitdone()
    q.msix_clear()
    q.send_cmd(FLUSH).waitdone()
    assert msix_fired(q), "interrupts work again after power-on"
    start = time.monotonic()
    subsystem.power_cycle(1)
    assert time.monotonic() - start >= 1
    nvme0.reset()
    q.send_cmd(FLUSH).waitdone()
    q.delete()


def test_power_loss_with_commands_outstanding(nvme0, subsystem):
    q = d.Qpair(nvme0, 16)
    buf = d.Buffer(64 * 1024)
    for i in range(10):
        q.send_cmd(0x02, buf, nsid=1, cdw10=i * 128, cdw12=15)
    subsystem.poweroff()
    try:
        start = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q.waitdone(10)  # real or synthesized completions, no hang
        assert time.monotonic() - start < 5
        with pytest.raises(d.NvmeError):
            nvme0.getfeatures(7)
    finally:
        subsystem.poweron()
    nvme0.reset()
    q.send_cmd(FLUSH).waitdone()
    q.delete()


def test_power_callbacks(nvme0):
    calls = []
    sub = d.Subsystem(nvme0, poweron_cb=lambda: calls.append("on"),
                      poweroff_cb=lambda: calls.append("off"))
    sub.power_cycle(0)
    assert calls == ["off", "on"]
    nvme0.reset()  # the driver treated it as a power loss
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1
    with pytest.raises(TypeError):
        d.Subsystem(nvme0, poweron_cb=3)
    with pytest.raises(TypeError):
        d.Subsystem("nvme0")
    with pytest.raises(ValueError):
        sub.power_cycle(-1)


def test_power_cycle_mid_ioworker_then_reset_goes_on(nvme0, nvme0n1, subsystem):
    w = nvme0n1.ioworker(io_size=8, time=30, qdepth=16, read_percentage=50).start()
    time.sleep(1.5)
    t0 = time.monotonic()
    subsystem.power_cycle(1)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        r = w.close()
    # the worker stops with an error instead of running its 30 s
    assert time.monotonic() - t0 < 28
    assert r.error != 0 and r.io_count_read + r.io_count_write > 0
    assert any("ioworker host ERROR" in str(x.message) for x in ws)
    nvme0.reset()
    q = d.Qpair(nvme0, 16)
    b = d.Buffer(4096)
    nvme0n1.write(q, b, 0, 8).waitdone()
    nvme0n1.read(q, b, 0, 8).waitdone()
    r = nvme0n1.ioworker(io_size=8, io_count=500, qdepth=8).start().close()
    assert r.error == 0 and r.io_count_read == 500
    q.delete()


def test_file_backed_data_survives_power_cycle(nvme0, nvme0n1, qpair, subsystem):
    w = d.Buffer(64 * 512, ptype=0xbeef, pvalue=100)
    nvme0n1.write(qpair, w, 12345, 64).waitdone()
    nvme0n1.flush(qpair).waitdone()
    subsystem.power_cycle(0)
    nvme0.reset()
    r = d.Buffer(64 * 512)
    nvme0n1.read(qpair, r, 12345, 64).waitdone()      # the qpair was re-created
    assert r[:] == w[:]
