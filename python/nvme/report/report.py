"""Report and Section: what a suite fills in, and write() that turns it into
report.html, report.pdf, report.json and one PNG per chart."""
import datetime
import functools
import json
import os
import platform
import socket
import subprocess
import time

from .render import CHART_KINDS, render

# Called as hook(report, paths) after every Report.write() (nvme.lab.record registers
# one: the lab keeps each run's figures and reports); a hook's error is ignored.
written_hooks = []


@functools.lru_cache(maxsize=None)
def _host_facts():
    return _collect_host_facts()


def host_facts():
    """The machine that ran the suite: a result means little without it.
    Collected once per process: `git describe` over the test bed's shared
    folder takes 11 s of emulated CPU, for every report of a session."""
    return dict(_host_facts())


def _collect_host_facts():
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

    def chart(self, kind, name, caption=None, **spec):
        """A chart drawn by charts.<kind>(**spec) into NAME.png when the report
        is rendered. The spec (titles, labels with units, the numbers) is kept
        in report.json, so the chart can be drawn again anywhere from it."""
        if kind not in CHART_KINDS:
            raise ValueError(f"unknown chart kind {kind!r}: one of {', '.join(CHART_KINDS)}")
        if any(f["name"] == name for f in self.report._figure_items()):
            raise ValueError(f"a chart named {name!r} is already in the report")
        json.dumps(spec)   # fails here, not at render time, if it cannot be saved
        self.items.append({"type": "figure", "name": name, "file": name + ".png",
                           "caption": caption, "chart": kind, "spec": spec})


class Report:
    """One run of one suite. See the package docstring for the API."""

    def __init__(self, name, title, out_dir):
        self.name = name
        self.title = title
        self.out_dir = out_dir
        self.device = {}
        self.parameters = {}
        self.notes = []
        self.targets = []
        self.data = {}
        self.sections = []
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

    def write(self, render_now=None):
        """Writes report.json, then renders it (PNG charts, report.html,
        report.pdf) unless render_now is False or, by default, the environment
        says PYNVME_REPORT_DEFER=1 (the test bed's emulated CPU takes minutes
        over matplotlib; `python3 -m nvme.report DIR` renders it later).
        Returns the paths written."""
        path = os.path.join(self.out_dir, "report.json")
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=1, default=str)
        if render_now is None:
            render_now = os.environ.get("PYNVME_REPORT_DEFER") != "1"
        paths = render(self.out_dir) if render_now else {"json": path}
        for hook in list(written_hooks):
            try:
                hook(self, paths)
            except Exception:  # noqa: BLE001
                pass
        return paths
