"""The run list: newest first, filtered by DUT model, firmware, host, suite,
verdict and a date range, a page at a time."""
import datetime

import sqlalchemy as sa

from .schema import VERDICTS, duts, hosts, runs

PER_PAGE = 50
MAX_PER_PAGE = 500
FILTERS = ("model", "firmware", "host", "suite", "outcome", "since", "until")


class BadFilter(ValueError):
    """A filter value that cannot be (a 400 naming the parameter)."""


def _date(name, text):
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise BadFilter(f"{name}: {text[:30]!r} is no date (YYYY-MM-DD)") from None


def _positive(name, text, default, limit=None):
    if text in (None, ""):
        return default
    try:
        n = int(text)
    except ValueError:
        raise BadFilter(f"{name}: {text[:30]!r} is no number") from None
    if n < 1:
        raise BadFilter(f"{name}: must be 1 or more")
    return min(n, limit) if limit else n


def read_filters(args):
    """The filters from the query string (empty values mean no filter)."""
    f = {k: args.get(k, "").strip() for k in FILTERS}
    if f["outcome"] and f["outcome"] not in VERDICTS:
        raise BadFilter(f"outcome: {f['outcome'][:20]!r} is not one of {', '.join(VERDICTS)}")
    for name in ("since", "until"):
        if f[name]:
            _date(name, f[name])
    f["page"] = _positive("page", args.get("page"), 1)
    f["per_page"] = _positive("per_page", args.get("per_page"), PER_PAGE, MAX_PER_PAGE)
    return f


def run_columns():
    return [runs.c.uuid, runs.c.started, runs.c.ended, runs.c.finished, runs.c.verdict,
            runs.c.suite, runs.c.firmware, runs.c.n_tests, runs.c.n_passed, runs.c.n_failed,
            runs.c.n_skipped, runs.c.n_xfailed, runs.c.n_xpassed, runs.c.n_error,
            runs.c.ci_system, runs.c.ci_job_id, runs.c.ci_job_url,
            hosts.c.name.label("host"), duts.c.model, duts.c.serial]


def _where(f):
    conds = []
    if f["model"]:
        conds.append(duts.c.model == f["model"])
    if f["firmware"]:
        conds.append(runs.c.firmware == f["firmware"])
    if f["host"]:
        conds.append(hosts.c.name == f["host"])
    if f["suite"]:
        conds.append(runs.c.suite == f["suite"])
    if f["outcome"]:
        conds.append(runs.c.verdict == f["outcome"])
    if f["since"]:
        conds.append(runs.c.started >= _date("since", f["since"]))
    if f["until"]:
        conds.append(runs.c.started < _date("until", f["until"]) + datetime.timedelta(days=1))
    return sa.and_(True, *conds)


def _choices(conn):
    """What each filter can be (the drop-down lists)."""
    def distinct(col):
        return [v for (v,) in conn.execute(sa.select(col).distinct().where(col.isnot(None))
                                           .order_by(col)) if v != ""]
    return {"model": distinct(duts.c.model), "firmware": distinct(runs.c.firmware),
            "host": distinct(hosts.c.name), "suite": distinct(runs.c.suite),
            "outcome": list(VERDICTS)}


def run_list(conn, f):
    joined = runs.join(hosts).outerjoin(duts, runs.c.dut_id == duts.c.id)
    where = _where(f)
    total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(where)).scalar_one()
    rows = conn.execute(sa.select(*run_columns()).select_from(joined).where(where)
                        .order_by(runs.c.started.desc(), runs.c.id.desc())
                        .limit(f["per_page"]).offset((f["page"] - 1) * f["per_page"])).mappings().all()
    pages = max(1, -(-total // f["per_page"]))
    return {"filters": {k: f[k] for k in FILTERS}, "page": f["page"], "per_page": f["per_page"],
            "pages": pages, "total": total, "runs": [dict(r) for r in rows],
            "choices": _choices(conn)}
