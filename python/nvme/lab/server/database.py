"""The lab database's connection: an engine for a URL, the URL as it may be shown
(password masked), and the schema migrations (Alembic) run on it."""
import os

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")


def masked_url(url):
    """The URL with its password replaced by ***: what pages, logs and errors show."""
    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not even a URL: show nothing of it
        return "(a database URL that does not parse)"


def mask_secret(text, url):
    """text with the URL's password blotted out wherever it appears (driver errors
    may quote the connection string)."""
    try:
        password = make_url(str(url)).password
    except Exception:  # noqa: BLE001
        return text
    return str(text).replace(password, "***") if password else str(text)


def sqlite_path(url):
    u = make_url(str(url))
    return u.database if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:") \
        else None


def _sqlite_pragmas(dbapi_connection, _record):
    # the transactions are begun below, not by the driver (which defers them)
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    # readers never block the writer; a writer waits for another up to 30 s
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn):
    # a writer (execution option "writer") takes the write lock at once, so two
    # uploads queue up on the busy timeout instead of one failing on a lock upgrade
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writer")
                         else "BEGIN")


def writer(engine):
    """The engine for a read-write transaction (on SQLite: BEGIN IMMEDIATE)."""
    return engine.execution_options(writer=True)


def make_engine(url):
    """An engine for the URL; an SQLite file's folder is created when missing."""
    u = make_url(str(url))
    if u.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = sa.create_engine(u, future=True, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    # no pre-ping (a round trip per request): a connection the server dropped fails
    # one request (a 5xx: the uploader retries) and the pool replaces it
    return sa.create_engine(u, future=True, pool_recycle=3600, hide_parameters=True)


def _alembic_config(connection):
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine, revision="head"):
    """Brings the schema to `revision` (all migrations by default), in one transaction."""
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


def current_revision(engine):
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision():
    return ScriptDirectory(MIGRATIONS).get_current_head()
