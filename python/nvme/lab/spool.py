"""The local spool of recorded runs: one SQLite file (docs/lab.md).

Every write is one transaction, in WAL mode with synchronous=FULL, so a crash or a
power loss leaves the file consistent: a run is written at session start with
finished=0 and completed at the end, and what a killed session recorded so far stays.
The uploader reads the runs back as documents of docs/lab-format.md (format 1)."""
import base64
import json
import os
import sqlite3
from contextlib import contextmanager

FORMAT = 1
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    uuid TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    finished INTEGER NOT NULL DEFAULT 0,
    suite TEXT,
    command TEXT,
    version TEXT,
    git_commit TEXT,
    ci TEXT,            -- JSON or NULL
    dut TEXT,           -- JSON or NULL
    worker TEXT,        -- the pytest-xdist worker id, or NULL
    uploaded_finished INTEGER,  -- NULL: never uploaded, else `finished` when it was
    upload_error TEXT   -- the server's last refusal (4xx), kept for the user
);
CREATE TABLE IF NOT EXISTS tests (
    id INTEGER PRIMARY KEY,
    run_uuid TEXT NOT NULL REFERENCES runs(uuid),
    nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_s REAL,
    message TEXT,
    spec_clause TEXT,
    started TEXT
);
CREATE INDEX IF NOT EXISTS tests_run ON tests(run_uuid);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    run_uuid TEXT NOT NULL REFERENCES runs(uuid),
    test TEXT,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT,
    series TEXT         -- JSON [[seconds, value], ...] or NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_uuid);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY,
    run_uuid TEXT NOT NULL REFERENCES runs(uuid),
    test TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts(run_uuid);
"""

RUN_COLUMNS = ("uuid", "host", "started", "ended", "finished", "suite", "command",
               "version", "git_commit", "ci", "dut", "worker")


class Spool:
    """The spool file at `path` (created with its folder when missing)."""

    def __init__(self, path, busy_timeout_s=60.0):
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        # autocommit mode: every write below opens its own explicit transaction
        self.db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA foreign_keys=ON")
        try:
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError:
            mode = None
        if mode != "wal":
            # a file system without shared memory for the WAL index: the rollback
            # journal keeps every transaction atomic all the same
            self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("PRAGMA synchronous=FULL")
        with self.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self):
        self.db.close()

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- what the recorder writes ---------------------------------------
    def begin_run(self, run):
        """run: the RUN_COLUMNS (ci and dut as dicts or None); finished is 0."""
        row = dict(run, finished=0)
        row["ci"] = _json_or_none(run.get("ci"))
        row["dut"] = _json_or_none(run.get("dut"))
        with self.transaction() as db:
            db.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES "
                       f"({', '.join('?' * len(RUN_COLUMNS))})",
                       [row.get(c) for c in RUN_COLUMNS])

    def set_dut(self, uuid, dut):
        with self.transaction() as db:
            db.execute("UPDATE runs SET dut = ? WHERE uuid = ?", (_json_or_none(dut), uuid))

    def finish_run(self, uuid, ended):
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished = 1, ended = ? WHERE uuid = ?", (ended, uuid))

    def add_test(self, uuid, test):
        if test["outcome"] not in OUTCOMES:
            raise ValueError(f"test outcome {test['outcome']!r} is not one of {OUTCOMES}")
        with self.transaction() as db:
            db.execute("INSERT INTO tests (run_uuid, nodeid, outcome, duration_s, message, "
                       "spec_clause, started) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (uuid, test["nodeid"], test["outcome"], test.get("duration_s"),
                        test.get("message"), test.get("spec_clause"), test.get("started")))

    def add_metrics(self, uuid, metrics):
        """metrics: dicts with test, name, value, unit, series (all in one transaction)."""
        with self.transaction() as db:
            db.executemany("INSERT INTO metrics (run_uuid, test, name, value, unit, series) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(uuid, m.get("test"), m["name"], float(m["value"]), m.get("unit"),
                             _json_or_none(m.get("series"))) for m in metrics])

    def add_artifact(self, uuid, test, name, kind, content_type, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        with self.transaction() as db:
            db.execute("INSERT INTO artifacts (run_uuid, test, name, kind, content_type, data) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (uuid, test, name, kind, content_type, data))

    # ---- what the uploader reads and marks ------------------------------
    def pending(self):
        """uuids to upload, oldest first: never uploaded, or uploaded while
        unfinished and finished since (the server replaces an unfinished run)."""
        rows = self.db.execute(
            "SELECT uuid FROM runs WHERE uploaded_finished IS NULL OR "
            "(uploaded_finished = 0 AND finished = 1) ORDER BY started").fetchall()
        return [r[0] for r in rows]

    def run_row(self, uuid):
        cur = self.db.execute("SELECT * FROM runs WHERE uuid = ?", (uuid,))
        row = cur.fetchone()
        if row is None:
            raise KeyError(f"no run {uuid} in the spool {self.path}")
        return dict(zip([c[0] for c in cur.description], row))

    def document(self, uuid):
        """The run as a format-1 upload document (docs/lab-format.md), and the
        `finished` it was made from (read in one transaction: a consistent view)."""
        self.db.execute("BEGIN")
        try:
            run = self.run_row(uuid)
            tests = [dict(nodeid=r[0], outcome=r[1], duration_s=r[2], message=r[3],
                          spec_clause=r[4], started=r[5]) for r in self.db.execute(
                "SELECT nodeid, outcome, duration_s, message, spec_clause, started FROM tests "
                "WHERE run_uuid = ? ORDER BY id", (uuid,))]
            metrics = [dict(test=r[0], name=r[1], value=r[2], unit=r[3],
                            series=json.loads(r[4]) if r[4] else None) for r in self.db.execute(
                "SELECT test, name, value, unit, series FROM metrics WHERE run_uuid = ? "
                "ORDER BY id", (uuid,))]
            artifacts = [dict(test=r[0], name=r[1], kind=r[2], content_type=r[3],
                              data_b64=base64.b64encode(bytes(r[4])).decode("ascii"))
                         for r in self.db.execute(
                "SELECT test, name, kind, content_type, data FROM artifacts WHERE run_uuid = ? "
                "ORDER BY id", (uuid,))]
        finally:
            self.db.execute("COMMIT")
        outcome = dict.fromkeys(OUTCOMES, 0)
        for t in tests:
            outcome[t["outcome"]] += 1
        finished = bool(run["finished"])
        doc = {"format": FORMAT,
               "run": {"uuid": run["uuid"], "host": run["host"], "started": run["started"],
                       "ended": run["ended"], "finished": finished, "suite": run["suite"],
                       "command": run["command"], "version": run["version"],
                       "git_commit": run["git_commit"],
                       "ci": json.loads(run["ci"]) if run["ci"] else None,
                       "outcome": outcome,
                       "dut": json.loads(run["dut"]) if run["dut"] else None,
                       "worker": run["worker"]},
               "tests": tests, "metrics": metrics, "artifacts": artifacts}
        return doc, finished

    def mark_uploaded(self, uuid, finished):
        with self.transaction() as db:
            db.execute("UPDATE runs SET uploaded_finished = ?, upload_error = NULL "
                       "WHERE uuid = ?", (int(finished), uuid))

    def note_refusal(self, uuid, message):
        with self.transaction() as db:
            db.execute("UPDATE runs SET upload_error = ? WHERE uuid = ?", (message, uuid))


def _json_or_none(value):
    return None if value is None else json.dumps(value)
