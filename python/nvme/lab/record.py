"""Records a pytest session into the lab's spool (docs/lab.md): the run with its
device, every test, the ioworkers' and the performance suites' figures, and the
logs of failed tests.

The pytest plugin (nvme.pytest_plugin) registers a Recorder for every session unless
told --no-record. Recording never fails a session: the first error is reported once
on stderr and the tests go on."""
import datetime
import math
import os
import re
import shlex
import socket
import sys
import threading
import uuid as uuidlib

import pytest

from .dut import identify_facts, pci_facts
from .project import git_commit, project_version
from .spool import Spool

MAX_ARTIFACT_BYTES = 4 << 20        # one file; longer ones are cut (the head is kept)
MAX_RUN_ARTIFACT_BYTES = 32 << 20   # a run's upload stays well under the 64 MiB limit
CMDLOG_ENTRIES = 256
# "NVMe 1.4 §5.15.2 (VER): ...", "PCIe 4.0 §7.5.1.1.4 (Status)": the standard, its
# version and the section, as the conformance suite names them in docstrings
SPEC_CLAUSE = re.compile(r"\b([A-Z][A-Za-z]*(?:[ -][A-Z][A-Za-z]*)? \d+(?:\.\d+)* §\d+(?:\.\d+)*)")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def spec_clause(item):
    """The first spec clause of the test's docstring, else of its module's."""
    for doc in (getattr(getattr(item, "function", None), "__doc__", None),
                getattr(getattr(item, "module", None), "__doc__", None)):
        m = SPEC_CLAUSE.search(doc or "")
        if m:
            return m.group(1)
    return None


def ci_facts(env=os.environ):
    """The CI job this session runs in: GitLab (CI_JOB_ID), Jenkins (BUILD_ID), or None."""
    if env.get("CI_JOB_ID"):
        return {"system": "gitlab", "job_id": env["CI_JOB_ID"], "job_url": env.get("CI_JOB_URL")}
    if env.get("BUILD_ID") and (env.get("JENKINS_URL") or env.get("BUILD_URL")):
        return {"system": "jenkins", "job_id": env["BUILD_ID"], "job_url": env.get("BUILD_URL")}
    return None


def suite_of(config):
    """The first test path's top folder(s) relative to the rootdir: 'scripts/conformance',
    'tests/guest', 'scripts'."""
    args = [a for a in config.args if not a.startswith("-")] or ["."]
    path = os.path.abspath(args[0].split("::", 1)[0])
    if os.path.isfile(path):
        path = os.path.dirname(path)
    rel = os.path.relpath(path, str(config.rootpath))
    if rel.startswith(".."):
        rel = path
    parts = [p for p in rel.split(os.sep) if p and p != "."]
    return "/".join(parts[:2]) or os.path.basename(str(config.rootpath))


def final_outcome(reports):
    """passed|failed|skipped|xfailed|xpassed|error and the message, from the
    setup/call/teardown reports of one test (as pytest's summary counts them)."""
    by_when = {r.when: r for r in reports}
    setup, call, teardown = by_when.get("setup"), by_when.get("call"), by_when.get("teardown")
    if setup is not None and setup.skipped:
        if hasattr(setup, "wasxfail"):
            return "xfailed", setup.wasxfail or None
        return "skipped", skip_reason(setup)
    if setup is not None and setup.failed:
        return "error", crash_message(setup)
    outcome, message = "passed", None
    if call is not None:
        if hasattr(call, "wasxfail"):
            outcome = "xfailed" if call.skipped else "xpassed"
            message = call.wasxfail or None
        elif call.failed:
            outcome, message = "failed", crash_message(call)
        elif call.skipped:
            outcome, message = "skipped", skip_reason(call)
    if teardown is not None and teardown.failed and outcome in ("passed", "xpassed"):
        outcome, message = "error", crash_message(teardown)
    return outcome, message


def crash_message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return crash.message
    text = report.longreprtext or ""
    return text[-4000:] or None


def skip_reason(report):
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = report.longrepr[2]
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    return report.longreprtext or None


def slug(text):
    """A metric name's part: 'MB/s 128KiB 65/35 read' -> 'mbps_128kib_65_35_read',
    '99.9% latency' -> '99_9pct_latency'."""
    text = re.sub(r"(?<=[a-z])/s\b", "ps", str(text).lower()).replace("%", "pct")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_") or "value"


def cmdlog_text(name, entries, cmdname=None):
    """A queue's command log (Controller/Qpair.cmdlog()) as lines a person reads."""
    lines = [f"# {name}: the last {len(entries)} commands, most recent first"]
    for e in entries:
        opname = ""
        if cmdname is not None:
            try:
                opname = " " + cmdname(e["opcode"])
            except Exception:
                pass
        sqe = " ".join(f"{dw:08x}" for dw in e["sqe"])
        cqe = " ".join(f"{dw:08x}" for dw in e["cqe"]) if e["cqe"] else "(not completed)"
        lines.append(f"t={e['submit_us']}us cid={e['cid']} op=0x{e['opcode']:02x}{opname} "
                     f"latency={e['latency_us']}us{' synthesized' if e['synthesized'] else ''}\n"
                     f"    sqe {sqe}\n    cqe {cqe}")
    return "\n".join(lines) + "\n"


IOWORKER_METRICS = (("iops", "IO/s"), ("io_count_read", "IOs"), ("io_count_nonread", "IOs"),
                    ("mseconds", "ms"), ("latency_average_us", "us"), ("latency_max_us", "us"),
                    ("cpu_usage", "ratio"), ("error", "status"))


def ioworker_metrics(result, prefix):
    metrics = [{"name": f"{prefix}.{key}", "value": result[key], "unit": unit}
               for key, unit in IOWORKER_METRICS if isinstance(result.get(key), (int, float))]
    for pct, us in (result.get("latency_percentiles_us") or {}).items():
        metrics.append({"name": f"{prefix}.latency_p{slug(f'{pct:g}')}_us", "value": us,
                        "unit": "us"})
    return metrics


def report_metrics(rep):
    """The figures of a performance report (nvme.report.Report): its metrics and its
    plotted series (time series, steady-state rounds, line charts over numbers)."""
    out = []
    base = slug(rep.name)
    for name, m in (rep.data.get("metrics") or {}).items():
        if isinstance(m.get("value"), (int, float)):
            out.append({"name": f"{base}.{slug(name)}", "value": m["value"], "unit": m.get("unit"),
                        "series": None})
    for s in rep.sections:
        for it in s.items:
            if it["type"] != "figure":
                continue
            spec, kind, fig = it["spec"], it["chart"], slug(it["name"])
            unit = spec.get("ylabel")
            curves = []
            if kind == "time_series":
                curves = [(label, list(range(1, len(v) + 1)), v)
                          for label, v in spec.get("series", {}).items()]
            elif kind == "line_chart":
                curves = [(label, spec.get("x", []), v) for label, v in spec.get("series", {}).items()]
            elif kind == "steady_state_chart":
                curves = [(None, spec.get("rounds", []), spec.get("values", []))]
            for label, xs, ys in curves:
                pts = [[float(x), float(y)] for x, y in zip(xs, ys)
                       if isinstance(x, (int, float)) and isinstance(y, (int, float))]
                if not pts:
                    continue
                name = f"{base}.{fig}" + (f".{slug(label)}" if label is not None else "")
                out.append({"name": name, "value": sum(p[1] for p in pts) / len(pts),
                            "unit": unit, "series": pts})
    return out


def finite_metrics(metrics, test):
    """Metrics as the lab stores them: finite numbers (JSON has no NaN), a unit of at
    most 32 characters, the test they belong to."""
    out = []
    for m in metrics:
        if not math.isfinite(m["value"]):
            continue
        series = m.get("series")
        if series is not None:
            series = [p for p in series if all(math.isfinite(v) for v in p)] or None
        unit = m.get("unit")
        out.append(dict(m, test=test, series=series, unit=unit[:32] if unit else unit))
    return out


class Recorder:
    """The pytest plugin object of one session's recording (registered by
    nvme.pytest_plugin); the hooks below are pytest's."""

    def __init__(self, config, spool_path, worker=None):
        self.config = config
        self.spool_path = spool_path
        self.worker = worker
        self.uuid = str(uuidlib.uuid4())
        self.spool = None
        self.lock = threading.Lock()
        self.warned = False
        self.dut = None
        self.identified = False
        self.current_test = None
        self.test_started = {}
        self.reports = {}
        self.ioworkers_in_test = {}
        self.artifact_bytes = 0

    # ---- never fail the session -----------------------------------------
    def _guard(self, what, fn, *args):
        try:
            with self.lock:
                return fn(*args)
        except Exception as e:  # noqa: BLE001 (recording must not fail a test)
            if not self.warned:
                self.warned = True
                msg = (f"pynvme lab: recording failed ({what}: {type(e).__name__}: {e}); "
                       f"the tests go on, the spool {self.spool_path} may miss this run's rest")
                sys.stderr.write(msg + "\n")
            return None

    # ---- session --------------------------------------------------------
    def start(self):
        self._guard("opening the spool", self._start)

    def _start(self):
        self.spool = Spool(self.spool_path)
        inv = self.config.invocation_params
        self.spool.begin_run({
            "uuid": self.uuid,
            "host": os.environ.get("PYNVME_LAB_HOST") or socket.gethostname(),
            "started": now_iso(), "ended": None,
            "suite": suite_of(self.config),
            "command": " ".join(["pytest"] + [shlex.quote(str(a)) for a in inv.args]),
            "version": project_version(), "git_commit": git_commit(),
            "ci": ci_facts(), "dut": None, "worker": self.worker})
        import nvme
        nvme._ioworker_result_hooks.append(self.on_ioworker_result)
        from nvme.report import report as report_module
        report_module.written_hooks.append(self.on_report_written)

    def stop_observing(self):
        try:
            import nvme
            from nvme.report import report as report_module
            if self.on_ioworker_result in nvme._ioworker_result_hooks:
                nvme._ioworker_result_hooks.remove(self.on_ioworker_result)
            if self.on_report_written in report_module.written_hooks:
                report_module.written_hooks.remove(self.on_report_written)
        except Exception:
            pass

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        # trylast: after the junitxml plugin wrote its file
        self.stop_observing()
        if self.spool is None:
            return
        self._guard("the session's files", self._session_artifacts)
        self._guard("finishing the run", self.spool.finish_run, self.uuid, now_iso())

    def _session_artifacts(self):
        opt = self.config.option
        for path, kind, ctype in ((getattr(opt, "xmlpath", None), "junit", "application/xml"),
                                  (getattr(opt, "log_file", None), "log", "text/plain")):
            if path and os.path.isfile(path):
                with open(path, "rb") as f:
                    self._artifact(None, os.path.basename(path), kind, ctype, f.read())

    def close(self):
        self.stop_observing()
        if self.spool is not None:
            self._guard("closing the spool", self.spool.close)
            self.spool = None

    # ---- the device -----------------------------------------------------
    def note_pcie(self, pcie, pciaddr):
        """The function under test's config-space facts, once (pcie fixture)."""
        if self.dut is None and self.spool is not None:
            self._guard("the device's PCI facts", self._note_pcie, pcie, pciaddr)

    def _note_pcie(self, pcie, pciaddr):
        self.dut = dict({"model": None, "serial": None, "firmware": None,
                         "capacity_bytes": None}, **pci_facts(pcie, pciaddr))
        self.spool.set_dut(self.uuid, self.dut)

    def note_controller(self, ctrl):
        """Identify data of the controller under test, once (nvme0 fixture)."""
        if not self.identified and self.dut is not None and self.spool is not None:
            self.identified = True
            self._guard("identifying the device", self._note_controller, ctrl)

    def _note_controller(self, ctrl):
        self.dut.update(identify_facts(ctrl))
        self.spool.set_dut(self.uuid, self.dut)

    # ---- tests ----------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid, location):
        self.current_test = nodeid
        self.test_started[nodeid] = now_iso()

    def pytest_runtest_logfinish(self, nodeid, location):
        self.current_test = None

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        # outermost wrapper: the report after the xfail handling is the final one
        outcome = yield
        report = outcome.get_result()
        if self.spool is not None:
            self._guard("a test's result", self._on_report, item, report)

    def _on_report(self, item, report):
        reports = self.reports.setdefault(item.nodeid, [])
        reports.append(report)
        if report.failed:
            self._failure_artifacts(item, report)
        if report.when != "teardown":
            return
        del self.reports[item.nodeid]
        self.ioworkers_in_test.pop(item.nodeid, None)
        outcome, message = final_outcome(reports)
        self.spool.add_test(self.uuid, {
            "nodeid": item.nodeid, "outcome": outcome, "message": message,
            "duration_s": round(sum(r.duration for r in reports), 6),
            "spec_clause": spec_clause(item),
            "started": self.test_started.pop(item.nodeid, None)})

    def _failure_artifacts(self, item, report):
        text = report.longreprtext or ""
        for title, content in report.sections:
            text += f"\n----- {title} -----\n{content}"
        self._artifact(item.nodeid, f"{report.when}-failure.txt", "log", "text/plain", text)
        import nvme
        logs = []
        for name, value in (getattr(item, "funcargs", None) or {}).items():
            try:
                if isinstance(value, nvme.Controller):
                    logs.append(cmdlog_text(f"{name} (admin queue)", value.cmdlog(CMDLOG_ENTRIES),
                                            value.cmdname))
                elif isinstance(value, nvme.Qpair):
                    logs.append(cmdlog_text(f"{name} (IO queue {value.sqid})",
                                            value.cmdlog(CMDLOG_ENTRIES)))
            except Exception as e:  # a controller gone with the failure: say so
                logs.append(f"# {name}: no command log ({type(e).__name__}: {e})\n")
        if logs:
            self._artifact(item.nodeid, f"{report.when}-cmdlog.txt", "cmdlog", "text/plain",
                           "\n".join(logs))

    def _artifact(self, test, name, kind, content_type, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        if len(data) > MAX_ARTIFACT_BYTES:
            data = data[:MAX_ARTIFACT_BYTES] + b"\n[cut by the recorder at 4 MiB]\n"
        if self.artifact_bytes + len(data) > MAX_RUN_ARTIFACT_BYTES:
            return
        self.artifact_bytes += len(data)
        self.spool.add_artifact(self.uuid, test, name, kind, content_type, data)

    # ---- figures --------------------------------------------------------
    def on_ioworker_result(self, result):
        """nvme._IOWorkerResult calls this for every finished ioworker."""
        self._guard("an ioworker's result", self._on_ioworker_result, result)

    def _on_ioworker_result(self, result):
        if self.spool is None:
            return
        test = self.current_test
        n = self.ioworkers_in_test.get(test, 0) + 1
        self.ioworkers_in_test[test] = n
        self.spool.add_metrics(self.uuid, finite_metrics(ioworker_metrics(result, f"ioworker.{n}"),
                                                         test))

    def on_report_written(self, rep, paths):
        """nvme.report.Report.write() calls this: its figures and files."""
        self._guard("a performance report", self._on_report_written, rep, paths)

    def _on_report_written(self, rep, paths):
        if self.spool is None:
            return
        self.spool.add_metrics(self.uuid, finite_metrics(report_metrics(rep), self.current_test))
        for key, ctype in (("json", "application/json"), ("html", "text/html"),
                           ("pdf", "application/pdf")):
            path = paths.get(key) if isinstance(paths, dict) else None
            if path and os.path.isfile(path):
                with open(path, "rb") as f:
                    self._artifact(self.current_test, f"{slug(rep.name)}/{os.path.basename(path)}",
                                   "report", ctype, f.read())


def recording_wanted(config):
    """Not in a pytest-xdist controller (its workers record), not for --collect-only."""
    if config.getoption("--no-record", default=False):
        return False
    if getattr(config.option, "collectonly", False):
        return False
    if not hasattr(config, "workerinput") and config.getoption("numprocesses", default=None):
        return False
    return True
