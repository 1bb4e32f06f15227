"""The pages and their JSON twins: filters, a run, a test's history, trends, the
fleet; every string from a device or a test is escaped."""
import re

import pytest

from lab_server_fixtures import EVIL_MESSAGE, EVIL_MODEL, HOST, Lab, make_doc
from nvme.lab.server.tokens import add_token



@pytest.fixture
def stocked(lab):
    """Runs on two models and hosts; test_2 fails from firmware 1.2 on, test_3 is
    flaky on 1.1; IOPS rise with the firmware."""
    uuids = {}
    plan = [  # (model, firmware, host, day, failing, suite)
        ("Acme Falcon", "1.0", HOST, 1, (), "tests/guest"),
        ("Acme Falcon", "1.1", HOST, 2, (3,), "tests/guest"),
        ("Acme Falcon", "1.1", HOST, 3, (), "tests/guest"),
        ("Acme Falcon", "1.2", "lab-host-08", 4, (2,), "tests/guest"),
        ("Acme Falcon", "1.3", "lab-host-08", 5, (2,), "scripts/conformance"),
        ("Blue Ridge", "9.0", HOST, 6, (), "tests/guest"),
    ]
    tokens = {HOST: lab.token, "lab-host-08": add_token(lab.engine, "lab-host-08")}
    for i, (model, fw, host, day, failing, suite) in enumerate(plan):
        doc = make_doc(model=model, firmware=fw, host=host, failing=failing, suite=suite,
                       started=f"2026-11-{day:02d}T10:00:00+00:00", serial=f"SN{model[:4]}",
                       iops=100000.0 + 10000 * i)
        assert lab.post(doc, token=tokens[host]).status_code == 201
        uuids[i] = doc["run"]["uuid"]
    lab.uuids = uuids
    return lab


def listed(lab, query=""):
    r = lab.client.get(f"/api/v1/runs?{query}")
    assert r.status_code == 200, r.json
    return [run["uuid"] for run in r.json["runs"]]


def test_run_list_filters(stocked):
    u = stocked.uuids
    assert listed(stocked) == [u[i] for i in (5, 4, 3, 2, 1, 0)]     # newest first
    assert listed(stocked, "model=Blue+Ridge") == [u[5]]
    assert listed(stocked, "firmware=1.1") == [u[2], u[1]]
    assert listed(stocked, "host=lab-host-08") == [u[4], u[3]]
    assert listed(stocked, "suite=scripts/conformance") == [u[4]]
    assert listed(stocked, "outcome=failed") == [u[4], u[3], u[1]]
    assert listed(stocked, "since=2026-11-02&until=2026-11-03") == [u[2], u[1]]
    assert listed(stocked, "model=Acme+Falcon&outcome=passed") == [u[2], u[0]]
    page2 = stocked.client.get("/api/v1/runs?per_page=4&page=2").json
    assert (page2["total"], page2["pages"], [r["uuid"] for r in page2["runs"]]) == (6, 2, [u[1], u[0]])
    # the HTML page lists the same rows and offers the choices
    html = stocked.client.get("/runs?firmware=1.1").get_data(as_text=True)
    assert html.count("/runs/" + u[1]) == 1 and u[0] not in html and "2 matching" in html
    assert '<option value="lab-host-08"' in html


@pytest.mark.parametrize("query, message", [
    ("outcome=meh", "outcome: 'meh' is not one of passed, failed, unfinished"),
    ("since=11/02/2026", "since: '11/02/2026' is no date (YYYY-MM-DD)"),
    ("page=0", "page: must be 1 or more"),
])
def test_bad_filter_is_a_400(tmp_path, query, message):
    lab = Lab(f"sqlite:///{tmp_path}/lab.sqlite")     # the database is not asked
    r = lab.client.get(f"/api/v1/runs?{query}")
    assert r.status_code == 400 and r.json == {"error": message}
    page = lab.client.get(f"/runs?{query}")
    assert page.status_code == 400 and message.replace("'", "&#39;") in page.get_data(as_text=True)


def test_run_page(stocked):
    html = stocked.client.get(f"/runs/{stocked.uuids[1]}").get_data(as_text=True)
    assert "Failures <small>1</small>" in html and "assert 3 == 0" in html
    assert "tests/guest/test_x.py::test_3" in html and "NVMe 1.4 §5.15.2.2" in html
    assert f"/runs/{stocked.uuids[1]}/files/report/report.html" in html       # the report linked
    assert "cmdlog.txt" in html and "ioworker.0.iops" in html and "110,000" in html
    links = re.findall(r'href="(/runs/[^"]+/metrics/\d+\.png)">2 points', html)
    assert len(links) == 1      # the IOPS metric has a series
    series = stocked.client.get(links[0])
    assert series.content_type == "image/png" and series.data[:4] == b"\x89PNG"
    assert stocked.client.get("/runs/00000000-0000-0000-0000-000000000000").status_code == 404


def test_history(stocked):
    h = stocked.client.get("/api/v1/tests/history?nodeid=tests/guest/test_x.py::test_2").json
    falcon = [f for f in h["firmwares"] if f["model"] == "Acme Falcon"]
    assert [(f["firmware"], f["passed"], f["failed"]) for f in falcon] == \
        [("1.0", 1, 0), ("1.1", 2, 0), ("1.2", 0, 1)]
    assert h["first_failing_firmware"] == [{"model": "Acme Falcon", "firmware": "1.2"}]
    assert h["flaky_firmwares"] == []
    flaky = stocked.client.get("/api/v1/tests/history?nodeid=tests/guest/test_x.py::test_3").json
    assert flaky["flaky_firmwares"] == [{"model": "Acme Falcon", "firmware": "1.1"}]
    only = stocked.client.get("/api/v1/tests/history?nodeid=tests/guest/test_x.py::test_3"
                              "&model=Blue+Ridge").json
    assert [f["firmware"] for f in only["firmwares"]] == ["9.0"]
    html = stocked.client.get("/tests/history?nodeid=tests/guest/test_x.py::test_3").get_data(as_text=True)
    assert 'class="badge flaky"' in html and "assert 3 == 0" in html
    assert stocked.client.get("/api/v1/tests/history?nodeid=nope").status_code == 404
    assert stocked.client.get("/api/v1/tests/history").json == \
        {"error": "nodeid: missing (the test's pytest node id)"}


def test_trends(stocked):
    q = "model=Acme+Falcon&test=tests/guest/test_x.py::test_0&workload=ioworker.0"
    t = stocked.client.get(f"/api/v1/trends?{q}").json["trend"]
    assert t["workload"] == "ioworker.0" and t["test"] == "tests/guest/test_x.py::test_0"
    assert [(r["firmware"], r["runs"], r["mean"]) for r in t["iops"]] == \
        [("1.0", 1, 100000.0), ("1.1", 2, 115000.0), ("1.2", 1, 130000.0)]
    assert [c["percentile"] for c in t["latency"]] == [99.0, 99.9]
    for kind in ("iops", "latency"):
        png = stocked.client.get(f"/trends/{kind}.png?{q}")
        assert png.status_code == 200 and png.content_type == "image/png"
        assert png.data[:8] == b"\x89PNG\r\n\x1a\n" and len(png.data) > 10000
    # the page's form sends one choice: "<workload> <test>"
    other = stocked.client.get("/api/v1/trends?model=Acme+Falcon&pick=ioworker.0+"
                               "scripts/conformance/test_x.py::test_0").json["trend"]
    assert other["test"] == "scripts/conformance/test_x.py::test_0"
    assert [(r["firmware"], r["mean"]) for r in other["iops"]] == [("1.3", 140000.0)]
    html = stocked.client.get("/trends").get_data(as_text=True)
    assert 'id="iops-chart"' in html and "/trends/iops.png?" in html


def test_fleet(stocked):
    f = stocked.client.get("/api/v1/fleet").json
    hosts = {h["name"]: h for h in f["hosts"]}
    assert (hosts[HOST]["runs"], hosts["lab-host-08"]["runs"]) == (4, 2)
    assert {(d["model"], d["firmware"]) for d in hosts[HOST]["duts"]} == \
        {("Acme Falcon", "1.1"), ("Blue Ridge", "9.0")}
    assert hosts[HOST]["last_upload"] is not None and hosts[HOST]["tokens"] == 1
    assert "lab-host-08" in stocked.client.get("/fleet").get_data(as_text=True)


def test_running_and_abandoned_runs_on_the_fleet(lab):
    from nvme.lab.server.tokens import utcnow
    now = utcnow().isoformat() + "+00:00"
    assert lab.post(make_doc(finished=False, started=now)).status_code == 201
    assert lab.post(make_doc(finished=False, started="2026-01-01T00:00:00+00:00")).status_code == 201
    f = lab.client.get("/api/v1/fleet").json
    assert (f["hosts"][0]["running"], f["hosts"][0]["abandoned"]) == (1, 1)
    assert len(f["running"]) == 1


def test_device_and_test_strings_are_escaped(lab):
    doc = make_doc(model=EVIL_MODEL, failing=(1,), firmware="<b>fw</b>")
    doc["tests"][1]["message"] = EVIL_MESSAGE
    doc["tests"][2]["nodeid"] = "tests/guest/test_x.py::test_p[<script>x</script>]"
    assert lab.post(doc).status_code == 201
    uuid = doc["run"]["uuid"]
    pages = [f"/runs/{uuid}", "/runs", "/fleet", "/trends",
             "/tests/history?nodeid=tests/guest/test_x.py::test_1",
             "/tests/history?nodeid=tests/guest/test_x.py::test_p[<script>x</script>]"]
    for url in pages:
        r = lab.client.get(url)
        html = r.get_data(as_text=True)
        assert r.status_code == 200, url
        assert "<script" not in html and "<img src=x" not in html and "<b>fw" not in html, url
        assert "script-src" not in r.headers["Content-Security-Policy"]     # no script at all
    run_html = lab.client.get(f"/runs/{uuid}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;" in run_html
    assert "&lt;img src=x onerror=alert(2)&gt;" in run_html
    assert "&lt;script&gt;alert(&#39;model&#39;)" in lab.client.get("/runs").get_data(as_text=True)
    # the JSON twin gives the strings back as they were
    assert lab.client.get(f"/api/v1/runs/{uuid}").json["run"]["model"] == EVIL_MODEL
