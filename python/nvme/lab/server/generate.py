"""Fills a lab database with made-up runs for the scale benchmark: hosts, DUT
models with firmware generations, runs of a few suites, each with its tests,
some failing from one firmware on, some flaky, and IOPS/latency metrics that move
with the firmware. The rows go in by bulk.copy_rows (COPY on PostgreSQL)."""
import datetime
import json
import random
import uuid as uuidlib

import sqlalchemy as sa

from .bulk import copy_rows
from .ingest import digest, ids_by_digest
from .schema import duts, hosts, metric_keys, metrics, runs, test_names, tests
from .tokens import utcnow

MODELS = ("Acme Falcon 2TB", "Acme Falcon 4TB", "Blue Ridge P5", "QEMU NVMe Ctrl")
SUITES = ("scripts/conformance", "tests/guest", "scripts/performance", "tests/soft")
PERCENTILES = ("50", "99", "99_9", "99_99")
BATCH_RUNS = 100


def _next_id(conn, table):
    return (conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1


def _fix_sequences(conn):
    if conn.dialect.name != "postgresql":
        return
    for table in (hosts, duts, runs, test_names, tests, metric_keys, metrics):
        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                             f"GREATEST((SELECT max(id) FROM {table.name}), 1))")


def generate(engine, n_runs, n_tests, seed=1, progress=None):
    """Adds n_runs runs of n_tests tests each (and 10 metrics per run); returns the
    number of test results written."""
    rnd = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    with engine.begin() as conn:
        host_ids = []
        for i in range(12):
            name = f"lab-host-{i:02d}"
            hid = conn.execute(sa.select(hosts.c.id).where(hosts.c.name == name)).scalar()
            if hid is None:
                hid = conn.execute(hosts.insert().values(name=name, created=now)).inserted_primary_key[0]
            host_ids.append(hid)
        fleet = []      # (dut id, model index, host id)
        for m, model in enumerate(MODELS):
            for s in range(3):
                serial = f"SN{m}{s:04d}"
                did = conn.execute(sa.select(duts.c.id).where((duts.c.model == model) &
                                                              (duts.c.serial == serial))).scalar()
                if did is None:
                    did = conn.execute(duts.insert().values(
                        model=model, serial=serial, vendor_id=0x1b36, capacity_bytes=(2 << 40) >> m,
                        first_seen=now, last_seen=now)).inserted_primary_key[0]
                fleet.append((did, m, host_ids[(m * 3 + s) % len(host_ids)]))
        name_rows = {}
        nodeids = [f"{SUITES[i % len(SUITES)]}/test_area_{i // 25:03d}.py::test_case_{i:04d}"
                   for i in range(n_tests)]
        for n in nodeids:
            name_rows[digest(n)] = {"digest": digest(n), "nodeid": n}
        workloads = [("tests/guest/test_ioworker.py::test_ioworker_randread", "ioworker.0"),
                     ("scripts/performance/test_everyday.py::test_qd32_4k", "ioworker.0")]
        key_rows = {}
        for test, prefix in workloads:
            for leaf in ["iops"] + [f"latency_p{p}_us" for p in PERCENTILES]:
                key_rows[digest(test, f"{prefix}.{leaf}")] = {"digest": digest(test, f"{prefix}.{leaf}"),
                                                             "test": test, "name": f"{prefix}.{leaf}"}
    with engine.begin() as conn:
        name_ids = ids_by_digest(conn, test_names, name_rows)
        key_ids = ids_by_digest(conn, metric_keys, key_rows)
    test_ids = [name_ids[digest(n)] for n in nodeids]
    # per test: fails from some firmware generation on (1 in 40), flaky (1 in 60)
    breaks_at = {i: rnd.randint(2, 7) for i in range(n_tests) if rnd.random() < 1 / 40}
    flaky = {i for i in range(n_tests) if rnd.random() < 1 / 60}
    skipped = {i for i in range(n_tests) if rnd.random() < 1 / 12}
    start = now - datetime.timedelta(days=365)
    span = 365 * 86400
    written = 0
    for batch in range(0, n_runs, BATCH_RUNS):
        with engine.begin() as conn:
            run_id = _next_id(conn, runs)
            test_id = _next_id(conn, tests)
            metric_id = _next_id(conn, metrics)
            run_rows, test_rows, metric_rows = [], [], []
            for k in range(batch, min(n_runs, batch + BATCH_RUNS)):
                did, m, hid = fleet[rnd.randrange(len(fleet))]
                frac = k / max(1, n_runs - 1)
                generation = min(7, int(frac * 8))
                firmware = f"{m + 1}.{generation}.{rnd.randint(0, 1)}"
                started = start + datetime.timedelta(seconds=int(frac * span) + rnd.randint(0, 3600))
                finished = rnd.random() > 0.01
                outcomes = []
                for i in range(n_tests):
                    if i in skipped:
                        outcomes.append("skipped")
                    elif i in breaks_at and generation >= breaks_at[i]:
                        outcomes.append("failed")
                    elif i in flaky and rnd.random() < 0.2:
                        outcomes.append("failed")
                    else:
                        outcomes.append("passed")
                n_failed = outcomes.count("failed")
                verdict = "unfinished" if not finished else ("failed" if n_failed else "passed")
                run_rows.append((run_id, str(uuidlib.UUID(int=rnd.getrandbits(128))), hid, did, firmware,
                                 "0000:01:00.0", "8GT/s", 4, SUITES[k % len(SUITES)],
                                 f"pytest --pciaddr=0000:01:00.0 {SUITES[k % len(SUITES)]}", "0.4.0",
                                 "%040x" % rnd.getrandbits(160), "gitlab", str(100000 + k),
                                 f"https://gitlab.example.com/lab/pynvme/-/jobs/{100000 + k}",
                                 started, started + datetime.timedelta(minutes=20) if finished else None,
                                 finished, verdict, n_tests, outcomes.count("passed"), n_failed,
                                 outcomes.count("skipped"), 0, 0, 0, now))
                t = started
                for i, outcome in enumerate(outcomes):
                    message = None
                    if outcome == "failed":
                        message = (f"AssertionError: status 0x{rnd.randint(1, 0x3ff):03x} "
                                   f"on firmware {firmware}\nassert 2 == 0")
                    elif outcome == "skipped":
                        message = "the DUT does not support this feature"
                    dur = round(rnd.expovariate(2.0), 4)
                    test_rows.append((test_id, run_id, test_ids[i], outcome, dur, message, None, t))
                    t += datetime.timedelta(seconds=dur)
                    test_id += 1
                base_iops = 400000 * (1 + 0.04 * generation - (0.15 if generation == 5 else 0)) / (m + 1)
                for w, (test, prefix) in enumerate(workloads):
                    iops = base_iops * (1 + 0.5 * w) * rnd.uniform(0.95, 1.05)
                    series = json.dumps([[s, round(iops * rnd.uniform(0.97, 1.03))] for s in range(20)])
                    metric_rows.append((metric_id, run_id, key_ids[digest(test, f"{prefix}.iops")], iops,
                                        "IO/s", series))
                    metric_id += 1
                    lat = 32 / iops * 1e6
                    for p, factor in zip(PERCENTILES, (1.0, 2.6, 5.0, 11.0)):
                        metric_rows.append((metric_id, run_id, key_ids[digest(test, f"{prefix}.latency_p{p}_us")],
                                            lat * factor * rnd.uniform(0.9, 1.1), "us", None))
                        metric_id += 1
                run_id += 1
            copy_rows(conn, runs, [c.name for c in runs.columns], run_rows)
            copy_rows(conn, tests, [c.name for c in tests.columns], test_rows)
            copy_rows(conn, metrics, [c.name for c in metrics.columns], metric_rows)
            _fix_sequences(conn)
            written += len(test_rows)
        if progress:
            progress(min(n_runs, batch + BATCH_RUNS), written)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return written
