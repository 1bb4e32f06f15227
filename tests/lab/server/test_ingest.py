"""POST /api/v1/runs (docs/lab-format.md): stores a run once, replaces an
unfinished one, and answers every bad request with a clear 4xx that changes
nothing in the database."""
import base64
import copy
import json

import pytest

from lab_server_fixtures import HOST, make_doc
from nvme.lab.server.schema import artifacts, metrics, runs, tests
from nvme.lab.server.tokens import add_token


def test_good_document_is_stored(lab, doc):
    r = lab.post(doc)
    assert r.status_code == 201, r.json
    assert r.json == {"uuid": doc["run"]["uuid"], "stored": "new"}
    page = lab.client.get(f"/api/v1/runs/{doc['run']['uuid']}").json
    run = page["run"]
    assert (run["host"], run["model"], run["serial"], run["firmware"]) == \
        (HOST, "QEMU NVMe Ctrl", "deadbeef", "7.2.0")
    assert (run["verdict"], run["n_tests"], run["n_passed"], run["finished"]) == ("passed", 5, 5, True)
    assert run["started"] == "2026-12-02T11:20:01.123456+00:00"
    assert run["pcie_link_speed"] == "8GT/s" and run["capacity_bytes"] == 536870912
    assert run["ci_job_url"] == "https://gitlab.example/j/1234"
    assert [t["nodeid"] for t in page["tests"]] == [t["nodeid"] for t in doc["tests"]]
    assert page["tests"][0]["spec_clause"] == "NVMe 1.4 §5.15.2.2"
    assert {m["name"]: m["value"] for m in page["metrics"]} == \
        {"ioworker.0.iops": 123456.0, "ioworker.0.latency_p99_us": 250.0,
         "ioworker.0.latency_p99_9_us": 900.0, "session.duration": 699.0}
    assert page["metrics"][0]["series"] == [[0.0, 120000.0], [1.0, 121000.0]]
    assert [a["name"] for a in page["reports"]] == ["report/report.html"]
    cmdlog = next(a for a in page["artifacts"] if a["name"] == "cmdlog.txt")
    got = lab.client.get(f"/runs/{doc['run']['uuid']}/artifacts/{cmdlog['id']}/cmdlog.txt?download=1")
    assert got.data == b"t=1us cid=3 op=0x02\n"
    assert got.headers["Content-Disposition"].startswith("attachment")
    report = lab.client.get(f"/runs/{doc['run']['uuid']}/files/report/report.html")
    assert report.data.startswith(b"<html>") and report.content_type.startswith("text/html")
    # someone else's HTML runs no script as this site
    assert report.headers["Content-Security-Policy"].startswith("sandbox")


def test_failures_make_a_failed_run(lab):
    doc = make_doc(failing=(1, 3))
    assert lab.post(doc).status_code == 201
    page = lab.client.get(f"/api/v1/runs/{doc['run']['uuid']}").json
    assert page["run"]["verdict"] == "failed" and page["run"]["n_failed"] == 2
    assert [(t["nodeid"], t["message"]) for t in page["failures"]] == \
        [("tests/guest/test_x.py::test_1", "assert 1 == 0"), ("tests/guest/test_x.py::test_3", "assert 3 == 0")]


def test_finished_run_uploaded_twice_is_stored_once(lab, doc):
    assert lab.post(doc).status_code == 201
    before = lab.snapshot()
    again = lab.post(doc)
    assert again.status_code == 200 and again.json == {"uuid": doc["run"]["uuid"], "stored": "duplicate"}
    # a different document of a finished run changes nothing either
    changed = copy.deepcopy(doc)
    changed["tests"] = changed["tests"][:1]
    assert lab.post(changed).json["stored"] == "duplicate"
    assert lab.snapshot() == before
    assert lab.count(runs) == 1 and lab.count(tests) == 5


def test_unfinished_run_is_replaced_by_the_finished_one(lab):
    partial = make_doc(finished=False, n_tests=2)
    uuid = partial["run"]["uuid"]
    assert lab.post(partial).json == {"uuid": uuid, "stored": "new"}
    assert lab.client.get(f"/api/v1/runs/{uuid}").json["run"]["verdict"] == "unfinished"
    whole = make_doc(uuid=uuid, finished=True, n_tests=7, failing=(6,))
    r = lab.post(whole)
    assert r.status_code == 200 and r.json == {"uuid": uuid, "stored": "updated"}
    page = lab.client.get(f"/api/v1/runs/{uuid}").json
    assert page["run"]["verdict"] == "failed" and page["run"]["finished"] is True
    assert len(page["tests"]) == 7 and page["run"]["n_tests"] == 7
    assert lab.count(runs) == 1 and lab.count(tests) == 7
    assert lab.count(metrics) == 4 and lab.count(artifacts) == 2
    # the late copy of the unfinished document does not undo the finished run
    assert lab.post(partial).json["stored"] == "duplicate"
    assert lab.count(tests) == 7


def _without(doc, path):
    d = copy.deepcopy(doc)
    target = d
    keys = path.replace("[0]", ".0").split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    del target[keys[-1]]
    return d


REQUIRED = ("format", "run", "run.uuid", "run.host", "run.started", "run.finished",
            "tests[0].nodeid", "tests[0].outcome", "metrics[0].name", "metrics[0].value",
            "artifacts[0].name", "artifacts[0].data_b64")


def _set(doc, path, value):
    d = copy.deepcopy(doc)
    target = d
    keys = path.replace("[0]", ".0").split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    target[keys[-1]] = value
    return d


BAD_VALUES = [
    ("format", 2, "format: 2 is not understood here"),
    ("run.uuid", "not-a-uuid", "run.uuid: 'not-a-uuid' is no UUID"),
    ("run.started", "yesterday", "run.started: 'yesterday' is no ISO 8601 time"),
    ("run.finished", "yes", "run.finished: must be true or false, not a string"),
    ("run.dut", [1], "run.dut: must be an object, not a list"),
    ("run.dut.firmware", "x" * 65, "run.dut.firmware: longer than 64 characters"),
    ("tests", {"a": 1}, "tests: must be a list, not an object"),
    ("tests[0].outcome", "sort of", "tests[0].outcome: 'sort of' is not one of passed, failed"),
    ("tests[0].duration_s", "fast", "tests[0].duration_s: must be a number, not a string"),
    ("metrics[0].value", True, "metrics[0].value: must be a number, not a boolean"),
    ("metrics[0].series", [[1, 2, 3]], "metrics[0].series[0]: must be a [seconds, value] pair"),
    ("artifacts[0].data_b64", "%%%", "artifacts[0].data_b64: not base64"),
]


def test_every_4xx_leaves_the_database_unchanged(lab, doc):
    assert lab.post(make_doc()).status_code == 201      # something to keep
    other_host_token = add_token(lab.engine, "lab-host-08")
    before = lab.snapshot()
    cases = [
        ("no token", dict(doc=doc, token=None), 401, "no token"),
        ("unknown token", dict(doc=doc, token="pynvme-lab-forged"), 401, "unknown token"),
        ("not a bearer token", dict(doc=doc, token=None, headers={"Authorization": "Basic eDp5"}),
         401, "no token"),
        ("another host's token", dict(doc=doc, token=other_host_token), 403,
         "this token is host 'lab-host-08''s; the run is from host 'lab-host-07'"),
        ("malformed JSON", dict(body=b'{"format": 1, "run": '), 400, "the body is not JSON"),
        ("not UTF-8", dict(body=b'{"format": 1, "run": "\xff"}'), 400, "not UTF-8"),
        ("not an object", dict(body=b"[1, 2]"), 400, "the document: must be an object, not a list"),
    ]
    cases += [(f"missing {key}", dict(doc=_without(doc, key)), 400, f"{key}: missing") for key in REQUIRED]
    cases += [(f"bad {key}", dict(doc=_set(doc, key, value)), 400, text) for key, value, text in BAD_VALUES]
    # a run of this uuid stored for host A, re-sent with host B's token and name
    stolen = _set(_set(make_doc(), "run.host", "lab-host-08"), "run.uuid",
                  lab.client.get("/api/v1/runs").json["runs"][0]["uuid"])
    cases.append(("another host's run", dict(doc=stolen, token=other_host_token), 403,
                  "was uploaded by host 'lab-host-07', not 'lab-host-08'"))
    for what, kwargs, status, text in cases:
        r = lab.post(**kwargs)
        assert r.status_code == status, (what, r.status_code, r.data[:300])
        assert text in r.json["error"], (what, r.json)
    assert lab.snapshot() == before


def test_oversized_upload_is_refused_unread(lab, doc):
    """413 at the real 64 MiB limit, by Content-Length, before the body is read."""
    before = lab.snapshot()
    body = json.dumps(doc).encode()
    pad = (64 << 20) + 1 - len(body)
    r = lab.post(body=body[:-1] + b"," + b'"pad": "' + b"x" * (pad - 10) + b'"}')
    assert r.status_code == 413, r.data[:200]
    assert "larger than 67108864 bytes" in r.json["error"]
    assert lab.snapshot() == before


def _http_post(url, token, chunks, length=None):
    """POST over a real socket: the body in chunks (chunked transfer encoding unless
    length is given)."""
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if length is not None:
        headers["Content-Length"] = str(length)
    conn.request("POST", "/api/v1/runs", body=iter(chunks), headers=headers,
                 encode_chunked=length is None)
    r = conn.getresponse()
    out = r.status, json.loads(r.read())
    conn.close()
    return out


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_oversized_upload_over_http(db_url, chunked):
    """Through a real HTTP server: a body past the limit, announced by its length or
    not (chunked: cut as it is read), gets its 413 answer and nothing is stored."""
    from lab_server_fixtures import Lab, LiveServer
    lab = Lab(db_url, max_upload_bytes=64 << 10)
    server = LiveServer(lab.app)
    try:
        doc = make_doc()
        doc["artifacts"][0]["data_b64"] = base64.b64encode(b"x" * (128 << 10)).decode()
        body = json.dumps(doc).encode()
        chunks = [body[i:i + 8192] for i in range(0, len(body), 8192)]
        status, answer = _http_post(server.url, lab.token, chunks, None if chunked else len(body))
        assert status == 413 and "larger than 65536 bytes" in answer["error"]
        assert lab.count(runs) == 0
        # and the same server takes a document under the limit
        small = json.dumps(make_doc()).encode()
        assert _http_post(server.url, lab.token, [small], None if chunked else len(small))[0] == 201
    finally:
        server.stop()
        lab.engine.dispose()


def test_ingest_takes_a_run_of_500_tests_in_one_request(lab):
    """The bulk path (the benchmark measures its speed): names shared between runs
    are stored once."""
    for _ in range(3):
        assert lab.post(make_doc(n_tests=500)).status_code == 201
    assert lab.count(tests) == 1500
    from nvme.lab.server.schema import test_names
    assert lab.count(test_names) == 500


def test_upload_cut_off_mid_store_leaves_nothing_and_is_taken_again(lab, monkeypatch):
    """The server dies (here: an error) after the run's row and its tests went in
    but before the commit: nothing of the run stays; the uploader's retry stores it
    once."""
    from nvme.lab.server import ingest
    doc = make_doc(n_tests=50)
    before = lab.snapshot()
    real_copy = ingest.copy_rows

    def crash_on_metrics(conn, table, columns, rows):
        if table is metrics:
            raise ConnectionError("the server went down mid-upload")
        return real_copy(conn, table, columns, rows)
    monkeypatch.setattr(ingest, "copy_rows", crash_on_metrics)
    r = lab.post(doc)
    assert r.status_code == 500 and "error" in r.json       # a 5xx: the uploader retries
    assert lab.snapshot() == before
    monkeypatch.setattr(ingest, "copy_rows", real_copy)
    assert lab.post(doc).json["stored"] == "new"
    assert lab.post(doc).json["stored"] == "duplicate"
    assert lab.count(runs) == 1 and lab.count(tests) == 50
