"""The lab server's tests (docs/lab-server.md); fixtures in lab_server_fixtures."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab_server_fixtures import db_url, doc, lab, postgres  # noqa: E402,F401
