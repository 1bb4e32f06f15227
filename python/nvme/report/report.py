"""Report and Section: what a suite fills in, and write() that turns it into
report.html, report.pdf, report.json and one PNG per chart."""
import datetime
import json
import os
import platform
import socket
import subprocess
import time

from . import html_page, pdf_document


def host_facts():
    """The machine that ran the suite: a result means little without it."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")
    except OSError:
        pass
    facts = {"hostname": socket.gethostname(), "kernel": platform.release(),
             "cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version()}
    if os.environ.get("PYNVME_IN_GUEST"):
        facts["environment"] = "pynvme test bed (QEMU guest, emulated NVMe controller)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    try:
        facts["pynvme"] = subprocess.run(
            ["git", "-C", root, "describe", "--always", "--dirty"], capture_output=True,
            text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return facts


class Section:
    """A titled part of a report: paragraphs, tables and figures, in the order
    they were added."""

    def __init__(self, report, title, text=None):
        self.report = report
        self.title = title
        self.items = []
        if text:
            self.text(text)

    def text(self, paragraph):
        self.items.append({"type": "text", "text": paragraph})

    def table(self, columns, rows, caption=None):
        """rows: lists of raw values (numbers stay numbers in the JSON; the page
        prints them with format_value)."""
        for row in rows:
            if len(row) != len(columns):
                raise ValueError(f"table {caption or self.title!r}: row {row!r} has "
                                 f"{len(row)} cells for {len(columns)} columns")
        self.items.append({"type": "table", "caption": caption, "columns": list(columns),
                           "rows": [list(r) for r in rows]})

    def figure(self, fig, name, caption=None):
        """Saves the matplotlib figure as NAME.png now (so a long run leaves its
        charts even if it is stopped later) and keeps it for the PDF."""
        if any(f["name"] == name for f in self.report._figure_items()):
            raise ValueError(f"a figure named {name!r} is already in the report")
        path = os.path.join(self.report.out_dir, name + ".png")
        fig.savefig(path, dpi=self.report.dpi)
        self.report._figures[name] = fig
        self.items.append({"type": "figure", "name": name, "file": name + ".png",
                           "caption": caption})


class Report:
    """One run of one suite. See the package docstring for the API."""

    def __init__(self, name, title, out_dir, dpi=100):
        self.name = name
        self.title = title
        self.out_dir = out_dir
        self.dpi = dpi
        self.device = {}
        self.parameters = {}
        self.notes = []
        self.targets = []
        self.data = {}
        self.sections = []
        self._figures = {}
        self._started = time.time()
        self.created = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
        self.host = host_facts()
        os.makedirs(out_dir, exist_ok=True)

    def section(self, title, text=None):
        s = Section(self, title, text)
        self.sections.append(s)
        return s

    def note(self, text):
        """Something the reader must know to trust the figures (a left-out block
        size, the purge that was used, steady state not reached, ...)."""
        self.notes.append(text)

    def target(self, metric, value, unit, minimum=None, maximum=None):
        """Records a user target and whether the value meets it; returns that."""
        passed = value is not None and (minimum is None or value >= minimum) and \
            (maximum is None or value <= maximum)
        self.targets.append({"metric": metric, "value": value, "unit": unit,
                             "minimum": minimum, "maximum": maximum, "passed": passed})
        return passed

    def _figure_items(self):
        return [it for s in self.sections for it in s.items if it["type"] == "figure"]

    def to_json(self):
        return {"name": self.name, "title": self.title, "created": self.created,
                "duration_s": round(time.time() - self._started, 1), "host": self.host,
                "device": self.device, "parameters": self.parameters, "notes": self.notes,
                "targets": self.targets,
                "sections": [{"title": s.title, "items": s.items} for s in self.sections],
                "data": self.data}

    def write(self):
        """Writes report.json, report.html and report.pdf; returns their paths
        and the PNG files'. The figures are closed afterwards."""
        doc = self.to_json()
        paths = {"json": os.path.join(self.out_dir, "report.json"),
                 "html": os.path.join(self.out_dir, "report.html"),
                 "pdf": os.path.join(self.out_dir, "report.pdf"),
                 "png": [os.path.join(self.out_dir, f["file"]) for f in self._figure_items()]}
        with open(paths["json"], "w") as f:
            json.dump(doc, f, indent=1, default=str)
        with open(paths["html"], "w") as f:
            f.write(html_page.render(doc, self.out_dir))
        pdf_document.render(doc, self._figures, paths["pdf"])
        import matplotlib.pyplot as plt
        for fig in self._figures.values():
            plt.close(fig)
        self._figures.clear()
        return paths
