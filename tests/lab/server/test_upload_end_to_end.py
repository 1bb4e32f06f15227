"""The recorder's spool, the uploader and the real lab server (`tools/pynvme-lab serve`,
on SQLite and on PostgreSQL) together: the server process is killed with SIGKILL again
and again while runs are being uploaded, and brought back each time. In the end every
spooled run is in the database exactly once, with all its tests, and the spool has
nothing left to send."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import sqlalchemy as sa

from lab_server_fixtures import HOST, ROOT
from nvme.lab import upload
from nvme.lab.server.database import make_engine, upgrade
from nvme.lab.server.schema import metadata
from nvme.lab.server.tokens import add_token

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lab_spool_fixtures import spool_with_runs  # noqa: E402
from lab_test_env import clean_env  # noqa: E402

RUNS = 10
TESTS_PER_RUN = 600        # an upload long enough to be cut in the middle
KILLS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url, port):
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "pynvme-lab"), "serve",
                             "--db", db_url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=clean_env(), start_new_session=True)
    line = proc.stdout.readline().decode()
    assert "serving" in line, f"pynvme-lab serve did not start: {line!r}"
    return proc


def count(engine, table_name):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(
            metadata.tables[table_name])).scalar_one()


def run_uuids(engine):
    with engine.connect() as conn:
        return sorted(str(u) for (u,) in conn.execute(sa.select(metadata.tables["runs"].c.uuid)))


def test_server_killed_repeatedly_mid_upload_loses_and_duplicates_nothing(db_url, tmp_path):
    engine = make_engine(db_url)
    upgrade(engine)
    token = add_token(engine, HOST)
    spool = tmp_path / "spool.sqlite"
    uuids = spool_with_runs(spool, RUNS, tests=TESTS_PER_RUN, host=HOST)
    port = free_port()
    server = start_server(db_url, port)
    said, result = [], {}
    uploader = threading.Thread(target=lambda: result.update(zip(("done", "left"), upload.upload_pending(
        str(spool), f"http://127.0.0.1:{port}", token, say=said.append,
        timeout_s=30, backoff_base_s=0.05, backoff_cap_s=0.5))))
    uploader.start()
    kills = 0
    try:
        for kills in range(1, KILLS + 1):
            # wait until the uploader is under way again, then cut it off
            stored = count(engine, "runs")
            deadline = time.monotonic() + 120
            while count(engine, "runs") == stored and uploader.is_alive():
                assert time.monotonic() < deadline, "no run stored within 120 s"
                time.sleep(0.02)
            if not uploader.is_alive():
                break
            time.sleep(0.05 * kills)          # into the next run's upload
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            time.sleep(0.5)                   # down: the uploader meets a refused connection
            server = start_server(db_url, port)
        uploader.join(300)
        assert not uploader.is_alive(), "the uploader did not finish"
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    assert kills >= 2, f"the server was killed only {kills} time(s) during the upload"
    assert result == {"done": uuids, "left": []}
    assert run_uuids(engine) == sorted(uuids)
    assert count(engine, "tests") == RUNS * TESTS_PER_RUN
    assert count(engine, "artifacts") == RUNS
    assert upload.upload_pending(str(spool), f"http://127.0.0.1:{port}", token,
                                 timeout_s=1) == ([], [])
    engine.dispose()
