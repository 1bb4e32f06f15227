#!/usr/bin/python3
"""The lab server at scale (issue 15): fills a private PostgreSQL cluster with
10,000 runs x 500 tests (with metrics), then times the pages and the ingest API.

    bench/lab_scale.py [--runs 10000] [--tests 500] [--repeat 7] [--db URL]

Pages are requested through Flask's test client (the whole app: routing, SQL,
templates; no socket): the median of --repeat requests after one warm-up. Ingest:
documents of --tests results each, POSTed one after another with their bodies
ready, results per second over all of them. Targets: every page < 300 ms, ingest
>= 5,000 results/s."""
import argparse
import json
import os
import statistics
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "server"))

from nvme.lab.server import create_app  # noqa: E402
from nvme.lab.server.database import make_engine, masked_url, upgrade  # noqa: E402
from nvme.lab.server.generate import generate  # noqa: E402
from nvme.lab.server.private_postgres import PrivatePostgres  # noqa: E402
from nvme.lab.server.tokens import add_token  # noqa: E402
from lab_server_fixtures import make_doc  # noqa: E402  (the tests' format-1 document)

SERVER_SETTINGS = {"shared_buffers": "512MB", "work_mem": "32MB", "maintenance_work_mem": "256MB",
                   "max_wal_size": "4GB", "checkpoint_timeout": "30min"}


def timed(client, url, repeat):
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.data[:300])
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200
    return statistics.median(times), len(r.data)


def bare_copy(engine, n_rows, repeat):
    """The floor of storing one document's results: COPY of n_rows test rows into
    the tests table in one transaction (rolled back), median of repeat."""
    from nvme.lab.server.bulk import copy_rows
    from nvme.lab.server.ingest import TEST_COLUMNS
    from nvme.lab.server.schema import tests
    times = []
    with engine.connect() as conn:
        run_id, name_id = conn.exec_driver_sql("SELECT run_id, name_id FROM tests LIMIT 1").one()
        conn.rollback()
        rows = [(run_id, name_id, "passed", 0.01, None, None, None)] * n_rows
        for _ in range(repeat):
            t0 = time.perf_counter()
            with conn.begin() as tx:
                copy_rows(conn, tests, TEST_COLUMNS, rows)
                tx.rollback()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(url, args):
    engine = make_engine(url)
    upgrade(engine)
    print(f"database: {masked_url(url)}")
    t0 = time.monotonic()

    def progress(runs, results):
        print(f"\r  generating: {runs:,} runs, {results:,} results, {time.monotonic() - t0:.0f} s",
              end="", file=sys.stderr, flush=True)
    written = generate(engine, args.runs, args.tests, progress=progress)
    gen_s = time.monotonic() - t0
    print(f"\ngenerated {args.runs:,} runs x {args.tests} tests = {written:,} results "
          f"(+ {args.runs * 10:,} metrics) in {gen_s:.0f} s ({written / gen_s:,.0f} rows/s, COPY)")
    app = create_app(url, engine=engine)
    client = app.test_client()
    runs = client.get("/api/v1/runs?per_page=1&page=%d" % (args.runs // 2)).json["runs"]
    mid_run = runs[0]["uuid"]
    history_of = "scripts/conformance/test_area_000.py::test_case_0000"
    for t in client.get(f"/api/v1/runs/{mid_run}").json["failures"][:1]:
        history_of = t["nodeid"]
    pages = [
        ("run list (page 1, no filter)", "/runs"),
        ("run list (model + outcome + dates)",
         "/runs?model=Acme+Falcon+2TB&outcome=failed&since=2026-03-01&until=2026-09-30"),
        ("run list (page 100)", "/runs?page=100"),
        (f"run page ({args.tests} tests)", f"/runs/{mid_run}"),
        ("test history page", f"/tests/history?nodeid={history_of}"),
        ("trends page", "/trends"),
        ("trend chart PNG (IOPS)", "/trends/iops.png"),
        ("fleet page", "/fleet"),
    ]
    print(f"\npages (median of {args.repeat}, Flask test client, target < 300 ms):")
    worst = 0
    for name, page in pages:
        t, size = timed(client, page, args.repeat)
        worst = max(worst, t) if "PNG" not in name else worst
        print(f"  {name:38s} {t * 1000:8.1f} ms  ({size / 1024:,.0f} KiB)")
    token = add_token(engine, "bench-host")
    bodies = []
    for i in range(args.ingest_docs):
        doc = make_doc(uuid=str(uuid.uuid4()), host="bench-host", n_tests=args.tests,
                       failing=(3, 70), suite="tests/bench")
        bodies.append(json.dumps(doc).encode())
    headers = {"Authorization": f"Bearer {token}"}
    per_doc = []
    t0 = time.perf_counter()
    for body in bodies:
        t1 = time.perf_counter()
        r = client.post("/api/v1/runs", data=body, headers=headers, content_type="application/json")
        per_doc.append(time.perf_counter() - t1)
        assert r.status_code == 201, r.data
    dt = time.perf_counter() - t0
    rate = args.ingest_docs * args.tests / dt
    median_rate = args.tests / statistics.median(per_doc)
    reference = bare_copy(engine, args.tests, args.ingest_docs)
    print(f"\ningest: {args.ingest_docs} documents x {args.tests} results in {dt:.2f} s = "
          f"{rate:,.0f} results/s overall, {median_rate:,.0f} results/s at the median document "
          f"({statistics.median(per_doc) * 1000:.0f} ms; target >= 5,000 results/s)")
    print(f"  reference in this run: a bare COPY of {args.tests} rows into the same table takes "
          f"{reference * 1000:.0f} ms (median): a whole upload costs "
          f"{statistics.median(per_doc) / reference:.1f}x that")
    print(f"\nverdict: slowest page {worst * 1000:.0f} ms ({'under' if worst < 0.3 else 'OVER'} 300 ms), "
          f"ingest {median_rate:,.0f} results/s at the median document "
          f"({'at least' if median_rate >= 5000 else 'UNDER'} 5,000)")
    engine.dispose()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10000)
    p.add_argument("--tests", type=int, default=500)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--ingest-docs", type=int, default=40)
    p.add_argument("--db", help="an existing database URL instead of a private PostgreSQL cluster")
    args = p.parse_args()
    if args.db:
        bench(args.db, args)
        return
    with PrivatePostgres(settings=SERVER_SETTINGS) as pg:
        bench(pg.create_database("lab_scale"), args)


if __name__ == "__main__":
    main()
