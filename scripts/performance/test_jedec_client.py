"""JEDEC JESD219A client workload through trace replay (the ioworker's
io_sequence): the JEDEC trace when given (client_trace=FILE, converted to
perflib/trace.py's form), else a synthetic client-like stand-in, said so in the
report. IOPS, bandwidth, latency percentiles, and the drive's host write
counters against the bytes the trace wrote."""
from perflib import device, percentiles, trace
from perflib.measure import sparse
from perflib.options import size_label


def test_jedec_client(perf):
    o = perf.opts
    with perf.checking_options():
        qdepth = perf.qdepth("client_qdepth")
        if o["client_trace"] == "synthetic":
            ios = trace.synthetic_client(o["client_ios"], perf.range_lbas, perf.lba_size,
                                         perf.ctrl.mdts)
            source = (f"synthetic client-like stand-in ({o['client_ios']:,} IOs, seed 219), "
                      "not the JEDEC trace: give client_trace=FILE for JESD219A")
        else:
            ios = trace.load(o["client_trace"], perf.lba_size, perf.ns.capacity)
            source = f"trace file {o['client_trace']}"
    info = trace.summary(ios, perf.lba_size)
    rep = perf.report("jedec-client", "JEDEC JESD219A client workload (trace replay)")
    rep.note(f"trace: {source}")
    perf.purge(rep)
    perf.precondition(rep, fills=1)
    host_before, cmds_before = device.smart_host_writes(perf.ctrl)
    perf.say(f"client trace replay: {info['ios']:,} IOs at up to {qdepth} in flight")
    per_second = []
    r = perf.ns.ioworker(io_sequence=ios, qdepth=qdepth + 1,
                         output_io_per_second=per_second).start().close()
    assert r.error == 0, f"trace replay failed: {r.error_text or r.error}"
    host_after, cmds_after = device.smart_host_writes(perf.ctrl)
    seconds = r.mseconds / 1000.0
    dist = r.latency_distribution
    pct = percentiles.percentiles(dist)
    done = r.io_count_read + r.io_count_nonread
    result = {"ios": done, "seconds": seconds, "iops": done / seconds if seconds else 0.0,
              "mbps": (info["read_bytes"] + info["write_bytes"]) / 1e6 / seconds if seconds else 0.0,
              "lat_avg_us": percentiles.mean(dist), "lat_max_us": percentiles.maximum(dist),
              **{f"p{p:g}_us": v for p, v in pct.items()},
              "smart_host_bytes_written": host_after - host_before,
              "smart_host_write_commands": cmds_after - cmds_before,
              "worker_reads": r.io_count_read, "worker_writes": r.io_count_write}
    rep.data.update(trace=info, result=result, distribution=sparse(dist),
                    iops_each_second=per_second)
    t = rep.section("Trace", f"Source: {source}. Replayed "
                    + ("at its timestamps" if info["timed"] else "as fast as the queue allows")
                    + f", {qdepth} IOs in flight at most.")
    t.table(["IOs", "reads", "writes", "read bytes", "write bytes", "sequential (%)",
             "LBA span"], [[info["ios"], info["reads"], info["writes"], info["read_bytes"],
                            info["write_bytes"], info["sequential_pct"],
                            f"{info['lba_span'][0]}-{info['lba_span'][1]}"]], caption="Content")
    t.table(["transfer size", "IOs", "share (%)"],
            [[size_label(b), n, 100.0 * n / info["ios"]] for b, n in info["sizes"].items()],
            caption="Transfer sizes")
    s = rep.section("Replay", "")
    s.table(["IOPS", "MB/s", "average (us)", "99% (us)", "99.9% (us)", "99.99% (us)",
             "99.999% (us)", "maximum (us)", "seconds"],
            [[result["iops"], result["mbps"], result["lat_avg_us"], pct[99.0], pct[99.9],
              pct[99.99], pct[99.999], result["lat_max_us"], seconds]], caption="Result")
    s.chart("time_series", "iops_each_second", caption="IOs completed in every second.",
            series={"client trace": per_second}, title="Client trace replay: IOPS of every second",
            ylabel="IOPS")
    s.chart("qos_curve", "qos", caption="QoS curve of the replay.",
            distributions={"client trace": dist}, title="QoS: client trace replay")
    w = rep.section("Host writes", "The drive's SMART host write counters over the replay "
                    "against what the trace wrote. Write amplification needs media writes, "
                    "which only vendor logs hold: not available here.")
    w.table(["trace write bytes", "SMART host bytes written", "trace writes",
             "SMART host write commands"],
            [[info["write_bytes"], result["smart_host_bytes_written"], info["writes"],
              result["smart_host_write_commands"]]], caption="Host writes")
    rep.note(device.WRITE_AMPLIFICATION_UNAVAILABLE)
    perf.metric(rep, "IOPS", result["iops"], "IOPS")
    perf.metric(rep, "MB/s", result["mbps"], "MB/s")
    for p in percentiles.QOS_PERCENTILES:
        perf.metric(rep, f"{p:g}% latency", pct[p], "us")
    problems = perf.finish(rep)
    assert done == info["ios"], f"{done} of the trace's {info['ios']} IOs completed"
    assert not problems, "; ".join(problems)
