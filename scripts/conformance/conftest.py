"""Conformance suite: shared fixtures and the known-issues hook.

Known deviations of a particular controller (in CI: QEMU's emulated NVMe) are
listed in a TOML file; when one is given, the tests it names are marked
xfail(strict=True), so a fixed deviation (XPASS) and a new one (FAIL) both
show; an entry with `skip = true` (a deviation that brings the device down, so
nothing after it could run) is skipped instead. The file is applied only when
asked for:

    pytest scripts/conformance --known-issues scripts/conformance/known_issues.toml
    PYNVME_KNOWN_ISSUES=scripts/conformance/known_issues.toml pytest scripts

On a real drive, run without it: every deviation is a failure.
"""
import os
import tomllib
import warnings

import pytest

from conformance_lib import Regs

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_addoption(parser):
    parser.getgroup("pynvme").addoption(
        "--known-issues", action="store", default=None, metavar="FILE",
        help="TOML list of known deviations of the device under test: those tests "
             "run as strict expected failures (also: env PYNVME_KNOWN_ISSUES)")


def load_known_issues(path):
    """The [[issue]] entries of a known-issues file, each with test, clause, observed."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    issues = data.get("issue", [])
    for i, entry in enumerate(issues):
        missing = {"test", "clause", "observed"} - set(entry)
        if missing:
            raise pytest.UsageError(f"{path}: issue #{i + 1} lacks {sorted(missing)}")
    return issues


def _matches(nodeid, test):
    """A known-issue test id names a node by its path under scripts/conformance
    (e.g. 'test_registers.py::test_cap_reserved_bits'), optionally with the
    parameter id; without one it covers every parameter."""
    tail = nodeid.split("scripts/conformance/", 1)[-1]
    return tail == test or ("[" not in test and tail.split("[", 1)[0] == test)


def pytest_collection_modifyitems(config, items):
    path = None
    try:
        path = config.getoption("--known-issues")
    except ValueError:
        pass
    path = path or os.environ.get("PYNVME_KNOWN_ISSUES")
    if not path:
        return
    issues = load_known_issues(path)
    used = set()
    for item in items:
        if not str(item.path).startswith(HERE):
            continue
        for i, entry in enumerate(issues):
            if _matches(item.nodeid, entry["test"]):
                used.add(i)
                reason = f"known deviation, {entry['clause']}: {entry['observed']}"
                if entry.get("skip"):
                    # a deviation that takes the device down (an emulator crash)
                    # cannot run even as an expected failure
                    item.add_marker(pytest.mark.skip(reason=reason))
                else:
                    item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
    stale = [issues[i]["test"] for i in range(len(issues)) if i not in used]
    if stale and any(str(item.path).startswith(HERE) for item in items):
        warnings.warn(pytest.PytestWarning(
            f"known issues naming no collected test (renamed or not selected): {stale}"))


@pytest.fixture
def regs(pcie):
    """The controller registers in BAR0 of the function under test."""
    return Regs(pcie)


@pytest.fixture
def cap(regs):
    return regs.cap


@pytest.fixture
def idc(nvme0):
    """Identify Controller data of nvme0 (conformance_lib.IdCtrl)."""
    import nvme as d
    from conformance_lib import id_ctrl
    return id_ctrl(nvme0, d)


@pytest.fixture
def nsids(nvme0):
    """The active namespace IDs (Identify CNS 02h)."""
    import nvme as d
    from conformance_lib import active_nsids
    return active_nsids(nvme0, d)


@pytest.fixture
def plain_ns(nvme0, nsids):
    """(nsid, IdNs) of the first active namespace whose current format has no
    metadata, so IO commands need no metadata pointer."""
    import nvme as d
    from conformance_lib import id_ns
    for nsid in nsids:
        cpl, ns = id_ns(nvme0, d, nsid)
        if cpl.ok and ns.current["ms"] == 0 and ns.nsze:
            return nsid, ns
    pytest.skip("no active namespace with a metadata-free format")
