"""Prints the benchmark table from the JSON lines of bench/guest.sh."""
import json
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
print()
print(f"median of {reps} runs per row")
print(f"{'workload':<14} {'row':<20} {'IOPS':>10} {'mean us':>9} {'p99.9 us':>9} "
      f"{'CPU ns/IO':>10} {'MMIO/IO':>8} {'vs ceiling':>10}")
for w in workloads:
    mine = [r for r in rows if r["workload"] == w]
    ceil = max((r["r"]["iops"] for r in mine if r["row"].startswith("ceiling")), default=0)
    for r in mine:
        x = r["r"]
        mmio = f"{x['mmio_per_io']:.2f}" if "mmio_per_io" in x else "-"
        ratio = f"{x['iops'] / ceil:.2f}" if ceil else "-"
        print(f"{w:<14} {r['row']:<20} {x['iops']:>10.0f} {x['lat_mean_us']:>9.1f} "
              f"{x['lat_p999_us']:>9.1f} {x['cpu_ns_per_io']:>10.0f} {mmio:>8} {ratio:>10}")
    print()
