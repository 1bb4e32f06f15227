"""The routes: POST /api/v1/runs (the ingest API, docs/lab-format.md) and the
pages, each also as JSON under /api/v1/... or with ?format=json."""
import datetime
import re

from flask import (Blueprint, Response, abort, current_app, jsonify, redirect, render_template,
                   request, url_for)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import charts
from .app import ARTIFACT_POLICY
from .fleet import fleet
from .history import history
from .ingest import HostMismatch, store
from .run_list import BadFilter, read_filters, run_list
from .run_page import artifact, run_page
from .tokens import host_of_token
from .trends import models, trend, workloads
from .upload_format import FormatError, parse_json, read_document

bp = Blueprint("lab", __name__)

INLINE_TYPES = re.compile(r"^(text/|image/(png|jpeg|gif|svg\+xml)$|application/(json|pdf)$)")


def lab():
    return current_app.extensions["lab"]


def jsonable(value):
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=datetime.timezone.utc).isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def wants_json():
    return request.path.startswith("/api/") or request.args.get("format") == "json"


def answer(template, data, status=200):
    """The page, or its data as JSON."""
    if wants_json():
        return jsonify(jsonable(data)), status
    return render_template(template, db_shown=lab()["db_shown"], **data), status


def refuse(status, message):
    return jsonify({"error": message}), status


@bp.app_errorhandler(HTTPException)
def http_error(e):
    if wants_json() or request.method == "POST":
        return refuse(e.code, e.description if e.code != 413 else too_large())
    return render_template("error.html", code=e.code, message=e.description,
                           db_shown=lab()["db_shown"]), e.code


@bp.app_errorhandler(BadFilter)
def bad_filter(e):
    if wants_json():
        return refuse(400, str(e))
    return render_template("error.html", code=400, message=str(e), db_shown=lab()["db_shown"]), 400


def too_large():
    return (f"the upload is larger than {lab()['max_upload_bytes']} bytes "
            f"(docs/lab-format.md); the server keeps nothing of it")


# ---- ingest -----------------------------------------------------------------

def read_body(limit):
    """The request body, at most limit bytes: a chunked body (no Content-Length)
    is cut as it is read (werkzeug checks only a declared length)."""
    parts, size = [], 0
    while True:
        part = request.stream.read(min(1 << 20, limit + 1 - size))
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > limit:
            raise RequestEntityTooLarge()

@bp.post("/api/v1/runs")
def upload():
    auth = request.headers.get("Authorization", "")
    token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
    if not token:
        return refuse(401, "no token: send 'Authorization: Bearer <host token>' "
                           "(made by: pynvme-lab token add HOST)")
    engine = lab()["engine"]
    with engine.connect() as conn:
        host = host_of_token(conn, token)
    if host is None:
        return refuse(401, "unknown token (made by: pynvme-lab token add HOST)")
    if (request.content_length or 0) > lab()["max_upload_bytes"]:
        return refuse(413, too_large())
    try:
        body = read_body(lab()["max_upload_bytes"])     # no connection held meanwhile
    except RequestEntityTooLarge:
        return refuse(413, too_large())
    try:
        doc = read_document(parse_json(body))
    except FormatError as e:
        return refuse(400, str(e))
    if doc["run"]["host"] != host.name:
        return refuse(403, f"this token is host {host.name!r}'s; the run is from host "
                           f"{doc['run']['host']!r}")
    try:
        with engine.connect() as conn:
            stored = store(conn, doc, host)
    except HostMismatch as e:
        return refuse(403, str(e))
    return jsonify({"uuid": doc["run"]["uuid"], "stored": stored}), 201 if stored == "new" else 200


# ---- pages ------------------------------------------------------------------

@bp.get("/")
def home():
    return redirect(url_for("lab.runs_page"))


@bp.get("/api/v1/runs")
@bp.get("/runs")  # innermost: url_for builds the page's address
def runs_page():
    f = read_filters(request.args)
    with lab()["engine"].connect() as conn:
        data = run_list(conn, f)
    if not wants_json():
        data["page_url"] = lambda page: url_for("lab.runs_page", **{
            **{k: v for k, v in data["filters"].items() if v}, "page": page,
            **({"per_page": data["per_page"]} if "per_page" in request.args else {})})
    else:
        data.pop("choices")
    return answer("runs.html", data)


@bp.get("/api/v1/runs/<uuid>")
@bp.get("/runs/<uuid>")  # innermost: url_for builds the page's address
def run_detail(uuid):
    with lab()["engine"].connect() as conn:
        data = run_page(conn, uuid)
    if data is None:
        abort(404, f"no run {uuid} is stored")
    return answer("run.html", data)


def _send_artifact(row, download):
    if row is None:
        abort(404, "no such artifact in this run")
    ctype = row.content_type or "application/octet-stream"
    inline = not download and INLINE_TYPES.match(ctype)
    resp = Response(bytes(row.data), content_type=ctype)
    filename = row.name.rsplit("/", 1)[-1].replace('"', "")
    resp.headers["Content-Disposition"] = ("inline" if inline else "attachment") + \
        f'; filename="{filename.encode("ascii", "replace").decode()}"'
    resp.headers["Content-Security-Policy"] = ARTIFACT_POLICY
    return resp


@bp.get("/runs/<uuid>/artifacts/<int:artifact_id>/<path:name>")
def artifact_by_id(uuid, artifact_id, name):
    with lab()["engine"].connect() as conn:
        row = artifact(conn, uuid, artifact_id=artifact_id)
    return _send_artifact(row, request.args.get("download") == "1")


@bp.get("/runs/<uuid>/files/<path:name>")
def artifact_by_name(uuid, name):
    with lab()["engine"].connect() as conn:
        row = artifact(conn, uuid, name=name)
    return _send_artifact(row, False)


@bp.get("/runs/<uuid>/metrics/<int:metric_id>.png")
def metric_series_png(uuid, metric_id):
    with lab()["engine"].connect() as conn:
        data = run_page(conn, uuid)
    m = next((m for m in (data or {}).get("metrics", []) if m["id"] == metric_id), None)
    if m is None or not m["series"]:
        abort(404, "no such time series in this run")
    return Response(charts.series_chart(m["series"], m["name"], m["unit"]), content_type="image/png")


@bp.get("/api/v1/tests/history")
@bp.get("/tests/history")  # innermost: url_for builds the page's address
def history_page():
    nodeid = request.args.get("nodeid", "")
    if not nodeid:
        abort(400, "nodeid: missing (the test's pytest node id)")
    with lab()["engine"].connect() as conn:
        data = history(conn, nodeid, request.args.get("model") or None)
    if data is None:
        abort(404, f"no results of test {nodeid!r} are stored")
    return answer("history.html", data)


def _trend_choice(conn):
    """(workloads, models, the chosen test, workload and model) from the query string:
    by default the first workload and the model with the most runs."""
    all_workloads = workloads(conn)
    all_models = models(conn)
    test = request.args.get("test", "")
    workload = request.args.get("workload")
    if request.args.get("pick"):
        # the form's one choice: "<workload> <test>" (a metric name has no space)
        workload, _, test = request.args["pick"].partition(" ")
    if workload is None and all_workloads:
        test, workload = all_workloads[0]["test"] or "", all_workloads[0]["workload"]
    model = request.args.get("model") or (all_models[0] if all_models else None)
    return all_workloads, all_models, test, workload, model


@bp.get("/api/v1/trends")
@bp.get("/trends")  # innermost: url_for builds the page's address
def trends_page():
    with lab()["engine"].connect() as conn:
        all_workloads, all_models, test, workload, model = _trend_choice(conn)
        data = trend(conn, test, workload, model) if workload is not None else None
    if workload is not None and data is None:
        abort(404, f"no IOPS metric {workload}.iops is stored for test {test!r}")
    page = {"trend": data, "workloads": [{"test": w["test"], "workload": w["workload"]}
                                         for w in all_workloads],
            "models": all_models}
    if not wants_json():
        page["chart_args"] = {"test": test, "workload": workload, "model": model or ""}
    return answer("trends.html", page)


@bp.get("/trends/<kind>.png")
def trend_png(kind):
    if kind not in ("iops", "latency"):
        abort(404)
    with lab()["engine"].connect() as conn:
        _, _, test, workload, model = _trend_choice(conn)
        data = trend(conn, test, workload, model) if workload is not None else None
    if data is None:
        abort(404, "no such workload")
    where = f"{workload}" + (f" · {model}" if model else "")
    png = charts.cached_chart(kind, f"IOPS per firmware: {where}" if kind == "iops" else
                              f"Latency percentiles per firmware: {where}", data)
    return Response(png, content_type="image/png")


@bp.get("/api/v1/fleet")
@bp.get("/fleet")  # innermost: url_for builds the page's address
def fleet_page():
    with lab()["engine"].connect() as conn:
        data = fleet(conn)
    return answer("fleet.html", data)
