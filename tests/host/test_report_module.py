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

from nvme.report import Report, format_value, render  # noqa: E402
from nvme.report.__main__ import report_dirs  # noqa: E402


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


def make_report(out, render_now=True):
    rep = Report("demo", "Demo report", str(out))
    rep.device = {"model": "QEMU NVMe Ctrl", "capacity (GB)": 1.07}
    rep.parameters = {"round_time": 1, "block_sizes": [512, 4096]}
    rep.data["series"] = [100.0, 110.5, 98.25]
    rep.note("steady state not reached by round 3")
    s = rep.section("Results", "What the numbers are.")
    s.table(["block size", "IOPS", "MB/s"], [["4 KiB", 51234.49, 20.5], ["128 KiB", 1500.0, None]],
            caption="window averages")
    s.chart("line_chart", "iops_per_round", caption="per round", x=[1, 2, 3],
            series={"IOPS": rep.data["series"]}, title="IOPS per round", xlabel="round",
            ylabel="IOPS")
    assert rep.target("IOPS 4 KiB", 51234.49, "IOPS", minimum=50000) is True
    assert rep.target("latency p99", 120.0, "us", maximum=100) is False
    return rep, rep.write(render_now)


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


def test_deferred_report_renders_later_from_its_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PYNVME_REPORT_DEFER", "1")
    rep, paths = make_report(tmp_path, render_now=None)
    assert paths == {"json": str(tmp_path / "report.json")}
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "iops_per_round.png").exists()
    quick = render(str(tmp_path), charts=False)
    page = (tmp_path / "report.html").read_text()
    assert quick["pdf"] is None and quick["png"] == []
    assert "chart iops_per_round: not rendered" in page and "51,234" in page
    assert report_dirs(str(tmp_path)) == [str(tmp_path)]
    full = render(str(tmp_path))
    assert os.path.getsize(full["pdf"]) > 0 and os.path.exists(tmp_path / "iops_per_round.png")
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()


def test_unknown_chart_or_unsaveable_data_is_refused_when_added(tmp_path):
    s = Report("demo", "Demo", str(tmp_path)).section("x")
    with pytest.raises(ValueError, match="unknown chart kind"):
        s.chart("pie", "p")
    with pytest.raises(TypeError):
        s.chart("line_chart", "l", x=[1], series={"a": {1, 2}}, title="t", xlabel="x", ylabel="y")


def test_every_chart_kind_renders(tmp_path):
    dist = [0] * 3000
    for us, n in ((20, 5000), (25, 3000), (40, 1500), (300, 400), (2500, 1)):
        dist[us] = n
    specs = {
        "steady_state_chart": dict(rounds=[1, 2, 3, 4, 5, 6], values=[500, 300, 210, 200, 205, 198],
                                   window={"first_round": 2, "last_round": 6, "average": 222.6,
                                           "slope": -20.0, "intercept": 300.0},
                                   title="t", ylabel="IOPS"),
        "heatmap": dict(matrix=[[1, 2], [3, None]], row_labels=["4 KiB", "8 KiB"],
                        col_labels=["100/0", "0/100"], title="t", xlabel="R/W mix",
                        ylabel="block size", value_label="IOPS"),
        "bars_3d": dict(matrix=[[1, 2], [3, 4]], row_labels=["4 KiB", "8 KiB"],
                        col_labels=["100/0", "0/100"], title="t", xlabel="R/W mix",
                        ylabel="block size", zlabel="IOPS"),
        "bar_chart": dict(categories=["128 KiB", "1024 KiB"],
                          series={"read": [2000, 2500], "write": [900, 1000]},
                          title="t", xlabel="block size", ylabel="MB/s"),
        "latency_histogram": dict(distributions={"QD1": dist}, title="t"),
        "qos_curve": dict(distributions={"QD1": dist}, title="t"),
        "time_series": dict(series={"QD1": [100, 120, 90]}, title="t", ylabel="IOPS"),
        "xy_chart": dict(series={"IOPS": [[0.1, 0.2], [100, 90]]}, title="t",
                         xlabel="GB written", ylabel="IOPS"),
        "line_chart": dict(x=["4 KiB", "8 KiB"], series={"a": [1, 2]}, title="t",
                           xlabel="block size", ylabel="IOPS", logy=True),
    }
    rep = Report("charts", "Charts", str(tmp_path))
    s = rep.section("all")
    for kind, spec in specs.items():
        s.chart(kind, kind, **spec)
    paths = rep.write(True)
    assert len(paths["png"]) == len(specs)
    assert all(os.path.getsize(p) > 10000 for p in paths["png"])
    with pytest.raises(ValueError, match="already in the report"):
        s.chart("time_series", "heatmap", series={"a": [1]}, title="t", ylabel="IOPS")
