"""pynvme-lab: the lab server's command line (docs/lab-server.md).

    pynvme-lab serve [--db URL] [--host H] [--port P]
    pynvme-lab db upgrade [--db URL]
    pynvme-lab token add HOST [--db URL]
    pynvme-lab generate --runs N --tests M [--db URL]
    pynvme-lab upload ...          (the test host's uploader: nvme.lab.upload)

The database is --db, else $PYNVME_LAB_DB, else SQLite in build/lab/lab.sqlite of
the checkout. Its password is never printed: errors and logs show it as ***."""
import argparse
import logging
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
DEFAULT_DB = "sqlite:///" + os.path.join(ROOT, "build", "lab", "lab.sqlite")

log = logging.getLogger("pynvme.lab.server")


def default_db():
    return os.environ.get("PYNVME_LAB_DB") or DEFAULT_DB


def _engine(url):
    from .database import make_engine, upgrade
    engine = make_engine(url)
    upgrade(engine)
    return engine


def cmd_serve(args):
    from werkzeug.serving import WSGIRequestHandler, make_server

    class AccessLog(WSGIRequestHandler):
        """One plain line per request (no terminal colours in a log file)."""

        def log_request(self, code="-", size="-"):
            log.info('%s "%s" %s', self.address_string(), self.requestline, code)

    from .app import create_app
    from .database import masked_url
    engine = _engine(args.db)
    app = create_app(args.db, engine=engine)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=AccessLog)
    print(f"pynvme-lab: serving http://{args.host}:{server.server_port}/ "
          f"(database {masked_url(args.db)})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_db_upgrade(args):
    from .database import current_revision, masked_url
    engine = _engine(args.db)
    print(f"pynvme-lab: {masked_url(args.db)} is at revision {current_revision(engine)}")
    return 0


def cmd_token_add(args):
    from .tokens import add_token
    token = add_token(_engine(args.db), args.host_name)
    print(f"# the upload token of host {args.host_name} (shown this once; the lab keeps only its hash)",
          file=sys.stderr)
    print(token)
    return 0


def cmd_generate(args):
    from .generate import generate
    engine = _engine(args.db)
    t0 = time.monotonic()

    def progress(runs, results):
        print(f"\r  {runs:,} runs, {results:,} results, {time.monotonic() - t0:.0f} s", end="",
              file=sys.stderr, flush=True)
    written = generate(engine, args.runs, args.tests, seed=args.seed, progress=progress)
    print(f"\npynvme-lab: {args.runs:,} runs with {written:,} test results in "
          f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 0


def cmd_upload(argv):
    import importlib
    try:
        upload = importlib.import_module("nvme.lab.upload")
    except ModuleNotFoundError as e:
        if e.name != "nvme.lab.upload":
            raise
        print("pynvme-lab upload: the uploader (python/nvme/lab/upload.py, nvme.lab.upload) "
              "is not in this checkout", file=sys.stderr)
        return 2
    return upload.main(argv)


def parser():
    p = argparse.ArgumentParser(prog="pynvme-lab", description="The pynvme lab server.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_db(sp):
        sp.add_argument("--db", default=default_db(), metavar="URL",
                        help="SQLAlchemy database URL (default: $PYNVME_LAB_DB or "
                             "sqlite:///build/lab/lab.sqlite), e.g. "
                             "postgresql://lab:PASSWORD@dbhost/lab")
        return sp
    s = with_db(sub.add_parser("serve", help="run the web server (migrates the database first)"))
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    s.set_defaults(run=cmd_serve)
    db = sub.add_parser("db", help="the database schema")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    with_db(dbsub.add_parser("upgrade", help="apply every migration")).set_defaults(run=cmd_db_upgrade)
    tok = sub.add_parser("token", help="upload tokens")
    toksub = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    add = with_db(toksub.add_parser("add", help="make a token for HOST and print it once"))
    add.add_argument("host_name", metavar="HOST", help="the test host's name (its hostname)")
    add.set_defaults(run=cmd_token_add)
    g = with_db(sub.add_parser("generate", help="fill the database with made-up runs (benchmark)"))
    g.add_argument("--runs", type=int, required=True)
    g.add_argument("--tests", type=int, required=True)
    g.add_argument("--seed", type=int, default=1)
    g.set_defaults(run=cmd_generate)
    sub.add_parser("upload", help="push spooled runs to a lab server (nvme.lab.upload)",
                   add_help=False)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["upload"]:
        return cmd_upload(argv[1:])
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from .database import mask_secret, masked_url
    try:
        return args.run(args)
    except Exception as e:  # noqa: BLE001 - one line naming the database, password masked
        from sqlalchemy.exc import SQLAlchemyError
        if not isinstance(e, (SQLAlchemyError, OSError)):
            raise
        detail = getattr(e, "orig", None) or e
        print(f"pynvme-lab: database {masked_url(args.db)}: "
              f"{mask_secret(str(detail).strip(), args.db)}", file=sys.stderr)
        return 1
