"""Prints the benchmark table from the JSON lines of bench/guest.sh."""
import json
import re
import sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
# each row ran several times, alternating with the others (the host's load
# varies): keep each row's median run by IOPS, so that one lucky (or
# unlucky) window of the host does not set a row, or the ceiling
by_row = {}
for r in runs:
    by_row.setdefault((r["workload"], r["row"]), []).append(r)
rows = []
for key, rs in by_row.items():
    rs.sort(key=lambda r: r["r"]["iops"])
    rows.append(rs[(len(rs) - 1) // 2])
reps = max((len(rs) for rs in by_row.values()), default=0)
workloads = []
for r in rows:
    if r["workload"] not in workloads:
        workloads.append(r["workload"])


def in_flight(workload, x):
    """Little's law: IOPS x mean latency (s) is the mean number of commands
    in flight, at most the depth (latency from the doorbell write, or fio's
    submission, to the completion seen). At QD1 the rest of the time is the
    host's between a completion and the next doorbell: [0.90, 1.00] when
    the stamps are right; at depth the null backend keeps the queue nearly
    full: [0.8 QD, QD]. '!' marks a figure above the depth (the stamps do
    not add up), '<' one below the range (host time between completions and
    doorbells, or a latency that misses device time)."""
    m = re.search(r"qd(\d+)", workload)
    n = x["iops"] * x["lat_mean_us"] / 1e6
    if not m:
        return f"{n:.2f}"
    qd = int(m.group(1))
    lo = 0.90 if qd == 1 else 0.8 * qd
    mark = "!" if n > qd else "<" if n < lo else " "
    return f"{n:.2f}{mark}"


print()
print(f"median of {reps} runs per row")
print(f"{'workload':<14} {'row':<20} {'IOPS':>10} {'mean us':>9} {'p99.9 us':>9} "
      f"{'CPU ns/IO':>10} {'MMIO/IO':>8} {'vs ceiling':>10} {'IOPSxlat':>9}")
for w in workloads:
    mine = [r for r in rows if r["workload"] == w]
    ceil = max((r["r"]["iops"] for r in mine if r["row"].startswith("ceiling")), default=0)
    for r in mine:
        x = r["r"]
        mmio = f"{x['mmio_per_io']:.2f}" if "mmio_per_io" in x else "-"
        ratio = f"{x['iops'] / ceil:.2f}" if ceil else "-"
        print(f"{w:<14} {r['row']:<20} {x['iops']:>10.0f} {x['lat_mean_us']:>9.1f} "
              f"{x['lat_p999_us']:>9.1f} {x['cpu_ns_per_io']:>10.0f} {mmio:>8} {ratio:>10} "
              f"{in_flight(w, x):>9}")
    print()
print("IOPSxlat: IOPS x mean latency in seconds, the mean number of commands in flight "
      "(Little's law); '!' above the depth: the figures do not add up; '<' below 0.90 at QD1 "
      "or 0.8 x QD at depth")
