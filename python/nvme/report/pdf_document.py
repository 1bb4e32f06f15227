"""report.pdf: the same content as the page, through matplotlib's PdfPages (no
other dependency): a title page with identity, host, notes and targets, then
one page per table (split when long) and per chart."""
import textwrap

import matplotlib
matplotlib.use("Agg")
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from .formatting import format_value  # noqa: E402

A4_LANDSCAPE = (11.69, 8.27)
ROWS_PER_PAGE = 28


def _text_page(pdf, title, lines):
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.text(0.05, 0.94, title, fontsize=16, weight="bold", va="top")
    y = 0.88
    for line in lines:
        for wrapped in textwrap.wrap(line, 130) or [""]:
            if y < 0.05:
                pdf.savefig(fig)
                plt.close(fig)
                fig = plt.figure(figsize=A4_LANDSCAPE)
                y = 0.94
            fig.text(0.05, y, wrapped, fontsize=9, va="top", family="monospace")
            y -= 0.022
    pdf.savefig(fig)
    plt.close(fig)


def _table_pages(pdf, heading, item):
    rows = [[format_value(v) for v in row] for row in item["rows"]] or [["-"] * len(item["columns"])]
    for start in range(0, len(rows), ROWS_PER_PAGE):
        chunk = rows[start:start + ROWS_PER_PAGE]
        fig = plt.figure(figsize=A4_LANDSCAPE)
        fig.text(0.05, 0.95, heading + (f": {item['caption']}" if item.get("caption") else ""),
                 fontsize=12, weight="bold", va="top")
        ax = fig.add_axes([0.05, 0.05, 0.9, 0.85])
        ax.axis("off")
        table = ax.table(cellText=chunk, colLabels=item["columns"], loc="upper center",
                         cellLoc="right", colLoc="left")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        table.scale(1, 1.3)
        pdf.savefig(fig)
        plt.close(fig)


def render(doc, figures, path):
    """Writes the PDF of a report document; figures: name -> matplotlib Figure."""
    with PdfPages(path) as pdf:
        lines = [doc["created"] + f", {doc['duration_s']} s", "", "Device under test:"]
        lines += [f"  {k}: {format_value(v)}" for k, v in doc["device"].items()]
        lines += ["", "Host:"] + [f"  {k}: {format_value(v)}" for k, v in doc["host"].items()]
        if doc["notes"]:
            lines += ["", "Notes:"] + [f"  - {n}" for n in doc["notes"]]
        lines += ["", "Targets:"]
        lines += [f"  {'PASS' if t['passed'] else 'FAIL'}  {t['metric']}: {format_value(t['value'])}"
                  f" {t['unit']} (min {format_value(t['minimum'])}, max {format_value(t['maximum'])})"
                  for t in doc["targets"]] or ["  none given"]
        _text_page(pdf, doc["title"], lines)
        for s in doc["sections"]:
            texts = [it["text"] for it in s["items"] if it["type"] == "text"]
            if texts:
                _text_page(pdf, s["title"], texts)
            for it in s["items"]:
                if it["type"] == "table":
                    _table_pages(pdf, s["title"], it)
                elif it["type"] == "figure" and it["name"] in figures:
                    pdf.savefig(figures[it["name"]])
        _text_page(pdf, "Parameters", [f"{k}: {v}" for k, v in doc["parameters"].items()])
        info = pdf.infodict()
        info["Title"] = doc["title"]
        info["Creator"] = "pynvme"
