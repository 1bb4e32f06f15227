"""A test's history across firmware versions: per DUT model and firmware (in the
order the lab first saw them) how often it passed and failed, the first firmware it
failed on, flaky firmware (both outcomes on one firmware), and its latest results."""
import sqlalchemy as sa

from .ingest import digest
from .schema import duts, hosts, runs, test_names, tests

LATEST = 50
FAILING = ("failed", "error")


def history(conn, nodeid, model=None):
    """None when no test of that node id was ever stored."""
    name_id = conn.execute(sa.select(test_names.c.id)
                           .where(test_names.c.digest == digest(nodeid))).scalar()
    if name_id is None:
        return None
    joined = tests.join(runs, tests.c.run_id == runs.c.id).outerjoin(duts, runs.c.dut_id == duts.c.id)
    where = tests.c.name_id == name_id
    if model:
        where = where & (duts.c.model == model)
    per = {}
    for r in conn.execute(sa.select(duts.c.model, runs.c.firmware, tests.c.outcome,
                                    sa.func.count().label("n"),
                                    sa.func.min(runs.c.started).label("first"),
                                    sa.func.max(runs.c.started).label("last"))
                          .select_from(joined).where(where)
                          .group_by(duts.c.model, runs.c.firmware, tests.c.outcome)):
        row = per.setdefault((r.model, r.firmware), {
            "model": r.model, "firmware": r.firmware, "first_seen": r.first, "last_seen": r.last,
            "runs": 0, **{o: 0 for o in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")}})
        row[r.outcome] += r.n
        row["runs"] += r.n
        row["first_seen"] = min(row["first_seen"], r.first)
        row["last_seen"] = max(row["last_seen"], r.last)
    firmwares = sorted(per.values(), key=lambda x: (x["model"] or "", x["first_seen"]))
    first_failing = {}
    for fw in firmwares:
        failures = fw["failed"] + fw["error"]
        fw["flaky"] = bool(failures and fw["passed"])
        if failures and fw["model"] not in first_failing:
            first_failing[fw["model"]] = fw["firmware"]
    # the latest runs first (from the index alone), then only their results' rows
    latest_runs = [run_id for (run_id,) in conn.execute(
        sa.select(tests.c.run_id).select_from(joined).where(where)
        .order_by(runs.c.started.desc()).limit(LATEST))]
    latest = [dict(r) for r in conn.execute(
        sa.select(runs.c.uuid, runs.c.started, runs.c.firmware, duts.c.model,
                  hosts.c.name.label("host"), tests.c.outcome, tests.c.duration_s, tests.c.message)
        .select_from(joined.join(hosts, runs.c.host_id == hosts.c.id))
        .where(where & tests.c.run_id.in_(latest_runs))
        .order_by(runs.c.started.desc())).mappings()] if latest_runs else []
    return {"nodeid": nodeid, "model": model or None, "firmwares": firmwares,
            "first_failing_firmware": [{"model": m, "firmware": f} for m, f in first_failing.items()],
            "flaky_firmwares": [{"model": f["model"], "firmware": f["firmware"]}
                                for f in firmwares if f["flaky"]],
            "latest": latest}
