"""pynvme-top (tools/pynvme-top) driven in tmux against a process running an
ioworker on a software controller: what the screen shows is checked in
`tmux capture-pane` text."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import sys
import itertools
import time

import pytest

import nvme

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP = os.path.join(ROOT, "tools", "pynvme-top")
WORKLOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "monitor_workload.py")

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux missing (tools/install-deps.sh installs it)")


@pytest.fixture
def sockdir(tmp_path):
    """The workload's sockets go here, not to /var/tmp (pynvme-top follows)."""
    return str(tmp_path)


def stop(p):
    """Ctrl-C: the worker stops, the process exits and removes its sockets."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=30)


@pytest.fixture
def workload(sockdir):
    # the nvme package this test imported (the normal build, or the sanitizer one)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(nvme.__file__)),
               PYNVME_MONITOR_DIR=sockdir)
    p = subprocess.Popen([sys.executable, WORKLOAD, "60"], stdout=subprocess.PIPE, text=True,
                         env=env)
    try:
        line = p.stdout.readline()   # bounded: the worker starts within seconds or dies
        assert line.strip() == "ready", f"workload process did not start: {line!r}"
        yield p
    finally:
        stop(p)


class Tmux:
    """A tmux server of our own (its own socket name), killed at the end."""

    _count = itertools.count()

    def __init__(self):
        # a server per test: one being killed at the end of the last test must
        # not take the next test's session with it
        self.name = f"pynvme-top-test-{os.getpid()}-{next(self._count)}"

    def run(self, *args, check=True, timeout=30):
        # output through files, not pipes: the server that new-session starts
        # may keep inherited pipes open, and reading one to its end would
        # then wait for the server to exit
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(["tmux", "-L", self.name, *args], stdin=subprocess.DEVNULL,
                               stdout=out, stderr=err, text=True, timeout=timeout)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        if check and r.returncode:
            raise AssertionError(f"tmux {' '.join(args[:2])} failed ({r.returncode}): "
                                 f"{r.stderr.strip()}")
        return r

    def start(self, command):
        # a tmux client now and then takes seconds to get an answer from a
        # server it just started (seen in CI only, never reproduced by hand):
        # ask again rather than fail the test on the terminal's start-up
        for attempt in range(3):
            try:
                self.run("new-session", "-d", "-s", "t", "-x", "160", "-y", "50", command,
                         timeout=10)
                return
            except subprocess.TimeoutExpired:
                try:
                    if self.run("has-session", "-t", "t", check=False, timeout=10).returncode == 0:
                        return
                except subprocess.TimeoutExpired:
                    pass
        raise AssertionError("tmux never started the session")

    def screen(self):
        try:
            r = self.run("capture-pane", "-p", "-t", "t", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return ""              # the caller looks again until its own deadline
        return r.stdout

    def wait_for(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.3)
        raise AssertionError(f"screen never matched; last screen:\n{text}")

    def kill(self):
        try:
            self.run("kill-server", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def tmux():
    t = Tmux()
    yield t
    t.kill()


def ioworker_iops(text):
    """IOPS of the ioworker rows of the IOWORKERS section."""
    rows = re.findall(r"^\s+soft:null\S*\s+\d+\s+running\s+(\d+)\s", text, re.M)
    return [int(r) for r in rows]


def test_top_shows_queues_and_live_iops(workload, tmux, sockdir):
    # a shell around it: its exit status and any traceback stay on the screen
    tmux.start(f"PYNVME_MONITOR_DIR={sockdir} {sys.executable} {TOP} --pid {workload.pid}; "
               "echo EXIT=$?; sleep 60")
    text = tmux.wait_for(lambda t: any(i > 0 for i in ioworker_iops(t)))
    assert "CONTROLLERS" in text and "pynvme software controller" in text
    kinds = re.findall(r"^ [> ]\s+soft:null\S*\s+(\d+)\s+(admin|qpair|ioworker)\s", text, re.M)
    assert [k for _, k in kinds] == ["admin", "qpair", "ioworker"], text
    assert "COMMANDS of soft:null" in text and "qid 0 (admin)" in text
    assert "Identify" in text
    # the numbers move: a later screen shows more completions on the worker's queue
    first = re.search(r"ioworker\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+(\d+)", text)
    later = tmux.wait_for(lambda t: (m := re.search(
        r"ioworker\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+(\d+)", t)) and first and
        int(m.group(1)) > int(first.group(1)))
    assert "running" in later
    # Down selects the IO queue: its log shows the script's Write
    tmux.run("send-keys", "-t", "t", "Down")
    text = tmux.wait_for(lambda t: "(qpair)" in t)
    assert re.search(r"^\s+\d+\s+Write\s+00/00 Successful Completion", text, re.M), text
    tmux.run("send-keys", "-t", "t", "q")
    text = tmux.wait_for(lambda t: "EXIT=" in t)
    assert "EXIT=0" in text and "Traceback" not in text


def test_top_ctrl_c_exits_cleanly(workload, tmux, sockdir):
    tmux.start(f"PYNVME_MONITOR_DIR={sockdir} {sys.executable} {TOP} --pid {workload.pid}; "
               "echo EXIT=$?; sleep 60")
    tmux.wait_for(lambda t: "QUEUES" in t)
    tmux.run("send-keys", "-t", "t", "C-c")
    text = tmux.wait_for(lambda t: "EXIT=" in t)
    assert "EXIT=0" in text and "Traceback" not in text


def test_top_once_snapshot(workload, sockdir):
    # no --pid: the one live socket of the directory
    out = subprocess.run([sys.executable, TOP, "--once"], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYNVME_MONITOR_DIR=sockdir))
    assert out.returncode == 0, out.stderr
    assert "ioworker" in out.stdout and "QUEUES" in out.stdout


def test_top_says_when_no_process_is_there(tmp_path):
    env = dict(os.environ, PYNVME_MONITOR_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, TOP], capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.returncode == 1
    assert "no pynvme process is running" in out.stderr
    out = subprocess.run([sys.executable, TOP, "--pid", "999999999"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 1
    assert "no pynvme process listens on" in out.stderr and "Traceback" not in out.stderr


def test_top_says_when_the_process_goes_away(workload, tmux, sockdir):
    tmux.start(f"PYNVME_MONITOR_DIR={sockdir} {sys.executable} {TOP} --pid {workload.pid}; "
               "echo EXIT=$?; sleep 60")
    tmux.wait_for(lambda t: "QUEUES" in t)
    stop(workload)
    assert not os.path.exists(os.path.join(sockdir, f"pynvme-{workload.pid}.sock"))
    text = tmux.wait_for(lambda t: "lost" in t)
    assert f"pynvme-{workload.pid}.sock" in text and "retrying" in text
    tmux.run("send-keys", "-t", "t", "q")
    text = tmux.wait_for(lambda t: "EXIT=" in t)
    assert "EXIT=0" in text and "Traceback" not in text
