"""The driver's answer to a misbehaving device: faults injected into the
software controller (Pcie.inject, lib/soft_ctrl.h), on the host. Each test
names the fault it injects. What must hold every time: the script gets a clear
warning or error, never a hang or a crash, and no wrong data is accepted."""
import time
import warnings

import pytest

import nvme as d

ADDR = "soft:size=64M"      # a device of its own: faults do not leak into other tests
READ, WRITE = 0x02, 0x01
TIMEOUT_MS = 300            # a short command timeout, so each fault ends quickly


@pytest.fixture
def dev():
    pcie = d.Pcie(ADDR)
    nvme0 = d.Controller(pcie)
    nvme0.timeout = TIMEOUT_MS
    ns = d.Namespace(nvme0, 1)
    q = d.Qpair(nvme0, 16)
    yield pcie, nvme0, ns, q
    pcie.inject_clear()
    q.delete()
    ns.close()
    nvme0.close()
    pcie.close()


def pattern(value):
    return d.Buffer(4096, ptype=32, pvalue=value)


def write_then_read_back(ns, q, lba, value):
    """Writes a pattern and reads it back; returns (written, read) bytes."""
    w, r = pattern(value), d.Buffer(4096)
    ns.write(q, w, lba, 8).waitdone()
    ns.read(q, r, lba, 8).waitdone()
    return w[:], r[:]


def quiet(fn):
    """Runs fn() with warnings recorded; returns their messages."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in seen]


def test_fault_delay_completion_arrives_late_with_its_data(dev):
    pcie, nvme0, ns, q = dev
    ns.write(q, pattern(0x11111111), 0, 8).waitdone()
    pcie.inject("delay", opcode=READ, delay_us=150000)
    r = d.Buffer(4096)
    ns.read(q, r, 0, 8).waitdone()
    assert q.latest_latency >= 150000, "the read completed before its delayed completion"
    assert r[:] == pattern(0x11111111)[:]


def test_fault_delay_past_the_timeout_completed_by_the_driver_late_answer_ignored(dev):
    pcie, nvme0, ns, q = dev
    pcie.inject("delay", opcode=READ, delay_us=(TIMEOUT_MS + 400) * 1000)
    t0 = time.monotonic()
    with pytest.warns(UserWarning, match="got no completion"):
        ns.read(q, d.Buffer(4096), 0, 8).waitdone()
    assert time.monotonic() - t0 < TIMEOUT_MS / 1000 + 2
    time.sleep(0.6)                         # the late completion lands meanwhile
    messages = quiet(lambda: write_then_read_back(ns, q, 8, 0x22222222))
    assert not messages, messages           # the late answer to a finished command is no error
    w, r = write_then_read_back(ns, q, 16, 0x23232323)
    assert w == r


def test_fault_drop_completion_times_out_and_the_queue_goes_on(dev):
    pcie, nvme0, ns, q = dev
    pcie.inject("drop", opcode=WRITE)
    with pytest.warns(UserWarning, match="got no completion"):
        ns.write(q, pattern(0x33333333), 24, 8).waitdone()
    w, r = write_then_read_back(ns, q, 32, 0x34343434)
    assert w == r


def test_fault_drop_admin_completion_times_out(dev):
    pcie, nvme0, ns, q = dev
    pcie.inject("drop", sqid=0, opcode=0x0a)          # Get Features
    with pytest.warns(UserWarning, match="got no completion"):
        nvme0.getfeatures(7).waitdone()
    assert nvme0.getfeatures(7).waitdone() != 0xffffffff


def test_fault_duplicate_completion_is_reported_not_trusted(dev):
    pcie, nvme0, ns, q = dev
    pcie.inject("duplicate", opcode=WRITE)
    ns.write(q, pattern(0x44444444), 40, 8)
    time.sleep(0.05)                        # both completions are posted
    # the duplicate finds its command id free (ids are reused first in,
    # first out): it completes no later command, and it is reported
    results = []
    messages = quiet(lambda: (q.waitdone(), results.append(write_then_read_back(ns, q, 48,
                                                                              0x45454545))))
    assert [m for m in messages if "no outstanding command" in m], messages
    w, r = results[0]
    assert w == r


def test_fault_wrong_cid_is_reported_and_the_command_times_out(dev):
    pcie, nvme0, ns, q = dev
    pcie.inject("wrong_cid", opcode=READ, cid_xor=0x8000)
    messages = quiet(lambda: ns.read(q, d.Buffer(4096), 0, 8).waitdone())
    assert any("no outstanding command" in m for m in messages), messages
    assert any("got no completion" in m for m in messages), messages
    w, r = write_then_read_back(ns, q, 56, 0x55555555)
    assert w == r


def test_fault_stale_phase_is_invisible_and_only_that_queue_suffers(dev):
    """A completion posted with the old phase tag cannot be seen, nor (in
    order) any after it on that CQ: the driver times them out one by one,
    never hangs; other queues work, and a controller reset brings the queue
    back."""
    pcie, nvme0, ns, q = dev
    pcie.inject("stale_phase", opcode=READ)
    with pytest.warns(UserWarning, match="got no completion"):
        ns.read(q, d.Buffer(4096), 0, 8).waitdone()
    with pytest.warns(UserWarning, match="got no completion"):
        ns.write(q, pattern(0x66666666), 64, 8).waitdone()
    other = d.Qpair(nvme0, 16)
    w, r = write_then_read_back(ns, other, 72, 0x67676767)
    assert w == r
    other.delete()
    nvme0.reset()
    w, r = write_then_read_back(ns, q, 80, 0x68686868)
    assert w == r


def test_fault_fatal_status_fails_outstanding_commands_and_reset_recovers(dev):
    pcie, nvme0, ns, q = dev
    pcie.inject("delay", opcode=READ, delay_us=5000000)
    ns.read(q, d.Buffer(4096), 0, 8)          # outstanding when the controller dies
    time.sleep(0.05)
    pcie.inject("fatal")
    assert nvme0[0x1c] & 2, "CSTS.CFS"
    t0 = time.monotonic()
    with pytest.warns(UserWarning, match="got no completion"):
        q.waitdone()
    assert time.monotonic() - t0 < 2, "the driver waited for a dead controller"
    with pytest.raises(d.NvmeError, match="CFS"):
        ns.read(q, d.Buffer(4096), 0, 8).waitdone()
    pcie.inject_clear()
    nvme0.reset()
    w, r = write_then_read_back(ns, q, 88, 0x77777777)
    assert w == r


def test_fault_hang_ends_in_timeouts_and_reset_recovers(dev):
    pcie, nvme0, ns, q = dev
    pcie.inject("hang")
    t0 = time.monotonic()
    with pytest.warns(UserWarning, match="got no completion"):
        ns.read(q, d.Buffer(4096), 0, 8).waitdone()
    with pytest.warns(UserWarning, match="got no completion"):
        nvme0.getfeatures(7).waitdone()
    assert time.monotonic() - t0 < 2 * TIMEOUT_MS / 1000 + 2
    pcie.inject_clear()
    nvme0.reset()
    w, r = write_then_read_back(ns, q, 96, 0x88888888)
    assert w == r


def test_fault_all_ones_is_reported_as_gone_and_reinsertion_recovers(dev):
    pcie, nvme0, ns, q = dev
    ns.write(q, pattern(0x99999999), 104, 8).waitdone()
    pcie.inject("all_ones")
    assert pcie.register(0, 2) == 0xffff, "config space of a removed function"
    assert nvme0[0x1c] == 0xffffffff, "CSTS of a removed function"
    with pytest.raises(d.NvmeError, match="all ones"):
        ns.read(q, d.Buffer(4096), 104, 8).waitdone()
    pcie.inject_clear()
    nvme0.reset()
    r = d.Buffer(4096)
    ns.read(q, r, 104, 8).waitdone()
    assert r[:] == pattern(0x99999999)[:], "the store survives a surprise removal"


def test_faults_are_refused_on_bad_input(dev):
    pcie, nvme0, ns, q = dev
    with pytest.raises(d.ArgumentError, match="unknown fault 'bogus'"):
        pcie.inject("bogus")
    with pytest.raises(d.ArgumentError, match="opcode"):
        pcie.inject("drop", opcode=256)
    with pytest.raises(d.ArgumentError, match="count"):
        pcie.inject("drop", count=0)


def test_fault_remove_fails_outstanding_commands_naming_the_removal(dev):
    """An orderly hot removal (the OS took the device back): what is
    outstanding completes with an error naming the removal, within the
    health check's period, not the command timeout; every later access
    raises naming it; the handle stays removed after re-insertion, and the
    device opened again has its data."""
    pcie, nvme0, ns, q = dev
    nvme0.timeout = 30000                   # a wait for the timeout would show
    ns.write(q, pattern(0x5a5a5a5a), 112, 8).waitdone()
    pcie.inject("delay", opcode=READ, delay_us=5000000)
    ns.read(q, d.Buffer(4096), 112, 8)      # outstanding when the device goes
    assert pcie.removed is None
    pcie.inject("remove")
    assert "hot-removed" in pcie.removed
    t0 = time.monotonic()
    with pytest.warns(UserWarning, match="got no completion: hot-removed"):
        q.waitdone()
    assert time.monotonic() - t0 < 2, "the driver waited for a removed device"
    with pytest.raises(d.NvmeError, match="hot-removed"):
        ns.read(q, d.Buffer(4096), 112, 8).waitdone()
    with pytest.raises(d.NvmeError, match="hot-removed"):
        nvme0.getfeatures(7).waitdone()
    with pytest.raises(d.NvmeError, match="hot-removed"):
        pcie.register(0, 2)
    pcie.inject_clear()                     # re-insertion: the device answers again...
    with pytest.raises(d.NvmeError, match="hot-removed"):
        pcie.register(0, 2)                 # ...to a new handle, not this one


def test_reopen_after_remove_finds_the_data():
    """The script's way back after an orderly removal: open the device again
    (the old objects close without complaint) and the data is there."""
    pcie = d.Pcie(ADDR)
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    q = d.Qpair(nvme0, 16)
    ns.write(q, pattern(0x6b6b6b6b), 120, 8).waitdone()
    pcie.inject("remove")
    pcie.inject_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no ResourceWarning for the removed handle
        again = d.Pcie(ADDR)
    assert pcie.closed and again.removed is None
    nvme1 = d.Controller(again)
    ns1 = d.Namespace(nvme1, 1)
    q1 = d.Qpair(nvme1, 16)
    r = d.Buffer(4096)
    ns1.read(q1, r, 120, 8).waitdone()
    assert r[:] == pattern(0x6b6b6b6b)[:]
    q1.delete()
    ns1.close()
    nvme1.close()
    again.close()
