#!/bin/sh
# The sanitizer job, run inside the test bed (tools/testbed/configs/test.toml)
# against the build of `make SANITIZE=1`: any AddressSanitizer or
# UndefinedBehaviorSanitizer report fails it (tools/sanitize-run).
#   1. pynvme-perf with leak detection on: the C library's controller, queues,
#      DMA buffers and ioworker (verified, throttled, with a doorbell hold),
#      set up and torn down by a program of ours, so a leak report is ours
#      (under python3 it could not be told apart, see tools/sanitize-run).
#   2. an ioworker replay from Python (a path only a timed test covers)
#   3. the Python test suite (tests/guest) with the sanitized extension, minus
#      the tests listed below. Extra arguments go to pytest.
cd "$(dirname "$0")/.." || exit 2
FILE_BDF=0000:01:00.0   # test.toml: file backend, data kept (verified writes)
NULL_BDF=0000:02:00.0   # null backend

# Tests left out, and why. Each asserts a rate, a duration or a deadline on
# the wall clock that the normal build meets but the sanitized one, every
# memory access checked in an emulated CPU on a shared host, does not always.
# Seen here: a 1 ms doorbell hold at 173 IOPS instead of 300-1050; one second
# of a 1234 IOPS throttle at 1112; the drain after a 2 s run taking over the
# ioworker's 10 ms allowance, so its IOs made a third "second" of their own; a
# replayed IO 220 ms late (100 ms allowed); close() after Ctrl-C returning in
# 3.7 s (3 s allowed). Their code paths still run: the throttle and a fixed
# doorbell hold and a replay (io_sequence) in steps 1 and 2, percentiles,
# per-second counts and -7 on an interrupted run in other tests; only the
# assertions on time are left out.
# tests/guest/test_perf_suites.py runs the performance suites' quick profile
# (3-7 minutes of timed rounds, whatever the build): left out to keep CI's
# time; the ioworker paths it drives (io_size lists and dicts, lba_align lists,
# distribution, io_sequence, output_cmdlog_list) run in other tests here.
# tests/soft/test_stress_selfcheck.py (host side of run.sh sanitize) starts the
# stress suites seven times in child pytest runs (35 s unsanitized): left out
# for CI's time; the driver paths under them (power loss, resets, removal,
# verify_counts) run sanitized in tests/soft/test_instruments_soft.py and here.
# tests/guest/test_lab_two_duts.py checks the lab's recording with two xdist
# workers (Python only, no C path of its own): left out to keep CI's time.
DESELECT="
tests/soft/test_stress_selfcheck.py
tests/guest/test_perf_suites.py
tests/guest/test_lab_two_duts.py
tests/guest/test_ioworker.py::test_throttle_iops
tests/guest/test_ioworker.py::test_percentiles_monotonic
tests/guest/test_ioworker.py::test_trace_replay
tests/guest/test_ioworker.py::test_ctrl_c_while_closing
tests/guest/test_perf_tool.py::test_fixed_doorbell_hold_is_applied
tests/guest/test_perf_tool.py::test_throttled_run_is_not_paced
"

rc=0
perf() {
    PYNVME_ASAN_LEAKS=1 PYNVME_SANITIZE_LOGS=build/asan/logs-perf tools/sanitize-run \
        build/asan/tools/pynvme-perf "$@" || rc=1
}
echo "sanitize_job: pynvme-perf, leak detection on"
perf -d "$FILE_BDF" --rw randrw --bs 4k-16k --qd 16 --io-count 10000 --verify \
    --verify-prefill --region 0:16384
perf -d "$NULL_BDF" --rw randread --qd 4 --iops 1000 --time 2
perf -d "$NULL_BDF" --rw read --qd 1 --pacing 1000000 --time 1

echo "sanitize_job: an ioworker replay (test_trace_replay's path, not its timing)"
PYNVME_SANITIZE_LOGS=build/asan/logs-replay tools/sanitize-run /usr/bin/python3 - <<'EOF' || rc=1
import nvme as d
pcie = d.Pcie("0000:01:00.0")
ns = d.Namespace(d.Controller(pcie), 2)
seq = [(i * 20000, 2 if i % 2 else 1, i * 8, 8) for i in range(20)]  # (us, opcode, slba, nlba)
log = [None] * 20
r = ns.ioworker(io_sequence=seq, output_cmdlog_list=log).start().close()
assert r.io_count_read == 10 and r.io_count_write == 10, r
assert sorted(log) == sorted((slba, n, op) for _, op, slba, n in seq), log
pcie.close()
print("replay: 20 IOs")
EOF

echo "sanitize_job: tests/guest with the sanitized extension"
deselect=""
for t in $DESELECT; do
    deselect="$deselect --deselect $t"
done
# shellcheck disable=SC2086
PYNVME_SANITIZE_LOGS=build/asan/logs-pytest tools/sanitize-run \
    /usr/bin/python3 -m pytest -p no:cacheprovider --pciaddr=0000:01:00.0 -rfE \
    $deselect tests/guest "$@" || rc=1
exit $rc
