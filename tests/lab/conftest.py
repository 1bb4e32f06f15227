"""The lab's host-side tests: the recorder, the spool, the uploader, the device lock
(docs/lab.md). The package comes from the checkout (python/, built by make)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(ROOT, "python")
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# a session of this suite may itself run under a recording pytest: the pytests
# that the tests start must not take it for their parent
LAB_ENV = ("PYNVME_LAB_PARENT_RUN", "PYNVME_DEVICE_LOCKS_HELD", "PYNVME_LAB_URL",
           "PYNVME_LAB_TOKEN", "PYNVME_LAB_SPOOL", "PYNVME_LAB_RECORD", "PYNVME_LAB_HOST",
           "CI_JOB_ID", "CI_JOB_URL", "BUILD_ID", "BUILD_URL", "JENKINS_URL")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in LAB_ENV}
    env["PYTHONPATH"] = PYTHON_DIR
    env["PYNVME_MONITOR"] = "0"
    env.update(extra)
    return env
