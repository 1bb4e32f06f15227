"""IOWorker in the guest, against QEMU's NVMe controllers of test.toml:
0000:01:00.0 (two file-backed namespaces that keep data, 512 B LBAs, mdts=7) and
0000:02:00.0 (null backend, 4 KiB LBAs).

Workers come from Namespace.ioworker(); verification is the namespace's
(verify_enable(True), its table bounded by nlba_verify) and shared by every
worker of that Namespace object.
"""
import os
import signal
import threading
import time
import warnings

import pytest

import nvme as d

SQE_OPC, SQE_NSID, SQE_CDW10, SQE_CDW11, SQE_CDW12 = 0, 1, 10, 11, 12


def ioworker(ctrl, nsid=1, verify_ns=None, **kw):
    """A worker on namespace `nsid` of `ctrl`, or on `verify_ns` (a Namespace
    with verification on). The worker keeps its Namespace alive."""
    ns = verify_ns if verify_ns is not None else d.Namespace(ctrl, nsid)
    return ns.ioworker(**kw)


def verified_ns(ctrl, nlba, nsid=1):
    ns = d.Namespace(ctrl, nsid, nlba_verify=nlba)
    assert ns.verify_enable(True)
    assert ns.nlba_verify == nlba
    return ns


def lba_size(ctrl, nsid=1):
    flbas = ctrl.id_data(26, 26, nsid=nsid, cns=0)
    return 1 << ctrl.id_data(128 + 4 * (flbas & 0xf) + 2, 128 + 4 * (flbas & 0xf) + 2, nsid=nsid, cns=0)


def used(cmdlist):
    """The (lba, count, opcode) entries of an output_cmdlog_list that hold a
    command (the original's (0, 0, 0) slots left out)."""
    return [e for e in cmdlist if e != (0, 0, 0)]


def cmd_slba(entry):
    return entry["sqe"][SQE_CDW10] | entry["sqe"][SQE_CDW11] << 32


def cmd_nlb(entry):
    return (entry["sqe"][SQE_CDW12] & 0xffff) + 1


def run_quiet(w):
    """close() a worker that must not warn."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return w.close()


def test_read_io_count(nvme0):
    r = run_quiet(ioworker(nvme0, io_size=8, qdepth=8, io_count=1000, read_percentage=100).start())
    assert r.io_count_read == 1000 and r["io_count_read"] == 1000
    assert r.io_count_nonread == 0 and r.io_count_write == 0
    assert r.error == 0, r.error_text
    assert r.mseconds > 0, r
    assert 0 < r.latency_average_us <= r.latency_max_us, r
    # a polling thread uses its core fully (thread CPU time over run time;
    # a short run's setup and teardown skew it a little)
    assert 0.0 < r.cpu_usage <= 1.5, r


def test_context_manager_and_time(nvme0):
    t0 = time.time()
    with ioworker(nvme0, io_size=1, time=2, qdepth=4) as w:
        assert w.running
    elapsed = time.time() - t0
    assert 1.9 < elapsed < 4, elapsed
    r = w.close()          # the cached result
    assert 1900 <= r.mseconds <= 2600
    assert r.io_count_read > 100


@pytest.mark.parametrize("kw, exc, word", [
    (dict(io_size=8), ValueError, "stop condition"),
    (dict(io_count=10, qdepth=1), ValueError, "qdepth"),
    (dict(io_count=10, qdepth=2000), ValueError, "qdepth"),
    (dict(io_count=10, lba_random=150), ValueError, "lba_random"),
    (dict(io_count=10, read_percentage=101), ValueError, "read_percentage"),
    (dict(io_count=10, io_size="8"), TypeError, "io_size"),
    (dict(io_count=10, io_size=0), ValueError, "io_size"),
    (dict(io_count=10, op_percentage={2: 0, 1: 0}), ValueError, "op_percentage"),
    (dict(io_count=10, op_percentage=[2]), TypeError, "op_percentage"),
    (dict(io_count=10, distribution=[100] * 99), ValueError, "distribution"),
    (dict(io_count=10, distribution=[90] * 100), ValueError, "distribution"),
    (dict(io_count=10, region_start=100, region_end=50), ValueError, "region_start"),
    (dict(io_count=10, time=-1), ValueError, "time"),
    (dict(io_count=10, qprio=4), ValueError, "qprio"),
    (dict(io_count=10, ptype=0xbeef, pvalue=101), ValueError, "pvalue"),
    (dict(io_count=10, time=3600 * 1000 + 1), ValueError, "time"),
    (dict(io_count=10, lba_align=[1, 2], io_size=8), ValueError, "lba_align"),
    (dict(io_sequence=[(0, 1, 2)]), ValueError, "io_sequence"),
    (dict(io_count=10, output_io_per_second={}), TypeError, "output_io_per_second"),
    (dict(io_count=10, regions=[(0, 100), (50, 200)]), ValueError, "regions.1. .50, 200. overlaps"),
    (dict(io_count=10, regions=[(0, 100)], region_end=100), ValueError, "cannot be combined"),
    (dict(io_count=10, regions=[(0, 100, 0)]), ValueError, "regions weight 0 out of range"),
    (dict(io_count=10, regions=[(0, 100), (200, 204)]), ValueError, "holds no IO of io_size 8"),
    (dict(io_count=10, regions=[(0,)]), ValueError, "must be .start, end. or"),
    (dict(io_count=10, regions=5), TypeError, "regions must be a list"),
    (dict(io_count=10, output_percentile_latency={200: None}), ValueError, "percentile"),
])
def test_validation(nvme0, kw, exc, word):
    with pytest.raises(exc, match=word):
        ioworker(nvme0, **kw)


def test_io_size_above_mdts_is_error_2(nvme0):
    too_big = nvme0.mdts // lba_size(nvme0) + 8
    w = ioworker(nvme0, io_size=too_big, io_count=10)
    with pytest.warns(UserWarning, match="ioworker host ERROR -2"):
        r = w.start().close()
    assert r.error == -2 and r.io_count_read == 0


def test_region_sizes_alignment(nvme0):
    cmdlog = [None] * 256
    r = run_quiet(ioworker(nvme0, io_size=[1, 8, 16], lba_align=[1, 8, 16], region_start=1000,
                           region_end=5000, io_count=3000, qdepth=16,
                           output_cmdlog_list=cmdlog).start())
    assert r.io_count_read == 3000
    assert len(cmdlog) == 256
    assert all(e["sqe"][SQE_NSID] == 1 for e in r.cmdlog)
    seen = set()
    for slba, nlb, opcode in cmdlog:
        assert opcode == 2
        assert nlb in (1, 8, 16)
        assert slba % nlb == 0, (slba, nlb)
        assert 1000 <= slba and slba + nlb <= 5000
        seen.add(nlb)
    assert seen == {1, 8, 16}


def test_io_size_range_and_weights(nvme0):
    cmdlog = [None] * 256
    run_quiet(ioworker(nvme0, io_size=range(2, 10, 2), io_count=1000, region_end=1 << 16,
                       output_cmdlog_list=cmdlog).start())
    assert {nlb for _, nlb, _ in cmdlog} == {2, 4, 6, 8}
    cmdlog = [None] * 256
    run_quiet(ioworker(nvme0, io_size={1: 90, 64: 10}, io_count=2000, region_end=1 << 16,
                       output_cmdlog_list=cmdlog).start())
    big = sum(1 for _, nlb, _ in cmdlog if nlb == 64)
    assert all(nlb in (1, 64) for _, nlb, _ in cmdlog)
    # 256 draws at p=0.1: mean 25.6, sd 4.8; 5 sd bounds
    assert 2 <= big <= 50, big


def test_sequential_pass_and_step(nvme0):
    cmdlog = [None] * 256
    r = run_quiet(ioworker(nvme0, io_size=8, lba_random=False, region_start=800, region_end=1600,
                           qdepth=4, output_cmdlog_list=cmdlog).start())
    assert r.io_count_read == 100            # one pass of 800 LBAs in 8-LBA IOs
    slbas = sorted(slba for slba, _, _ in used(cmdlog))
    assert slbas == list(range(800, 1600, 8))
    cmdlog = [None] * 256
    run_quiet(ioworker(nvme0, io_size=4, lba_step=16, lba_random=False, region_start=0,
                       region_end=1600, qdepth=2, output_cmdlog_list=cmdlog).start())
    assert sorted(slba for slba, _, _ in used(cmdlog)) == list(range(0, 1600, 16))


def test_op_mix(nvme0):
    ops = {2: 40, 1: 30, 8: 10, 9: 10, 0: 10}
    n = 4000
    r = run_quiet(ioworker(nvme0, nsid=2, io_size=8, op_percentage=ops, io_count=n, qdepth=16,
                           region_end=1 << 16).start())
    assert sum(ops.values()) == n             # op_percentage now holds the real counts
    for opc, pct in {2: 40, 1: 30, 8: 10, 9: 10, 0: 10}.items():
        mean = n * pct / 100
        sd = (n * pct / 100 * (1 - pct / 100)) ** 0.5
        assert abs(ops[opc] - mean) < 5 * sd, (opc, ops[opc], mean)
    assert r.io_count_read == ops[2]
    assert r.io_count_write == ops[1]
    assert r.io_count_nonread == n - ops[2]
    assert r.op_counts == ops


def test_read_percentage(nvme0):
    n = 2000
    r = run_quiet(ioworker(nvme0, nsid=2, io_size=1, read_percentage=70, io_count=n,
                           region_end=1 << 16).start())
    sd = (n * 0.7 * 0.3) ** 0.5
    assert abs(r.io_count_read - 1400) < 5 * sd
    assert r.io_count_read + r.io_count_write == n


def test_distribution_buckets(nvme0):
    cap = nvme0.id_data(7, 0, nsid=1, cns=0)
    dist = [0] * 100
    dist[0], dist[50], dist[99] = 5000, 3000, 2000
    cmdlog = [None] * 256
    run_quiet(ioworker(nvme0, io_size=1, distribution=dist, io_count=2000, qdepth=16,
                       output_cmdlog_list=cmdlog).start())
    hits = [0] * 100
    for slba, _, _ in cmdlog:
        hits[slba * 100 // cap] += 1
    assert sum(hits[b] for b in (0, 50, 99)) == len(cmdlog) == 256
    assert all(hits[b] > 10 for b in (0, 50, 99)), [hits[b] for b in (0, 50, 99)]


def test_regions_every_io_inside_and_shared_by_weight(nvme0):
    """regions (our extension): 64 segments spread over the namespace, the last
    8 weighted 4 times their length; every IO lies whole inside one segment and
    each segment's share of the IOs is its weight's (5 sigma)."""
    cap = nvme0.id_data(7, 0, nsid=1, cns=0)
    step = cap // 64
    regions = [(k * step + 37, k * step + 37 + 256) for k in range(56)]
    regions += [(k * step + 37, k * step + 37 + 256, 4 * 256) for k in range(56, 64)]
    weights = [256] * 56 + [1024] * 8
    n = 20000
    cmdlog = [None] * n
    r = run_quiet(ioworker(nvme0, io_size={1: 1, 8: 1}, lba_align=[1, 8], regions=regions,
                           io_count=n, qdepth=16, read_percentage=100,
                           output_cmdlog_list=cmdlog).start())
    assert r.io_count_read == n and len(used(cmdlog)) == n
    starts = [reg[0] for reg in regions]
    hits = [0] * 64
    for slba, count, _ in cmdlog:
        k = max(i for i, s0 in enumerate(starts) if s0 <= slba)
        assert slba + count <= regions[k][1], (slba, count, regions[k])
        assert count == 1 or slba % 8 == 0
        hits[k] += 1
    total = sum(weights)
    for k, (h, wt) in enumerate(zip(hits, weights)):
        share = wt / total
        assert abs(h - n * share) <= 5 * (n * share * (1 - share)) ** 0.5 + 1, (k, h, n * share)
    # sequential: one pass walks the segments in order, each cut at its end
    cmdlog = [None] * 1024
    run_quiet(ioworker(nvme0, io_size=100, lba_random=False, regions=regions[:3], qdepth=2,
                       output_cmdlog_list=cmdlog).start())
    lo = regions[0][0]
    assert [(lba - lo, cnt) for lba, cnt, _ in used(cmdlog)] == [
        (off + k * step, c) for k in range(3) for off, c in ((0, 100), (100, 100), (200, 56))]


def test_trace_replay(nvme0):
    # the original's entries: (timestamp_us, opcode, slba, nlba)
    seq = [(i * 20000, 2 if i % 2 else 1, i * 8, 8) for i in range(20)]
    cmdlog = [None] * 20
    t0 = time.time()
    r = run_quiet(ioworker(nvme0, nsid=2, io_sequence=seq, output_cmdlog_list=cmdlog).start())
    assert time.time() - t0 >= 0.38
    assert r.io_count_read == 10 and r.io_count_write == 10
    # in completion order: a read may overtake a write sent before it
    assert sorted(cmdlog) == sorted((slba, n, op) for _, op, slba, n in seq)
    log = list(reversed(r.cmdlog))[-20:]
    assert [(cmd_slba(e), cmd_nlb(e), e["opcode"]) for e in log] == [(s[2], s[3], s[1]) for s in seq]
    # times are relative to the worker's start, which the first IO (time 0)
    # follows by a little: measure from it, with that much slack
    # never early; late only by the guest's scheduling (a busy host can stall
    # the emulated CPU for tens of ms), typically by much less
    t_first = log[0]["submit_us"]
    late = []
    for e, s in zip(log, seq):
        offset = e["submit_us"] - t_first
        assert s[0] - 1000 <= offset < s[0] + 100000, (s, offset)
        late.append(offset - s[0])
    assert sorted(late)[len(late) // 2] < 3000, late


def test_percentiles_monotonic(nvme0):
    pct = {50: None, 90: None, 99: None, 99.9: None, 99.99: None}
    ips = []
    r = run_quiet(ioworker(nvme0, io_size=8, time=2, qdepth=16, output_percentile_latency=pct,
                           output_io_per_second=ips).start())
    values = [pct[k] for k in sorted(pct)]
    assert all(v > 0 for v in values)
    assert values == sorted(values)
    assert values[-1] <= r.latency_max_us + 1
    assert len(ips) == 2 and sum(ips) == r.io_count_read
    dist = r.latency_distribution
    assert sum(dist) == r.io_count_read
    assert 0.0 < r.iops_consistency <= 1.0 or len(ips) < 3


def test_verify_catches_corruption(nvme0):
    lbas = 256
    size = lba_size(nvme0)
    table = verified_ns(nvme0, lbas)
    r = run_quiet(ioworker(nvme0, verify_ns=table, io_size=8, lba_random=False,
                           read_percentage=0, region_end=lbas, qdepth=8).start())
    assert r.io_count_write == lbas // 8
    # the data reads back as written
    r = run_quiet(ioworker(nvme0, verify_ns=table, io_size=8, lba_random=False,
                           region_end=lbas, qdepth=8).start())
    assert r.io_count_read == lbas // 8 and r.error == 0
    # a write behind the worker's back, not recorded in the table
    q = d.Qpair(nvme0, 16)
    b = d.Buffer(size, ptype=32, pvalue=0x5a5a5a5a)
    q.send_cmd(0x01, b, nsid=1, cdw10=77, cdw12=0).waitdone()
    w = ioworker(nvme0, verify_ns=table, io_size=8, lba_random=False, region_end=lbas, qdepth=8)
    with pytest.warns(UserWarning, match="ERROR status: 02/81"):
        r = w.start().close()
    assert r.error == 0x0281 and r.error_code == -6
    assert r.mismatch_lba == 77
    q.delete()


def test_verify_mixed_random(nvme0):
    table = verified_ns(nvme0, 4096)
    r = run_quiet(ioworker(nvme0, verify_ns=table, io_size={1: 1, 8: 1}, lba_align=[1, 8],
                           read_percentage=50, region_end=4096, time=2, qdepth=32).start())
    assert r.error == 0
    assert r.io_count_read > 100 and r.io_count_write > 100


def test_concurrent_workers_disjoint(nvme0, null_ctrl):
    table = verified_ns(nvme0, 1 << 14)
    logs = [[None] * 256 for _ in range(3)]
    ws = [ioworker(nvme0, verify_ns=table, io_size=8, read_percentage=50, region_start=0,
                   region_end=1 << 13, time=2, qdepth=8, output_cmdlog_list=logs[0]),
          ioworker(nvme0, verify_ns=table, io_size=8, read_percentage=50,
                   region_start=1 << 13, region_end=1 << 14, time=2, qdepth=8,
                   output_cmdlog_list=logs[1]),
          ioworker(null_ctrl, io_size=1, time=2, qdepth=8, output_cmdlog_list=logs[2])]
    for w in ws:
        w.start()
    rs = [run_quiet(w) for w in ws]
    for r in rs:
        assert r.error == 0 and r.io_count_read > 50
    assert all(slba + nlb <= 1 << 13 for slba, nlb, _ in logs[0])
    assert all(slba >= 1 << 13 for slba, _, _ in logs[1])


def test_throttle_iops(null_ctrl):
    ips = []
    r = run_quiet(ioworker(null_ctrl, io_size=1, iops=1234, time=7, qdepth=8,
                           output_io_per_second=ips).start())
    assert len(ips) == 7, ips
    for v in ips[1:]:
        assert abs(v - 1234) <= 1234 * 0.01, ips
    # the original's definition: the slowest full second over the mean (up
    # to 1000 seconds, 99.9% is the slowest one), the first second included
    full = ips[:r.mseconds // 1000]
    assert r.iops_consistency == pytest.approx(min(full) / (sum(full) / len(full)))


def test_ctrl_c_while_closing(null_ctrl, sigint_raises):
    """close() sleeps until the worker ends (it does not poll), yet Ctrl-C
    still stops the worker with -7 and reaches the script, and the worker's
    statistics are kept."""
    w = ioworker(null_ctrl, io_size=8, time=20, qdepth=16).start()
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    t0 = time.time()
    with pytest.warns(UserWarning, match="ioworker host ERROR -7"):
        with pytest.raises(KeyboardInterrupt):
            w.close()
    assert time.time() - t0 < 3
    r = w.close()   # the result stays available
    assert r.error == -7 and r.io_count_read > 0 and r.mseconds < 3000


def test_reset_mid_run(null_ctrl):
    """Controller.reset() under a running worker (on the null-backed controller:
    see test_device_event_mid_run for why)."""
    nvme0 = null_ctrl
    w = ioworker(nvme0, io_size=8, time=20, qdepth=16).start()
    time.sleep(1.5)
    nvme0.reset()
    t0 = time.time()
    with pytest.warns(UserWarning, match="ioworker host ERROR -7"):
        r = w.close()
    assert time.time() - t0 < 3
    assert r.error == -7 and r.io_count_read > 0 and r.mseconds < 5000
    # the script goes on: the controller works and a new worker runs
    r = run_quiet(ioworker(nvme0, io_size=8, io_count=500).start())
    assert r.io_count_read == 500


def test_close_without_start_runs(nvme0):
    r = run_quiet(ioworker(nvme0, io_size=1, io_count=100))
    assert r.io_count_read == 100


@pytest.mark.parametrize("event", ["flr", "d3hot", "disable"])
def test_device_event_mid_run(event, null_addr):
    """A function reset, D3hot (BAR access refused: SIGBUS on the mapping) or
    a controller disabled behind the driver ends the worker with -7 and its
    statistics, without crashing; the script goes on after Controller.reset().

    On the null-backed controller: QEMU 7.2 itself sometimes segfaults when a
    file-backed controller is reset or disabled with reads in flight (seen in
    about half of the runs here), which would take the whole guest down."""
    pcie = d.Pcie(null_addr)
    nvme0 = d.Controller(pcie)
    try:
        device_event_mid_run(pcie, nvme0, event)
    finally:
        nvme0.close()
        pcie.close()


def device_event_mid_run(pcie, nvme0, event):
    w = ioworker(nvme0, io_size=8, time=20, qdepth=16).start()
    time.sleep(1.5)
    t0 = time.time()
    if event == "flr":
        pcie.flr()
    elif event == "d3hot":
        pcie.power_state = 3
    else:
        nvme0[0x14] = 0          # CC.EN = 0
    with pytest.warns(UserWarning, match="ioworker host ERROR -7"):
        r = w.close()
    assert time.time() - t0 < 5
    assert r.error == -7 and r.io_count_read > 0 and r.mseconds < 8000
    if event == "d3hot":
        pcie.power_state = 0
    nvme0.reset()
    r = run_quiet(ioworker(nvme0, io_size=8, io_count=300).start())
    assert r.io_count_read == 300


def test_controller_close_stops_worker(pcie):
    c = d.Controller(pcie)
    w = ioworker(c, io_size=8, time=20, qdepth=8).start()
    time.sleep(1)
    t0 = time.time()
    c.close()                  # stops and joins the worker first
    assert time.time() - t0 < 3
    assert not w.running
    with pytest.warns(UserWarning, match="ioworker host ERROR -7"):
        r = w.close()
    assert r.io_count_read > 0


def test_several_workers_one_controller(nvme0):
    ws = [ioworker(nvme0, nsid=1 + i % 2, io_size=1, time=2, qdepth=4).start() for i in range(4)]
    rs = [run_quiet(w) for w in ws]
    assert all(r.error == 0 and r.io_count_read > 20 for r in rs)
