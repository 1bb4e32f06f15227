"""The stress suites (scripts/stress) fail when they must: each run here
plants a fault with the suites' `plant` option on a software controller and
checks that the suite FAILS, naming it. A suite that passed with data lost,
a fault unreported or a command unanswered would prove nothing.

    corrupt   LBAs whose writes completed are overwritten behind the
              driver's back before the read-back (a drive losing data)
    no_fault  the power cut / reset / removal is not made (a fault the
              driver would not notice: the worker runs on)
    drop      the controller never answers an illegal admin command
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDR = "soft:size=64M"


def run_suite(tmp_path, test, *options):
    # the nvme the tests run with (the sanitizer build's, under tools/sanitize-run)
    env = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH") or os.path.join(ROOT, "python"),
               PYNVME_REPORT_DEFER="1", PYNVME_MONITOR="0")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--pciaddr={ADDR}",
           "--stress-profile=short", f"--stress-out={tmp_path}",
           os.path.join(ROOT, "scripts", "stress", test)]
    for o in options:
        cmd.append(f"--stress={o}")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    return p.returncode, p.stdout + p.stderr


def test_power_cycle_passes_then_fails_on_lost_data(tmp_path):
    rc, out = run_suite(tmp_path, "test_dirty_power_cycle.py", "power_cycles=1", "region=4m")
    assert rc == 0, out
    rc, out = run_suite(tmp_path, "test_dirty_power_cycle.py", "power_cycles=1", "region=4m",
                        "plant=corrupt")
    assert rc == 1 and "cycle 1: data lost after the power cut" in out, out
    assert "3 mismatches" in out, "every overwritten LBA is found, not just the first"


def test_power_cycle_fails_when_the_cut_goes_unnoticed(tmp_path):
    rc, out = run_suite(tmp_path, "test_dirty_power_cycle.py", "power_cycles=1", "region=4m",
                        "plant=no_fault", "fault_stop_bound=1")
    assert rc == 1, out
    assert "cycle 1: the worker still ran" in out and "(a hang)" in out, out
    # no cut, no unsafe shutdown: the strict SMART check fails too
    assert "SMART Unsafe Shutdowns went 0 -> 0, expected +1" in out, out


@pytest.mark.parametrize("test,expect", [
    ("test_reset_under_io.py", "loop 1: data lost after the"),
    ("test_hotplug_pcie_errors.py::test_hot_plug_under_io",
     "removal 1: data lost after the surprise removal"),
    ("test_endurance.py", "data lost: "),
    ("test_illegal_commands.py", "data lost: "),
])
def test_every_suite_finds_lost_data(tmp_path, test, expect):
    rc, out = run_suite(tmp_path, test, "plant=corrupt", "region=4m", "reset_loops=1",
                        "hotplug_loops=1", "endurance_time=1", "smart_interval=1",
                        "illegal_time=1")
    assert rc == 1 and expect in out, out


def test_unanswered_illegal_command_fails_the_suite(tmp_path):
    rc, out = run_suite(tmp_path, "test_illegal_commands.py", "plant=drop", "region=4m",
                        "illegal_time=4")
    assert rc == 1 and "no completion (the driver's timeout completed it)" in out, out
