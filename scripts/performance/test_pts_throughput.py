"""SNIA PTS throughput test: for each large block size (128 KiB, 1024 KiB) its
own purge and preconditioning, then rounds of sequential write and sequential
read until the write throughput reaches steady state (PTS-E 2.0 separates the
two block sizes into their own tests, each with its own purge). Client
variant: 1024 KiB only, sequential through the ActiveRange segments in LBA
order, at the client's queue depth."""
import pytest

from perflib import pts
from perflib.options import size_label
from perflib.variant import VARIANTS, PtsVariant


@pytest.mark.parametrize("variant", VARIANTS)
def test_pts_throughput(perf, variant):
    o = perf.opts
    with perf.checking_options():
        v = PtsVariant(perf, variant)
        key = "ptsc_tp_block_sizes" if v.client else "tp_block_sizes"
        sizes = v.check_block_sizes(perf.block_sizes(key), key)
        qdepth = perf.qdepth("ptsc_qdepth" if v.client else "tp_qdepth")
    workers = o["tp_workers"]
    rep = v.report(perf, "throughput", "throughput: sequential "
                   + " and ".join(size_label(bs) for bs in sorted(sizes)))
    perf.estimate(rep, "throughput", 2 * o["round_time"], repeats=len(sizes))
    results = {}
    for bs in sorted(sizes):
        perf.purge(rep)
        perf.precondition(rep)

        def one_round(n, bs=bs):
            cells = []
            for read_pct, what in ((0, "write"), (100, "read")):
                perf.say(f"throughput {size_label(bs)} round {n}: sequential {what}")
                r = perf.measure(workers, qdepth, bs, read_pct, o["round_time"], random=False,
                                 **v.measure_args())
                cells.append(pts.cell(r, bs, read_pct))
            return cells

        rounds, tracking, ss = pts.rounds_to_steady_state(
            perf, f"throughput {size_label(bs)}", one_round,
            lambda cells: next(c["mbps"] for c in cells if c["read_pct"] == 0))
        window = pts.window_rounds(ss)
        avg = {rp: sum(c["mbps"] for r in rounds if r["round"] in window for c in r["cells"]
                       if c["read_pct"] == rp) / len(window) for rp in (0, 100)}
        results[bs] = {"rounds": rounds, "steady_state": ss.as_dict(), "tracking": tracking,
                       "write_mbps": avg[0], "read_mbps": avg[100]}
        s = rep.section(f"{size_label(bs)} sequential", ss.summary(
            f"{size_label(bs)} sequential write throughput"))
        if not ss.reached:
            rep.note(ss.summary(f"{size_label(bs)} sequential write throughput"))
        s.chart("steady_state_chart", f"steady_state_{bs // 1024}k",
                caption="Write throughput per round (tracking variable) with the measurement "
                        "window; read throughput of each round in the lighter line.",
                rounds=list(range(1, len(tracking) + 1)), values=tracking,
                window=ss.window.as_dict() if ss.window else None,
                title=f"Steady-state convergence: {size_label(bs)} sequential write",
                ylabel="throughput (MB/s)",
                others={"sequential read": [c["mbps"] for r in rounds for c in r["cells"]
                                            if c["read_pct"] == 100]})
    rep.data["block_sizes"] = {str(bs): res for bs, res in results.items()}
    s = rep.section("Throughput", f"Measurement-window averages, {workers} worker(s) x {qdepth} "
                    f"IOs in flight, sequential ({v.text}). MB/s = 10^6 bytes/s.")
    s.table(["block size", "sequential write (MB/s)", "sequential read (MB/s)"],
            [[size_label(bs), res["write_mbps"], res["read_mbps"]] for bs, res in results.items()],
            caption="Steady-state throughput")
    s.chart("bar_chart", "throughput", caption="Measurement-window averages.",
            categories=[size_label(bs) for bs in results],
            series={"sequential write": [res["write_mbps"] for res in results.values()],
                    "sequential read": [res["read_mbps"] for res in results.values()]},
            title="Sequential throughput", xlabel="block size", ylabel="throughput (MB/s)")
    for bs, res in results.items():
        perf.metric(rep, f"MB/s {size_label(bs)} sequential write", res["write_mbps"], "MB/s")
        perf.metric(rep, f"MB/s {size_label(bs)} sequential read", res["read_mbps"], "MB/s")
    problems = v.finish(perf, rep)
    assert not problems, "; ".join(problems)
