"""The lab database's tables (SQLAlchemy Core), as the newest migration leaves them.

The migrations in migrations/versions/ build the same schema step by step; a test
compares a migrated database with these tables. Times are naive UTC datetimes."""
import sqlalchemy as sa

metadata = sa.MetaData()

OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
# a run's verdict on the run list: failed when any test failed or errored
VERDICTS = ("passed", "failed", "unfinished")

hosts = sa.Table(
    "hosts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("last_upload", sa.DateTime),
)

# a host may hold several tokens (a new one before the old is revoked); only the
# SHA-256 of a token is kept: the token itself is shown once, when made
tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created", sa.DateTime, nullable=False),
)

# a device by its identity; the firmware is the run's (it changes under one serial)
duts = sa.Table(
    "duts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("serial", sa.String(255), nullable=False),
    sa.Column("vendor_id", sa.Integer),
    sa.Column("capacity_bytes", sa.BigInteger),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.UniqueConstraint("model", "serial", name="duts_model_serial"),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False),
    sa.Column("dut_id", sa.Integer, sa.ForeignKey("duts.id")),
    sa.Column("firmware", sa.String(64)),
    sa.Column("pciaddr", sa.String(255)),
    sa.Column("pcie_link_speed", sa.String(32)),
    sa.Column("pcie_link_width", sa.Integer),
    sa.Column("suite", sa.String(255)),
    sa.Column("command", sa.Text),
    sa.Column("version", sa.String(64)),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("ci_system", sa.String(32)),
    sa.Column("ci_job_id", sa.String(255)),
    sa.Column("ci_job_url", sa.Text),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("ended", sa.DateTime),
    sa.Column("finished", sa.Boolean, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("n_tests", sa.Integer, nullable=False),
    sa.Column("n_passed", sa.Integer, nullable=False),
    sa.Column("n_failed", sa.Integer, nullable=False),
    sa.Column("n_skipped", sa.Integer, nullable=False),
    sa.Column("n_xfailed", sa.Integer, nullable=False),
    sa.Column("n_xpassed", sa.Integer, nullable=False),
    sa.Column("n_error", sa.Integer, nullable=False),
    sa.Column("received", sa.DateTime, nullable=False),
    # the run list: newest first, by any one filter
    sa.Index("runs_started", "started"),
    sa.Index("runs_host_started", "host_id", "started"),
    sa.Index("runs_dut_started", "dut_id", "started"),
    sa.Index("runs_firmware_started", "firmware", "started"),
    sa.Index("runs_suite_started", "suite", "started"),
    sa.Index("runs_verdict_started", "verdict", "started"),
)

# a test's node id once (5 million results share a few thousand names); the
# unique key is a digest of the text, as a node id may outgrow an index entry
test_names = sa.Table(
    "test_names", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(40), nullable=False, unique=True),
    sa.Column("nodeid", sa.Text, nullable=False),
)

tests = sa.Table(
    "tests", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("name_id", sa.Integer, sa.ForeignKey("test_names.id"), nullable=False),
    sa.Column("outcome", sa.String(8), nullable=False),
    sa.Column("duration_s", sa.Float),
    sa.Column("message", sa.Text),
    sa.Column("spec_clause", sa.String(255)),
    sa.Column("started", sa.DateTime),
    sa.Index("tests_run", "run_id"),
    # a test's history: its outcome in every run, from the index alone
    sa.Index("tests_name_run_outcome", "name_id", "run_id", "outcome"),
)

# what a metric is: its name within a test ("" for the run's own); trends pick keys
metric_keys = sa.Table(
    "metric_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(40), nullable=False, unique=True),
    sa.Column("test", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
)

metrics = sa.Table(
    "metrics", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("key_id", sa.Integer, sa.ForeignKey("metric_keys.id"), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("unit", sa.String(32)),
    sa.Column("series", sa.Text),   # JSON [[seconds, value], ...] or NULL
    sa.Index("metrics_run", "run_id"),
    sa.Index("metrics_key_run", "key_id", "run_id"),
)

artifacts = sa.Table(
    "artifacts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("test", sa.Text),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("content_type", sa.String(255)),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Index("artifacts_run", "run_id"),
)
