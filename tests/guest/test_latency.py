"""Latency figures that add up (issue 16), on the null-backed controller of
test.toml (0000:02:00.0, 4 KiB LBAs), for the ioworker from Python and for
tools/pynvme-perf: 4 KiB random reads at depths 1, 4 and 32.

Little's law: the mean number of commands in flight is IOPS x mean latency
(seconds). A command's latency runs from its doorbell write to the moment its
completion was seen, and a run never has more than its depth in flight, so
the product is at most the depth. At depth 1 the only time with nothing in
flight is the host's, between a completion and the next doorbell: the
doorbell hold (a deliberate wait of 0-3 us before the write, docs/ioworker.md,
reported by both as pacing_hold_ns) and the loop's own work. Counting the
hold as the time it is, IOPS x (mean + hold) is close to 1: [0.90, 1.00], and
IOPS x mean alone never exceeds 1. At
depth 4 and 32 the null backend answers at once, so the host keeps the queue
nearly full: [0.8 x depth, depth]. A latency stamped late (e.g. after the
next command's doorbell write) or early makes the product exceed the depth;
one that misses device time makes it fall short.
"""
import json
import os
import subprocess
import time
import warnings

import pytest

import nvme as d

PERF = os.path.join(os.path.dirname(__file__), "..", "..", "build", "tools", "pynvme-perf")
SECONDS = 2
PERCENTILES = (50, 90, 99, 99.9)


# IOPS comes from the run's wall time, the mean from per-IO TSC stamps: two
# clocks, read at slightly different moments, so the upper bound allows 0.5%.
CLOCKS = 1.005


def in_flight_bounds(qd):
    return (0.90, 1.00 * CLOCKS) if qd == 1 else (0.8 * qd, qd * CLOCKS)


def check_figures(what, qd, iops, mean_us, min_us, max_us, percentiles_us, hold_ns):
    """Little's law and the order of the latency figures (all in us)."""
    in_flight = iops * mean_us / 1e6
    lo, hi = in_flight_bounds(qd)
    assert in_flight <= hi, \
        f"{what} QD{qd}: IOPS {iops:.0f} x mean {mean_us:.2f} us = {in_flight:.3f} in flight, " \
        f"above the depth"
    # at QD1 the hold is host time by design (latency counts from the
    # doorbell write): below the range, the loop's own time between a
    # completion and the next doorbell is over a tenth of the period
    held = iops * hold_ns / 1e9 if qd == 1 else 0.0
    assert lo <= in_flight + held <= hi, \
        f"{what} QD{qd}: IOPS {iops:.0f} x mean {mean_us:.2f} us = {in_flight:.3f} in flight " \
        f"(+ {held:.3f} for the doorbell hold of {hold_ns} ns), outside [{lo:.2f}, {hi:.2f}]"
    assert min_us <= mean_us <= max_us, (what, qd, min_us, mean_us, max_us)
    values = [percentiles_us[p] for p in sorted(percentiles_us)]
    assert values == sorted(values), (what, qd, percentiles_us)
    assert min_us <= values[0] and values[-1] <= max_us, (what, qd, min_us, values, max_us)


@pytest.mark.testbed  # the bounds assume the device's latency dominates the host's turnaround; a software controller answers in microseconds
@pytest.mark.parametrize("qd", [1, 4, 32])
def test_pynvme_perf_adds_up(qd, null_addr):
    p = subprocess.run([PERF, "-d", null_addr, "--rw", "randread", "--bs", "4k", "--qd", str(qd),
                        "--time", str(SECONDS), "--json"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r["error"] == 0, r["error_text"]
    assert r["ios"] > 1000
    check_figures("pynvme-perf", qd, r["iops"], r["lat_mean_us"], r["lat_min_us"],
                  r["lat_max_us"], {50: r["lat_p50_us"], 99: r["lat_p99_us"],
                                    99.9: r["lat_p999_us"]}, r["pacing_hold_ns"])


@pytest.fixture
def null_ns(null_addr):
    p = d.Pcie(null_addr)
    c = d.Controller(p)
    ns = d.Namespace(c, 1)
    yield ns
    ns.close()
    c.close()
    p.close()


@pytest.mark.testbed  # the bounds assume the device's latency dominates the host's turnaround; a software controller answers in microseconds
@pytest.mark.parametrize("qd", [1, 4, 32])
def test_ioworker_adds_up(null_ns, qd):
    pct = {p: None for p in PERCENTILES}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # qdepth is the queue's size: qd + 1 entries keep qd IOs in flight
        r = null_ns.ioworker(io_size=1, lba_random=True, read_percentage=100, qdepth=qd + 1,
                             time=SECONDS, output_percentile_latency=pct).start().close()
    assert r.error == 0, r.error_text
    assert r.io_count_read > 1000
    # latency_min_us is rounded down, latency_max_us up
    check_figures("ioworker", qd, r.iops, r.latency_average_us, r.latency_min_us,
                  r.latency_max_us, pct, r.pacing_hold_ns)


@pytest.mark.parametrize("qd", [1, 32])
def test_ioworker_cmdlog_in_flight(null_ns, qd):
    """The command log (the run's last commands, the drain included) has the
    worker's stamps: by them, never more than qd commands are in flight."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = null_ns.ioworker(io_size=1, lba_random=True, read_percentage=100, qdepth=qd + 1,
                             time=1, output_cmdlog_list=[None] * 256).start().close()
    assert r.error == 0, r.error_text
    log = r.cmdlog   # the queue's command log: SQE, CQE, submit_us, latency_us
    assert len(log) > 4 * qd
    # submit_us is rounded down to a whole us: an interval shortened by 1 us
    # never overlaps the next one by rounding alone
    events = []
    for e in log:
        assert e["latency_us"] is not None and e["latency_us"] >= 0, e
        events.append((e["submit_us"], 1))
        events.append((e["submit_us"] + e["latency_us"] - 1.0, -1))
    in_flight = 0
    for t, step in sorted(events):
        in_flight += step
        assert in_flight <= qd, f"QD{qd}: {in_flight} commands in flight at {t} us by the log"


def test_qpair_latency_within_the_call(null_ctrl):
    """A Qpair command's latency and its command log entry lie inside the
    Python call that sent it and waited for it."""
    q = d.Qpair(null_ctrl, 8)
    buf = d.Buffer(4096)
    for i in range(50):
        t0 = time.perf_counter()
        q.send_cmd(0x02, buf, nsid=1, cdw10=i, cdw12=0).waitdone()
        wall_us = (time.perf_counter() - t0) * 1e6
        assert 0 < q.latest_latency <= wall_us + 1, (q.latest_latency, wall_us)
    log = q.cmdlog(10)
    assert len(log) == 10
    assert all(e["latency_us"] is not None and e["latency_us"] >= 0 for e in log)
    # one at a time: each completion was seen before the next doorbell
    # (submit_us and latency_us are both rounded down to whole us)
    log.sort(key=lambda e: e["submit_us"])
    for a, b in zip(log, log[1:]):
        assert a["submit_us"] + a["latency_us"] <= b["submit_us"] + 2, (a, b)
    q.delete()
