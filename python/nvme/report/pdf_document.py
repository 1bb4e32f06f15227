"""report.pdf: the same content as the page, through matplotlib's PdfPages (no
other dependency): a title page with identity, host, notes and targets, then
each section's text and tables (as aligned columns, continued on the next page
when long) and one page per chart."""
import textwrap

import matplotlib
matplotlib.use("Agg")
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from .formatting import format_value  # noqa: E402

A4_LANDSCAPE = (11.69, 8.27)


def _text_page(pdf, title, lines):
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.text(0.05, 0.94, title, fontsize=16, weight="bold", va="top")
    y = 0.88
    for line in lines:
        # table lines keep their columns; prose is wrapped
        for wrapped in ([line] if "  " in line else textwrap.wrap(line, 130)) or [""]:
            if y < 0.05:
                pdf.savefig(fig)
                plt.close(fig)
                fig = plt.figure(figsize=A4_LANDSCAPE)
                y = 0.94
            fig.text(0.05, y, wrapped, fontsize=9, va="top", family="monospace")
            y -= 0.022
    pdf.savefig(fig)
    plt.close(fig)


def _table_lines(item):
    """A table as aligned text columns (numbers right, text left)."""
    header = [str(c) for c in item["columns"]]
    rows = [[format_value(v) for v in row] for row in item["rows"]]
    numeric = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool)
                   for r in item["rows"]) for i in range(len(header))]
    widths = [max(len(x) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric)).rstrip()
    out = [item["caption"] + ":"] if item.get("caption") else []
    out += [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    return out + [""]


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
            lines = []
            for it in s["items"]:
                if it["type"] == "text":
                    lines += [it["text"], ""]
                elif it["type"] == "table":
                    lines += _table_lines(it)
            if lines:
                _text_page(pdf, s["title"], lines)
            for it in s["items"]:
                if it["type"] == "figure" and it["name"] in figures:
                    pdf.savefig(figures[it["name"]])
        _text_page(pdf, "Parameters", [f"{k}: {v}" for k, v in doc["parameters"].items()])
        info = pdf.infodict()
        info["Title"] = doc["title"]
        info["Creator"] = "pynvme"
