"""tools/pynvme-perf, the command-line workload tool, run as a user would on the
null-backed controller of test.toml (0000:02:00.0): counts, JSON, the human
summary, doorbell pacing, and refusals of bad input."""
import json
import os
import subprocess

import pytest

NULL_BDF = None   # the null-backed controller: set per test by _device()
# The sanitizer run (tools/sanitize-run) points PYNVME_TOOLS_DIR at its own build.
TOOLS = (os.environ.get("PYNVME_TOOLS_DIR")
         or os.path.join(os.path.dirname(__file__), "..", "..", "build", "tools"))
PERF = os.path.join(TOOLS, "pynvme-perf")
PACING_CANDIDATES_NS = {0, 250, 500, 750, 1000, 1500, 2000, 3000}   # lib/doorbell_pacer.c


@pytest.fixture(autouse=True)
def _device(null_addr):
    global NULL_BDF
    NULL_BDF = null_addr


def perf(*args, check=True):
    p = subprocess.run([PERF, "-d", NULL_BDF, *args], capture_output=True, text=True,
                       timeout=120)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def perf_json(*args):
    return json.loads(perf(*args, "--json").stdout)


def test_io_count_and_json():
    r = perf_json("--rw", "randread", "--bs", "4k", "--qd", "4", "--io-count", "3000")
    assert r["ios"] == 3000 and r["reads"] == 3000 and r["writes"] == 0
    assert r["error"] == 0 and r["error_text"] == ""
    assert r["iops"] > 0 and r["mseconds"] > 0
    lat = [r["lat_min_us"], r["lat_p50_us"], r["lat_p99_us"], r["lat_p999_us"]]
    assert lat == sorted(lat) and lat[-1] <= r["lat_max_us"] + 1
    assert sum(r["io_per_second"]) == 3000
    assert r["pacing_hold_ns"] in PACING_CANDIDATES_NS


def test_mixed_sizes_and_ops():
    r = perf_json("--rw", "randrw", "--rwmixread", "70", "--bs", "4k-16k", "--qd", "8",
                  "--io-count", "2000", "--region", "0:4096")
    assert r["error"] == 0, r["error_text"]
    assert r["ios"] == 2000 and r["reads"] + r["writes"] == 2000
    assert 0.6 < r["reads"] / 2000 < 0.8


def test_verified_reads_of_prefilled_zeroes():
    # the null backend keeps no data but reads zeroes: after the write-zeroes
    # prefill every read is checked, and every one must pass
    r = perf_json("--rw", "randread", "--qd", "8", "--io-count", "2000", "--verify",
                  "--verify-prefill", "--region", "0:4096")
    assert r["verify"] is True and r["error"] == 0, r["error_text"]
    assert r["reads"] == 2000


def test_fixed_doorbell_hold_is_applied():
    # a 1 ms hold before each doorbell caps QD1 at about 1000 IOPS; no pacing
    # on the same device is several times faster
    held = perf_json("--qd", "1", "--time", "1", "--pacing", "1000000")
    free = perf_json("--qd", "1", "--time", "1", "--pacing", "off")
    assert held["pacing_hold_ns"] == 1000000 and free["pacing_hold_ns"] == 0
    assert held["error"] == 0 and free["error"] == 0
    assert 300 < held["iops"] < 1050, held["iops"]
    assert free["iops"] > 2 * held["iops"], (free["iops"], held["iops"])


def test_throttled_run_is_not_paced():
    r = perf_json("--qd", "4", "--time", "3", "--iops", "500")
    assert r["pacing_hold_ns"] == 0
    assert all(abs(v - 500) <= 5 for v in r["io_per_second"][1:3]), r["io_per_second"]


def test_human_summary():
    out = perf("--bs", "4k", "--qd", "2", "--io-count", "500").stdout
    assert NULL_BDF in out and "IOs      500" in out
    for word in ("IOPS", "latency", "cpu", "doorbell"):
        assert word in out, out


@pytest.mark.parametrize("args, word", [
    (["--pacing", "soon"], "--pacing"),
    (["--pacing", "5000000"], "--pacing"),
    (["--qd", "0"], "--qd"),
    (["--rw", "sideways"], "--rw"),
    (["--bs", "1000"], "--bs"),
])
def test_bad_input_is_refused(args, word):
    p = perf(*args, "--io-count", "10", check=False)
    assert p.returncode != 0
    assert word in p.stderr, p.stderr
