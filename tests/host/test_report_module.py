"""python/nvme/report: a report writes HTML, PDF, JSON and PNGs whose content
agrees (every table cell on the page is format_value of the raw JSON value)."""
import html
import json
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

report = pytest.importorskip("nvme.report", reason="build the extension first (make)")
from nvme.report import Report, charts, format_value  # noqa: E402


def test_format_value():
    assert format_value(None) == "-"
    assert format_value(True) == "yes"
    assert format_value(1234567) == "1,234,567"
    assert format_value(51234.49) == "51,234"
    assert format_value(123.456) == "123.5"
    assert format_value(12.345) == "12.35"
    assert format_value(0.01234) == "0.0123"
    assert format_value(0.0) == "0.00"
    assert format_value("4 KiB") == "4 KiB"


def make_report(out):
    rep = Report("demo", "Demo report", str(out))
    rep.device = {"model": "QEMU NVMe Ctrl", "capacity (GB)": 1.07}
    rep.parameters = {"round_time": 1, "block_sizes": [512, 4096]}
    rep.data["series"] = [100.0, 110.5, 98.25]
    rep.note("steady state not reached by round 3")
    s = rep.section("Results", "What the numbers are.")
    s.table(["block size", "IOPS", "MB/s"], [["4 KiB", 51234.49, 20.5], ["128 KiB", 1500.0, None]],
            caption="window averages")
    s.figure(charts.line_chart([1, 2, 3], {"IOPS": rep.data["series"]}, "IOPS per round",
                               "round", "IOPS"), "iops_per_round", caption="per round")
    assert rep.target("IOPS 4 KiB", 51234.49, "IOPS", minimum=50000) is True
    assert rep.target("latency p99", 120.0, "us", maximum=100) is False
    return rep, rep.write()


def test_report_files_agree(tmp_path):
    rep, paths = make_report(tmp_path)
    for key in ("html", "pdf", "json"):
        assert os.path.getsize(paths[key]) > 0
    assert paths["png"] == [str(tmp_path / "iops_per_round.png")]
    with open(paths["png"][0], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(paths["pdf"], "rb") as f:
        pdf = f.read()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 4
    doc = json.load(open(paths["json"]))
    assert doc["data"]["series"] == [100.0, 110.5, 98.25]
    assert doc["device"]["model"] == "QEMU NVMe Ctrl"
    assert [t["passed"] for t in doc["targets"]] == [True, False]
    page = open(paths["html"]).read()
    table = next(it for it in doc["sections"][0]["items"] if it["type"] == "table")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    for row in table["rows"]:
        for value in row:
            assert html.escape(format_value(value)) in cells
    assert "51,234" in cells and "20.50" in cells
    assert "data:image/png;base64," in page and "href='iops_per_round.png'" in page
    assert "<tr class='fail'><td>latency p99</td>" in page
    assert "steady state not reached by round 3" in page
    assert doc["host"]["hostname"]


def test_table_row_of_the_wrong_width_is_refused(tmp_path):
    rep = Report("demo", "Demo", str(tmp_path))
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        rep.section("x").table(["a", "b", "c"], [[1, 2]])


def test_every_chart_kind_renders(tmp_path):
    dist = [0] * 3000
    for us, n in ((20, 5000), (25, 3000), (40, 1500), (300, 400), (2500, 1)):
        dist[us] = n
    figs = {
        "ss": charts.steady_state_chart([1, 2, 3, 4, 5, 6], [500, 300, 210, 200, 205, 198],
                                        {"first_round": 2, "last_round": 6, "average": 222.6,
                                         "slope": -20.0, "intercept": 300.0}, "t", "IOPS"),
        "heat": charts.heatmap([[1, 2], [3, None]], ["4 KiB", "8 KiB"], ["100/0", "0/100"],
                               "t", "R/W mix", "block size", "IOPS"),
        "bars3d": charts.bars_3d([[1, 2], [3, 4]], ["4 KiB", "8 KiB"], ["100/0", "0/100"],
                                 "t", "R/W mix", "block size", "IOPS"),
        "bars": charts.bar_chart(["128 KiB", "1024 KiB"], {"read": [2000, 2500], "write": [900, 1000]},
                                 "t", "block size", "MB/s"),
        "hist": charts.latency_histogram({"QD1": dist}, "t"),
        "qos": charts.qos_curve({"QD1": dist}, "t"),
        "ts": charts.time_series({"QD1": [100, 120, 90]}, "t", "IOPS"),
        "xy": charts.xy_chart({"IOPS": ([0.1, 0.2], [100, 90])}, "t", "GB written", "IOPS"),
    }
    rep = Report("charts", "Charts", str(tmp_path))
    s = rep.section("all")
    for name, fig in figs.items():
        s.figure(fig, name)
    paths = rep.write()
    assert len(paths["png"]) == len(figs)
    assert all(os.path.getsize(p) > 10000 for p in paths["png"])
    with pytest.raises(ValueError, match="already in the report"):
        s.figure(charts.time_series({"a": [1]}, "t", "IOPS"), "ss")
