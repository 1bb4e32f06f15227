"""Reports of pynvme's shipped suites: one style for every suite (performance,
stress). A run writes, into one folder:

    report.json   the raw data: identity, host, date, parameters, every table,
                  every chart's data, every target and the suite's measurements
    *.png         each chart (matplotlib, Agg)
    report.html   self-contained page (charts embedded, also linked as PNG files)
    report.pdf    the same content, one page per table or chart

The API, in full:

    from nvme.report import Report
    rep = Report("pts-iops", "SNIA PTS IOPS", out_dir)
    rep.device = {...}                 # identity facts (model, serial, ...)
    rep.parameters = {...}             # every parameter of the run
    rep.data["rounds"] = [...]         # raw measurements, saved in report.json
    rep.note("steady state not reached by round 25")
    s = rep.section("Steady state", "what it shows")
    s.text("a paragraph")
    s.table(["block size", "IOPS"], [["4 KiB", 51234.5]], caption="...")
    s.chart("line_chart", "iops_per_round", caption="...", x=[1, 2], series={"IOPS": [..]},
            title="...", xlabel="round", ylabel="IOPS")   # any function of charts.py
    rep.target("IOPS 4 KiB 100/0", 51234.5, "IOPS", minimum=50000)  # -> passed?
    paths = rep.write()                # report.json, then rendered (see Report.write)

    python3 -m nvme.report DIR         # renders (again) from DIR/report.json

Charts are data in report.json until rendered, so rendering can wait for a
faster CPU (PYNVME_REPORT_DEFER=1: the test bed's emulated one takes minutes).
Numbers in tables are kept raw in report.json and printed with format_value()
in the HTML and PDF, so a reader (or a test) can check one against the other.
Importing this package does not import matplotlib; rendering does.
"""
from .formatting import format_value  # noqa: F401
from .report import Report, Section  # noqa: F401
from .render import render, CHART_KINDS  # noqa: F401
