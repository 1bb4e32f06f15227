#!/bin/sh
# Runs inside the test bed guest (see bench/run.sh): every row of the table,
# one JSON line each into $OUT, then prints the table.
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BDF=${BENCH_BDF:-$(ls /sys/bus/pci/drivers/vfio-pci | grep -m1 ':..:..\..')}
T=${BENCH_SECONDS:-5}
REPS=${BENCH_REPS:-3}   # rows alternate; the table keeps each row's median run
OUT=${BENCH_OUT:-/tmp/bench.jsonl}
: > "$OUT"
echo "bench: $BDF, ${T} s per run, $(nproc) vCPUs, $(date -u +%Y-%m-%dT%H:%MZ)" >&2
row() {  # row NAME WORKLOAD JSON-LINE
	[ -n "$3" ] || { echo "bench: $1 $2 produced nothing" >&2; return; }
	printf '{"row": "%s", "workload": "%s", "r": %s}\n' "$1" "$2" "$3" >> "$OUT"
	echo "bench: $1 $2 $3" >&2
}
WORKLOADS="rand4k-qd1:4096:1:rand rand4k-qd32:4096:32:rand seq128k-qd32:131072:32:seq"

for rep in $(seq $REPS); do
for w in $WORKLOADS; do
	IFS=: read name bs qd kind <<E
$w
E
	for mode in batch percmd shadow lazycq paced; do
		row "ceiling-$mode" $name "$(build/bench/ceiling $BDF 1 $bs $qd $T $kind $mode)"
	done
	rw=randread; [ $kind = seq ] && rw=read
	row "pynvme-perf" $name "$(build/tools/pynvme-perf -d $BDF --rw $rw --bs $bs --qd $qd --time $T --json)"
	row "pynvme-perf-verify" $name "$(build/tools/pynvme-perf -d $BDF --rw $rw --bs $bs --qd $qd --time $T --json --verify --verify-prefill)"
	for v in 0 1; do
		row "ioworker-verify$v" $name "$(/usr/bin/python3 bench/ioworker_row.py $BDF $bs $qd $T $kind $v)"
	done
done
done

# (d) the kernel driver with fio on the same controller
tools/nvme-setup --modules-dir "$PYNVME_GUEST_MODULES" unbind $BDF >&2 || true
modprobe -d "$PYNVME_GUEST_MODULES" nvme 2>/dev/null || true
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/nvme0n1 ] && break; sleep 1; done
if [ -b /dev/nvme0n1 ]; then
	for rep in $(seq $REPS); do for w in $WORKLOADS; do
		IFS=: read name bs qd kind <<E
$w
E
		rw=randread; [ $kind = seq ] && rw=read
		for eng in io_uring libaio; do
			j=$(fio --name=b --filename=/dev/nvme0n1 --direct=1 --ioengine=$eng --rw=$rw \
				--bs=$bs --iodepth=$qd --time_based --runtime=$T --size=1G \
				--output-format=json 2>/dev/null | /usr/bin/python3 bench/fio_row.py)
			row "fio-$eng" $name "$j"
		done
	done; done
else
	echo "bench: no /dev/nvme0n1 from the kernel driver; fio rows skipped" >&2
fi
/usr/bin/python3 bench/table.py "$OUT"
