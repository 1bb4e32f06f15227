"""Resets with commands in flight: nothing hangs, queues come back."""
import os
import signal
import threading
import time
import warnings

import pytest

import nvme as d

FLUSH = 0x00


def test_reset_keeps_qpairs_usable(nvme0):
    q = d.Qpair(nvme0, 16)
    q.send_cmd(FLUSH).waitdone()
    nvme0.reset()
    assert nvme0[0x14] & 1 and nvme0[0x1c] & 1
    for i in range(16):          # a depth-16 qpair takes 16 (as the original)
        q.send_cmd(FLUSH)
    q.waitdone(16)
    assert q.sqid == 1
    q.delete()


def test_reset_mid_commands(nvme0):
    q = d.Qpair(nvme0, 64)
    buf = d.Buffer(128 * 1024)
    for i in range(40):
        q.send_cmd(0x02, buf, nsid=1, cdw10=i * 256, cdw12=255)
    for i in range(5):
        nvme0.getfeatures(7)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nvme0.reset()
        # every IO completes: for real or synthesized by the driver
        q.waitdone(40)
    assert any("dropped 5 outstanding admin" in str(x.message) for x in w)
    # the admin commands were dropped: nothing left to wait for
    with pytest.raises(ValueError, match="outstanding"):
        nvme0.waitdone()
    q.send_cmd(FLUSH).waitdone()
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1
    q.delete()


def test_many_resets(nvme0):
    q = d.Qpair(nvme0, 8)
    for i in range(10):
        q.send_cmd(FLUSH)
        nvme0.reset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a flush lost to the reset: 07/ff
            q.waitdone()
    q.send_cmd(FLUSH).waitdone()
    q.delete()


def test_flr_then_reset(pcie, nvme0, msix_fired, pci_vendor):
    q = d.Qpair(nvme0, 8)
    q.send_cmd(FLUSH).waitdone()
    pcie.flr()
    nvme0.reset()
    assert nvme0.id_data(1, 0) == pci_vendor
    q.send_cmd(FLUSH).waitdone()
    # interrupts were set up again after the reset
    q.msix_clear()
    q.send_cmd(FLUSH).waitdone()
    assert msix_fired(q)
    q.delete()


def test_hot_reset_then_reset(pcie, nvme0):
    q = d.Qpair(nvme0, 8)
    pcie.reset()
    nvme0.reset()
    q.send_cmd(FLUSH).waitdone()
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1
    q.delete()


def test_controller_disabled_behind_driver_then_reset(nvme0):
    nvme0[0x14] = 0
    while nvme0[0x1c] & 1:
        pass
    nvme0.reset()
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1


def test_d3hot_refuses_commands_instead_of_crashing(pcie, nvme0):
    q = d.Qpair(nvme0, 8)
    pcie.power_state = 3
    try:
        with pytest.raises(d.NvmeError, match="D3"):
            nvme0.getfeatures(7)
        with pytest.raises(d.NvmeError, match="D3"):
            q.send_cmd(FLUSH)
    finally:
        pcie.power_state = 0
    nvme0.reset()
    q.send_cmd(FLUSH).waitdone()
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1
    q.delete()


def test_device_stops_answering_nothing_hangs(pcie, nvme0):
    """Commands outstanding when the device goes away complete (all ones)
    long before the 10 s command timeout: the driver notices the all-ones
    registers."""
    q = d.Qpair(nvme0, 8)
    nvme0[0x14] = nvme0[0x14] & ~1       # nothing completes from here on
    while nvme0[0x1c] & 1:
        pass
    nvme0.getfeatures(7)
    q.send_cmd(FLUSH)
    pcie.power_state = 3                  # registers now read all ones
    try:
        start = time.monotonic()
        with pytest.warns(UserWarning, match="ERROR status: 07/ff"):
            nvme0.waitdone()
        with pytest.warns(UserWarning, match="ERROR status: 07/ff"):
            q.waitdone()
        assert time.monotonic() - start < 5
        with pytest.raises(d.NvmeError):
            nvme0.getfeatures(7)
    finally:
        pcie.power_state = 0
    nvme0.reset()
    q.send_cmd(FLUSH).waitdone()
    q.delete()


def test_ctrl_c_interrupts_waitdone(nvme0, sigint_raises):
    nvme0.aer()  # an AER never times out: waitdone would wait forever
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        nvme0.waitdone()
    assert time.monotonic() - start < 3
    timer.join()
    # the driver is still fine; reset drops the outstanding AER
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1
    with pytest.warns(UserWarning, match="dropped 1 outstanding"):
        nvme0.reset()
