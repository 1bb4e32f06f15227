#!/usr/bin/python3
"""What the live monitor costs the ioworker: IOPS of the same ioworker on a
software controller with no monitor, and with the monitor service polled 10
times a second by another process (each poll: pynvme-top's four requests,
controllers, queues, ioworkers and the 64 latest commands of the worker's
queue), in one run, alternating A B B A so that drift of a shared machine
falls on both.

    PYTHONPATH=python /usr/bin/python3 bench/monitor_cost.py [--pairs 4] [--seconds 5]

The device is `soft:null,cpu=1,spin` (no data movement, its thread spinning on
CPU 1) and the worker runs on CPU 0, qdepth 64, 4 KiB random reads: the
driver's own cost per IO dominates, where a monitor that got in the way would
show most. Prints one line per run and the ratio with/without (medians).
"""
import argparse
import json
import os
import socket
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
    call("controllers"); qs = call("queues")["result"]; call("ioworkers")
    io = [q for q in qs if q["kind"] == "ioworker"]
    if io:
        call("cmdlog", {"qid": io[0]["qid"], "count": 64})
    n += 1
    print(n, flush=True)
    next_t += 1.0 / hz
    time.sleep(max(0.0, next_t - time.monotonic()))
"""


def run(ns, seconds, monitored):
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
        polls = 0
        if poller:
            poller.kill()
            out, _ = poller.communicate(timeout=30)
            polls = int(out.split()[-1]) if out.split() else 0
            d.monitor.stop()
    iops = (r.io_count_read + r.io_count_nonread) * 1000.0 / r.mseconds
    return iops, polls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=4, help="A B B A blocks (default 4)")
    ap.add_argument("--seconds", type=int, default=5, help="seconds per run (default 5)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON too")
    args = ap.parse_args()
    d.monitor.stop()   # a baseline without the service at all
    pcie = d.Pcie(ADDR)
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    base, mon = [], []
    try:
        ns.ioworker(io_size=8, qdepth=64, time=1, cpu=0).start().close()   # warm-up
        for i in range(args.pairs):
            for monitored in ((False, True) if i % 2 == 0 else (True, False)):
                iops, polls = run(ns, args.seconds, monitored)
                (mon if monitored else base).append(iops)
                print(f"{'monitor polled' if monitored else 'no monitor':>15}: {iops:12.0f} IOPS"
                      + (f"  ({polls} polls, {polls / args.seconds:.1f}/s)" if monitored else ""),
                      flush=True)
    finally:
        ns.close()
        nvme0.close()
        pcie.close()
    b, m = statistics.median(base), statistics.median(mon)
    ratio = m / b
    print(f"median IOPS: no monitor {b:.0f}, monitor polled 10/s {m:.0f}; "
          f"ratio {ratio:.4f} ({(ratio - 1) * 100:+.2f}%)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps({"base": base, "monitor": mon, "ratio": ratio}))


if __name__ == "__main__":
    main()
