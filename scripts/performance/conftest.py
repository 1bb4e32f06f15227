"""Performance suites (SNIA PTS, JEDEC JESD219, QoS, everyday): options and the
`perf` fixture.

Options, on the command line when pytest is pointed at scripts/performance, or
through the environment (which also works from `pytest scripts`, where this
conftest loads too late to add command-line options):

    --perf-profile full|quick   PYNVME_PERF_PROFILE   (default: full, the specs' values)
    --perf NAME=VALUE ...       PYNVME_PERF_OPTIONS   (space-separated NAME=VALUE)
    --perf-out DIR              PYNVME_PERF_OUT       (default: build/perf)
    --perf-targets FILE.toml    PYNVME_PERF_TARGETS   (pass/fail targets per suite)

Every option and its default: perflib/options.py; docs/performance.md.
"""
import os
import sys
import tomllib

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))   # nvme.report beside nvme
# The test bed's root is read-only: matplotlib would rebuild its font cache in a
# temporary folder on every boot (tens of seconds of emulated CPU); keep it here.
if os.environ.get("PYNVME_IN_GUEST"):
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(ROOT, "build", "matplotlib"))

from perflib import options  # noqa: E402
from perflib.context import PerfRun  # noqa: E402


def pytest_addoption(parser):
    g = parser.getgroup("pynvme performance suites")
    g.addoption("--perf-profile", default=None, choices=sorted(options.PROFILES),
                help="full: the specifications' lengths (default); quick: the emulated SSD's")
    g.addoption("--perf", action="append", default=[], metavar="NAME=VALUE",
                help="override one option of the profile (repeatable), e.g. round_time=30")
    g.addoption("--perf-out", default=None, metavar="DIR", help="reports go to DIR/<suite>/")
    g.addoption("--perf-targets", default=None, metavar="FILE",
                help="TOML: [suite] \"metric\" = {min = X} or {max = Y}")


def _option(config, name, env, default=None):
    try:
        value = config.getoption(name)
    except ValueError:      # not registered: pytest was pointed at a parent folder
        value = None
    return value or os.environ.get(env) or default


def _load_targets(path):
    if not path:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise options.OptionError(f"targets file {path}: {e}") from None


@pytest.fixture(scope="session")
def perf_settings(request):
    """The profile, options and targets of this session, checked before any IO."""
    config = request.config
    profile = _option(config, "--perf-profile", "PYNVME_PERF_PROFILE", "full")
    try:
        overrides = list(config.getoption("--perf") or [])
    except ValueError:
        overrides = []
    overrides += os.environ.get("PYNVME_PERF_OPTIONS", "").split()
    out = _option(config, "--perf-out", "PYNVME_PERF_OUT", os.path.join(ROOT, "build", "perf"))
    try:
        opts, given = options.resolve(profile, overrides)
        targets = _load_targets(_option(config, "--perf-targets", "PYNVME_PERF_TARGETS"))
    except options.OptionError as e:
        pytest.fail(f"performance options: {e}", pytrace=False)
    return profile, opts, given, os.path.abspath(out), targets


@pytest.fixture
def perf(request, perf_settings, pcie, nvme0, nvme0n1):
    profile, opts, given, out, targets = perf_settings
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(line):
        with capture.global_and_fixture_disabled():
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    try:
        return PerfRun(pcie, nvme0, nvme0n1, profile, opts, given, out, targets, say)
    except options.OptionError as e:
        pytest.fail(f"performance options: {e}", pytrace=False)

