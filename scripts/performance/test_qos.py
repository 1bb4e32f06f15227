"""QoS and IOPS consistency: 4 KiB random read and random write at several
queue depths after preconditioning, each for a fixed time: IOPS of every
second, its coefficient of variation, and the 99% to 99.999% latencies."""
from perflib import options, percentiles
from perflib.measure import dense, sparse

BS = 4096
WORKLOADS = (("4 KiB random read", 100), ("4 KiB random write", 0))


def test_qos(perf):
    o = perf.opts
    with perf.checking_options():
        for qd in o["qos_qdepths"]:
            options.check_qdepth("qos_qdepths", qd, perf.max_queue_entries)
        if BS % perf.lba_size:
            raise options.OptionError(f"QoS runs 4 KiB IOs; the LBA size is {perf.lba_size} B")
    rep = perf.report("qos", "QoS and IOPS consistency: 4 KiB random at several queue depths")
    perf.purge(rep)
    perf.precondition(rep)
    runs = []
    for name, read_pct in WORKLOADS:
        for qd in o["qos_qdepths"]:
            perf.say(f"QoS: {name} at QD{qd}, {o['qos_time']} s")
            r = perf.measure(1, qd, BS, read_pct, o["qos_time"])
            secs = r["iops_each_second"]
            pct = percentiles.percentiles(r["distribution"])
            runs.append({"workload": name, "read_pct": read_pct, "qdepth": qd,
                         "iops": r["iops"], "ios": r["ios"], "lat_avg_us": r["lat_avg_us"],
                         "lat_max_us": r["lat_max_us"],
                         **{f"p{p:g}_us": v for p, v in pct.items()},
                         "iops_each_second": secs,
                         "iops_cov_pct": percentiles.coefficient_of_variation(secs),
                         "iops_min_second": min(secs) if secs else None,
                         "distribution": sparse(r["distribution"])})
    rep.data["runs"] = runs
    s = rep.section("QoS", f"One worker per run, {o['qos_time']} s each. Latency from the "
                    "doorbell write to the completion; a percentile needs 100 / (100 - p) IOs "
                    "to differ from the maximum.")
    s.table(["workload", "QD", "IOPS", "IOs", "average (us)", "99% (us)", "99.9% (us)",
             "99.99% (us)", "99.999% (us)", "maximum (us)"],
            [[x["workload"], x["qdepth"], x["iops"], x["ios"], x["lat_avg_us"], x["p99_us"],
              x["p99.9_us"], x["p99.99_us"], x["p99.999_us"], x["lat_max_us"]] for x in runs],
            caption="Latency percentiles")
    for name, _ in WORKLOADS:
        mine = [x for x in runs if x["workload"] == name]
        key = name.replace("4 KiB random ", "")
        s.chart("qos_curve", f"qos_{key}", caption=f"{name}: QoS curve per queue depth.",
                distributions={f"QD{x['qdepth']}": dense(x["distribution"]) for x in mine},
                title=f"QoS: {name}")
        s.chart("latency_histogram", f"histogram_{key}", caption=f"{name}: latency histogram.",
                distributions={f"QD{x['qdepth']}": dense(x["distribution"]) for x in mine},
                title=f"Latency histogram: {name}")
    c = rep.section("IOPS consistency", "IOPS of every second of each run; the coefficient "
                    "of variation is the standard deviation over the mean of those seconds.")
    c.table(["workload", "QD", "IOPS", "slowest second (IOs)", "CoV (%)", "seconds"],
            [[x["workload"], x["qdepth"], x["iops"], x["iops_min_second"], x["iops_cov_pct"],
              len(x["iops_each_second"])] for x in runs], caption="Consistency")
    for name, _ in WORKLOADS:
        key = name.replace("4 KiB random ", "")
        c.chart("time_series", f"iops_each_second_{key}",
                caption=f"{name}: IOs completed in every second.",
                series={f"QD{x['qdepth']}": x["iops_each_second"] for x in runs
                        if x["workload"] == name},
                title=f"IOPS of every second: {name}", ylabel="IOPS")
    for x in runs:
        tag = f"{x['workload']} QD{x['qdepth']}"
        perf.metric(rep, f"IOPS {tag}", x["iops"], "IOPS")
        perf.metric(rep, f"CoV {tag}", x["iops_cov_pct"], "%")
        for p in percentiles.QOS_PERCENTILES:
            perf.metric(rep, f"{p:g}% latency {tag}", x[f"p{p:g}_us"], "us")
    problems = perf.finish(rep)
    assert not problems, "; ".join(problems)
