"""Performance trends: a workload's IOPS and latency percentiles per firmware.

A workload is a metric name's prefix within one test: ioworker metrics are named
<prefix>.iops and <prefix>.latency_p<percentile>_us (nvme.lab.record). Per firmware
(in the order the lab first saw it, for one DUT model) the mean, the lowest and the
highest value over the runs."""
import re

import sqlalchemy as sa

from .schema import duts, metric_keys, metrics, runs

LATENCY = re.compile(r"^latency_p(\d+(?:_\d+)?)_us$")


def percentile_of(leaf):
    m = LATENCY.match(leaf)
    return float(m.group(1).replace("_", ".")) if m else None


def workloads(conn):
    """Every (test, prefix) with an IOPS metric, and its latency percentile keys."""
    found = {}
    for key in conn.execute(sa.select(metric_keys.c.id, metric_keys.c.test, metric_keys.c.name)):
        prefix, _, leaf = key.name.rpartition(".")
        if leaf == "iops" or percentile_of(leaf) is not None:
            w = found.setdefault((key.test, prefix), {"test": key.test or None, "workload": prefix,
                                                      "iops_key": None, "latency_keys": {}})
            if leaf == "iops":
                w["iops_key"] = key.id
            else:
                w["latency_keys"][percentile_of(leaf)] = key.id
    return [w for _, w in sorted(found.items()) if w["iops_key"] is not None]


def models(conn):
    """DUT models by how many runs they have, most first."""
    n = sa.func.count(runs.c.id)
    return [m for (m, _) in conn.execute(sa.select(duts.c.model, n).select_from(duts.join(runs))
                                         .group_by(duts.c.model).order_by(n.desc(), duts.c.model))]


def per_firmware(conn, key_ids, model):
    """{key_id: [{firmware, mean, low, high, runs, first_seen}, ...]} in first-seen order."""
    if not key_ids:
        return {}
    q = (sa.select(metrics.c.key_id, runs.c.firmware, sa.func.avg(metrics.c.value).label("mean"),
                   sa.func.min(metrics.c.value).label("low"), sa.func.max(metrics.c.value).label("high"),
                   sa.func.count().label("runs"), sa.func.min(runs.c.started).label("first_seen"),
                   sa.func.max(metrics.c.unit).label("unit"))
         .select_from(metrics.join(runs).outerjoin(duts, runs.c.dut_id == duts.c.id))
         .where(metrics.c.key_id.in_(key_ids)).group_by(metrics.c.key_id, runs.c.firmware))
    if model:
        q = q.where(duts.c.model == model)
    out = {k: [] for k in key_ids}
    for r in conn.execute(q).mappings():
        out[r["key_id"]].append({k: r[k] for k in ("firmware", "mean", "low", "high", "runs",
                                                  "first_seen", "unit")})
    for rows in out.values():
        rows.sort(key=lambda x: x["first_seen"])
    return out


def trend(conn, test, workload, model):
    """The chosen workload's figures per firmware, or None when it has no IOPS metric."""
    chosen = next((w for w in workloads(conn) if (w["test"] or "") == (test or "") and
                   w["workload"] == workload), None)
    if chosen is None:
        return None
    keys = [chosen["iops_key"]] + list(chosen["latency_keys"].values())
    rows = per_firmware(conn, keys, model)
    return {"test": chosen["test"], "workload": workload, "model": model,
            "iops": rows[chosen["iops_key"]],
            "latency": [{"percentile": p, "firmwares": rows[k]}
                        for p, k in sorted(chosen["latency_keys"].items())]}
