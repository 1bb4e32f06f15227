"""What the recorder's and uploader's tests share: the checkout's paths and a clean
environment for the pytests and uploaders they start. (Not in conftest.py: the lab
server's tests have a conftest of their own in server/, and a test module's
`import conftest` would get whichever was loaded last.)"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(ROOT, "python")

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
