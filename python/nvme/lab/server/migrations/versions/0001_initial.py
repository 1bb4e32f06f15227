"""The first schema: hosts and their tokens, DUTs, runs, tests, metrics, artifacts.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade():
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("last_upload", sa.DateTime),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.DateTime, nullable=False),
    )
    op.create_index("ix_tokens_host_id", "tokens", ["host_id"])
    op.create_table(
        "duts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("serial", sa.String(255), nullable=False),
        sa.Column("vendor_id", sa.Integer),
        sa.Column("capacity_bytes", sa.BigInteger),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.UniqueConstraint("model", "serial", name="duts_model_serial"),
    )
    op.create_table(
        "runs",
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
        *[sa.Column(n, sa.Integer, nullable=False) for n in (
            "n_tests", "n_passed", "n_failed", "n_skipped", "n_xfailed", "n_xpassed", "n_error")],
        sa.Column("received", sa.DateTime, nullable=False),
    )
    for name, cols in (("runs_started", ["started"]), ("runs_host_started", ["host_id", "started"]),
                       ("runs_dut_started", ["dut_id", "started"]),
                       ("runs_firmware_started", ["firmware", "started"]),
                       ("runs_suite_started", ["suite", "started"]),
                       ("runs_verdict_started", ["verdict", "started"])):
        op.create_index(name, "runs", cols)
    op.create_table(
        "test_names",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(40), nullable=False, unique=True),
        sa.Column("nodeid", sa.Text, nullable=False),
    )
    op.create_table(
        "tests",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("name_id", sa.Integer, sa.ForeignKey("test_names.id"), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("message", sa.Text),
        sa.Column("spec_clause", sa.String(255)),
        sa.Column("started", sa.DateTime),
    )
    op.create_index("tests_run", "tests", ["run_id"])
    op.create_index("tests_name_run_outcome", "tests", ["name_id", "run_id", "outcome"])
    op.create_table(
        "metric_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(40), nullable=False, unique=True),
        sa.Column("test", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_table(
        "metrics",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("metric_keys.id"), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit", sa.String(32)),
        sa.Column("series", sa.Text),
    )
    op.create_index("metrics_run", "metrics", ["run_id"])
    op.create_index("metrics_key_run", "metrics", ["key_id", "run_id"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("test", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(255)),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("artifacts_run", "artifacts", ["run_id"])


def downgrade():
    for table in ("artifacts", "metrics", "metric_keys", "tests", "test_names", "runs", "duts",
                  "tokens", "hosts"):
        op.drop_table(table)
