"""SNIA PTS latency test: one IO in flight (T1Q1), random, R/W mixes 100/0,
65/35, 0/100 x block sizes 0.5, 4, 8 KiB, rounds until the 4 KiB 100% write
average latency reaches steady state; average, maximum and the 99% to
99.999% percentiles over the measurement window. Both variants (enterprise:
the whole tested range; client: the ActiveRange segments)."""
import pytest

from perflib import percentiles, pts, tables
from perflib.measure import dense, sparse
from perflib.options import mix_label, size_label
from perflib.variant import VARIANTS, PtsVariant

TRACK_BS = 4096


@pytest.mark.parametrize("variant", VARIANTS)
def test_pts_latency(perf, variant):
    o = perf.opts
    with perf.checking_options():
        v = PtsVariant(perf, variant)
        sizes = v.check_block_sizes(perf.block_sizes("lat_block_sizes"), "lat_block_sizes")
    mixes = o["lat_mixes"]
    track = (TRACK_BS if TRACK_BS in sizes else min(sizes), min(mixes))
    rep = v.report(perf, "latency", "latency: QD1 response times")
    if track != (TRACK_BS, 0):
        rep.note(f"tracking variable: {pts.cell_name(*track)} average latency (the PTS's "
                 "4 KiB 0/100 is not among the chosen block sizes and mixes)")
    perf.estimate(rep, "latency", len(sizes) * len(mixes) * o["round_time"])
    perf.purge(rep)
    perf.precondition(rep)
    rounds, tracking, ss = pts.mix_size_rounds(perf, f"{variant} latency", sizes, mixes, 1, 1,
                                               track, "lat_avg_us", keep_distribution=True,
                                               regions=v.regions)
    rep.data["rounds"] = rounds
    window = pts.window_rounds(ss)
    pts.steady_state_section(rep, ss, tracking, f"average latency {pts.cell_name(*track)}",
                             "latency (us)")
    # the window's distributions of each cell, merged: its percentiles and maximum
    summary, dists = [], {}
    for mix in sorted(mixes, reverse=True):
        for bs in sorted(sizes):
            dist = percentiles.merge([dense(c["distribution"]) for r in rounds
                                      if r["round"] in window for c in r["cells"]
                                      if (c["bs"], c["read_pct"]) == (bs, mix)])
            dists[pts.cell_name(bs, mix)] = dist
            pct = percentiles.percentiles(dist)
            summary.append({"bs": bs, "read_pct": mix, "ios": sum(dist),
                            "avg_us": tables.window_average(rounds, bs, mix, "lat_avg_us", window),
                            "max_us": percentiles.maximum(dist),
                            **{f"p{p:g}_us": v for p, v in pct.items()},
                            "distribution": sparse(dist)})
    rep.data["window_summary"] = summary
    s = rep.section("Latency", f"Measurement window rounds {min(window)}-{max(window)}; one IO "
                    f"in flight, random IO ({v.text}); latency from the doorbell write to "
                    "the completion. A "
                    "percentile needs 100 / (100 - p) IOs to differ from the maximum "
                    "(100,000 for 99.999%): the IO counts are in the table.")
    cols = ["block size", "R/W mix", "IOs", "average (us)", "99% (us)", "99.9% (us)",
            "99.99% (us)", "99.999% (us)", "maximum (us)"]
    s.table(cols, [[size_label(x["bs"]), mix_label(x["read_pct"]), x["ios"], x["avg_us"],
                    x["p99_us"], x["p99.9_us"], x["p99.99_us"], x["p99.999_us"], x["max_us"]]
                   for x in summary], caption="Response times")
    blocks = sorted(sizes)
    s.chart("bar_chart", "latency_average",
            caption="Measurement-window average latency by block size and mix.",
            categories=[size_label(b) for b in blocks],
            series={f"R/W {mix_label(m)}": [next(x["avg_us"] for x in summary
                                                 if (x["bs"], x["read_pct"]) == (b, m))
                                            for b in blocks] for m in sorted(mixes, reverse=True)},
            title="Average latency (QD1)", xlabel="block size", ylabel="average latency (us)")
    s.chart("bar_chart", "latency_maximum", caption="Maximum latency in the window (log scale).",
            categories=[size_label(b) for b in blocks],
            series={f"R/W {mix_label(m)}": [next(x["max_us"] for x in summary
                                                 if (x["bs"], x["read_pct"]) == (b, m))
                                            for b in blocks] for m in sorted(mixes, reverse=True)},
            title="Maximum latency (QD1)", xlabel="block size", ylabel="maximum latency (us)",
            logy=True)
    s.chart("qos_curve", "latency_qos", caption="Share of IOs completed within a latency: "
            "the QoS curve of every cell.", distributions=dists,
            title="QoS: latency percentiles at QD1")
    s.chart("latency_histogram", "latency_histogram",
            caption=f"Latency histogram of the {size_label(track[0])} cells.",
            distributions={k: v for k, v in dists.items() if k.startswith(size_label(track[0]) + " ")},
            title=f"Latency histogram, {size_label(track[0])}, QD1")
    for x in summary:
        name = pts.cell_name(x["bs"], x["read_pct"])
        perf.metric(rep, f"average latency {name}", x["avg_us"], "us")
        perf.metric(rep, f"maximum latency {name}", x["max_us"], "us")
        for p in percentiles.QOS_PERCENTILES:
            perf.metric(rep, f"{p:g}% latency {name}", x[f"p{p:g}_us"], "us")
    problems = v.finish(perf, rep)
    assert not problems, "; ".join(problems)
