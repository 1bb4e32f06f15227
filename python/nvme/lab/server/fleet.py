"""The fleet: every host, its DUTs (with the firmware last seen), its last upload,
and its runs that did not finish: running (started within RUNNING_HOURS) or
abandoned (a crash, a power loss, a killed job)."""
import datetime

import sqlalchemy as sa

from .schema import duts, hosts, runs, tokens
from .tokens import utcnow

RUNNING_HOURS = 12


def fleet(conn):
    recent = utcnow() - datetime.timedelta(hours=RUNNING_HOURS)
    unfinished = sa.not_(runs.c.finished)
    counts = {r.host_id: r for r in conn.execute(
        sa.select(runs.c.host_id, sa.func.count().label("runs"),
                  sa.func.sum(sa.case((unfinished & (runs.c.started >= recent), 1), else_=0)).label("running"),
                  sa.func.sum(sa.case((unfinished & (runs.c.started < recent), 1), else_=0)).label("abandoned"),
                  sa.func.max(runs.c.started).label("last_run"))
        .group_by(runs.c.host_id))}
    n_tokens = dict(conn.execute(sa.select(tokens.c.host_id, sa.func.count()).group_by(tokens.c.host_id)).all())
    devices = {}
    for r in conn.execute(sa.select(runs.c.host_id, duts.c.model, duts.c.serial, duts.c.capacity_bytes,
                                    runs.c.firmware, sa.func.max(runs.c.started).label("last_run"),
                                    sa.func.count().label("runs"))
                          .select_from(runs.join(duts))
                          .group_by(runs.c.host_id, duts.c.model, duts.c.serial, duts.c.capacity_bytes,
                                    runs.c.firmware)):
        d = devices.setdefault((r.host_id, r.model, r.serial), {
            "model": r.model, "serial": r.serial, "capacity_bytes": r.capacity_bytes,
            "firmware": r.firmware, "last_run": r.last_run, "runs": 0})
        d["runs"] += r.runs
        if r.last_run > d["last_run"]:
            d["firmware"], d["last_run"] = r.firmware, r.last_run
    running = [dict(r) for r in conn.execute(
        sa.select(runs.c.uuid, hosts.c.name.label("host"), runs.c.started, runs.c.suite,
                  runs.c.n_tests, duts.c.model)
        .select_from(runs.join(hosts).outerjoin(duts, runs.c.dut_id == duts.c.id))
        .where(unfinished & (runs.c.started >= recent)).order_by(runs.c.started.desc())).mappings()]
    out = []
    for h in conn.execute(sa.select(hosts).order_by(hosts.c.name)):
        c = counts.get(h.id)
        out.append({"name": h.name, "last_upload": h.last_upload, "tokens": n_tokens.get(h.id, 0),
                    "runs": c.runs if c else 0, "running": int(c.running or 0) if c else 0,
                    "abandoned": int(c.abandoned or 0) if c else 0,
                    "last_run": c.last_run if c else None,
                    "duts": sorted((d for (hid, _, _), d in devices.items() if hid == h.id),
                                   key=lambda d: d["last_run"], reverse=True)})
    return {"hosts": out, "running": running, "running_hours": RUNNING_HOURS}
