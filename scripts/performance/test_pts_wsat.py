"""SNIA PTS write saturation (WSAT): from a purged drive, 4 KiB random writes
without preconditioning, in rounds, until 4 x the tested range is written or
24 hours have passed; IOPS against time and against total GB written (TGBW)
show the fresh-out-of-box burst, the transition and the steady state."""
from perflib import steady_state
from perflib.options import OptionError

BS = 4096


def test_pts_wsat(perf):
    o = perf.opts
    with perf.checking_options():
        qdepth = perf.qdepth("wsat_qdepth")
        if BS % perf.lba_size:
            raise OptionError(f"WSAT writes 4 KiB; the LBA size is {perf.lba_size} B")
    workers = o["wsat_workers"]
    goal_bytes = o["wsat_fills"] * perf.range_bytes
    rep = perf.report("pts-wsat", "SNIA PTS write saturation: 4 KiB random writes")
    perf.purge(rep)
    rounds, written, elapsed = [], 0, 0.0
    while goal_bytes - written >= BS and elapsed < o["wsat_max_time"]:
        left_ios = (goal_bytes - written) // BS
        r = perf.measure(workers, qdepth, BS, 0, o["wsat_round_time"], io_count=left_ios)
        written += r["writes"] * BS
        elapsed += r["seconds"]
        rounds.append({"round": len(rounds) + 1, "iops": r["iops"], "mbps": r["mbps"],
                       "lat_avg_us": r["lat_avg_us"], "lat_max_us": r["lat_max_us"],
                       "seconds": r["seconds"], "writes": r["writes"],
                       "tgbw": written / 1e9, "elapsed_s": elapsed,
                       "iops_each_second": r["iops_each_second"]})
        perf.say(f"WSAT round {len(rounds)}: {r['iops']:.0f} IOPS, {written / 1e9:.3f} of "
                 f"{goal_bytes / 1e9:.3f} GB written, {elapsed:.0f} of {o['wsat_max_time']} s")
    stop = ("the goal of writing " f"{o['wsat_fills']} x the tested range was reached"
            if written >= goal_bytes else f"the time limit of {o['wsat_max_time']} s was reached")
    rep.note(f"WSAT ended after {len(rounds)} rounds: {stop}")
    rep.data["rounds"] = rounds
    iops = [r["iops"] for r in rounds]
    ss = steady_state.find_steady_state(iops, o["window"])
    rep.data["steady_state"] = ss.as_dict()
    s = rep.section("Write saturation", f"4 KiB random writes over the tested range, "
                    f"{workers} workers x {qdepth} IOs in flight, rounds of "
                    f"{o['wsat_round_time']} s. {ss.summary('IOPS (PTS rule, informative)')}.")
    s.chart("xy_chart", "wsat_iops_time", caption="IOPS of each round against the time "
            "since the first write.", series={"4 KiB random write": [
                [r["elapsed_s"] / 60 for r in rounds], iops]},
            title="WSAT: IOPS against time", xlabel="time (minutes)", ylabel="IOPS")
    s.chart("xy_chart", "wsat_iops_tgbw", caption="IOPS of each round against the total "
            "GB written so far (TGBW).", series={"4 KiB random write": [
                [r["tgbw"] for r in rounds], iops]},
            title="WSAT: IOPS against total GB written", xlabel="total GB written (GB, 10^9 B)",
            ylabel="IOPS")
    s.chart("xy_chart", "wsat_latency_tgbw", caption="Average latency of each round.",
            series={"average latency": [[r["tgbw"] for r in rounds],
                                        [r["lat_avg_us"] for r in rounds]]},
            title="WSAT: average latency against total GB written",
            xlabel="total GB written (GB, 10^9 B)", ylabel="average latency (us)")
    first = rounds[0]["iops"]
    tail = ss.window.average if ss.window else iops[-1]
    s.table(["first round IOPS", "last window average IOPS", "ratio", "GB written", "minutes"],
            [[first, tail, tail / first if first else None, written / 1e9, elapsed / 60]],
            caption="Fresh-out-of-box against the end of the run")
    perf.metric(rep, "IOPS first round", first, "IOPS")
    perf.metric(rep, "IOPS end", tail, "IOPS")
    problems = perf.finish(rep)
    assert not problems, "; ".join(problems)
