"""One job per device: an flock on /run/lock/pynvme-<BDF>.lock (docs/lab.md).

The pytest plugin holds it for the whole session on the function given by --pciaddr,
so two CI jobs on one host never drive the same DUT: the second waits, saying who holds
it, or gives up after --lock-timeout seconds with an error naming the holder. The lock
goes with the process (the kernel drops an flock when its file closes), so a killed
job never leaves a stale lock behind."""
import fcntl
import os
import re
import sys
import tempfile
import time

BDF = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")


class DeviceLockTimeout(Exception):
    """The device stayed locked by another process for --lock-timeout seconds."""


def canonical_bdf(addr):
    """'01:00.0' -> '0000:01:00.0'; None for an address that is no PCI function
    (a software controller lives in its process: nothing to lock)."""
    m = BDF.match(str(addr).strip())
    if not m:
        return None
    dom, bus, dev, fn = m.groups()
    return f"{(dom or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


def lock_dir(env=os.environ):
    """PYNVME_LOCK_DIR, else the first writable of /run/lock, /var/lock, the temp folder."""
    if env.get("PYNVME_LOCK_DIR"):
        return env["PYNVME_LOCK_DIR"]
    for d in ("/run/lock", "/var/lock"):
        if os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            return d
    return tempfile.gettempdir()


def describe_self():
    try:
        with open("/proc/self/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        cmd = " ".join(sys.argv)
    return f"pid {os.getpid()}: {cmd}"


class DeviceLock:
    """An exclusive lock on one PCI function; acquire() then, at the end, release()."""

    def __init__(self, bdf, directory=None):
        self.bdf = bdf
        self.path = os.path.join(directory or lock_dir(), f"pynvme-{bdf}.lock")
        self.fd = None

    def holder(self):
        """Who holds it, as the holder wrote it: 'pid N: command'."""
        try:
            with open(self.path) as f:
                return f.read().strip() or "an unknown process"
        except OSError:
            return "an unknown process"

    def acquire(self, timeout_s=None, say=None, poll_s=0.5):
        """Waits for the lock (forever with timeout_s None); say(text) is told once
        when it has to wait. Raises DeviceLockTimeout naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            os.fchmod(fd, 0o666)    # the next job may run as another user
        except OSError:
            pass
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise DeviceLockTimeout(
                        f"device {self.bdf} is in use by {self.holder()} (lock {self.path}); "
                        f"gave up after {timeout_s:g} s (--lock-timeout)") from None
                if not told and say is not None:
                    told = True
                    say(f"device {self.bdf} is in use by {self.holder()}; waiting for it "
                        f"(lock {self.path}"
                        f"{'' if timeout_s is None else f', at most {timeout_s:g} s'})")
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (describe_self() + "\n").encode(), 0)
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)     # closing drops the flock
            self.fd = None
