"""The recorder: pytest sessions on software controllers, recorded into a spool in
a temporary folder, read back as the uploader sends them."""
import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from lab_test_env import ROOT, clean_env
from nvme.lab.record import SPEC_CLAUSE, ci_facts, suite_of
from nvme.lab.spool import Spool

SOFT = "soft:size=64M,mdts=7"

SESSION = '''
import pytest
import nvme as d

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_passes(nvme0n1, qpair):
    """NVMe 1.4 §5.15.2 (VER): a docstring in the conformance suite's style."""
    nvme0n1.ioworker(io_size=8, lba_random=True, read_percentage=50, io_count=2000,
                     qdepth=16).start().close()

def test_fails(nvme0, nvme0n1, qpair):
    buf = d.Buffer(4096)
    nvme0n1.write(qpair, buf, 5).waitdone()
    assert False, "the drive said no"

def test_skips():
    pytest.skip("not on this drive")

@pytest.mark.xfail(reason="known deviation")
def test_xfails():
    assert False

@pytest.mark.xfail(reason="fixed since")
def test_xpasses():
    pass

def test_errors(broken):
    pass

def test_report():
    from nvme.report import Report
    import os
    rep = Report("pts_iops", "IOPS", os.environ["REPORT_DIR"])
    rep.data["metrics"] = {"IOPS 4k 100% read": {"value": 1234.5, "unit": "IOPS"},
                           "no figure": {"value": float("nan"), "unit": "us"},
                           "long unit": {"value": 1.0, "unit": "x" * 40}}
    rep.section("s").chart("time_series", "iops_each_second", series={"4k read": [10, 20, 30]},
                           title="t", ylabel="IO/s")
    rep.write(render_now=False)
'''


def run_pytest(tmp_path, *args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "nvme.pytest_plugin", "-q", *args],
                          cwd=tmp_path, env=env or clean_env(), capture_output=True, text=True,
                          timeout=300, **kw)


def spool_runs(path):
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return [r[0] for r in db.execute("SELECT uuid FROM runs ORDER BY started")]
    finally:
        db.close()


def documents(path):
    spool = Spool(str(path))
    try:
        return [spool.document(u)[0] for u in spool_runs(path)]
    finally:
        spool.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One session with every outcome, recorded: (document, pytest's output)."""
    tmp = tmp_path_factory.mktemp("session")
    (tmp / "test_session.py").write_text(SESSION)
    spool = tmp / "spool.sqlite"
    env = clean_env(REPORT_DIR=str(tmp / "report"), CI_JOB_ID="4711",
                    CI_JOB_URL="https://gitlab.example/job/4711")
    out = run_pytest(tmp, f"--pciaddr={SOFT}", f"--lab-spool={spool}",
                     f"--junitxml={tmp / 'junit.xml'}", env=env)
    (doc,) = documents(spool)
    return doc, out.stdout + out.stderr


def test_run_facts(recorded):
    doc, out = recorded
    assert "2 failed" not in out and "1 failed" in out, out   # test_fails only
    run = doc["run"]
    assert run["finished"] is True and run["ended"] > run["started"]
    assert run["ci"] == {"system": "gitlab", "job_id": "4711",
                         "job_url": "https://gitlab.example/job/4711"}
    assert run["command"].startswith("pytest ") and f"--pciaddr={SOFT}" in run["command"]
    assert run["host"]
    assert run["git_commit"] and len(run["git_commit"]) == 40
    assert run["outcome"] == {"passed": 2, "failed": 1, "skipped": 1, "xfailed": 1,
                              "xpassed": 1, "error": 1}


def test_dut_identity(recorded):
    dut = recorded[0]["run"]["dut"]
    assert dut["pciaddr"] == SOFT
    assert dut["model"] == "pynvme software controller"
    assert dut["serial"] and dut["firmware"]
    assert dut["capacity_bytes"] == 64 << 20
    assert dut["vendor_id"] == 0xfffe
    assert dut["pcie_link_speed"] is None and dut["pcie_link_width"] is None  # no link


def test_each_outcome_and_message(recorded):
    tests = {t["nodeid"].split("::")[1]: t for t in recorded[0]["tests"]}
    assert {k: v["outcome"] for k, v in tests.items()} == {
        "test_passes": "passed", "test_fails": "failed", "test_skips": "skipped",
        "test_xfails": "xfailed", "test_xpasses": "xpassed", "test_errors": "error",
        "test_report": "passed"}
    assert "the drive said no" in tests["test_fails"]["message"]
    assert tests["test_skips"]["message"] == "not on this drive"
    assert tests["test_xfails"]["message"] == "known deviation"
    assert "fixture broke" in tests["test_errors"]["message"]
    assert tests["test_passes"]["message"] is None
    assert tests["test_passes"]["spec_clause"] == "NVMe 1.4 §5.15.2"
    assert tests["test_fails"]["spec_clause"] is None
    assert all(t["duration_s"] >= 0 and t["started"] for t in tests.values())


def test_ioworker_and_report_metrics(recorded):
    metrics = {(m["test"].split("::")[1], m["name"]): m for m in recorded[0]["metrics"]}
    reads = metrics[("test_passes", "ioworker.1.io_count_read")]["value"]
    writes = metrics[("test_passes", "ioworker.1.io_count_nonread")]["value"]
    assert reads + writes == 2000 and 0 < reads < 2000
    assert metrics[("test_passes", "ioworker.1.iops")]["value"] > 0
    assert metrics[("test_passes", "ioworker.1.latency_p99_us")]["unit"] == "us"
    m = metrics[("test_report", "pts_iops.iops_4k_100pct_read")]
    assert (m["value"], m["unit"]) == (1234.5, "IOPS")
    assert ("test_report", "pts_iops.no_figure") not in metrics      # NaN: no JSON number
    assert metrics[("test_report", "pts_iops.long_unit")]["unit"] == "x" * 32   # the lab's limit
    ts = metrics[("test_report", "pts_iops.iops_each_second.4k_read")]
    assert ts["series"] == [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]] and ts["value"] == 20.0


def test_failure_artifacts(recorded):
    arts = {(a["test"] and a["test"].split("::")[1], a["name"]): a
            for a in recorded[0]["artifacts"]}
    cmdlog = base64.b64decode(arts[("test_fails", "call-cmdlog.txt")]["data_b64"]).decode()
    # the admin queue (Identify at initialisation) and the IO queue (the write at LBA 5)
    assert "nvme0 (admin queue)" in cmdlog and "op=0x06" in cmdlog
    assert "qpair (IO queue 1)" in cmdlog and "op=0x01" in cmdlog
    log = base64.b64decode(arts[("test_fails", "call-failure.txt")]["data_b64"]).decode()
    assert "the drive said no" in log
    assert ("test_errors", "setup-failure.txt") in arts
    assert ("test_passes", "call-cmdlog.txt") not in arts       # only for failures
    report = json.loads(base64.b64decode(arts[("test_report", "pts_iops/report.json")]["data_b64"]))
    assert report["name"] == "pts_iops"
    junit = base64.b64decode(arts[(None, "junit.xml")]["data_b64"]).decode()
    assert arts[(None, "junit.xml")]["kind"] == "junit" and 'tests="7"' in junit


def test_spec_clauses_of_the_conformance_suite():
    """Every conformance test names its clause the way the recorder parses it."""
    import ast
    folder = os.path.join(ROOT, "scripts", "conformance")
    found = missing = 0
    for name in sorted(os.listdir(folder)):
        if not name.startswith("test_"):
            continue
        tree = ast.parse(open(os.path.join(folder, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                m = SPEC_CLAUSE.search(ast.get_docstring(node) or "")
                if m:
                    found += 1
                    # "NVMe 1.4 §5.15.2", "PCIe 4.0 §7.5.2.1", "PCI-PM 1.2 §3.2.4"
                    standard, version, section = m.group(1).split(" ")
                    assert version[0].isdigit() and section[0] == "§", m.group(1)
                else:
                    missing += 1
    assert found > 100 and missing < found / 10, (found, missing)


def test_no_record_and_env_switch(tmp_path):
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    spool = tmp_path / "spool.sqlite"
    out = run_pytest(tmp_path, f"--lab-spool={spool}", "--no-record")
    assert out.returncode == 0 and not spool.exists()
    out = run_pytest(tmp_path, f"--lab-spool={spool}", env=clean_env(PYNVME_LAB_RECORD="0"))
    assert out.returncode == 0 and not spool.exists()
    out = run_pytest(tmp_path, env=clean_env(PYNVME_LAB_SPOOL=str(spool)))
    assert out.returncode == 0 and len(spool_runs(spool)) == 1


def test_recording_errors_never_fail_the_session(tmp_path):
    (tmp_path / "test_two.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    (tmp_path / "not_a_folder").write_text("")
    out = run_pytest(tmp_path, f"--lab-spool={tmp_path / 'not_a_folder' / 'spool.sqlite'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout
    assert out.stderr.count("pynvme lab: recording failed") == 1, out.stderr


def test_killed_session_leaves_an_unfinished_run(tmp_path):
    """kill -9 in the middle of a session: the spool opens, is intact, and holds the
    run as unfinished with the tests done so far."""
    marker = tmp_path / "third_test_started"
    (tmp_path / "test_long.py").write_text(f'''
import time
def test_1(nvme0n1):
    pass
def test_2():
    assert False
def test_3():
    open({str(marker)!r}, "w").close()
    time.sleep(600)
def test_4():
    pass
''')
    spool = tmp_path / "spool.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             "-p", "nvme.pytest_plugin", "-q", f"--pciaddr={SOFT}",
                             f"--lab-spool={spool}"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        end = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (doc,) = documents(spool)           # integrity_check ok inside
    assert doc["run"]["finished"] is False and doc["run"]["ended"] is None
    assert [(t["nodeid"].split("::")[1], t["outcome"]) for t in doc["tests"]] == \
        [("test_1", "passed"), ("test_2", "failed")]
    assert doc["run"]["dut"]["model"] == "pynvme software controller"


def test_xdist_workers_each_record_their_own_device(tmp_path):
    """--pciaddr=A,B with two workers and --dist each (every drive runs every test):
    gw0 drives A, gw1 drives B, each records its own run with its own DUT (two
    software controllers, one per worker process)."""
    pytest.importorskip("xdist")
    (tmp_path / "test_par.py").write_text('''
import pytest
@pytest.mark.parametrize("i", range(6))
def test_io(nvme0n1, i, pciaddr, worker_id):
    assert pciaddr == {"gw0": "soft:size=64M", "gw1": "soft:size=96M,mdts=6"}[worker_id]
    nvme0n1.ioworker(io_size=8, io_count=200, qdepth=4).start().close()
''')
    spool = tmp_path / "spool.sqlite"
    out = run_pytest(tmp_path, "-n", "2", "--dist", "each",
                     "--pciaddr=soft:size=64M,soft:size=96M,mdts=6",
                     f"--lab-spool={spool}")
    assert out.returncode == 0, out.stdout + out.stderr
    docs = sorted(documents(spool), key=lambda d: d["run"]["worker"])
    assert [d["run"]["worker"] for d in docs] == ["gw0", "gw1"]
    assert [d["run"]["dut"]["capacity_bytes"] for d in docs] == [64 << 20, 96 << 20]
    assert [d["run"]["dut"]["pciaddr"] for d in docs] == ["soft:size=64M", "soft:size=96M,mdts=6"]
    assert [d["run"]["outcome"]["passed"] for d in docs] == [6, 6]
    assert all(len([m for m in d["metrics"] if m["name"] == "ioworker.1.iops"]) == 6
               for d in docs)
    assert all(d["run"]["finished"] for d in docs)


def test_several_addresses_without_xdist_is_a_usage_error(tmp_path):
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    out = run_pytest(tmp_path, "-p", "no:xdist", "--pciaddr=0000:01:00.0",
                     "--pciaddr=0000:02:00.0", "--no-record")
    assert out.returncode == 4
    assert "--pciaddr names several devices (0000:01:00.0,0000:02:00.0)" in out.stderr


@pytest.mark.parametrize("args, suite", [
    (["scripts/conformance/test_identify.py::test_cntlid"], "scripts/conformance"),
    (["tests/guest", "tests/soft"], "tests/guest"),
    (["scripts"], "scripts"),
    (["-x", "scripts/performance/perflib"], "scripts/performance"),
])
def test_suite_is_the_first_paths_top_folders(args, suite, monkeypatch):
    import pathlib
    import types
    monkeypatch.chdir(ROOT)
    assert suite_of(types.SimpleNamespace(args=args, rootpath=pathlib.Path(ROOT))) == suite


def test_ci_job_of_gitlab_and_jenkins():
    assert ci_facts({"CI_JOB_ID": "7", "CI_JOB_URL": "u"}) == \
        {"system": "gitlab", "job_id": "7", "job_url": "u"}
    assert ci_facts({"BUILD_ID": "12", "BUILD_URL": "https://j/job/x/12/",
                     "JENKINS_URL": "https://j/"}) == \
        {"system": "jenkins", "job_id": "12", "job_url": "https://j/job/x/12/"}
    assert ci_facts({"BUILD_ID": "12"}) is None     # BUILD_ID alone: not Jenkins's
    assert ci_facts({}) is None


def test_session_uploads_at_its_end_and_keeps_the_run_when_the_server_is_down(tmp_path):
    from fake_lab_server import Store, serve
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    spool = tmp_path / "spool.sqlite"
    httpd, log = serve(0, str(tmp_path / "store.jsonl"), token="tok")
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        out = run_pytest(tmp_path, f"--lab-spool={spool}",
                         env=clean_env(PYNVME_LAB_URL=url, PYNVME_LAB_TOKEN="tok"))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert out.returncode == 0
    runs, inserts = Store(str(tmp_path / "store.jsonl")).load()
    (uuid,) = spool_runs(spool)
    assert list(runs) == [uuid] and inserts == 1 and runs[uuid]["run"]["finished"] is True
    # the server gone: the session passes all the same, the run waits in the spool
    out = run_pytest(tmp_path, f"--lab-spool={spool}",
                     env=clean_env(PYNVME_LAB_URL=url, PYNVME_LAB_TOKEN="tok"))
    assert out.returncode == 0 and "1 passed" in out.stdout
    s = Spool(str(spool))
    assert len(s.pending()) == 1 and s.pending()[0] != uuid
    s.close()


@pytest.mark.parametrize("text, part", [
    ("MB/s 128KiB 65/35 read", "mbps_128kib_65_35_read"), ("99.9% latency", "99_9pct_latency"),
    ("IOPS 4k 100% read", "iops_4k_100pct_read"), ("IO/s", "iops"), ("--", "value")])
def test_metric_name_parts(text, part):
    from nvme.lab.record import slug
    assert slug(text) == part
