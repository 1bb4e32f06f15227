"""tools/report.py: JUnit XML to a summary by area."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPORT = os.path.join(ROOT, "tools", "report.py")
XML = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="scripts.conformance.test_registers" name="test_cap"/>
<testcase classname="scripts.conformance.test_registers" name="test_vs"><failure message="VS must be 1.4">x</failure></testcase>
<testcase classname="scripts.conformance.test_registers.TestCC" name="test_en"><skipped type="pytest.skip" message="no NSSR"/></testcase>
<testcase classname="scripts.conformance.test_admin" name="test_fw"><skipped type="pytest.xfail" message="known deviation"/></testcase>
<testcase classname="scripts.conformance.test_admin" name="test_err"><error message="boom"/></testcase>
</testsuite></testsuites>"""


def test_summary_counts_each_outcome_by_area(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text(XML)
    page = tmp_path / "r.html"
    out = subprocess.run([sys.executable, REPORT, str(xml), "--html", str(page)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]
            if line and not line.startswith(" ") and line.split()[0] not in ("failed:",)}
    assert rows["conformance/test_registers"] == ["1", "1", "1", "0"]
    assert rows["conformance/test_admin"] == ["0", "1", "0", "1"]
    assert rows["total"] == ["1", "2", "1", "1"]
    assert "conformance/test_registers::test_vs: VS must be 1.4" in out
    text = page.read_text()
    assert "<tr class='failed'><td class='case'>test_vs</td>" in text
    assert "known deviation" in text


def test_unreadable_xml_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, REPORT, str(tmp_path / "missing.xml")],
                          stderr=subprocess.PIPE, text=True)
    assert proc.returncode != 0
    assert "cannot read" in proc.stderr


def test_suite_reports_are_listed_and_linked(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text(XML)
    perf = tmp_path / "perf"
    for name, targets in (("pts-iops", [{"metric": "IOPS", "passed": True}]),
                          ("qos", [{"metric": "99% latency", "passed": False}])):
        (perf / name).mkdir(parents=True)
        (perf / name / "report.json").write_text(json.dumps(
            {"title": f"title of {name}", "targets": targets, "notes": [f"note of {name}"]}))
    page = tmp_path / "r.html"
    out = subprocess.run([sys.executable, REPORT, str(xml), "--html", str(page), "--reports",
                          str(perf)], stdout=subprocess.PIPE, text=True, check=True).stdout
    assert f"title of pts-iops: {perf}/pts-iops/report.html (1 target(s) met)" in out
    assert "title of qos" in out and "(1 target(s) missed)" in out
    text = page.read_text()
    assert "<a href='perf/pts-iops/report.html'>title of pts-iops</a>" in text
    assert "note of qos" in text
