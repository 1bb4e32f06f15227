"""Everyday performance scripts an SSD team runs on every firmware build:
fresh-drive against steady-state 4 KiB random and 128 KiB sequential figures,
time from a controller reset and from power-on to ready and to the first IO
over N cycles, and the latency of each admin command."""
import statistics
import time

import pytest

import nvme as d

from perflib import pts
from perflib.options import OptionError, size_label

WORKLOADS = (("4 KiB random read", 4096, 100, True), ("4 KiB random write", 4096, 0, True),
             ("128 KiB sequential read", 131072, 100, False),
             ("128 KiB sequential write", 131072, 0, False))


def test_fresh_and_steady(perf):
    o = perf.opts
    with perf.checking_options():
        qdepth = perf.qdepth("iops_qdepth")
        for _, bs, _, _ in WORKLOADS:
            if bs % perf.lba_size or (perf.ctrl.mdts and bs > perf.ctrl.mdts):
                raise OptionError(f"everyday workloads need {size_label(bs)} IOs: LBA size "
                                  f"{perf.lba_size} B, MDTS {perf.ctrl.mdts} B")
    rep = perf.report("everyday-fresh-steady", "Fresh drive against steady state")

    def measure_all(state):
        out = []
        for name, bs, read_pct, random in WORKLOADS:
            perf.say(f"{state}: {name}")
            r = perf.measure(1, qdepth, bs, read_pct, o["everyday_time"], random=random)
            out.append({"state": state, "workload": name, "iops": r["iops"], "mbps": r["mbps"],
                        "lat_avg_us": r["lat_avg_us"], "lat_max_us": r["lat_max_us"]})
        return out

    perf.purge(rep)
    fresh = measure_all("fresh")
    perf.precondition(rep)
    rounds, tracking, ss = pts.rounds_to_steady_state(
        perf, "4 KiB random write preconditioning",
        lambda n: [pts.cell(perf.measure(1, qdepth, 4096, 0, o["round_time"]), 4096, 0)],
        lambda cells: cells[0]["iops"])
    rep.data["preconditioning_rounds"] = rounds
    rep.note(ss.summary("4 KiB random write IOPS (workload-dependent preconditioning)"))
    steady = measure_all("steady")
    rep.data["results"] = fresh + steady
    s = rep.section("Fresh against steady", f"One worker, {qdepth} IOs in flight, "
                    f"{o['everyday_time']} s per workload. Fresh: right after the purge. "
                    "Steady: after sequential preconditioning and 4 KiB random writes until "
                    "steady state by the PTS rule.")
    s.table(["workload", "fresh IOPS", "steady IOPS", "fresh MB/s", "steady MB/s",
             "fresh avg (us)", "steady avg (us)"],
            [[f["workload"], f["iops"], st["iops"], f["mbps"], st["mbps"], f["lat_avg_us"],
              st["lat_avg_us"]] for f, st in zip(fresh, steady)], caption="Results")
    s.chart("bar_chart", "fresh_steady_iops", caption="IOPS of each workload.",
            categories=[w[0] for w in WORKLOADS],
            series={"fresh": [f["iops"] for f in fresh], "steady": [x["iops"] for x in steady]},
            title="Fresh drive against steady state", xlabel="workload", ylabel="IOPS")
    s.chart("steady_state_chart", "preconditioning", caption="4 KiB random write IOPS per "
            "round of the workload-dependent preconditioning.",
            rounds=list(range(1, len(tracking) + 1)), values=tracking,
            window=ss.window.as_dict() if ss.window else None,
            title="Preconditioning: 4 KiB random write", ylabel="IOPS")
    for x in fresh + steady:
        perf.metric(rep, f"IOPS {x['state']} {x['workload']}", x["iops"], "IOPS")
        perf.metric(rep, f"MB/s {x['state']} {x['workload']}", x["mbps"], "MB/s")
    problems = perf.finish(rep)
    assert not problems, "; ".join(problems)


def first_io_after(perf, buf):
    """An IO queue created and a one-LBA read completed."""
    q = d.Qpair(perf.ctrl, 8)
    perf.ns.read(q, buf, 0, 1).waitdone()
    q.delete()


def cycle_section(perf, rep, cycles, start, title, text):
    """What the reset and power-on reports share: a table over the cycles
    (minimum, median, average, maximum, standard deviation), each cycle, and
    the distribution as the share of cycles done within a time."""
    intervals = [("ready_ms", f"{start} to ready"), ("first_io_ms", f"{start} to first IO")]
    rep.data["cycles"] = cycles
    s = rep.section(title, text)
    rows = []
    for key, label in intervals:
        v = [c[key] for c in cycles]
        rows.append([label, len(v), min(v), statistics.median(v), statistics.mean(v), max(v),
                     statistics.stdev(v) if len(v) > 1 else 0.0])
        perf.metric(rep, f"{label} max", max(v), "ms")
        perf.metric(rep, f"{label} average", statistics.mean(v), "ms")
    s.table(["interval", "cycles", "minimum (ms)", "median (ms)", "average (ms)", "maximum (ms)",
             "standard deviation (ms)"], rows, caption="Over all cycles")
    s.chart("line_chart", f"{rep.name.split('-')[-1]}_cycles", caption="Each cycle.",
            x=[c["cycle"] for c in cycles],
            series={label: [c[key] for c in cycles] for key, label in intervals},
            title=f"{title}: each cycle", xlabel="cycle", ylabel="time (ms)")
    n = len(cycles)
    s.chart("xy_chart", f"{rep.name.split('-')[-1]}_distribution",
            caption="Distribution over the cycles: the share done within each time.",
            series={label: (sorted(c[key] for c in cycles), [100.0 * (i + 1) / n for i in range(n)])
                    for key, label in intervals},
            title=f"{title}: distribution over {n} cycles", xlabel="time (ms)",
            ylabel="cycles done within (%)", steps=True)
    problems = perf.finish(rep)
    assert not problems, "; ".join(problems)


def test_reset_to_ready(perf):
    o = perf.opts
    rep = perf.report("everyday-reset", "Time from controller reset to ready and to first IO")
    buf = d.Buffer(perf.lba_size)
    cycles = []
    for n in range(o["cycles"]):
        t0 = time.monotonic()
        perf.ctrl.reset()
        t1 = time.monotonic()
        first_io_after(perf, buf)
        t2 = time.monotonic()
        cycles.append({"cycle": n + 1, "ready_ms": (t1 - t0) * 1000, "first_io_ms": (t2 - t0) * 1000})
        perf.say(f"reset cycle {n + 1} of {o['cycles']}: ready in {cycles[-1]['ready_ms']:.1f} ms")
    cycle_section(perf, rep, cycles, "reset", "Reset to ready",
                  "Ready: Controller.reset() returned (CC.EN cleared, CSTS.RDY 0, CC.EN set, "
                  "CSTS.RDY 1, then the driver's initialisation: identify, number of queues, "
                  "AERs). First IO: an IO queue created and a one-LBA read completed, from the "
                  "same start.")


def test_power_on_to_ready(perf, subsystem, request):
    """Power cycles through the Subsystem: slot power, or the instrument given
    with --instrument (docs/instruments.md). Timed from the power-on call."""
    o = perf.opts
    how = (f"instrument {request.config.getoption('--instrument')}"
           if subsystem.instrument is not None else "the PCIe slot's power control")
    buf = d.Buffer(perf.lba_size)
    cycles = []
    rep = perf.report("everyday-power", "Time from power-on to ready and to first IO")
    for n in range(o["cycles"]):
        try:
            subsystem.poweroff()
        except (d.NvmeError, OSError, NotImplementedError) as e:
            if n == 0:    # this host cannot switch the drive's power: no report
                pytest.skip(f"no power control of the drive through {how}: {e}")
            raise
        time.sleep(o["power_off_ms"] / 1000)
        t0 = time.monotonic()
        subsystem.poweron()
        t_on = time.monotonic()
        perf.ctrl.reset()
        t1 = time.monotonic()
        first_io_after(perf, buf)
        t2 = time.monotonic()
        cycles.append({"cycle": n + 1, "power_on_ms": (t_on - t0) * 1000,
                       "ready_ms": (t1 - t0) * 1000, "first_io_ms": (t2 - t0) * 1000})
        perf.say(f"power cycle {n + 1} of {o['cycles']}: ready in "
                 f"{cycles[-1]['ready_ms']:.1f} ms, first IO at {cycles[-1]['first_io_ms']:.1f} ms")
    rep.parameters["power control"] = how
    cycle_section(perf, rep, cycles, "power-on", "Power-on to ready",
                  f"Each cycle: power off through {how}, {o['power_off_ms']} ms without "
                  "power, then timed from the power-on call: ready when Controller.reset() "
                  "returned (the function re-enabled, CC.EN set and CSTS.RDY 1, the driver's "
                  "initialisation), first IO when an IO queue was created and a one-LBA read "
                  "completed. The power-on call itself took "
                  f"{statistics.mean(c['power_on_ms'] for c in cycles):.1f} ms on average "
                  "(in the data: power_on_ms).")


def test_admin_latency(perf):
    o = perf.opts
    rep = perf.report("everyday-admin", "Admin command latency")
    c = perf.ctrl
    buf = d.Buffer(4096)
    commands = {
        "Identify Controller": lambda: c.identify(buf).waitdone(),
        "Identify Namespace": lambda: c.identify(buf, nsid=perf.ns.nsid, cns=0).waitdone(),
        "Get Features (Number of Queues)": lambda: c.getfeatures(0x07).waitdone(),
        "Get Features (Arbitration)": lambda: c.getfeatures(0x01).waitdone(),
        "Get Log Page (SMART / Health)": lambda: c.getlogpage(0x02, buf, 512).waitdone(),
        "Get Log Page (Error Information)": lambda: c.getlogpage(0x01, buf, 64).waitdone(),
    }
    samples = {}
    for name, send in commands.items():
        perf.say(f"admin latency: {name} x {o['admin_repeats']}")
        samples[name] = []
        for _ in range(o["admin_repeats"]):
            send()
            samples[name].append(c.latest_latency)
    pairs = []
    for _ in range(o["admin_repeats"]):
        t0 = time.monotonic()
        q = d.Qpair(c, 16)
        t1 = time.monotonic()
        q.delete()
        pairs.append(((t1 - t0) * 1e6, (time.monotonic() - t1) * 1e6))
    samples["Create IO CQ + SQ (host time)"] = [p[0] for p in pairs]
    samples["Delete IO SQ + CQ (host time)"] = [p[1] for p in pairs]
    rep.data["samples_us"] = samples
    rows = []
    for name, v in samples.items():
        rows.append([name, len(v), min(v), statistics.median(v), statistics.mean(v), max(v)])
        perf.metric(rep, f"{name} average", statistics.mean(v), "us")
        perf.metric(rep, f"{name} maximum", max(v), "us")
    s = rep.section("Admin commands", "Each command sent alone and reaped; its latency as the "
                    "driver measured it (submission doorbell to completion). Queue creation "
                    "and deletion are two commands each, timed on the host around the Qpair "
                    "call.")
    s.table(["command", "samples", "minimum (us)", "median (us)", "average (us)",
             "maximum (us)"], rows, caption="Latency")
    s.chart("bar_chart", "admin_latency", caption="Median and maximum of each command.",
            categories=[r[0] for r in rows],
            series={"median": [r[3] for r in rows], "maximum": [r[5] for r in rows]},
            title="Admin command latency", xlabel="command", ylabel="latency (us, log scale)",
            logy=True)
    problems = perf.finish(rep)
    assert not problems, "; ".join(problems)
