"""The lab server (docs/lab-server.md): stores the runs the test hosts upload
(docs/lab-format.md) in PostgreSQL or SQLite and shows them as pages and JSON.

    tools/pynvme-lab serve            # SQLite in build/lab/lab.sqlite
"""
from .app import create_app  # noqa: F401
