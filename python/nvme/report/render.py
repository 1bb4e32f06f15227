"""Rendering: report.json -> NAME.png for each chart, report.html, report.pdf.
Separate from collecting the data so that it can run later and elsewhere
(the test bed defers it to the host; a lab re-renders old runs)."""
import json
import os

from . import html_page

# the chart functions of charts.py that a report may name
CHART_KINDS = ("line_chart", "time_series", "steady_state_chart", "bar_chart", "heatmap",
               "bars_3d", "latency_histogram", "qos_curve", "xy_chart")
DPI = 100


def load(out_dir):
    with open(os.path.join(out_dir, "report.json")) as f:
        return json.load(f)


def figure_items(doc):
    return [it for s in doc["sections"] for it in s["items"] if it["type"] == "figure"]


def render(out_dir, charts=True):
    """Renders the report in out_dir. charts=False writes only report.html,
    with each chart's caption and no image (no matplotlib: quick anywhere).
    Returns {'json', 'html', 'pdf' (None without charts), 'png': [...]}."""
    doc = load(out_dir)
    paths = {"json": os.path.join(out_dir, "report.json"),
             "html": os.path.join(out_dir, "report.html"), "pdf": None, "png": []}
    figures = {}
    if charts:
        from . import charts as chart_functions
        for item in figure_items(doc):
            fig = getattr(chart_functions, item["chart"])(**item["spec"])
            png = os.path.join(out_dir, item["file"])
            fig.savefig(png, dpi=DPI)
            figures[item["name"]] = fig
            paths["png"].append(png)
    with open(paths["html"], "w") as f:
        f.write(html_page.render(doc, out_dir, embed_charts=charts))
    if charts:
        from . import pdf_document
        paths["pdf"] = os.path.join(out_dir, "report.pdf")
        pdf_document.render(doc, figures, paths["pdf"])
        import matplotlib.pyplot as plt
        for fig in figures.values():
            plt.close(fig)
    return paths
