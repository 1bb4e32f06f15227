"""Stress suites (dirty power cycles, resets, hot plug and PCIe errors, illegal
commands, endurance under verified IO): options and the `stress` fixture.

Options, on the command line when pytest is pointed at scripts/stress, or
through the environment (which also works from `pytest scripts`):

    --stress-profile full|short       PYNVME_STRESS_PROFILE  (default: full)
    --stress NAME=VALUE ...           PYNVME_STRESS_OPTIONS  (space-separated)
    --stress-out DIR                  PYNVME_STRESS_OUT      (default: build/stress)
    --stress-expect-unsafe-shutdowns=yes|no
                                      PYNVME_STRESS_EXPECT_UNSAFE_SHUTDOWNS (default: yes)

The fault source is pytest's --instrument (docs/instruments.md); without it,
the software controller's own faults on a 'soft' address, the test bed
inside the test-bed guest, else the driver's own (slot power control where
the platform has it). Every option: stresslib/options.py; docs/stress.md.
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))                    # nvme.report
sys.path.insert(0, os.path.join(ROOT, "scripts", "performance"))    # perflib.device.identity
sys.path.insert(0, os.path.join(ROOT, "scripts", "conformance"))    # conformance_lib.status_text
if os.environ.get("PYNVME_IN_GUEST"):
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(ROOT, "build", "matplotlib"))

from stresslib import options  # noqa: E402
from stresslib.run import StressRun  # noqa: E402


def pytest_addoption(parser):
    g = parser.getgroup("pynvme stress suites")
    g.addoption("--stress-profile", default=None, choices=sorted(options.PROFILES),
                help="full: a real drive, hours (default); short: the test bed's, seconds")
    g.addoption("--stress", action="append", default=[], metavar="NAME=VALUE",
                help="override one option of the profile (repeatable), e.g. power_cycles=20")
    g.addoption("--stress-out", default=None, metavar="DIR", help="reports go to DIR/<suite>/")
    g.addoption("--stress-expect-unsafe-shutdowns", default=None, choices=("yes", "no"),
                help="no: the drive is known not to count Unsafe Shutdowns in SMART "
                     "(the dirty power cycle then reports the count instead of asserting it)")


def _option(config, name, env, default=None):
    try:
        value = config.getoption(name)
    except ValueError:      # not registered: pytest was pointed at a parent folder
        value = None
    return value or os.environ.get(env) or default


@pytest.fixture(scope="session")
def stress_settings(request):
    config = request.config
    profile = _option(config, "--stress-profile", "PYNVME_STRESS_PROFILE", "full")
    try:
        overrides = list(config.getoption("--stress") or [])
    except ValueError:
        overrides = []
    overrides += os.environ.get("PYNVME_STRESS_OPTIONS", "").split()
    out = _option(config, "--stress-out", "PYNVME_STRESS_OUT", os.path.join(ROOT, "build", "stress"))
    expect = _option(config, "--stress-expect-unsafe-shutdowns",
                     "PYNVME_STRESS_EXPECT_UNSAFE_SHUTDOWNS", "yes")
    if expect not in ("yes", "no"):
        pytest.fail(f"stress options: expect-unsafe-shutdowns {expect!r}: choose yes or no",
                    pytrace=False)
    try:
        opts, given = options.resolve(profile, overrides)
    except options.OptionError as e:
        pytest.fail(f"stress options: {e}", pytrace=False)
    return profile, opts, given, os.path.abspath(out), expect == "yes"


@pytest.fixture(scope="session")
def _lasting_instruments():
    """Instruments that outlive a test's Pcie (the test bed's monitor, a
    Quarch module's connection: seconds to set up, under TCG), by spec."""
    kept = {}
    yield kept
    for inst in kept.values():
        inst.close()


def _instrument(config, pcie, kept):
    from nvme.instruments import open_instrument
    spec = config.getoption("--instrument", default=None)
    if not spec:
        if str(pcie.addr).startswith("soft"):
            spec = "soft"
        elif os.environ.get("PYNVME_QMP"):
            spec = "testbed"
        else:
            return None
    if spec.startswith("soft"):
        return open_instrument(spec, pcie)      # acts on this very Pcie object
    key = (spec, str(pcie.addr))
    if key not in kept:
        kept[key] = open_instrument(spec, pcie)
    return kept[key]


@pytest.fixture
def stress(request, stress_settings, _lasting_instruments, pcie, nvme0, nvme0n1):
    profile, opts, given, out, expect_unsafe = stress_settings
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(line):
        with capture.global_and_fixture_disabled():
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    instrument = _instrument(request.config, pcie, _lasting_instruments)
    soft = str(pcie.addr).startswith("soft")
    try:
        run = StressRun(pcie, nvme0, nvme0n1, instrument, profile, opts, given, out,
                        expect_unsafe, say)
    except options.OptionError as e:
        if instrument and soft:
            instrument.close()
        pytest.fail(f"stress options: {e}", pytrace=False)
    yield run
    nvme0n1.verify_enable(False)
    if instrument and soft:
        pcie.inject_clear()    # a failed loop must not leave the next test without power
        instrument.close()
