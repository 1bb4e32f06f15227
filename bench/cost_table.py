"""The cost-per-IO table of bench/cost_per_io.sh: the raw runs -> one markdown
table on stdout and the same figures as JSON.

Per row and QD the table keeps the repeat with the most IOPS (this machine is
shared: a repeat's IOPS drop when another program takes the cores, never
rise) and shows the spread of all repeats. Columns:
  IOPS            of the best repeat; spread: the worst repeat, as % of it
  cyc/IO CPU      the worker's CPU time per IO in TSC ticks (thread CPU
                  time / IOs x TSC rate): what one IO costs the core the
                  worker runs on, including its polls of an empty queue
  work cyc/IO     ioworker: TSC ticks per IO of the loop's turns that found
                  completions (result.work_ns): its work without the polls of
                  an empty queue, which the CPU figure holds whenever the
                  controller's thread waits for a core; the figure that
                  survives a busy machine (few loop instructions outside a
                  turn are missing). fio: its CPU figure (fio waits for
                  nothing: its null engine completes at once)
  cyc/IO wall     TSC ticks of the run per IO (TSC rate / IOPS): equals the
                  CPU figure only when the worker had its core all the time
  CPU             the worker's CPU time / run time
  p50/p99/p99.9   latency in us (ioworker: its histogram, from the SQ
                  doorbell to the completion seen; fio: completion latency)
  vs fio          IOPS / fio's IOPS in the same repeat (median of repeats)
  cost vs fio     fio's cyc/IO CPU / this row's work cyc/IO in the same
                  repeat (median): how many times less one IO costs the
                  worker's core than it costs fio's; unlike IOPS it needs no
                  quiet machine (the ioworker needs two cores, fio one)
  peak IOPS       the best 10 ms window of any repeat (Python rows: the
                  worker's progress counter; fio: its IOPS log): what the
                  engine does while nothing else holds its cores
  peak cyc/IO     TSC rate / peak IOPS: the cost per IO of a worker that
                  had its core for those 10 ms
  peak vs fio     peak IOPS / fio's peak IOPS in the same repeat (median)
  busy            how busy the two cores were (%, all programs) in the half
                  second before the best repeat started (quiet_gate)
  perf cyc/ins    cycles and instructions per IO from `perf stat` on the
                  worker thread, when the host has hardware counters
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import time

ROW_ORDER = ["ioworker", "py", "crc", "py-crc", "fio"]
ROW_TEXT = {
    "ioworker": "pynvme-perf, histogram on, verify off",
    "py": "Python ioworker, histogram on, verify off",
    "crc": "ioworker (C), CRC32C verify of every 4 KiB read (RAM store: the controller "
           "copies 4 KiB into the host buffer, on CPU 1)",
    "py-crc": "Python ioworker, CRC32C verify of every 4 KiB read (RAM store)",
    "fio": "fio null ioengine (lat stats on, norandommap)",
}


def setup_text(host, load_before):
    """Date and setup lines: what ran where, on which commit."""
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    gov = "not visible"
    path = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    if os.path.exists(path):
        gov = open(path).read().strip()

    def git(*a):
        try:
            return subprocess.run(["git"] + list(a), capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "-uno", "--", "lib",
                                                 "tools", "bench", "python") else ""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": "%s, %d cores" % (cpu, os.cpu_count()),
        "kernel": platform.release(),
        "governor": gov,
        "commit": git("log", "-1", "--format=%h %s")[:80] + dirty,
        "tsc_ghz": host["tsc_hz"] / 1e9,
        "core_ghz": host["core_hz"] / 1e9,
        "crc32c": "%s (4 KiB: %.0f ns, table %.0f ns)" % (
            host["crc32c_impl"], host["crc32c_4k_ns"]["sse42"], host["crc32c_4k_ns"]["table"]),
        "load": "%s before, %s after" % (load_before, " ".join(open("/proc/loadavg").read().split()[:3])),
    }


def controller_ceiling(path):
    """Best busy ns/cmd of the controller alone, from soft_ctrl_bench."""
    text = open(path).read()
    m = re.search(r"busy time\s+best\s+([\d.]+) ns/cmd", text)
    return float(m.group(1)) if m else None


def bare_loop(path):
    """soft_ctrl_bench's host loop per QD: {qd: (cmd/s, host loop CPU ns/cmd)}."""
    out = {}
    for m in re.finditer(r"QD\s+(\d+):\s+(\d+) cmd/s wall .*host loop\s+([\d.]+) ns CPU/cmd",
                         open(path).read()):
        out[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--ctrl", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--load-before", default="?")
    a = ap.parse_args()

    host = json.load(open(a.host))
    hz = host["tsc_hz"]
    runs = [json.loads(l) for l in open(a.raw) if l.strip()]
    fio_iops = {(r["qd"], r["rep"]): r["iops"] for r in runs if r["row"] == "fio"}
    fio_peak = {(r["qd"], r["rep"]): r.get("peak_iops") for r in runs if r["row"] == "fio"}
    fio_cost = {(r["qd"], r["rep"]): r["cpu_ns"] / max(r["ios"], 1)
                for r in runs if r["row"] == "fio"}
    out = []
    for row in ROW_ORDER:
        for qd in sorted({r["qd"] for r in runs if r["row"] == row}):
            reps = [r for r in runs if r["row"] == row and r["qd"] == qd]
            best = max(reps, key=lambda r: r["iops"])
            ios = max(best["ios"], 1)
            ratios = [r["iops"] / fio_iops[(qd, r["rep"])] for r in reps
                      if fio_iops.get((qd, r["rep"]))]
            cost_ratios = [fio_cost[(qd, r["rep"])] / (r["work_ns"] / r["ios"]) for r in reps
                           if r.get("work_ns") and r["ios"] and (qd, r["rep"]) in fio_cost]
            peaks = [r for r in reps if r.get("peak_iops")]
            peak = max((r["peak_iops"] for r in peaks), default=None)
            peak_ratios = [r["peak_iops"] / fio_peak[(qd, r["rep"])] for r in peaks
                           if fio_peak.get((qd, r["rep"]))]
            perf = best.get("perf") or {}
            pios = best["iops"] * best.get("perf_seconds", a.seconds - 1)
            out.append({
                "row": row, "qd": qd, "repeats": len(reps), "iops": best["iops"],
                "iops_worst_pct": 100.0 * min(r["iops"] for r in reps) / best["iops"],
                "cycles_per_io_cpu": best["cpu_ns"] * hz / 1e9 / ios,
                "cycles_per_io_wall": hz / best["iops"] if best["iops"] else 0,
                # the least over the repeats: a busy machine only adds
                "cycles_per_io_work": min(r["work_ns"] / max(r["ios"], 1) for r in reps) * hz / 1e9
                if all("work_ns" in r for r in reps) else None,
                "cpu_usage": best["cpu_ns"] / 1e9 / best["seconds"] if best["seconds"] else 0,
                "lat_p50_us": best["lat_p50_us"], "lat_p99_us": best["lat_p99_us"],
                "lat_p999_us": best["lat_p999_us"],
                "vs_fio": statistics.median(ratios) if ratios and row != "fio" else None,
                "busy_before_pct": best.get("busy_before", -1),
                "cost_vs_fio": statistics.median(cost_ratios) if cost_ratios else None,
                "peak_iops": peak, "peak_cycles_per_io": hz / peak if peak else None,
                "peak_vs_fio": statistics.median(peak_ratios)
                if peak_ratios and row != "fio" else None,
                "perf_cycles_per_io": perf.get("cycles", 0) / pios if "cycles" in perf else None,
                "perf_instructions_per_io": perf.get("instructions", 0) / pios
                if "instructions" in perf else None,
            })
    ceiling = controller_ceiling(a.ctrl)
    setup = setup_text(host, a.load_before)
    have_perf = any(r["perf_cycles_per_io"] for r in out)

    print("### Cost per IO: ioworker vs fio's null engine, 4 KiB random read\n")
    # the core clock estimate (host_info.c) stays in the JSON only: in this
    # VM it read 1.5 to 3.5 GHz from run to run
    print("%s; %s; kernel %s; governor %s; TSC %.3f GHz;"
          % (setup["date"], setup["cpu"], setup["kernel"], setup["governor"], setup["tsc_ghz"]))
    print("commit %s; CRC32C %s; load average %s. Worker on CPU 0, software "
          "controller (null mode, spinning) on CPU 1; best of %d repeats of %g s per row."
          % (setup["commit"], setup["crc32c"], setup["load"],
             max(r["repeats"] for r in out), a.seconds))
    if not have_perf:
        print("perf stat: no hardware counters on this host (the kernel has no PMU here); "
              "cycles are TSC ticks.")
    print()
    head = ("| row | QD | IOPS | worst % | cyc/IO CPU | work cyc/IO | cyc/IO wall | CPU | p50 us | p99 us "
            "| p99.9 us | vs fio | cost vs fio | peak IOPS | peak cyc/IO | peak vs fio | busy |")
    if have_perf:
        head += " perf cyc/IO | perf ins/IO |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in out:
        work = r["cycles_per_io_work"] if r["row"] != "fio" else r["cycles_per_io_cpu"]
        line = "| %s | %d | %.0f | %.0f | %.0f | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s |" % (
            r["row"], r["qd"], r["iops"], r["iops_worst_pct"], r["cycles_per_io_cpu"],
            "%.0f" % work if work else "", r["cycles_per_io_wall"], r["cpu_usage"], r["lat_p50_us"], r["lat_p99_us"],
            r["lat_p999_us"], "%.2fx" % r["vs_fio"] if r["vs_fio"] else "",
            "%.2fx" % r["cost_vs_fio"] if r["cost_vs_fio"] else "",
            "%.0f" % r["peak_iops"] if r["peak_iops"] else "",
            "%.0f" % r["peak_cycles_per_io"] if r["peak_cycles_per_io"] else "",
            "%.2fx" % r["peak_vs_fio"] if r["peak_vs_fio"] else "",
            "%d%%" % r["busy_before_pct"] if r["busy_before_pct"] >= 0 else "")
        if have_perf:
            line += " %s | %s |" % (
                "%.0f" % r["perf_cycles_per_io"] if r["perf_cycles_per_io"] else "",
                "%.0f" % r["perf_instructions_per_io"] if r["perf_instructions_per_io"] else "")
        print(line)
    for qd, (cmds, host_ns) in sorted(bare_loop(a.ctrl).items()):
        print("| bare host loop (soft_ctrl_bench) | %d | %.0f | | %.0f | | %.0f | | | | | | | | | | |"
              % (qd, cmds, host_ns * hz / 1e9, hz / cmds))
    if ceiling:
        print("| controller alone (soft_ctrl_bench) | 65535 | %.0f | | %.0f | | | | | | | | | | | | |"
              % (1e9 / ceiling, ceiling * hz / 1e9))
    print()
    for row in ROW_ORDER:
        print("- %s: %s" % (row, ROW_TEXT[row]))
    print("- bare host loop: soft_ctrl_bench's loop of prebuilt commands, no driver (the "
          "cost of the rings between two cores alone)")
    json.dump({"setup": setup, "host": host, "controller_ns_per_cmd": ceiling,
               "bare_loop": bare_loop(a.ctrl), "rows": out},
              open(a.json, "w"), indent=1)


main()
