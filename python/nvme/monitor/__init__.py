"""Live monitor of the driver: a JSON-RPC 2.0 service on Unix sockets, inside the
test process.

    import nvme
    nvme.monitor.start()        # the pytest plugin does this unless --no-monitor

One socket per process (/var/tmp/pynvme-<pid>.sock) and /var/tmp/pynvme.sock
for the first process that takes it (the original pynvme's path, which its
VS Code extension polls). Both are mode 0600 and every connection's peer
credentials are checked: only this user and root are served.

The service is one daemon thread with a selector loop. It reads the driver
through nvme._nvme's _monitor_* snapshots (python/nvme/ext/py_monitor.c),
which take no lock the IO path takes: an ioworker running in C threads pays
nothing for it. It never blocks the test: sockets are non-blocking, a request
is capped at MAX_REQUEST bytes, a client whose request stays incomplete for
PARTIAL_TIMEOUT seconds, or that does not read its answers, is disconnected.
Methods and their results: docs/monitor.md. The parts: service.py (sockets,
limits), protocol.py (JSON-RPC), methods.py (what the driver looks like),
status.py (status names).
"""
import atexit
import os
import threading

from . import service

_service = None
_lock = threading.Lock()


def start(directory=None):
    """Starts the monitor service of this process (once; later calls return the
    paths it listens on). Returns the list of socket paths: this process's own
    first, then /var/tmp/pynvme.sock when this process took it."""
    global _service
    with _lock:
        # a forked child inherits the parent's service object, not its thread
        if _service is None or _service.stopping or _service.pid != os.getpid():
            svc = service.Service(directory or service.SOCKET_DIR)
            svc.start()
            _service = svc
            atexit.register(stop)
        return list(_service.paths)


def stop():
    """Stops the service and removes its sockets."""
    global _service
    with _lock:
        if _service is not None:
            _service.stop()
            _service = None


def running():
    return _service is not None


def socket_paths():
    return list(_service.paths) if _service else []

