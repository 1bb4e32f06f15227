"""IOWorker behaviours that scripts of the original pynvme depend on (issue 10
item 2): output shapes, inputs the original accepted, the data layout of
written LBAs and its verification. Controllers of test.toml: 0000:01:00.0
(two file-backed namespaces that keep data, 512 B LBAs).

Facts of the original come from its src/driver_wrap.pyx (2.3.0) and
src/ioworker.c; docs/ioworker.md has the table of where we differ."""
import struct
import time
import warnings

import pytest

import nvme as d


def run_quiet(w):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return w.close()


def lba_size(ctrl, nsid=1):
    flbas = ctrl.id_data(26, 26, nsid=nsid, cns=0)
    return 1 << ctrl.id_data(128 + 4 * (flbas & 0xf) + 2, 128 + 4 * (flbas & 0xf) + 2,
                             nsid=nsid, cns=0)


def read_lbas(ctrl, ns, slba, count):
    """The bytes of LBAs slba..slba+count-1, read outside any verification."""
    size = lba_size(ctrl, ns.nsid)
    q = d.Qpair(ctrl, 8)
    try:
        b = d.Buffer(size * count)
        ns.read(q, b, slba, count).waitdone()
        return [bytes(b[i * size:(i + 1) * size]) for i in range(count)]
    finally:
        q.delete()


def test_running_from_start_until_the_end(nvme0):
    ns = d.Namespace(nvme0, 2)
    w = ns.ioworker(io_size=1, io_count=2000, qdepth=4)
    assert not w.running              # the original said True here: see docs/ioworker.md
    w.start()
    assert w.running                  # 2000 IOs take far longer than this line
    for _ in range(3000):             # ends by itself: io_count
        if not w.running:
            break
        time.sleep(0.01)
    assert not w.running
    r = run_quiet(w)
    assert r.io_count_read == 2000
    assert not w.running


def test_op_percentage_not_summing_to_100_is_weights(nvme0):
    ops = {2: 50, 1: 40}              # the original asserted; scripts use it as a mix
    n = 1800
    r = run_quiet(d.Namespace(nvme0, 2).ioworker(io_size=1, op_percentage=ops, io_count=n,
                                                 region_end=1 << 16, qdepth=16).start())
    assert set(ops) == {1, 2} and ops[1] + ops[2] == n
    sd = (n * 5 / 9 * 4 / 9) ** 0.5
    assert abs(ops[2] - n * 5 / 9) < 5 * sd, ops
    assert r.io_count_read == ops[2] and r.io_count_write == ops[1]


def test_op_percentage_keeps_every_key(nvme0):
    """Every opcode the script named gets its count written back, 0 too."""
    ops = {2: 100, 1: 0}
    run_quiet(d.Namespace(nvme0, 2).ioworker(io_size=1, op_percentage=ops, io_count=300).start())
    assert ops == {2: 300, 1: 0}


def test_region_smaller_than_io_size(nvme0):
    cmdlog = [None] * 50
    r = run_quiet(d.Namespace(nvme0, 2).ioworker(io_size=8, region_start=100, region_end=104,
                                                 io_count=50, output_cmdlog_list=cmdlog).start())
    assert r.io_count_read == 50
    assert set(cmdlog) == {(100, 4, 2)}


def test_sequential_pass_cuts_the_last_io(nvme0):
    """One pass of a region that is not a multiple of io_size covers all of it,
    the last IO cut at region_end (the original's io_count and truncation)."""
    cmdlog = [None] * 16
    r = run_quiet(d.Namespace(nvme0, 2).ioworker(io_size=8, lba_random=False, region_start=0,
                                                 region_end=21, qdepth=2,
                                                 output_cmdlog_list=cmdlog).start())
    assert r.io_count_read == 3
    assert cmdlog[-3:] == [(0, 8, 2), (8, 8, 2), (16, 5, 2)]


@pytest.mark.parametrize("lba_random", [50, 30.0])
def test_lba_random_as_a_percentage(nvme0, lba_random):
    cmdlog = [None] * 400
    r = run_quiet(d.Namespace(nvme0, 2).ioworker(io_size=1, lba_random=lba_random, io_count=400,
                                                 qdepth=2, region_end=1 << 20,
                                                 output_cmdlog_list=cmdlog).start())
    assert r.io_count_read == 400
    # qdepth=2: one IO at a time, so the list is in sending order; the
    # sequential IOs continue a cursor from LBA 0 (0, 1, 2, ...), the
    # random ones land anywhere
    cursor = 0
    for lba, _, _ in cmdlog:
        if lba == cursor:
            cursor += 1
    share = 100 - lba_random
    sd = (400 * share / 100 * (1 - share / 100)) ** 0.5
    assert abs(cursor - 400 * share / 100) < 5 * sd + 2, cursor


def test_io_sequence_in_the_originals_order_unsorted(nvme0):
    """(timestamp_us, opcode, slba, nlba), times not sorted: sent in list
    order, each once its time has come."""
    seq = [(30000, 1, 64, 8), (0, 2, 64, 8), (10000, 2, 8, 1), (50000, 9, 128, 16),
           (20000, 0, 0, 0)]
    cmdlog = [None] * 8
    ops = {2: 0, 1: 0, 9: 0, 0: 0}
    r = run_quiet(d.Namespace(nvme0, 2).ioworker(io_sequence=seq, output_cmdlog_list=cmdlog,
                                                 qdepth=2).start())
    assert r.io_count_read == 2 and r.io_count_nonread == 3
    assert cmdlog[:3] == [(0, 0, 0)] * 3
    assert cmdlog[3:] == [(64, 8, 1), (64, 8, 2), (8, 1, 2), (128, 16, 9), (0, 0, 0)]
    assert r.mseconds >= 50


def test_cmdlog_list_shape(nvme0):
    ns = d.Namespace(nvme0, 2)
    log = [None] * 10
    run_quiet(ns.ioworker(io_size=2, lba_random=False, region_end=1000, io_count=4, qdepth=2,
                          output_cmdlog_list=log).start())
    # oldest to newest; the slots no command reached are (0, 0, 0), first
    assert log == [(0, 0, 0)] * 6 + [(0, 2, 2), (2, 2, 2), (4, 2, 2), (6, 2, 2)]
    assert all(type(e) is tuple for e in log)
    log = [None] * 10
    run_quiet(ns.ioworker(io_size=2, lba_random=False, region_end=1000, io_count=100, qdepth=2,
                          output_cmdlog_list=log).start())
    assert log == [(lba, 2, 2) for lba in range(180, 200, 2)]       # the last ten
    lba, count, opcode = log[-1]
    assert (log[-1][0], log[-1][1], log[-1][2]) == (lba, count, opcode) == (198, 2, 2)
    empty = []
    run_quiet(ns.ioworker(io_size=2, io_count=10, output_cmdlog_list=empty).start())
    assert empty == []                 # an empty list collects nothing, as in the original


def test_iops_consistency(nvme0):
    ips = []
    w = d.Namespace(nvme0, 2).ioworker(io_size=1, time=3, qdepth=4, output_io_per_second=ips)
    w.start()
    with pytest.raises(RuntimeError):
        w.iops_consistency()          # needs the result
    r = run_quiet(w)
    full = ips[:r.mseconds // 1000]
    assert len(full) >= 2
    mean = sum(full) / len(full)
    assert r.iops_consistency == pytest.approx(min(full) / mean)
    assert w.iops_consistency() == r.iops_consistency
    # 50%: the middle second from the fastest
    assert w.iops_consistency(50) == pytest.approx(
        sorted(full, reverse=True)[int(len(full) * 50) // 100] / mean)
    with pytest.raises(ValueError):
        w.iops_consistency(100)
    with pytest.raises(AssertionError):     # nvme.ArgumentError is both
        w.iops_consistency(0)


def test_latency_outputs_shape(nvme0):
    pct = {50: None, 99: None, 99.9: None}
    r = run_quiet(d.Namespace(nvme0, 2).ioworker(io_size=1, io_count=500,
                                                 output_percentile_latency=pct).start())
    assert len(r.latency_distribution) == 1000 * 1000    # 1 µs bins, as the original
    assert sum(r.latency_distribution) == 500
    assert all(type(v) is int and v > 0 for v in pct.values()), pct
    assert pct[50] <= pct[99] <= pct[99.9] <= r.latency_max_us


def test_written_data_carries_lba_and_pattern(nvme0):
    """Every LBA the worker writes starts with its LBA number (little endian
    uint64), then the pattern; verification off."""
    ns = d.Namespace(nvme0, 1)
    size = lba_size(nvme0)
    run_quiet(ns.ioworker(io_size=8, lba_random=False, read_percentage=0, region_start=4096,
                          region_end=4096 + 64, qdepth=8, ptype=32, pvalue=0x5a5aa5a5).start())
    for i, data in enumerate(read_lbas(nvme0, ns, 4096, 64)):
        assert struct.unpack("<Q", data[:8])[0] == 4096 + i
        assert data[8:size - 8] == struct.pack("<I", 0x5a5aa5a5) * ((size - 16) // 4)


def test_verified_writes_carry_the_pattern_not_read_data(nvme0):
    """With verification on, a mixed run's writes still carry the pattern:
    reads (here of zeroes) never land in the buffers writes are sent from."""
    base, n = 8192, 512
    ns = d.Namespace(nvme0, 1, nlba_verify=base + n)
    assert ns.verify_enable(True)
    q = d.Qpair(nvme0, 8)
    ns.write_zeroes(q, base, n).waitdone()
    q.delete()
    r = run_quiet(ns.ioworker(io_size=8, lba_align=8, read_percentage=50, region_start=base,
                              region_end=base + n, io_count=600, qdepth=16, ptype=32,
                              pvalue=0x11223344).start())
    assert r.io_count_write > 50
    size = lba_size(nvme0)
    written = 0
    for i, data in enumerate(read_lbas(nvme0, ns, base, n)):
        if data == bytes(size):
            continue
        written += 1
        assert struct.unpack("<Q", data[:8])[0] == base + i
        assert data[8:size - 8] == struct.pack("<I", 0x11223344) * ((size - 16) // 4), base + i
    assert written >= 8


def test_verify_checks_the_stamp_of_unknown_lbas(nvme0):
    """A read of LBA n whose first 8 bytes name another LBA is a miscompare,
    also where the table does not know the content (written around it)."""
    lbas = 256
    size = lba_size(nvme0)
    ns = d.Namespace(nvme0, 1, nlba_verify=lbas)
    assert ns.verify_enable(True)
    run_quiet(ns.ioworker(io_size=8, lba_random=False, read_percentage=0, region_end=lbas,
                          qdepth=8).start())
    # LBA 78's data written to LBA 77 by a raw command: the table forgets
    # LBA 77 (unknown content)
    q = d.Qpair(nvme0, 16)
    b = d.Buffer(size, ptype=32, pvalue=0x01020304)
    b[0:8] = struct.pack("<Q", 78)
    ns.send_cmd(0x01, q, b, nsid=1, cdw10=77, cdw12=0).waitdone()
    q.delete()
    w = ns.ioworker(io_size=8, lba_random=False, region_end=lbas, qdepth=8)
    with pytest.warns(UserWarning, match="ERROR status: 02/81"):
        r = w.start().close()
    assert r.error == 0x0281 and r.mismatch_lba == 77
    assert "holds the data of LBA 0x4e" in r.error_text
    # foreign data there (no LBA number of ours) is not blamed on the drive
    q = d.Qpair(nvme0, 16)
    b[0:8] = b"foreign!"
    ns.send_cmd(0x01, q, b, nsid=1, cdw10=77, cdw12=0).waitdone()
    q.delete()
    r = run_quiet(ns.ioworker(io_size=8, lba_random=False, region_end=lbas, qdepth=8).start())
    assert r.error == 0


def test_bad_arguments_are_assertion_errors_too(nvme0):
    """The original checked ioworker()'s arguments with assert: scripts that
    expect AssertionError keep working (nvme.ArgumentError is also a
    ValueError)."""
    ns = d.Namespace(nvme0, 2)
    with pytest.raises(AssertionError, match="qdepth"):
        ns.ioworker(io_count=10, qdepth=2000)
    with pytest.raises(AssertionError, match="stop condition"):
        ns.ioworker(io_size=8)
    with pytest.raises(d.ArgumentError, match="op_percentage"):
        ns.ioworker(io_count=10, op_percentage={2: 0, 1: 0})


def test_unknown_ptype_writes_zeroes(nvme0):
    """The original's buffers held zeroes for a ptype it did not know."""
    ns = d.Namespace(nvme0, 1)
    size = lba_size(nvme0)
    run_quiet(ns.ioworker(io_size=8, lba_random=False, read_percentage=0, region_start=6000,
                          region_end=6008, qdepth=2, ptype=7, pvalue=3).start())
    for i, data in enumerate(read_lbas(nvme0, ns, 6000, 8)):
        assert struct.unpack("<Q", data[:8])[0] == 6000 + i
        assert data[8:size - 8] == bytes(size - 16)


def test_time_up_to_1000_hours_is_accepted(nvme0):
    w = d.Namespace(nvme0, 2).ioworker(io_size=1, time=1000 * 3600, io_count=10)
    assert run_quiet(w.start()).io_count_read == 10
