#!/bin/bash
# The live views against a real (emulated) NVMe device, in the test bed:
#   tools/testbed/testbed.py run --config tools/testbed/configs/test.toml -- \
#       tools/testbed/monitor_views.sh [OUTDIR]
# starts an ioworker with the monitor on (tests/soft/monitor_workload.py on
# 0000:01:00.0), captures pynvme-top's screen in tmux twice, 5 s apart, and
# takes the VS Code extension's views with its own client
# (vscode/pynvme-monitor/out/test/capture.js, built on the host first: npm
# test); PYNVME_ADDR=soft:null,size=64M runs it on the host. OUTDIR (default build/vscode/testbed) is in the project share, so the
# host can render the pages afterwards (Chromium on the guest's emulated CPU
# takes minutes).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
out=${1:-build/vscode/testbed}
mkdir -p "$out"
PYTHONPATH=python /usr/bin/python3 tests/soft/monitor_workload.py 90 "${PYNVME_ADDR:-0000:01:00.0}" >"$out/workload.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null || true; tmux kill-server 2>/dev/null || true' EXIT
for _ in $(seq 300); do
    grep -q '^ready' "$out/workload.log" && break
    kill -0 $pid 2>/dev/null || { cat "$out/workload.log"; exit 1; }
    sleep 0.2
done
grep -q '^ready' "$out/workload.log" || { echo "monitor_views: the workload did not start" >&2; exit 1; }
tmux new-session -d -s top -x 132 -y 48 "tools/pynvme-top --pid $pid"
sleep 6
tmux capture-pane -p -t top >"$out/pynvme-top-1.txt"
sleep 5
tmux capture-pane -p -t top >"$out/pynvme-top-2.txt"
node vscode/pynvme-monitor/out/test/capture.js "${PYNVME_MONITOR_DIR:-/var/tmp}/pynvme-$pid.sock" "$out" 8 >"$out/capture.json"
cat "$out/pynvme-top-1.txt" "$out/pynvme-top-2.txt"
echo "monitor_views: pages and captures in $out"
