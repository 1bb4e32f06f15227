#!/usr/bin/python3
"""What the live monitor costs the ioworker: IOPS of the same ioworker on a
software controller with no monitor, and with the monitor service polled 10
times a second by another process (each poll: pynvme-top's four requests,
controllers, queues, ioworkers and the 64 latest commands of the worker's
queue), in one ioworker run: the poller polls in seconds 1 and 2 of every 4 and rests in
seconds 0 and 3 (A B B A), and the ratio compares the worker's own per-second IO
counts, so that the drift of a shared machine falls on both. A few separate
runs then compare the worker thread's CPU time per IO (what the hot path itself
pays, which the machine's load hardly moves).

    PYTHONPATH=python /usr/bin/python3 bench/monitor_cost.py [--seconds 40]

The device is `soft:null,cpu=1,spin` (no data movement, its thread spinning on
CPU 1) and the worker runs on CPU 0, qdepth 64, 4 KiB random reads: the
driver's own cost per IO dominates, where a monitor that got in the way would
show most. Prints one line per run and the ratio with/without (medians).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import nvme as d

ADDR = "soft:null,cpu=1,spin"

# The poller, a separate process as pynvme-top or the VS Code extension is.
POLLER = r"""
import json, socket, sys, time
path, hz = sys.argv[1], float(sys.argv[2])
# optional: t0 (CLOCK_MONOTONIC, shared by every process) and a pattern such as
# "0110": poll only in the seconds t0+i whose pattern[i % len] is "1"
t0 = float(sys.argv[3]) if len(sys.argv) > 3 else None
pattern = sys.argv[4] if len(sys.argv) > 4 else "1"
s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(5)
buf, n, rid = b"", 0, 0
def call(method, params=None):
    global buf, rid
    rid += 1
    req = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        req["params"] = params
    s.sendall(json.dumps(req).encode() + b"\n")
    while b"\n" not in buf:
        data = s.recv(1 << 20)
        if not data:
            sys.exit(0)
        buf += data
    line, _, buf = buf.partition(b"\n")
    return json.loads(line)
next_t = time.monotonic()
while True:
    if t0 is not None:
        now = time.monotonic()
        if now < t0 or pattern[int(now - t0) % len(pattern)] != "1":
            next_t = now + 0.01
            time.sleep(0.01)
            continue
    call("controllers"); qs = call("queues")["result"]; call("ioworkers")
    io = [q for q in qs if q["kind"] == "ioworker"]
    if io:
        call("cmdlog", {"qid": io[0]["qid"], "count": 64})
    n += 1
    print(n, flush=True)
    next_t += 1.0 / hz
    time.sleep(max(0.0, next_t - time.monotonic()))
"""


PATTERN = "0110"   # per second: off, on, on, off (A B B A)


def interleaved(ns, seconds):
    """One ioworker run; the poller polls in the seconds PATTERN marks. Returns
    the per-second IO counts and the poll count."""
    d.monitor.start()
    per_second = []
    w = ns.ioworker(io_size=8, lba_random=True, read_percentage=100, qdepth=64, time=seconds,
                    cpu=0, output_io_per_second=per_second)
    w.start()
    t0 = time.monotonic()   # the worker's seconds start within a millisecond of this
    # the CPU the monitor takes: its thread's clock, and the poller's (a child)
    clock = time.pthread_getcpuclockid(d.monitor._service.thread.ident)
    thread_cpu0 = time.clock_gettime(clock)
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    poller = subprocess.Popen([sys.executable, "-c", POLLER, d.monitor.socket_paths()[0], "10",
                               repr(t0), PATTERN], stdout=subprocess.PIPE, text=True)
    try:
        w.close()
    finally:
        thread_cpu = time.clock_gettime(clock) - thread_cpu0
        poller.kill()
        out, _ = poller.communicate(timeout=30)
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        d.monitor.stop()
    poller_cpu = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
    return per_second, (int(out.split()[-1]) if out.split() else 0), thread_cpu, poller_cpu


def separate(ns, seconds, monitored):
    """One whole run, polled or not (no service at all): (IOPS, worker CPU ns per IO)."""
    poller = None
    if monitored:
        path = d.monitor.start()[0]
        poller = subprocess.Popen([sys.executable, "-c", POLLER, path, "10"],
                                  stdout=subprocess.PIPE, text=True)
        poller.stdout.readline()   # polling has begun
    try:
        r = ns.ioworker(io_size=8, lba_random=True, read_percentage=100, qdepth=64,
                        time=seconds, cpu=0).start().close()
    finally:
        if poller:
            poller.kill()
            poller.communicate(timeout=30)
            d.monitor.stop()
    ios = r.io_count_read + r.io_count_nonread
    return ios * 1000.0 / r.mseconds, r.cpu_ns / max(ios, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=40,
                    help="the interleaved run, in whole A B B A blocks of 4 s (default 40)")
    ap.add_argument("--pairs", type=int, default=2,
                    help="A B B A blocks of separate runs for CPU ns/IO (default 2; 0: none)")
    ap.add_argument("--run-seconds", type=int, default=5, help="seconds of a separate run")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    d.monitor.stop()   # the pytest plugin is not here, but be sure
    pcie = d.Pcie(ADDR)
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    cpu_base, cpu_mon = [], []
    try:
        ns.ioworker(io_size=8, qdepth=64, time=1, cpu=0).start().close()   # warm-up
        secs = max(4, args.seconds // 4 * 4)
        per_second, polls, thread_cpu, poller_cpu = interleaved(ns, secs)
        for i in range(args.pairs):
            for monitored in ((False, True) if i % 2 == 0 else (True, False)):
                iops, cpu = separate(ns, args.run_seconds, monitored)
                (cpu_mon if monitored else cpu_base).append(cpu)
                print(f"separate run, {'monitor polled' if monitored else 'no monitor':>14}: "
                      f"{iops:10.0f} IOPS, worker CPU {cpu:7.1f} ns/IO", flush=True)
    finally:
        ns.close()
        nvme0.close()
        pcie.close()
    # blocks of 4 full seconds, A B B A: the first is left out (the poller starting)
    blocks = [per_second[i:i + 4] for i in range(4, len(per_second) - 3, 4)]
    ratios = [(b[1] + b[2]) / (b[0] + b[3]) for b in blocks if b[0] + b[3]]
    on = sum(b[1] + b[2] for b in blocks)
    off = sum(b[0] + b[3] for b in blocks)
    print(f"interleaved run, {secs} s, {polls} polls (10/s in the 'on' seconds): IO counts per "
          f"second {per_second}")
    ratio = statistics.median(ratios) if ratios else float("nan")
    print(f"IOPS ratio polled/not, median of {len(ratios)} A B B A blocks: {ratio:.4f} "
          f"({(ratio - 1) * 100:+.2f}%); all seconds together: {on / off:.4f}; blocks: "
          + " ".join(f"{r:.3f}" for r in ratios))
    offs = [x for b in blocks for x in (b[0], b[3])]
    if len(offs) > 1 and statistics.mean(offs) > 0:
        spread = statistics.stdev(offs) / statistics.mean(offs)
        print(f"spread of the unpolled seconds (stdev/mean): {spread:.1%}"
              + ("  -- the machine is too busy for this run to resolve 1%: rerun it idle"
                 if spread > 0.05 else ""))
    per_poll_us = thread_cpu / max(polls, 1) * 1e6
    print(f"monitor thread CPU: {per_poll_us:.0f} us per poll (4 requests), "
          f"{per_poll_us * 10 / 1e4:.2f}% of one core at 10 polls/s; the polling client's "
          f"own CPU (Python, a separate process): {poller_cpu / max(polls, 1) * 1e6:.0f} us per poll")
    cpu_ratio = None
    if cpu_base:
        cpu_ratio = statistics.median(cpu_mon) / statistics.median(cpu_base)
        print(f"worker CPU ns/IO ratio polled/not (separate runs, medians): {cpu_ratio:.4f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps({"per_second": per_second, "block_ratios": ratios, "ratio": ratio,
                          "cpu_ratio": cpu_ratio, "monitor_us_per_poll": per_poll_us}))


if __name__ == "__main__":
    main()
