#!/bin/sh
# The IO benchmark (issue 5): one guest run on a null-backend controller
# measures 4 KiB random read at QD1 and QD32 and 128 KiB sequential read at
# QD32, 5 s each, for: (a) the ceiling (bench/ceiling.c, a bare polled loop;
# doorbell variants), (b)/(c) the ioworker from Python with verification off
# and on, (d) fio io_uring and libaio on the kernel nvme driver, (e)
# tools/pynvme-perf. Prints one table (bench/table.py). Not part of CI.
#
#   bench/run.sh [SECONDS]        (default 5)
set -e
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${1:-5}
make -j2 >/dev/null
mkdir -p build/bench
${CC:-gcc} -O2 -g -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -Werror -Wno-unused-parameter \
	-Ilib bench/ceiling.c -o build/bench/ceiling build/libpynvme.a -pthread -lm
PYNVME_TESTBED_CACHE=${PYNVME_TESTBED_CACHE:-$ROOT/build/testbed} \
	tools/testbed/testbed.py run --controllers 1 --backend null --lba-size 4096 \
	--ns-size 1G --hugepages ${BENCH_HUGEPAGES:-256} --timeout 1800 \
	--env BENCH_SECONDS=$SECONDS_EACH -- /bin/sh "$ROOT/bench/guest.sh"
