#!/bin/sh
# The main job, run inside the test bed (or on a real machine with the drive bound
# to vfio-pci): the shipped scripts on the device, then a summary by area.
# Results land in build/main/ (JUnit XML and an HTML report).
cd "$(dirname "$0")/.." || exit 2
out=build/main
mkdir -p "$out"
# In the emulated test bed, the conformance suite's known deviations of QEMU's
# controller run as strict expected failures; on a real drive every one fails.
if [ -n "${PYNVME_IN_GUEST:-}" ] && [ -z "${PYNVME_KNOWN_ISSUES:-}" ]; then
    export PYNVME_KNOWN_ISSUES=scripts/conformance/known_issues.toml
fi
# The performance suites (scripts/performance) run their quick profile here
# (a few minutes; the full one takes days: docs/performance.md), reports in
# build/main/perf/. In the test bed their charts are drawn afterwards on the
# host (run.sh main): matplotlib on the emulated CPU takes minutes per report.
export PYNVME_PERF_PROFILE="${PYNVME_PERF_PROFILE:-quick}"
export PYNVME_PERF_OUT="${PYNVME_PERF_OUT:-$out/perf}"
# The stress suites (scripts/stress) likewise run their short profile here
# (the full one takes days: docs/stress.md), reports in build/main/stress/.
export PYNVME_STRESS_PROFILE="${PYNVME_STRESS_PROFILE:-short}"
export PYNVME_STRESS_OUT="${PYNVME_STRESS_OUT:-$out/stress}"
if [ -n "${PYNVME_IN_GUEST:-}" ]; then
    export PYNVME_REPORT_DEFER="${PYNVME_REPORT_DEFER:-1}"
fi
/usr/bin/python3 -m pytest -p no:cacheprovider -rfEXP --junitxml="$out/results.xml" scripts "$@"
rc=$?
[ -f "$out/results.xml" ] && /usr/bin/python3 tools/report.py "$out/results.xml" \
    --html "$out/report.html" --title "pynvme main job: shipped scripts on the device" \
    --reports "$PYNVME_PERF_OUT" --reports "$PYNVME_STRESS_OUT"
exit $rc
