"""scripts/conformance: the known-issues file turns listed tests into strict expected
failures (only when given), and the shipped file names tests that exist."""
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.path.join(ROOT, "scripts", "conformance")

TESTS = '''
def test_deviates():
    assert False, "controller deviates"

def test_fixed():
    pass

def test_new_deviation():
    assert False

import pytest
@pytest.mark.parametrize("p", [1, 2])
def test_param(p):
    assert p == 2
'''
ISSUES = '''
[[issue]]
test = "test_fake.py::test_deviates"
clause = "spec 1.2.3"
observed = "it deviates"

[[issue]]
test = "test_fake.py::test_fixed"
clause = "spec 4.5"
observed = "it used to deviate"

[[issue]]
test = "test_fake.py::test_new_deviation"
clause = "spec 7"
observed = "it crashes the device"
skip = true

[[issue]]
test = "test_fake.py::test_param[1]"
clause = "spec 6"
observed = "parameter 1 deviates"
'''


def run_suite(tmp_path, *args, env=None):
    suite = tmp_path / "scripts" / "conformance"
    suite.mkdir(parents=True)
    for name in ("conftest.py", "conformance_lib.py"):
        shutil.copy(os.path.join(SUITE, name), suite / name)
    (suite / "test_fake.py").write_text(TESTS)
    (tmp_path / "issues.toml").write_text(ISSUES)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                           str(suite), *args], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    return {name: outcome for outcome, name in re.findall(
        r"^(PASSED|FAILED|XFAIL|XPASS) \S*::(\S+)", proc.stdout, re.M)}, proc.stdout


def test_without_file_every_deviation_fails(tmp_path):
    got, out = run_suite(tmp_path)
    assert got == {"test_deviates": "FAILED", "test_fixed": "PASSED", "test_new_deviation": "FAILED",
                   "test_param[1]": "FAILED", "test_param[2]": "PASSED"}, out


def test_option_marks_listed_tests_strict_xfail(tmp_path):
    got, out = run_suite(tmp_path, "--known-issues", str(tmp_path / "issues.toml"))
    assert got["test_deviates"] == "XFAIL", out
    assert got["test_fixed"] == "FAILED", out          # strict: a fix shows as XPASS(strict)
    assert "XPASS(strict)" in out
    assert "test_new_deviation" not in got and "SKIPPED" in out and "it crashes the device" in out
    assert got["test_param[1]"] == "XFAIL" and got["test_param[2]"] == "PASSED", out
    assert "known deviation, spec 1.2.3: it deviates" in out


def test_env_var_works_too(tmp_path):
    got, out = run_suite(tmp_path, env={"PYNVME_KNOWN_ISSUES": str(tmp_path / "issues.toml")})
    assert got["test_deviates"] == "XFAIL", out


@pytest.mark.parametrize("name", ["known_issues.toml", "known_issues_soft.toml"])
def test_shipped_file_names_existing_tests(name):
    """QEMU's file and the software controller's: every entry names a test."""
    with open(os.path.join(SUITE, name), "rb") as f:
        issues = tomllib.load(f)["issue"]
    assert issues
    for entry in issues:
        assert entry["clause"] and entry["observed"], entry
        path, func = entry["test"].split("::")
        func = func.split("[")[0]
        with open(os.path.join(SUITE, path)) as f:
            assert re.search(rf"^def {func}\(", f.read(), re.M), f"{entry['test']} does not exist"
