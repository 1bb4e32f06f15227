#!/bin/bash
# pynvme's front door. On a fresh Debian 12 machine:
#   ./run.sh main     install, build, and run the shipped scripts on the emulated SSD
#   ./run.sh test     install, build, run the C unit tests and the guest test suite
#   ./run.sh shell    a root shell in the test-bed guest (NVMe bound to vfio-pci)
# Extra arguments after the action go to pytest (main, test) or to the test bed (shell).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
action=${1:-}
[ $# -gt 0 ] && shift
case "$action" in
    main|test|shell) ;;
    *) echo "usage: $0 main|test|shell [args...]" >&2; exit 2 ;;
esac
tools/install-deps.sh
make -j"$(nproc)" >/dev/null
TESTBED=tools/testbed/testbed.py
# the guest kernel and the patched QEMU (built once, cached outside the clone:
# tools/testbed/build-qemu.sh), before any test boots a guest
$TESTBED prepare
case "$action" in
    main)
        exec $TESTBED run --config tools/testbed/configs/main.toml -- tools/main_job.sh "$@" ;;
    test)
        make check
        /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/host
        # The conformance suite in its own guest (CMB, several namespaces, metadata),
        # QEMU's known deviations as strict expected failures.
        $TESTBED run --config tools/testbed/configs/conformance.toml \
            --env PYNVME_KNOWN_ISSUES=scripts/conformance/known_issues.toml -- \
            /usr/bin/python3 -m pytest -p no:cacheprovider --pciaddr=0000:01:00.0 -q -rfEX \
            scripts/conformance
        exec $TESTBED run --config tools/testbed/configs/test.toml -- \
            /usr/bin/python3 -m pytest -p no:cacheprovider --pciaddr=0000:01:00.0 tests/guest "$@" ;;
    shell)
        exec $TESTBED shell "$@" ;;
esac
