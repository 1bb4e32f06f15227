"""The lab server's Flask application: the ingest API, the pages and their JSON
twins (views.py), on one database."""
import datetime

from flask import Flask

from .database import make_engine, masked_url

MAX_UPLOAD_BYTES = 64 << 20     # docs/lab-format.md

# Pages are ours alone: no script, no outside address. An artifact (a report's
# HTML, a log) is someone else's text: sandboxed, so it runs nothing as this site.
PAGE_POLICY = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
               "base-uri 'none'; frame-ancestors 'none'")
ARTIFACT_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"


def create_app(db_url, max_upload_bytes=MAX_UPLOAD_BYTES, engine=None):
    """The application on the database at db_url (migrated already: see
    database.upgrade). The URL's password is kept out of everything shown."""
    from .views import bp

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes
    app.json.sort_keys = False
    app.extensions["lab"] = {"engine": engine or make_engine(db_url),
                             "db_shown": masked_url(db_url),
                             "max_upload_bytes": max_upload_bytes}
    app.jinja_env.autoescape = True     # every template, whatever its name
    app.jinja_env.filters.update(when=format_time, duration=format_duration, size=format_size,
                                 number=format_number)
    app.register_blueprint(bp)

    @app.after_request
    def policy(response):
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    return app


def format_time(t):
    return t.strftime("%Y-%m-%d %H:%M:%S") if isinstance(t, datetime.datetime) else "-"


def format_duration(seconds):
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def format_size(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def format_number(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"
