"""One run of bench/cost_per_io.sh -> one row record (a JSON line) of the raw file.

    cost_row.py ioworker PERFNVME_JSON QD REP [PERF_STAT_CSV]
    cost_row.py fio FIO_JSON QD REP [PERF_STAT_CSV] [FIO_IOPS_LOG]
    cost_row.py tag REP          (stdin: cost_py_rows.py lines; adds the repeat)
BUSY in the environment: the machine's busy share (%) before the run.

Every record has: row, qd, rep, ios, seconds, iops, cpu_ns (the worker's CPU
time: the ioworker thread's, fio's job process's), lat_p50_us, lat_p99_us,
lat_p999_us; peak_iops (the best 10 ms: Python rows and fio); and "perf"
({event: count} from `perf stat -x,`) when given.
"""
import json
import os
import sys


def perf_counts(path):
    """{event: count} of a `perf stat -x,` file; {} when missing or not supported."""
    ev = {}
    if not path or not os.path.exists(path):
        return ev
    for line in open(path):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "", 1).isdigit():
            ev[f[2]] = float(f[0])
    return ev


def ioworker(path, qd, rep, perf):
    j = json.load(open(path))
    return {"row": "ioworker", "qd": qd, "rep": rep, "ios": j["ios"],
            "seconds": j["mseconds"] / 1000.0, "iops": j["iops"],
            "cpu_ns": j["cpu_ns_per_io"] * j["ios"], "cpu_usage": j["cpu_usage"],
            "lat_p50_us": j["lat_p50_us"], "lat_p99_us": j["lat_p99_us"],
            "lat_p999_us": j["lat_p999_us"], "pacing_hold_ns": j["pacing_hold_ns"],
            "mmio_per_io": j["mmio_per_io"], "work_ns": j["work_ns_per_io"] * j["ios"],
            "error": j["error"], "perf": perf}


def fio(path, qd, rep, perf, iops_log=None):
    j = json.load(open(path))["jobs"][0]
    rd = j["read"]
    secs = j["job_runtime"] / 1000.0
    # fio's usr_cpu/sys_cpu: the job process's rusage over its runtime
    cpu_s = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * secs
    pct = (rd.get("clat_ns") or rd["lat_ns"]).get("percentile", {})

    def p(x):
        return next((v for k, v in pct.items() if abs(float(k) - x) < 1e-6), 0) / 1000.0

    return {"row": "fio", "qd": qd, "rep": rep, "ios": rd["total_ios"], "seconds": secs,
            "iops": rd["iops"], "cpu_ns": cpu_s * 1e9, "cpu_usage": cpu_s / secs,
            "lat_p50_us": p(50), "lat_p99_us": p(99), "lat_p999_us": p(99.9),
            "peak_iops": peak_of_log(iops_log), "error": j["error"], "perf": perf}


def peak_of_log(path):
    """The best window of fio's --write_iops_log with --log_avg_msec=10."""
    if not path or not os.path.exists(path):
        return None
    return max(float(line.split(",")[1]) for line in open(path) if line.strip())


def main():
    kind = sys.argv[1]
    # the machine's busy share (%) measured right before the run (quiet_gate)
    busy = int(os.environ.get("BUSY", "-1"))
    if kind == "tag":
        for line in sys.stdin:
            r = json.loads(line)
            r.update(rep=int(sys.argv[2]), busy_before=busy)
            print(json.dumps(r))
        return
    path, qd, rep = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    perf = perf_counts(sys.argv[5] if len(sys.argv) > 5 else None)
    if kind == "fio":
        r = fio(path, qd, rep, perf, sys.argv[6] if len(sys.argv) > 6 else None)
    else:
        r = ioworker(path, qd, rep, perf)
    r["busy_before"] = busy
    print(json.dumps(r))


main()
