"""JEDEC JESD219 enterprise endurance workload as a performance run: random
writes with the standard's transfer-size mix (4% 0.5 KiB ... 67% 4 KiB ... 3%
64 KiB; transfers of 4 KiB and more aligned to 4 KiB) and its LBA hot spots
(50% of accesses in the first 5% of the tested range, 30% in the next 15%,
20% in the remaining 80%), through the ioworker's io_size dict, lba_align
list and distribution. Reports IOPS, bandwidth, latency percentiles, the
measured size and LBA mix, and write amplification where the drive reports
media writes."""
from perflib import device, percentiles
from perflib.measure import sparse
from perflib.options import OptionError, size_label

# JESD219: transfer size (bytes) -> % of IOs
SIZE_MIX = {512: 4, 1024: 1, 1536: 1, 2048: 1, 2560: 1, 3072: 1, 3584: 1, 4096: 67,
            8192: 10, 16384: 7, 32768: 3, 65536: 3}
# percent of accesses per percent of the range: 50% over the first 5%, 30%
# over the next 15%, 20% over the last 80% (per 10,000 IOs, as the ioworker takes it)
DISTRIBUTION = [1000] * 5 + [200] * 15 + [25] * 80
CMDLOG_PER_WORKER = 20000


def check_namespace(perf):
    for bs in SIZE_MIX:
        if bs % perf.lba_size:
            raise OptionError(f"JESD219 enterprise needs {size_label(bs)} transfers; the "
                              f"namespace's LBA size is {perf.lba_size} B (format it to 512 B)")
        if perf.ctrl.mdts and bs > perf.ctrl.mdts:
            raise OptionError(f"JESD219 enterprise needs {size_label(bs)} transfers; MDTS is "
                              f"{size_label(perf.ctrl.mdts)}")
    if perf.range_lbas < 100 * 4096 // perf.lba_size:
        raise OptionError("the tested range is too small for the JESD219 LBA distribution")


def test_jedec_enterprise(perf):
    o = perf.opts
    with perf.checking_options():
        check_namespace(perf)
        qdepth = perf.qdepth("jedec_qdepth")
    workers, read_pct = o["jedec_workers"], o["jedec_read_pct"]
    align = [max(1, 4096 // perf.lba_size) if bs >= 4096 else 1 for bs in SIZE_MIX]
    rep = perf.report("jedec-enterprise", "JEDEC JESD219 enterprise workload")
    perf.purge(rep)
    perf.precondition(rep, fills=1)
    host_before, cmds_before = device.smart_host_writes(perf.ctrl)
    rounds, dists, each_second, elapsed = [], [], [], 0.0
    n_rounds = max(1, -(-o["jedec_time"] // o["round_time"]))
    cmdlogs = None
    for n in range(1, n_rounds + 1):
        last = n == n_rounds
        cmdlogs = [[(0, 0, 0)] * CMDLOG_PER_WORKER for _ in range(workers)] if last else None
        r = perf.measure(workers, qdepth, SIZE_MIX, read_pct, o["round_time"],
                         lba_align=align, distribution=DISTRIBUTION,
                         per_worker=[{"output_cmdlog_list": c} for c in cmdlogs] if last else None)
        elapsed += r["seconds"]
        dists.append(r["distribution"])
        each_second += r["iops_each_second"]
        rounds.append({"round": n, "iops": r["iops"], "mbps": r["mbps"], "writes": r["writes"],
                       "reads": r["reads"], "lat_avg_us": r["lat_avg_us"],
                       "lat_max_us": r["lat_max_us"], "seconds": r["seconds"]})
        perf.say(f"JEDEC enterprise: round {n} of {n_rounds}: {r['iops']:.0f} IOPS, "
                 f"{r['mbps']:.1f} MB/s")
    host_after, cmds_after = device.smart_host_writes(perf.ctrl)
    dist = percentiles.merge(dists)
    ios = sum(r["writes"] + r["reads"] for r in rounds)
    iops = ios / elapsed if elapsed else 0.0
    mean_bytes = sum(b * w for b, w in SIZE_MIX.items()) / sum(SIZE_MIX.values())
    writes = sum(r["writes"] for r in rounds)

    # what was sent, from the last round's completed commands
    sent = [(lba, nlb) for log in cmdlogs for lba, nlb, opc in log if nlb]
    by_size = {bs: 0 for bs in SIZE_MIX}
    by_percent = [0] * 100
    for lba, nlb in sent:
        by_size[nlb * perf.lba_size] = by_size.get(nlb * perf.lba_size, 0) + 1
        by_percent[min(99, lba * 100 // perf.range_lbas)] += 1
    zones = [sum(by_percent[:5]), sum(by_percent[5:20]), sum(by_percent[20:])]
    pct = percentiles.percentiles(dist)
    summary = {"ios": ios, "seconds": elapsed, "iops": iops, "mbps": iops * mean_bytes / 1e6,
               "lat_avg_us": percentiles.mean(dist), "lat_max_us": percentiles.maximum(dist),
               **{f"p{p:g}_us": v for p, v in pct.items()},
               "smart_host_bytes_written": host_after - host_before,
               "smart_host_write_commands": cmds_after - cmds_before,
               "worker_write_commands": writes,
               "expected_host_bytes": writes * mean_bytes,
               "sampled_ios": len(sent), "sampled_by_size": {str(k): v for k, v in by_size.items()},
               "sampled_zones": zones}
    rep.data.update(rounds=rounds, summary=summary, distribution=sparse(dist),
                    iops_each_second=each_second)
    s = rep.section("Workload", f"{workers} workers x {qdepth} IOs in flight, {read_pct}% "
                    f"reads, {n_rounds} rounds of {o['round_time']} s over the tested range. "
                    f"Mean transfer {mean_bytes:.0f} B.")
    s.table(["IOPS", "MB/s", "average (us)", "99% (us)", "99.9% (us)", "99.99% (us)",
             "99.999% (us)", "maximum (us)", "IOs"],
            [[iops, summary["mbps"], summary["lat_avg_us"], pct[99.0], pct[99.9], pct[99.99],
              pct[99.999], summary["lat_max_us"], ios]], caption="Result")
    s.chart("time_series", "iops_each_second", caption="IOs completed in every second.",
            series={"JESD219 enterprise": each_second},
            title="IOPS of every second: JESD219 enterprise",
            ylabel="IOPS")
    s.chart("qos_curve", "qos", caption="QoS curve of the whole run.",
            distributions={"JESD219 enterprise": dist}, title="QoS: JESD219 enterprise")
    m = rep.section("What was sent", f"The last round's {len(sent):,} completed commands "
                    "(the ioworker's command log), against the standard's mix.")
    m.table(["transfer size", "JESD219 (%)", "measured (%)"],
            [[size_label(bs), SIZE_MIX[bs], 100.0 * by_size[bs] / len(sent) if sent else None]
             for bs in SIZE_MIX], caption="Transfer sizes")
    m.table(["part of the tested range", "JESD219 (%)", "measured (%)"],
            [[name, want, 100.0 * got / len(sent) if sent else None] for name, want, got in
             zip(("first 5%", "next 15%", "last 80%"), (50, 30, 20), zones)],
            caption="LBA hot spots")
    m.chart("bar_chart", "lba_zones", caption="Share of IOs in each part of the range.",
            categories=["first 5%", "next 15%", "last 80%"],
            series={"JESD219": [50, 30, 20],
                    "measured": [100.0 * z / len(sent) if sent else 0 for z in zones]},
            title="LBA hot spots", xlabel="part of the tested range", ylabel="share of IOs (%)")
    w = rep.section("Write amplification", "")
    w.table(["host bytes written (SMART)", "host write commands (SMART)",
             "write commands (ioworker)", "expected bytes (commands x mean size)"],
            [[summary["smart_host_bytes_written"], summary["smart_host_write_commands"],
              writes, summary["expected_host_bytes"]]], caption="Host writes")
    w.text("Write amplification is media (NAND) bytes written over host bytes written. The "
           "SMART / Health log counts host writes only (in units of 512,000 bytes); media "
           "writes are in vendor-specific logs that pynvme does not know, so the write "
           "amplification of this drive cannot be computed here.")
    rep.note(device.WRITE_AMPLIFICATION_UNAVAILABLE)
    perf.metric(rep, "IOPS", iops, "IOPS")
    perf.metric(rep, "MB/s", summary["mbps"], "MB/s")
    for p in percentiles.QOS_PERCENTILES:
        perf.metric(rep, f"{p:g}% latency", pct[p], "us")
    problems = perf.finish(rep)
    assert not problems, "; ".join(problems)
