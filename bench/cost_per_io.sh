#!/bin/sh
# The driver's cost per IO (issue 11 item 4), on the host, no VM: the
# ioworker on CPU 0 against the software controller in null mode on CPU 1
# (soft:null,cpu=1,spin), 4 KiB random read at each queue depth, beside fio's
# null ioengine on CPU 0 in the same run as the peer. Not part of CI.
#
#   bench/cost_per_io.sh [SECONDS] [REPEATS]     (default 2 s per row, 3 repeats)
#   BENCH_QDS="1 32" bench/cost_per_io.sh        (queue depths; default 1..128)
#   BENCH_QUIET_WAIT=120 bench/cost_per_io.sh     (see quiet_gate; default 60 s)
#
# Rows (each repeat runs every row once, the ioworker and fio of one QD back
# to back, so the peers see the same load of this shared machine):
#   ioworker     tools/pynvme-perf --cpu 0: latency histogram on, verify off
#   py           the same engine from Python (d.Pcie('soft:null,cpu=1,spin'))
#   crc          the ioworker (C, bench/cost_crc.c), verification on: every
#                4 KiB read CRC32C-checked (bench/cost_py_rows.py says why this
#                one uses the RAM store)
#   py-crc       the same from Python
#   fio          fio --ioengine=null --cpus_allowed=0 (latency stats on, as our
#                histogram; --norandommap, as our generator keeps no map)
# The Python rows and fio also report their best 10 ms (fio's IOPS log, the
# worker's progress counter): on a shared machine the IOPS of a whole run
# fall whenever another program takes a core, and the ioworker needs two
# (its own and the controller's) where fio needs one.
#   controller   tools/soft_ctrl_bench --pin: the software controller alone,
#                and its bare host loop (prebuilt commands, no driver) per QD
# Prints one markdown table (bench/cost_table.py); writes every run to
# build/bench/cost_runs.jsonl and the table's figures to
# build/bench/cost_per_io.json.
set -e
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-2}
REPEATS=${2:-3}
QDS=${BENCH_QDS:-"1 2 4 8 16 32 64 128"}
OUT=build/bench
RAW=$OUT/cost_runs.jsonl
PY=/usr/bin/python3

if ! command -v fio >/dev/null; then
	echo "cost_per_io.sh: fio not found (the peer row): apt-get install fio" >&2
	exit 1
fi
make -j2 >/dev/null
mkdir -p $OUT
${CC:-gcc} -O2 -g -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -Werror -Wno-unused-parameter \
	-Ilib bench/host_info.c -o $OUT/host_info build/libpynvme.a -pthread -lm
${CC:-gcc} -O2 -g -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -Werror -Wno-unused-parameter \
	-Ilib bench/cost_crc.c -o $OUT/cost_crc build/libpynvme.a -pthread -lm
: >$RAW

# Hardware counters: perf stat -e cycles,instructions where the kernel has a
# PMU. In a VM without one perf prints "<not supported>" and the table's
# cycles are TSC ticks of the worker's CPU time only.
PERF_EVENTS=""
if command -v perf >/dev/null && perf stat -e cycles -x, -- true 2>&1 | grep -q '^[0-9]'; then
	PERF_EVENTS=cycles,instructions
fi

# Before each row: wait (up to BENCH_QUIET_WAIT seconds) until the other
# programs on this shared machine leave both cores nearly idle, measured
# over half a second of /proc/stat. The bench never raises its own
# priority (that would stall other people's test beds); it waits for a gap
# instead, and the row records the busy share it started with.
quiet_gate() {
	waited=0
	while :; do
		BUSY=$(
			{ head -1 /proc/stat; sleep 0.5; head -1 /proc/stat; } |
				awk '{ idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i
				       if (NR == 1) { i0 = idle; t0 = total } else
				       printf "%.0f", 100 * (1 - (idle - i0) / (total - t0)) }')
		[ "$BUSY" -le 25 ] || [ $waited -ge ${BENCH_QUIET_WAIT:-60} ] && return
		sleep 2
		waited=$((waited + 3))
	done
}

# pynvme-perf's ioworker thread: neither the main thread nor the
# controller's ("soft_ctrl").
worker_tid() {   # pid
	for t in /proc/$1/task/*; do
		tid=${t##*/}
		if [ "$tid" != "$1" ] && [ "$(cat $t/comm 2>/dev/null)" != soft_ctrl ]; then
			echo $tid
			return
		fi
	done
}

run_ioworker() {   # qd rep
	rm -f $OUT/perf.csv
	build/tools/pynvme-perf -d soft:null,cpu=1,spin --qd $1 -t $SECONDS_EACH --cpu 0 --json \
		>$OUT/run.json &
	pid=$!
	if [ -n "$PERF_EVENTS" ]; then
		sleep 0.5   # the worker thread is up, its queue created
		tid=$(worker_tid $pid)
		[ -z "$tid" ] || perf stat -e $PERF_EVENTS -x, -o $OUT/perf.csv -t $tid \
			-- sleep $((SECONDS_EACH - 1)) || true
	fi
	# a busy machine can starve the controller thread past CAP.TO at enable:
	# the row is lost, not the run
	if ! wait $pid; then
		echo "cost_per_io: pynvme-perf QD $1 repeat $2 failed: row skipped" >&2
		return 0
	fi
	BUSY=$BUSY $PY bench/cost_row.py ioworker $OUT/run.json $1 $2 $OUT/perf.csv >>$RAW
}

run_fio() {   # qd rep
	rm -f $OUT/perf.csv $OUT/fio_iops.1.log
	set -- $1 $2 fio --name=null --ioengine=null --rw=randread --bs=4k --size=1g \
		--iodepth=$1 --time_based --runtime=$SECONDS_EACH --cpus_allowed=0 --norandommap \
		--output-format=json --write_iops_log=$OUT/fio --log_avg_msec=10
	if [ -n "$PERF_EVENTS" ]; then
		# the whole of fio: its job process and the parent (asleep but for
		# its status ticks)
		perf stat -e $PERF_EVENTS -x, -o $OUT/perf.csv -- "$@" >$OUT/run.json
	else
		qd=$1 rep=$2
		shift 2
		"$@" >$OUT/run.json
		set -- $qd $rep
	fi
	BUSY=$BUSY $PY bench/cost_row.py fio $OUT/run.json $1 $2 $OUT/perf.csv $OUT/fio_iops.1.log >>$RAW
}

echo "cost_per_io: $REPEATS repeats x QD {$QDS} x ${SECONDS_EACH} s per row; hardware" \
	"counters: ${PERF_EVENTS:-not available here (cycles from TSC)}" >&2
$OUT/host_info >$OUT/host_info.json
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq 1 $REPEATS); do
	for qd in $QDS; do
		quiet_gate
		run_ioworker $qd $rep
		quiet_gate
		run_fio $qd $rep
		quiet_gate
		$OUT/cost_crc $SECONDS_EACH $qd | BUSY=$BUSY $PY bench/cost_row.py tag $rep >>$RAW ||
			echo "cost_per_io: crc QD $qd repeat $rep failed: row skipped" >&2
		for row in py py-crc; do
			quiet_gate
			PYTHONPATH=python $PY bench/cost_py_rows.py $row $SECONDS_EACH $qd |
				BUSY=$BUSY $PY bench/cost_row.py tag $rep >>$RAW
		done
	done
	echo "  repeat $rep of $REPEATS done" >&2
done
quiet_gate
build/tools/soft_ctrl_bench --pin $SECONDS_EACH $QDS >$OUT/soft_ctrl_bench.txt
$PY bench/cost_table.py --raw $RAW --host $OUT/host_info.json \
	--ctrl $OUT/soft_ctrl_bench.txt --json $OUT/cost_per_io.json \
	--seconds $SECONDS_EACH --load-before "$LOAD_BEFORE"
