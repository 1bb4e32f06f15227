"""The uploader against a fake lab server that fails on demand: every run is stored
once, none is lost, a refusal is reported and not retried blindly."""
import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from lab_test_env import clean_env
from fake_lab_server import Store, serve
from lab_spool_fixtures import make_run, spool_with_runs
from nvme.lab import upload
from nvme.lab.spool import Spool

HERE = os.path.dirname(os.path.abspath(__file__))
FAST = dict(timeout_s=5, backoff_base_s=0.02, backoff_cap_s=0.2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pending(path):
    spool = Spool(str(path))
    try:
        return spool.pending()
    finally:
        spool.close()


@pytest.fixture
def spool_path(tmp_path):
    return tmp_path / "spool.sqlite"


def test_document_is_format_1(spool_path):
    (uuid,) = spool_with_runs(spool_path, 1)
    spool = Spool(str(spool_path))
    doc, finished = spool.document(uuid)
    spool.close()
    assert finished is True and doc["format"] == 1
    run = doc["run"]
    assert run["uuid"] == uuid and run["finished"] is True
    assert run["ended"] == "2026-12-02T11:31:40+00:00"
    assert run["outcome"] == {"passed": 3, "failed": 0, "skipped": 0, "xfailed": 0,
                              "xpassed": 0, "error": 0}
    assert run["dut"]["capacity_bytes"] == 1 << 26
    assert [t["nodeid"] for t in doc["tests"]] == [f"t.py::test_{i}" for i in range(3)]
    assert doc["metrics"] == [{"test": "t.py::test_0", "name": "ioworker.1.iops",
                               "value": 1000.0, "unit": "IO/s", "series": [[1, 990], [2, 1010]]}]
    (art,) = doc["artifacts"]
    assert base64.b64decode(art["data_b64"]) == b"log\x00\xff" and art["kind"] == "cmdlog"


def test_flaky_server_stores_every_run_once(spool_path, tmp_path):
    uuids = spool_with_runs(spool_path, 3)
    store = tmp_path / "store.jsonl"
    httpd, log = serve(0, str(store), script=["drop", "500", "503", "drop"])
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        said = []
        done, left = upload.upload_pending(str(spool_path), url, "tok", say=said.append, **FAST)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert done == uuids and left == []
    runs, inserts = Store(str(store)).load()
    assert sorted(runs) == sorted(uuids) and inserts == 3
    assert log[:4] == ["drop", "500", "503", "drop"] and len(log) == 7
    assert any("HTTP 503" in s for s in said)
    assert pending(spool_path) == []


def test_answer_lost_after_store_is_not_a_duplicate(spool_path, tmp_path):
    """The server stored the run, then the answer never came (connection cut):
    the uploader sends it again, the server says duplicate, one copy stays."""
    (uuid,) = spool_with_runs(spool_path, 1)
    store = tmp_path / "store.jsonl"
    port = free_port()
    server = start_server_process(port, store, "store-hang")
    result = {}
    t = threading.Thread(target=lambda: result.update(zip(("done", "left"), upload.upload_pending(
        str(spool_path), f"http://127.0.0.1:{port}", "tok", say=lambda s: None,
        timeout_s=30, backoff_base_s=0.05, backoff_cap_s=0.3))))
    t.start()
    wait_for(lambda: store.exists() and store.stat().st_size > 0)
    server.kill()                       # killed after its commit, before answering
    server.wait()
    time.sleep(0.3)
    server = start_server_process(port, store, "")
    t.join(60)
    server.kill()
    server.wait()
    assert result == {"done": [uuid], "left": []}
    runs, inserts = Store(str(store)).load()
    assert list(runs) == [uuid] and inserts == 1
    with open(store) as f:
        assert len(f.readlines()) == 1     # the second send changed nothing


@pytest.mark.parametrize("fault", ["hang", "store-hang"])
def test_server_killed_mid_upload_and_restarted(spool_path, tmp_path, fault):
    """The server process is killed with SIGKILL in the middle of an upload (before or
    after it stored the run) and comes back later: every run arrives, once."""
    uuids = spool_with_runs(spool_path, 4)
    store = tmp_path / "store.jsonl"
    port = free_port()
    # serves the first run, then hangs on the second
    server = start_server_process(port, store, "serve," + fault)
    said = []
    result = {}
    t = threading.Thread(target=lambda: result.update(zip(("done", "left"), upload.upload_pending(
        str(spool_path), f"http://127.0.0.1:{port}", "tok", say=said.append,
        timeout_s=30, backoff_base_s=0.05, backoff_cap_s=0.3))))
    t.start()
    wait_for(lambda: len(Store(str(store)).load()[0]) == (1 if fault == "hang" else 2))
    time.sleep(0.2)
    server.kill()
    server.wait()
    # down for a while: the uploader keeps trying (connection refused)
    wait_for(lambda: sum("unavailable" in s for s in said) >= 3)
    server = start_server_process(port, store, "")
    t.join(60)
    server.kill()
    server.wait()
    assert not t.is_alive()
    assert result == {"done": uuids, "left": []}
    runs, inserts = Store(str(store)).load()
    assert sorted(runs) == sorted(uuids) and inserts == 4
    assert pending(spool_path) == []


def test_refusal_is_reported_and_the_run_kept(spool_path, tmp_path):
    (uuid,) = spool_with_runs(spool_path, 1)
    httpd, log = serve(0, str(tmp_path / "store.jsonl"), script=["400"])
    try:
        said = []
        done, left = upload.upload_pending(str(spool_path),
                                           f"http://127.0.0.1:{httpd.server_address[1]}/",
                                           "tok", say=said.append, **FAST)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (done, left) == ([], [uuid])
    assert log == ["400"]                       # asked once, not in a loop
    assert any("run.uuid: missing" in s for s in said)
    spool = Spool(str(spool_path))
    assert spool.pending() == [uuid]
    assert "HTTP 400: run.uuid: missing" in spool.run_row(uuid)["upload_error"]
    spool.close()


def test_cli_wrong_token_exits_1_and_names_the_answer(spool_path, tmp_path, capsys):
    spool_with_runs(spool_path, 2)
    httpd, log = serve(0, str(tmp_path / "store.jsonl"))
    try:
        rc = upload.main(["--server", f"http://127.0.0.1:{httpd.server_address[1]}",
                          "--token", "wrong", "--spool", str(spool_path), "--backoff", "0.02"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert rc == 1 and log == ["serve", "serve"]
    assert capsys.readouterr().err.count("HTTP 401: unknown token") == 2
    assert len(pending(spool_path)) == 2


def test_cli_server_down_gives_up_at_the_deadline_keeping_the_runs(spool_path, capsys):
    spool_with_runs(spool_path, 2)
    rc = upload.main(["--server", f"http://127.0.0.1:{free_port()}", "--token", "tok",
                      "--spool", str(spool_path), "--backoff", "0.05", "--deadline", "0.5"])
    assert rc == 1
    assert "stays in the spool" in capsys.readouterr().err
    assert len(pending(spool_path)) == 2


@pytest.mark.parametrize("argv, message", [
    (["--token", "t"], "no server"),
    (["--server", "lab:8080", "--token", "t"], "is not an http:// or https:// URL"),
    (["--server", "http://lab:8080"], "no token"),
])
def test_cli_usage_errors(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("PYNVME_LAB_URL", raising=False)
    monkeypatch.delenv("PYNVME_LAB_TOKEN", raising=False)
    with pytest.raises(SystemExit) as e:
        upload.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_cli_takes_url_and_token_from_the_environment(spool_path, tmp_path, monkeypatch):
    (uuid,) = spool_with_runs(spool_path, 1)
    httpd, _ = serve(0, str(tmp_path / "store.jsonl"))
    try:
        monkeypatch.setenv("PYNVME_LAB_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
        monkeypatch.setenv("PYNVME_LAB_TOKEN", "tok")
        monkeypatch.setenv("PYNVME_LAB_SPOOL", str(spool_path))
        assert upload.main([]) == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert list(Store(str(tmp_path / "store.jsonl")).load()[0]) == [uuid]


def test_unfinished_run_is_sent_again_once_finished(spool_path, tmp_path):
    """A run uploaded while unfinished (a crashed session, or one still running) is
    pending again when it finishes; the server replaces it (200 updated)."""
    spool = Spool(str(spool_path))
    uuid = make_run(spool, finished=False)
    spool.close()
    httpd, log = serve(0, str(tmp_path / "store.jsonl"))
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        said = []
        assert upload.upload_pending(str(spool_path), url, "tok", say=said.append, **FAST) == \
            ([uuid], [])
        assert pending(spool_path) == []
        spool = Spool(str(spool_path))
        spool.finish_run(uuid, "2026-12-02T12:00:00+00:00")
        spool.close()
        assert pending(spool_path) == [uuid]
        assert upload.upload_pending(str(spool_path), url, "tok", say=said.append, **FAST) == \
            ([uuid], [])
    finally:
        httpd.shutdown()
        httpd.server_close()
    runs, inserts = Store(str(tmp_path / "store.jsonl")).load()
    assert inserts == 1 and runs[uuid]["run"]["finished"] is True
    assert "(updated)" in said[-1]


def start_server_process(port, store, script):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_lab_server.py"),
                             "--port", str(port), "--store", str(store), "--script", script],
                            stdout=subprocess.PIPE, env=clean_env())
    assert proc.stdout.readline().strip() == b"listening"
    return proc


def wait_for(cond, timeout_s=30):
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_watch_uploads_runs_as_they_are_recorded(spool_path, tmp_path):
    """`pynvme-lab upload --watch`: a service that sends each new run, the server's
    outage in between included."""
    store = tmp_path / "store.jsonl"
    port = free_port()
    spool = Spool(str(spool_path))
    first = make_run(spool)
    server = start_server_process(port, store, "")
    watcher = subprocess.Popen([sys.executable, "-m", "nvme.lab.upload", "--watch",
                                "--interval", "0.1", "--backoff", "0.05",
                                "--server", f"http://127.0.0.1:{port}", "--token", "tok",
                                "--spool", str(spool_path)],
                               env=clean_env(), stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: first in Store(str(store)).load()[0])
        server.kill()
        server.wait()
        second = make_run(spool)                 # recorded while the server is down
        time.sleep(0.5)
        server = start_server_process(port, store, "")
        wait_for(lambda: second in Store(str(store)).load()[0])
        wait_for(lambda: pending(spool_path) == [])     # acknowledged and marked
        assert watcher.poll() is None            # still watching
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(30)
        server.kill()
        server.wait()
        spool.close()
    assert watcher.returncode == 130
    runs, inserts = Store(str(store)).load()
    assert sorted(runs) == sorted([first, second]) and inserts == 2
