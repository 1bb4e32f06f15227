"""Stores one upload (read by upload_format) in one transaction, idempotent by the
run's UUID: a finished run is stored once; an unfinished one is replaced by any
later document of it. Tests and metrics go in by bulk.copy_rows (COPY on
PostgreSQL), names by one multi-row INSERT."""
import hashlib

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .bulk import copy_rows
from .schema import artifacts, duts, hosts, metric_keys, metrics, runs, test_names, tests
from .tokens import utcnow

CHUNK = 500     # names looked up per IN (...) list
TEST_COLUMNS = ("run_id", "name_id", "outcome", "duration_s", "message", "spec_clause", "started")
METRIC_COLUMNS = ("run_id", "key_id", "value", "unit", "series")


class HostMismatch(Exception):
    """The run is another host's (a 403)."""


def digest(*parts):
    return hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()


def verdict(finished, counts):
    if not finished:
        return "unfinished"
    return "failed" if counts["failed"] or counts["error"] else "passed"


def _insert_ignoring_duplicates(conn, table, rows):
    """INSERT ... ON CONFLICT DO NOTHING: another upload may add the same name at once."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).on_conflict_do_nothing(), rows)


def ids_by_digest(conn, table, wanted):
    """{digest: id} for {digest: row}, adding the rows that are missing."""
    ids = {}
    keys = list(wanted)
    for i in range(0, len(keys), CHUNK):
        part = keys[i:i + CHUNK]
        ids.update(conn.execute(sa.select(table.c.digest, table.c.id)
                                .where(table.c.digest.in_(part))).all())
    missing = [wanted[k] for k in keys if k not in ids]
    if missing:
        _insert_ignoring_duplicates(conn, table, missing)
        part = [row["digest"] for row in missing]
        for i in range(0, len(part), CHUNK):
            ids.update(conn.execute(sa.select(table.c.digest, table.c.id)
                                    .where(table.c.digest.in_(part[i:i + CHUNK]))).all())
    return ids


def _dut_id(conn, dut, now):
    if dut is None:
        return None
    key = (duts.c.model == dut["model"]) & (duts.c.serial == dut["serial"])
    row = conn.execute(sa.select(duts.c.id).where(key)).first()
    facts = {"vendor_id": dut["vendor_id"], "capacity_bytes": dut["capacity_bytes"], "last_seen": now}
    if row:
        conn.execute(duts.update().where(duts.c.id == row.id).values(**facts))
        return row.id
    _insert_ignoring_duplicates(conn, duts, [dict(model=dut["model"], serial=dut["serial"],
                                                  first_seen=now, **facts)])
    return conn.execute(sa.select(duts.c.id).where(key)).scalar_one()


def _delete_contents(conn, run_id):
    for table in (tests, metrics, artifacts):
        conn.execute(table.delete().where(table.c.run_id == run_id))


def _store(conn, doc, host):
    """'new', 'duplicate' or 'updated'; raises HostMismatch."""
    run, dut = doc["run"], doc["dut"]
    now = utcnow()
    query = sa.select(runs.c.id, runs.c.finished, hosts.c.name).select_from(runs.join(hosts)) \
        .where(runs.c.uuid == run["uuid"])
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=runs)
    existing = conn.execute(query).first()
    if existing and existing.name != host.name:
        raise HostMismatch(f"run {run['uuid']} was uploaded by host {existing.name!r}, "
                           f"not {host.name!r}")
    if existing and existing.finished:
        return "duplicate"
    counts = {o: 0 for o in ("passed", "failed", "skipped", "xfailed", "xpassed", "error")}
    for t in doc["tests"]:
        counts[t["outcome"]] += 1
    values = {k: run[k] for k in ("suite", "command", "version", "git_commit", "ci_system",
                                  "ci_job_id", "ci_job_url", "started", "ended", "finished")}
    values.update({f"n_{o}": n for o, n in counts.items()}, n_tests=len(doc["tests"]),
                  verdict=verdict(run["finished"], counts), received=now,
                  host_id=host.id, dut_id=_dut_id(conn, dut, now),
                  firmware=dut and dut["firmware"], pciaddr=dut and dut["pciaddr"],
                  pcie_link_speed=dut and dut["pcie_link_speed"],
                  pcie_link_width=dut and dut["pcie_link_width"])
    if existing:
        run_id = existing.id
        _delete_contents(conn, run_id)
        conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
    else:
        run_id = conn.execute(runs.insert().values(uuid=run["uuid"], **values)).inserted_primary_key[0]

    names = {digest(t["nodeid"]): {"digest": digest(t["nodeid"]), "nodeid": t["nodeid"]}
             for t in doc["tests"]}
    name_ids = ids_by_digest(conn, test_names, names)
    copy_rows(conn, tests, TEST_COLUMNS, [
        (run_id, name_ids[digest(t["nodeid"])], t["outcome"], t["duration_s"], t["message"],
         t["spec_clause"], t["started"]) for t in doc["tests"]])
    keys = {digest(m["test"], m["name"]): {"digest": digest(m["test"], m["name"]),
                                           "test": m["test"], "name": m["name"]}
            for m in doc["metrics"]}
    key_ids = ids_by_digest(conn, metric_keys, keys)
    copy_rows(conn, metrics, METRIC_COLUMNS, [
        (run_id, key_ids[digest(m["test"], m["name"])], m["value"], m["unit"], m["series"])
        for m in doc["metrics"]])
    if doc["artifacts"]:
        conn.execute(artifacts.insert(), [
            {"run_id": run_id, "test": a["test"], "name": a["name"], "kind": a["kind"],
             "content_type": a["content_type"], "size": len(a["data"]), "data": a["data"]}
            for a in doc["artifacts"]])
    conn.execute(hosts.update().where(hosts.c.id == host.id).values(last_upload=now))
    return "updated" if existing else "new"


def store(conn, doc, host):
    """Stores the document for the token's host (a row: id, name) in one transaction on the connection
    (none may be open); returns 'new', 'duplicate' or 'updated'. Two uploads of one
    new run at once: the second finds the first's row when it tries again."""
    conn = conn.execution_options(writer=True)
    for attempt in range(3):
        try:
            with conn.begin():
                return _store(conn, doc, host)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
