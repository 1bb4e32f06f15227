"""SNIA PTS IOPS test: random IO at every R/W mix x block size, rounds until
the 4 KiB random write IOPS reach steady state, and the measurement window's
averages as the IOPS table (PTS-E 2.0, "IOPS test"). Both variants:
enterprise (the whole tested range, T4Q32) and client (the ActiveRange
segments, T2Q16; perflib/variant.py)."""
import pytest

from perflib import pts, tables
from perflib.options import mix_label, size_label
from perflib.variant import VARIANTS, PtsVariant

TRACK_BS, TRACK_MIX = 4096, 0     # the PTS's tracking variable: 4 KiB 100% write


@pytest.mark.parametrize("variant", VARIANTS)
def test_pts_iops(perf, variant):
    o = perf.opts
    with perf.checking_options():
        v = PtsVariant(perf, variant)
        sizes = v.check_block_sizes(perf.block_sizes("iops_block_sizes"), "iops_block_sizes")
        workers, qdepth = v.oio(perf, "iops_workers", "iops_qdepth")
    mixes = o["iops_mixes"]
    track = (TRACK_BS if TRACK_BS in sizes else min(sizes), min(mixes))
    rep = v.report(perf, "iops", "IOPS: random block size x R/W mix")
    if track != (TRACK_BS, TRACK_MIX):
        rep.note(f"tracking variable: {pts.cell_name(*track)} (the PTS's 4 KiB 0/100 is not "
                 "among the chosen block sizes and mixes)")
    perf.estimate(rep, "IOPS", len(sizes) * len(mixes) * o["round_time"])
    perf.purge(rep)
    perf.precondition(rep)
    order = [(bs, mix) for mix in sorted(mixes) for bs in sorted(sizes, reverse=True)]
    rounds, tracking, ss = pts.mix_size_rounds(perf, f"{variant} IOPS", sizes, mixes, workers,
                                               qdepth, track, "iops", regions=v.regions)
    rep.data["rounds"] = rounds
    window = pts.window_rounds(ss)
    blocks = sorted(sizes)
    mix_cols = sorted(mixes, reverse=True)
    others = {pts.cell_name(bs, mix): tables.series(rounds, bs, mix, "iops")
              for bs, mix in order if (bs, mix) != track and bs == track[0]}
    pts.steady_state_section(rep, ss, tracking, f"IOPS {pts.cell_name(*track)}", "IOPS", others)

    s = rep.section("IOPS", f"Average IOPS of the measurement window (rounds {min(window)}-"
                    f"{max(window)}), random IO ({v.text}), {workers} workers x "
                    f"{qdepth} IOs in flight (T{workers}Q{qdepth}).")
    cols, rows = tables.mix_size_table(rounds, blocks, mix_cols, "iops", window)
    s.table(cols, rows, caption="IOPS by block size (rows) and R/W mix (columns)")
    matrix = tables.mix_size_matrix(rounds, blocks, mix_cols, "iops", window)
    labels_bs = [size_label(b) for b in blocks]
    labels_mix = [mix_label(m) for m in mix_cols]
    s.chart("heatmap", "iops_heatmap", caption="Measurement-window average IOPS.",
            matrix=matrix, row_labels=labels_bs, col_labels=labels_mix,
            title="IOPS by block size and R/W mix", xlabel="R/W mix (% read / % write)",
            ylabel="block size", value_label="IOPS")
    s.chart("bars_3d", "iops_3d", caption="The same as 3D bars.", matrix=matrix,
            row_labels=labels_bs, col_labels=labels_mix, title="IOPS by block size and R/W mix",
            xlabel="R/W mix (%)", ylabel="block size", zlabel="IOPS")
    s.chart("line_chart", "iops_by_block_size", caption="One line per R/W mix.",
            x=labels_bs, series={f"R/W {lbl}": [row[j] for row in matrix]
                                 for j, lbl in enumerate(labels_mix)},
            title="IOPS against block size", xlabel="block size", ylabel="IOPS (log scale)",
            logy=True)
    cols, rows = tables.mix_size_table(rounds, blocks, mix_cols, "mbps", window)
    s.table(cols, rows, caption="Bandwidth (MB/s, 10^6 bytes) by block size and R/W mix")
    cols, rows = tables.mix_size_table(rounds, blocks, mix_cols, "lat_avg_us", window)
    s.table(cols, rows, caption="Average latency (us) by block size and R/W mix")
    for bs, row in zip(blocks, matrix):
        for mix, value in zip(mix_cols, row):
            perf.metric(rep, f"IOPS {pts.cell_name(bs, mix)}", value, "IOPS")
    problems = v.finish(perf, rep)
    assert not problems, "; ".join(problems)
