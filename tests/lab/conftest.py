"""The lab's host-side tests: the recorder, the spool, the uploader, the device lock
(docs/lab.md), helpers in lab_test_env.py; the lab server's tests are in server/.
The package comes from the checkout (python/, built by make)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "python")
for path in (PYTHON_DIR, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)
