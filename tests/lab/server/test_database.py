"""Migrations from an empty database, tokens kept hashed, and the database URL's
password never shown (pages, logs, errors)."""
import os
import subprocess
import sys
import urllib.request

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lab_server_fixtures import HOST, ROOT, Lab, make_doc
from nvme.lab.server.database import (current_revision, head_revision, make_engine, mask_secret,
                                      masked_url, upgrade)
from nvme.lab.server.schema import metadata

CLI = os.path.join(ROOT, "tools", "pynvme-lab")


def test_migrations_from_empty_match_the_tables(db_url):
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision() == "0001"
        upgrade(engine)         # again: nothing to do
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diffs == []
    finally:
        engine.dispose()


def test_token_is_kept_as_a_hash(lab):
    with lab.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM tokens"))]
    assert len(stored) == 1 and lab.token not in repr(stored)
    assert lab.token[len("pynvme-lab-"):] not in repr(lab.snapshot())


def test_masked_url():
    url = "postgresql+psycopg2://lab:s3cr%40t@db.example:5432/lab"
    assert masked_url(url) == "postgresql+psycopg2://lab:***@db.example:5432/lab"
    assert mask_secret("could not connect with s3cr@t", url) == "could not connect with ***"
    assert masked_url("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"


def run_cli(*args, env=None):
    return subprocess.run([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_password_never_shows(postgres):
    url = postgres.create_database("masking")
    wrong = url.replace(postgres.password, "Wr0ngPassw0rdXYZ")
    p = run_cli("db", "upgrade", "--db", wrong)
    assert p.returncode == 1
    assert "Wr0ngPassw0rdXYZ" not in p.stdout + p.stderr
    assert "pynvme-lab: database postgresql+psycopg2://lab:***@/masking" in p.stderr
    assert "password authentication failed" in p.stderr
    ok = run_cli("db", "upgrade", "--db", url)
    assert ok.returncode == 0, ok.stderr
    assert postgres.password not in ok.stdout + ok.stderr and "lab:***@" in ok.stdout
    # the server: its log and every page
    lab = Lab(url)
    try:
        assert lab.post(make_doc()).status_code == 201
        for page in ("/runs", "/fleet", "/trends", "/api/v1/runs", "/runs/nope", "/api/v1/fleet"):
            text = lab.client.get(page).get_data(as_text=True)
            assert postgres.password not in text, page
        assert "lab:***@/masking" in lab.client.get("/fleet").get_data(as_text=True)
    finally:
        lab.engine.dispose()


def test_serve_migrates_and_serves(postgres, tmp_path):
    """`pynvme-lab serve` on a new database: migrates it, says where it serves
    (password masked), answers pages and takes an upload with a token made by
    `pynvme-lab token add`."""
    url = postgres.create_database("served")
    token = run_cli("token", "add", HOST, "--db", url)
    assert token.returncode == 0 and token.stdout.startswith("pynvme-lab-")
    server = subprocess.Popen([CLI, "serve", "--db", url, "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert "pynvme-lab: serving http://127.0.0.1:" in line and "lab:***@/served" in line
        base = line.split()[2]
        doc = make_doc()
        req = urllib.request.Request(base + "api/v1/runs", data=__import__("json").dumps(doc).encode(),
                                     headers={"Authorization": f"Bearer {token.stdout.strip()}",
                                              "Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=60).status == 201
        page = urllib.request.urlopen(base + "runs", timeout=60).read().decode()
        assert doc["run"]["uuid"] in page
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert postgres.password not in out + err
    assert "POST /api/v1/runs" in err        # the access log, without secrets
    assert token.stdout.strip() not in out + err


def test_upload_subcommand_dispatches_to_the_uploader(monkeypatch, capsys):
    """`pynvme-lab upload ARGS` is nvme.lab.upload.main(ARGS); a checkout without the
    uploader says so."""
    import types
    from nvme.lab.server.cli import main
    uploader = types.ModuleType("nvme.lab.upload")
    uploader.main = lambda argv: print("UPLOAD", argv) or 7
    monkeypatch.setitem(sys.modules, "nvme.lab.upload", uploader)
    assert main(["upload", "--server", "http://x", "--once"]) == 7
    assert "UPLOAD ['--server', 'http://x', '--once']" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "nvme.lab.upload", None)      # as if upload.py were missing
    assert main(["upload"]) == 2
    err = capsys.readouterr().err
    assert "the uploader" in err and "is not in this checkout" in err


def test_default_database_is_sqlite_in_the_build_folder(monkeypatch):
    from nvme.lab.server import cli
    monkeypatch.delenv("PYNVME_LAB_DB", raising=False)
    assert cli.default_db() == "sqlite:///" + os.path.join(ROOT, "build", "lab", "lab.sqlite")
    monkeypatch.setenv("PYNVME_LAB_DB", "postgresql://lab:pw@db/lab")
    assert cli.parser().parse_args(["serve"]).db == "postgresql://lab:pw@db/lab"
