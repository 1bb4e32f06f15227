"""Reads an upload (docs/lab-format.md, format 1) into plain values the database
takes, or refuses it with a message naming the key that is wrong."""
import base64
import binascii
import datetime
import json
import uuid as uuidlib

from .schema import OUTCOMES, artifacts, duts, runs, tests

FORMAT = 1
ARTIFACT_KINDS = ("log", "cmdlog", "report", "junit", "other")


class FormatError(ValueError):
    """The upload is not a format-1 document; str() names the key and what is wrong."""


def _type_name(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


class _Reader:
    """Takes values out of one JSON object, naming them by their path."""

    def __init__(self, obj, path):
        if not isinstance(obj, dict):
            raise FormatError(f"{path or 'the document'}: must be an object, not {_type_name(obj)}")
        self.obj, self.path = obj, path

    def key(self, name):
        return f"{self.path}.{name}" if self.path else name

    def get(self, name, kinds, required=False, kind_text=None):
        if name not in self.obj:
            if required:
                raise FormatError(f"{self.key(name)}: missing")
            return None
        value = self.obj[name]
        if value is None and not required:
            return None
        # a JSON true is no number
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise FormatError(f"{self.key(name)}: must be {kind_text}, not {_type_name(value)}")
        return value

    def text(self, name, required=False, column=None):
        value = self.get(name, (str,), required, "a string")
        limit = getattr(getattr(column, "type", None), "length", None)
        if value is not None and limit and len(value) > limit:
            raise FormatError(f"{self.key(name)}: longer than {limit} characters")
        return value

    def number(self, name, required=False):
        value = self.get(name, (int, float), required, "a number")
        return None if value is None else float(value)

    def integer(self, name):
        return self.get(name, (int,), False, "an integer")

    def boolean(self, name, required=False):
        return self.get(name, (bool,), required, "true or false")

    def time(self, name, required=False):
        value = self.text(name, required)
        if value is None:
            return None
        try:
            t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FormatError(f"{self.key(name)}: {value[:40]!r} is no ISO 8601 time") from None
        if t.tzinfo is not None:
            t = t.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return t

    def object(self, name, required=False):
        value = self.get(name, (dict,), required, "an object")
        return None if value is None else _Reader(value, self.key(name))

    def items(self, name):
        value = self.get(name, (list,), False, "a list") or []
        return [(_Reader(v, f"{self.key(name)}[{i}]")) for i, v in enumerate(value)]


def parse_json(body):
    """The JSON object of the request body, or FormatError."""
    try:
        doc = json.loads(body)
    except UnicodeDecodeError:
        raise FormatError("the body is not UTF-8 text") from None
    except ValueError as e:
        raise FormatError(f"the body is not JSON: {e}") from None
    return doc


def _series(reader):
    series = reader.get("series", (list,), False, "a list of [seconds, value] pairs")
    if series is None:
        return None
    for i, point in enumerate(series):
        if not (isinstance(point, list) and len(point) == 2 and
                all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
            raise FormatError(f"{reader.key('series')}[{i}]: must be a [seconds, value] pair of numbers")
    return json.dumps(series, separators=(",", ":"))


def read_document(doc):
    """The upload as {"run": {...}, "dut": {...} or None, "tests": [...], "metrics":
    [...], "artifacts": [...]} with the values the tables take; FormatError else."""
    top = _Reader(doc, "")
    fmt = top.get("format", (int,), True, "an integer")
    if fmt != FORMAT:
        raise FormatError(f"format: {fmt} is not understood here (this server reads format {FORMAT})")
    r = top.object("run", required=True)
    raw_uuid = r.text("uuid", required=True)
    try:
        run_uuid = str(uuidlib.UUID(raw_uuid))
    except ValueError:
        raise FormatError(f"run.uuid: {raw_uuid[:40]!r} is no UUID") from None
    run = {
        "uuid": run_uuid,
        "host": r.text("host", required=True),
        "started": r.time("started", required=True),
        "ended": r.time("ended"),
        "finished": r.boolean("finished", required=True),
        "suite": r.text("suite", column=runs.c.suite),
        "command": r.text("command"),
        "version": r.text("version", column=runs.c.version),
        "git_commit": r.text("git_commit", column=runs.c.git_commit),
        "ci_system": None, "ci_job_id": None, "ci_job_url": None,
    }
    if not run["host"].strip():
        raise FormatError("run.host: empty")
    if len(run["host"]) > 255:
        raise FormatError("run.host: longer than 255 characters")
    ci = r.object("ci")
    if ci is not None:
        run.update(ci_system=ci.text("system", column=runs.c.ci_system),
                   ci_job_id=ci.text("job_id", column=runs.c.ci_job_id),
                   ci_job_url=ci.text("job_url"))
    r.object("outcome")     # counted again from the tests; only its type is checked
    dut = None
    d = r.object("dut")
    if d is not None:
        dut = {"model": d.text("model", column=duts.c.model) or "",
               "serial": d.text("serial", column=duts.c.serial) or "",
               "firmware": d.text("firmware", column=runs.c.firmware),
               "capacity_bytes": d.integer("capacity_bytes"),
               "pciaddr": d.text("pciaddr", column=runs.c.pciaddr),
               "pcie_link_speed": d.text("pcie_link_speed", column=runs.c.pcie_link_speed),
               "pcie_link_width": d.integer("pcie_link_width"),
               "vendor_id": d.integer("vendor_id")}
    results = []
    for t in top.items("tests"):
        outcome = t.text("outcome", required=True)
        if outcome not in OUTCOMES:
            raise FormatError(f"{t.key('outcome')}: {outcome[:20]!r} is not one of {', '.join(OUTCOMES)}")
        results.append({"nodeid": t.text("nodeid", required=True), "outcome": outcome,
                        "duration_s": t.number("duration_s"), "message": t.text("message"),
                        "spec_clause": t.text("spec_clause", column=tests.c.spec_clause),
                        "started": t.time("started")})
    metrics = []
    for m in top.items("metrics"):
        metrics.append({"test": m.text("test") or "", "name": m.text("name", required=True),
                        "value": m.number("value", required=True), "unit": m.text("unit", column=None),
                        "series": _series(m)})
        if metrics[-1]["unit"] is not None and len(metrics[-1]["unit"]) > 32:
            raise FormatError(f"{m.key('unit')}: longer than 32 characters")
    files = []
    for a in top.items("artifacts"):
        data = a.text("data_b64", required=True)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise FormatError(f"{a.key('data_b64')}: not base64") from None
        kind = a.text("kind") or "other"
        if kind not in ARTIFACT_KINDS:
            raise FormatError(f"{a.key('kind')}: {kind[:20]!r} is not one of {', '.join(ARTIFACT_KINDS)}")
        files.append({"test": a.text("test"), "name": a.text("name", required=True), "kind": kind,
                      "content_type": a.text("content_type", column=artifacts.c.content_type),
                      "data": raw})
    return {"run": run, "dut": dut, "tests": results, "metrics": metrics, "artifacts": files}
