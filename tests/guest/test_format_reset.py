"""A Format NVM still running in the controller when the host resets it
(issue 10 item 4, "the test bed does not crash").

A command that times out is completed by the driver itself, and the script goes
on: closing the Controller (or opening the next one) clears CC.EN while the
device may still be formatting. The spec allows the host to reset a controller
at any time; the controller aborts or finishes the format, and the namespace is
usable afterwards (its data indeterminate, so the tests write before they
read). QEMU 7.2's NVMe device zeroes a namespace in chunks of up to 2 GiB, each
issued from the previous one's completion; a reset caught between two chunks
freed the Format's request while the next chunk ran on, and QEMU died of
SIGSEGV when it completed (tools/testbed/qemu/ has the patch and the evidence).

These run on test.toml's third controller, one 2 GiB file-backed namespace
(the size the crashes were reported with: two chunks), in several rounds each.
Each round first scatters writes over the namespace, so that discarding them
keeps the first chunk busy well past the 10 ms timeout. Whether a round catches
the format between its chunks still depends on timing: a round can pass
without exercising the bug, never fail because of timing.
"""
import logging
import time
import warnings

import nvme as d
import pytest

pytestmark = pytest.mark.testbed  # a QEMU crash reproducer on the third controller

BDF = "0000:03:00.0"
ROUNDS = 5
FORMAT_IN_PROGRESS = "ERROR status: 00/84"
READ, WRITE = 0x02, 0x01

log = logging.getLogger("pynvme")


class Session:
    """Pcie + Controller + namespace 1 of the format controller, closed in
    reverse order."""

    def __init__(self, nlba_verify=0):
        self.pcie = d.Pcie(BDF)
        try:
            self.ctrl = d.Controller(self.pcie)
            self.ns = d.Namespace(self.ctrl, 1, nlba_verify=nlba_verify)
        except Exception:
            self.pcie.close()
            raise

    def close(self):
        with warnings.catch_warnings():
            # a command the driver timed out may be reported as dropped
            warnings.simplefilter("ignore")
            self.ns.close()
            self.ctrl.close()
        self.pcie.close()


def format_with_short_timeout(s):
    """Format NVM (the Controller's own format(), as the original's scripts
    send it) with a 10 ms command timeout, as in the report. Returns True
    when the driver timed it out (the device may still be formatting), False
    when it completed within the 10 ms."""
    lbaf = s.ns.get_lba_format(512, 0)
    s.ctrl.timeout = 10
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s.ctrl.format(lbaf, 0, 1).waitdone()
    texts = [str(x.message) for x in w]
    timed_out = [t for t in texts if "ERROR status: 07/ff" in t]
    assert len(timed_out) == len(texts), f"format: {texts}"
    return bool(timed_out)


def scatter_writes(s, count=256):
    """Writes 4 KiB at `count` random places of the namespace and flushes
    them, so that a format has data to discard: QEMU's file backend then takes
    long enough (0.05-0.5 s for 256 extents on this machine's ext4) for the
    reset to land while it formats, where an empty sparse file (or data
    still in the page cache) formats in about a millisecond."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = s.ns.ioworker(io_size=8, lba_align=8, lba_random=True, read_percentage=0,
                          qdepth=64, io_count=count).start().close()
        assert r.error == 0 and r.io_count_write == count
        q = d.Qpair(s.ctrl, 2)
        s.ns.flush(q).waitdone()
        q.delete()


def interrupted_format():
    """A session that writes data, formats with a 10 ms timeout and closes
    (CC.EN=0) straight away. Returns whether the format was timed out."""
    s = Session()
    try:
        scatter_writes(s)
        return format_with_short_timeout(s)
    finally:
        s.close()


def wait_not_formatting(s, q):
    """A controller may go on formatting after a reset (spec: the data is
    indeterminate until a format completes): read LBA 0 until the namespace
    no longer answers Format In Progress. Bounded, so a namespace stuck in
    that state fails the test instead of hanging it."""
    buf = d.Buffer(512)
    deadline = time.monotonic() + 60
    while True:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            s.ns.read(q, buf, 0, 1).waitdone()
        texts = [str(x.message) for x in w]
        if not any(FORMAT_IN_PROGRESS in t for t in texts):
            assert not texts, f"reading LBA 0 after the reset: {texts}"
            return
        assert time.monotonic() < deadline, \
            "the namespace still answers Format In Progress 60 s after the reset"
        time.sleep(0.1)


def write_read_back(s, q, lbas):
    """Writes a distinct pattern to each LBA of `lbas` and reads it back."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for lba in lbas:
            w = d.Buffer(4096, ptype=32, pvalue=0x5a000000 | (lba & 0xffffff))
            r = d.Buffer(4096)
            s.ns.write(q, w, lba, 8).waitdone()
            s.ns.read(q, r, lba, 8).waitdone()
            assert r[:] == w[:], f"LBA {lba}: read back differs from what was written"


def test_format_short_timeout_then_reset():
    """Format with nvme0.timeout = 10, then the Controller closes (reset)
    while the device may still be formatting; the next Controller finds a
    working namespace."""
    timed_out = sum(interrupted_format() for _ in range(ROUNDS))
    log.info("format timed out (reset while formatting) in %d of %d rounds", timed_out, ROUNDS)
    s = Session()
    try:
        q = d.Qpair(s.ctrl, 16)
        wait_not_formatting(s, q)
        last = s.ns.capacity - 8
        write_read_back(s, q, [0, 8, last // 2 // 8 * 8, last // 8 * 8])
        q.delete()
    finally:
        s.close()


def test_format_then_ioworker_qd256():
    """An interrupted Format, then an ioworker at depth 256 writing and
    reading back (verified) on the same namespace."""
    nlba = 1 << 16
    for _ in range(ROUNDS):
        interrupted_format()
        s = Session(nlba_verify=nlba)
        try:
            q = d.Qpair(s.ctrl, 16)
            wait_not_formatting(s, q)
            q.delete()
            assert s.ns.verify_enable(True)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                r = s.ns.ioworker(io_size=8, lba_align=8, lba_random=True, read_percentage=0,
                                  qdepth=256, io_count=2048, region_end=nlba).start().close()
                assert r.error == 0 and r.io_count_write == 2048
                r = s.ns.ioworker(io_size=8, lba_align=8, lba_random=True, read_percentage=100,
                                  qdepth=256, io_count=2048, region_end=nlba).start().close()
                assert r.error == 0 and r.io_count_read == 2048
        finally:
            s.close()


def test_format_then_sequential_writes_qd16():
    """An interrupted Format, then sequential writes at depth 16 on one
    qpair, read back."""
    ios, lba_count = 512, 8
    for _ in range(ROUNDS):
        interrupted_format()
        s = Session()
        try:
            q = d.Qpair(s.ctrl, 16)
            wait_not_formatting(s, q)
            bufs = [d.Buffer(lba_count * 512, ptype=32, pvalue=0xa5000000 | i) for i in range(15)]
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                for i in range(ios):
                    s.ns.write(q, bufs[i % 15], i * lba_count, lba_count)
                    if i % 15 == 14:  # at most 15 outstanding on a 16-entry queue
                        q.waitdone(15)
                q.waitdone(ios % 15)
                r = d.Buffer(lba_count * 512)
                for i in (0, 1, ios // 2, ios - 1):
                    s.ns.read(q, r, i * lba_count, lba_count).waitdone()
                    assert r[:] == bufs[i % 15][:], f"LBA {i * lba_count} differs"
            q.delete()
        finally:
            s.close()
