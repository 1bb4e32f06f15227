"""One run: its device, its tests (failures first, with their messages), its
metrics and its artifacts."""
import json

import sqlalchemy as sa

from .run_list import run_columns
from .schema import artifacts, duts, hosts, metric_keys, metrics, runs, test_names, tests

FAILING = ("failed", "error")


def run_page(conn, uuid):
    """The run's page data, or None when no such run is stored."""
    joined = runs.join(hosts).outerjoin(duts, runs.c.dut_id == duts.c.id)
    run = conn.execute(sa.select(runs.c.id, *run_columns(), runs.c.command, runs.c.version,
                                 runs.c.git_commit, runs.c.pciaddr, runs.c.pcie_link_speed,
                                 runs.c.pcie_link_width, runs.c.received, duts.c.vendor_id,
                                 duts.c.capacity_bytes)
                       .select_from(joined).where(runs.c.uuid == uuid)).mappings().first()
    if run is None:
        return None
    run = dict(run)
    run_id = run.pop("id")
    results = [dict(r) for r in conn.execute(
        sa.select(test_names.c.nodeid, tests.c.outcome, tests.c.duration_s, tests.c.message,
                  tests.c.spec_clause, tests.c.started)
        .select_from(tests.join(test_names)).where(tests.c.run_id == run_id)
        .order_by(tests.c.id)).mappings()]
    figures = []
    for r in conn.execute(sa.select(metrics.c.id, metric_keys.c.test, metric_keys.c.name,
                                    metrics.c.value, metrics.c.unit, metrics.c.series)
                          .select_from(metrics.join(metric_keys)).where(metrics.c.run_id == run_id)
                          .order_by(metrics.c.id)).mappings():
        m = dict(r)
        m["series"] = json.loads(m["series"]) if m["series"] else None
        m["test"] = m["test"] or None
        figures.append(m)
    files = [dict(r) for r in conn.execute(
        sa.select(artifacts.c.id, artifacts.c.test, artifacts.c.name, artifacts.c.kind,
                  artifacts.c.content_type, artifacts.c.size)
        .where(artifacts.c.run_id == run_id).order_by(artifacts.c.id)).mappings()]
    return {"run": run, "tests": results,
            "failures": [t for t in results if t["outcome"] in FAILING],
            "metrics": figures, "artifacts": files,
            "reports": [a for a in files if a["kind"] == "report" and
                        (a["content_type"] or "").startswith("text/html")]}


def artifact(conn, uuid, artifact_id=None, name=None):
    """(content_type, name, bytes) of one of the run's artifacts, by id or by name
    (the first of that name: a report's relative links find their images)."""
    q = sa.select(artifacts.c.name, artifacts.c.content_type, artifacts.c.data) \
        .select_from(artifacts.join(runs)).where(runs.c.uuid == uuid)
    q = q.where(artifacts.c.id == artifact_id) if artifact_id is not None else \
        q.where(artifacts.c.name == name).order_by(artifacts.c.id).limit(1)
    return conn.execute(q).first()
