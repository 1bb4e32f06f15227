"""Reports of pynvme's shipped suites: one style for every suite (performance,
stress). A run writes, into one folder:

    report.html   self-contained page (charts embedded, also linked as PNG files)
    report.pdf    the same content, one page per table or chart
    report.json   the raw data: identity, host, date, parameters, every table,
                  every target and the suite's own measurements
    *.png         each chart

The API, in full:

    from nvme.report import Report, charts
    rep = Report("pts-iops", "SNIA PTS IOPS", out_dir)
    rep.device = {...}                 # identity facts (model, serial, ...)
    rep.parameters = {...}             # every parameter of the run
    rep.data["rounds"] = [...]         # raw measurements, saved in report.json
    s = rep.section("Steady state", "what it shows")
    s.text("a paragraph")
    s.table(["block size", "IOPS"], [["4 KiB", 51234.5]], caption="...")
    s.figure(charts.line_chart(...), "steady_state", caption="...")
    rep.target("IOPS 4 KiB 100/0", 51234.5, "IOPS", minimum=50000)  # -> passed?
    paths = rep.write()                # {'html': ..., 'pdf': ..., 'json': ..., 'png': [...]}

Numbers in tables are kept raw in report.json and printed with format_value()
in the HTML and PDF, so a reader (or a test) can check one against the other.
"""
from .formatting import format_value  # noqa: F401
from .report import Report, Section  # noqa: F401
from . import charts  # noqa: F401
