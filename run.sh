#!/bin/bash
# pynvme's front door. On a fresh Debian 12 machine:
#   ./run.sh main     install, build, and run the shipped scripts on the emulated SSD
#   ./run.sh test     install, build, run the C unit tests, the lab's tests (SQLite, a
#                     private PostgreSQL, headless Chromium), the Python suite on the
#                     software controller (host, no VM), the VS Code extension's
#                     tests and package, the conformance and guest
#                     suites in the test bed, then again built with ASan+UBSan
#                     (the sanitize action)
#   ./run.sh sanitize only the sanitizer job: make SANITIZE=1, its unit tests, and
#                     tools/sanitize_job.sh in the guest (docs/sanitizers.md)
#   ./run.sh perf     the performance suites (SNIA PTS, JEDEC, QoS, everyday) in
#                     their quick profile on the emulated SSD, reports in build/perf/;
#                     with --pciaddr=BDF on a drive of this machine instead (default
#                     profile there: full, the specifications' lengths: days)
#   ./run.sh stress   the stress suites (dirty power cycles, resets, hot plug, PCIe
#                     errors, illegal commands, endurance) in their short profile in
#                     the test bed, reports in build/stress/; with --pciaddr=BDF on a
#                     drive of this machine instead (full profile: docs/stress.md)
#   ./run.sh shell    a root shell in the test-bed guest (NVMe bound to vfio-pci)
# Extra arguments after the action go to pytest (main, test, sanitize, perf, stress) or
# to the test bed (shell).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
action=${1:-}
[ $# -gt 0 ] && shift
case "$action" in
    main|test|sanitize|shell|perf|stress) ;;
    *) echo "usage: $0 main|test|sanitize|shell|perf|stress [args...]" >&2; exit 2 ;;
esac
tools/install-deps.sh
make -j"$(nproc)" >/dev/null
TESTBED=tools/testbed/testbed.py
# The software controllers standing in for test.toml's on the host
# (docs/software-controller.md; tests/guest/conftest.py has the null one).
SOFT_ADDR=soft:size=512M+256M,mdts=7
soft_suite() {
    PYTHONPATH=python /usr/bin/python3 -m pytest -p no:cacheprovider -q \
        --pciaddr=$SOFT_ADDR tests/soft tests/guest
    # the conformance suite too, the soft controller's own deviations as
    # strict expected failures
    PYTHONPATH=python PYNVME_KNOWN_ISSUES=scripts/conformance/known_issues_soft.toml \
        /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEX --pciaddr=$SOFT_ADDR \
        scripts/conformance
    # the stress suites' short profile (docs/stress.md), the software controller's
    # own faults; reports as JSON only (the test bed's run draws its charts)
    PYTHONPATH=python PYNVME_REPORT_DEFER=1 /usr/bin/python3 -m pytest -p no:cacheprovider -q \
        -rfEs --pciaddr=$SOFT_ADDR --stress-profile=short --stress-out=build/stress-soft \
        scripts/stress
}
# The lab (docs/lab.md): sessions in the test bed record into the shared
# build/lab/spool.sqlite under this host's name; with PYNVME_LAB_URL and
# PYNVME_LAB_TOKEN set, what is recorded goes to the lab server afterwards
# (a server that is down loses nothing: the spool keeps the runs).
LAB_HOST_ENV=(--env "PYNVME_LAB_HOST=$(hostname)")
lab_upload() {
    if [ -n "${PYNVME_LAB_URL:-}" ] && [ -n "${PYNVME_LAB_TOKEN:-}" ]; then
        PYTHONPATH=python /usr/bin/python3 -m nvme.lab.upload --deadline 120 ||
            echo "run.sh: lab server unreachable; the runs stay in build/lab/spool.sqlite" >&2
    fi
}
# The VS Code extension (vscode/pynvme-monitor, docs/monitor.md): npm ci from
# its lock file, its node tests (the JSON-RPC client, decoding, chart and
# webview HTML against a live monitor service on a software controller; the
# webviews rendered in headless Chromium to build/vscode/*.png), and the
# .vsix packaged to build/vscode/. About a minute.
vscode_extension() {
    local t0=$SECONDS
    (cd vscode/pynvme-monitor &&
        npm ci --ignore-scripts --no-audit --no-fund --loglevel=error &&
        PYNVME_SCREENSHOTS=1 npm test --silent &&
        npm run --silent package)
    echo "run.sh: VS Code extension tested and packaged in $((SECONDS - t0)) s"
}
# Reports written in the test bed are drawn here: matplotlib on the guest's
# emulated CPU takes minutes per report (python3 -m nvme.report).
render_reports() {
    [ -d "$1" ] && PYTHONPATH=python /usr/bin/python3 -m nvme.report "$1" || true
}
if [ "$action" = perf ] && printf '%s\n' "$@" | grep -q '^--pciaddr'; then
    # a real drive bound to vfio-pci on this machine: no test bed
    PYTHONPATH=python exec /usr/bin/python3 -m pytest -p no:cacheprovider -rfE \
        scripts/performance "$@"
fi
if [ "$action" = stress ] && printf '%s\n' "$@" | grep -q '^--pciaddr'; then
    PYTHONPATH=python exec /usr/bin/python3 -m pytest -p no:cacheprovider -rfEs \
        scripts/stress "$@"
fi
# the guest kernel and the patched QEMU (built once, cached outside the clone:
# tools/testbed/build-qemu.sh), before any test boots a guest
$TESTBED prepare
# The sanitizer build (build/asan) and its job; any ASan/UBSan report fails it.
sanitize() {
    local t0=$SECONDS
    make -j"$(nproc)" SANITIZE=1 >/dev/null
    make SANITIZE=1 check
    # the software controller's threads and the transport, checked on the host
    SANITIZE_DESELECT=$(sed -n '/^DESELECT="/,/^"/p' tools/sanitize_job.sh | grep '^tests/' |
        sed 's/^/--deselect=/')
    PYTHONPATH= tools/sanitize-run /usr/bin/python3 -m pytest -p no:cacheprovider -q \
        --pciaddr=$SOFT_ADDR tests/soft tests/guest $SANITIZE_DESELECT
    PYTHONPATH= PYNVME_KNOWN_ISSUES=scripts/conformance/known_issues_soft.toml \
        tools/sanitize-run /usr/bin/python3 -m pytest -p no:cacheprovider -q \
        --pciaddr=$SOFT_ADDR scripts/conformance
    $TESTBED run --config tools/testbed/configs/test.toml -- tools/sanitize_job.sh "$@"
    echo "run.sh: sanitizer job passed in $((SECONDS - t0)) s"
}
case "$action" in
    main)
        rc=0
        $TESTBED run --config tools/testbed/configs/main.toml "${LAB_HOST_ENV[@]}" -- \
            tools/main_job.sh "$@" || rc=$?
        render_reports build/main/perf
        render_reports build/main/stress
        lab_upload
        exit $rc ;;
    perf)
        rc=0
        $TESTBED run --config tools/testbed/configs/main.toml --env PYNVME_REPORT_DEFER=1 \
            --env PYNVME_PERF_PROFILE="${PYNVME_PERF_PROFILE:-quick}" "${LAB_HOST_ENV[@]}" -- \
            /usr/bin/python3 -m pytest -p no:cacheprovider -rfE --pciaddr=0000:01:00.0 \
            scripts/performance "$@" || rc=$?
        render_reports build/perf
        lab_upload
        exit $rc ;;
    stress)
        rc=0
        $TESTBED run --config tools/testbed/configs/test.toml --env PYNVME_REPORT_DEFER=1 \
            --env PYNVME_STRESS_PROFILE="${PYNVME_STRESS_PROFILE:-short}" \
            --env PYNVME_STRESS_OPTIONS="${PYNVME_STRESS_OPTIONS:-}" -- \
            /usr/bin/python3 -m pytest -p no:cacheprovider -rfEs --pciaddr=0000:01:00.0 \
            scripts/stress "$@" || rc=$?
        render_reports build/stress
        exit $rc ;;
    test)
        make check
        /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/host
        # the lab: the recorder, uploader and device lock; the server on SQLite
        # and on a private PostgreSQL cluster it starts itself, its pages in
        # headless Chromium (docs/lab.md, docs/lab-server.md)
        /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/lab
        # the Python API, the ioworker and the fault tests on software
        # controllers, on the host in about two minutes
        soft_suite
        vscode_extension
        # The conformance suite in its own guest (CMB, several namespaces, metadata),
        # QEMU's known deviations as strict expected failures.
        $TESTBED run --config tools/testbed/configs/conformance.toml \
            --env PYNVME_KNOWN_ISSUES=scripts/conformance/known_issues.toml -- \
            /usr/bin/python3 -m pytest -p no:cacheprovider --pciaddr=0000:01:00.0 -q -rfEX \
            scripts/conformance
        # tests/guest, then in the same guest (one boot less) the stress suites'
        # short profile (docs/stress.md, about 2 minutes), their reports drawn here
        # afterwards. The test bed's QEMU keeps score (patch 0002): every dirty
        # power cycle must add one Unsafe Shutdown in SMART.
        rc=0
        $TESTBED run --config tools/testbed/configs/test.toml -- /bin/sh -c 'pytest="/usr/bin/python3 -m pytest -p no:cacheprovider --pciaddr=0000:01:00.0"
                $pytest tests/guest "$@"; guest=$?
                PYNVME_REPORT_DEFER=1 $pytest -q -rfEs --stress-profile=short \
                    --stress-out=build/stress scripts/stress; stress=$?
                [ $guest = 0 ] && [ $stress = 0 ]' sh "$@" || rc=$?
        render_reports build/stress
        [ $rc = 0 ]
        sanitize ;;
    sanitize)
        sanitize "$@" ;;
    shell)
        exec $TESTBED shell "$@" ;;
esac
