"""The lab server's test fixtures and helpers (conftest.py hands the fixtures to
pytest; the benchmark uses make_doc): each database test runs on SQLite and on a
real PostgreSQL server (a private cluster started here, in a temporary folder: no
service is assumed). If PostgreSQL cannot start, the tests error: never a skip."""
import base64
import copy
import itertools
import os
import sys
import uuid as uuidlib

import pytest
import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if os.path.join(ROOT, "python") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "python"))

from nvme.lab.server import create_app  # noqa: E402
from nvme.lab.server.database import make_engine, upgrade  # noqa: E402
from nvme.lab.server.private_postgres import PrivatePostgres  # noqa: E402
from nvme.lab.server.schema import metadata  # noqa: E402
from nvme.lab.server.tokens import add_token  # noqa: E402

HOST = "lab-host-07"
EVIL_MODEL = "<script>alert('model')</script>"
EVIL_MESSAGE = "assert '<script>alert(1)</script>' == '<img src=x onerror=alert(2)>'"
_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres():
    pg = PrivatePostgres()
    pg.start()      # an error here errors every PostgreSQL test: no skip
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/lab.sqlite"
    return request.getfixturevalue("postgres").create_database(f"test_{next(_db_numbers)}")


class Lab:
    """A migrated database, the app on it, its test client and a host token."""

    def __init__(self, url, max_upload_bytes=None):
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        kwargs = {"max_upload_bytes": max_upload_bytes} if max_upload_bytes else {}
        self.app = create_app(url, engine=self.engine, **kwargs)
        self.client = self.app.test_client()
        self.token = add_token(self.engine, HOST)

    def post(self, doc=None, token="default", body=None, headers=None):
        hdrs = dict(headers or {})
        token = self.token if token == "default" else token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if body is None:
            return self.client.post("/api/v1/runs", json=doc, headers=hdrs)
        return self.client.post("/api/v1/runs", data=body, headers=hdrs,
                                content_type="application/json")

    def snapshot(self):
        """Every row of every table, in order: equal snapshots, unchanged database."""
        out = {}
        with self.engine.connect() as conn:
            for table in metadata.sorted_tables:
                out[table.name] = [tuple(r) for r in conn.execute(
                    sa.select(table).order_by(*table.primary_key.columns))]
        return out

    def count(self, table):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


class LiveServer:
    """The app behind a real HTTP server (werkzeug's, threaded) on a free port."""

    def __init__(self, app):
        import threading
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def lab(db_url):
    lab = Lab(db_url)
    yield lab
    lab.engine.dispose()


def make_doc(uuid=None, finished=True, n_tests=5, model="QEMU NVMe Ctrl", firmware="7.2.0",
             host=HOST, started="2026-12-02T11:20:01.123456+00:00", failing=(), suite="tests/guest",
             serial="deadbeef", iops=None):
    """A format-1 document (docs/lab-format.md) of n_tests tests; the indexes in
    failing fail."""
    tests = []
    for i in range(n_tests):
        failed = i in failing
        tests.append({"nodeid": f"{suite}/test_x.py::test_{i}",
                      "outcome": "failed" if failed else "passed", "duration_s": 0.01 * (i + 1),
                      "message": f"assert {i} == 0" if failed else None,
                      "spec_clause": "NVMe 1.4 §5.15.2.2" if i == 0 else None,
                      "started": started})
    return {
        "format": 1,
        "run": {
            "uuid": uuid or str(uuidlib.uuid4()), "host": host, "started": started,
            "ended": "2026-12-02T11:31:40+00:00" if finished else None, "finished": finished,
            "suite": suite, "command": f"pytest --pciaddr=0000:01:00.0 {suite}", "version": "0.4.0",
            "git_commit": "ba51403" + "0" * 33,
            "ci": {"system": "gitlab", "job_id": "1234", "job_url": "https://gitlab.example/j/1234"},
            "outcome": {"passed": n_tests - len(failing), "failed": len(failing)},
            "dut": {"pciaddr": "0000:01:00.0", "model": model, "serial": serial,
                    "firmware": firmware, "capacity_bytes": 536870912, "pcie_link_speed": "8GT/s",
                    "pcie_link_width": 4, "vendor_id": 6966},
            "a_key_from_a_newer_recorder": {"ignored": True},
        },
        "tests": tests,
        "metrics": [
            {"test": f"{suite}/test_x.py::test_0", "name": "ioworker.0.iops",
             "value": iops if iops is not None else 123456.0, "unit": "IO/s",
             "series": [[0.0, 120000.0], [1.0, 121000.0]]},
            {"test": f"{suite}/test_x.py::test_0", "name": "ioworker.0.latency_p99_us",
             "value": 250.0, "unit": "us", "series": None},
            {"test": f"{suite}/test_x.py::test_0", "name": "ioworker.0.latency_p99_9_us",
             "value": 900.0, "unit": "us"},
            {"test": None, "name": "session.duration", "value": 699.0, "unit": "s"},
        ],
        "artifacts": [
            {"test": f"{suite}/test_x.py::test_1", "name": "cmdlog.txt", "kind": "cmdlog",
             "content_type": "text/plain", "data_b64": base64.b64encode(b"t=1us cid=3 op=0x02\n").decode()},
            {"test": None, "name": "report/report.html", "kind": "report", "content_type": "text/html",
             "data_b64": base64.b64encode(b"<html><body><h1>Report</h1></body></html>").decode()},
        ],
    }


@pytest.fixture
def doc():
    return copy.deepcopy(make_doc())
