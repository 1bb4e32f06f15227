"""The monitor's sockets: one daemon thread with a selector loop serving
JSON-RPC (protocol.py) on Unix sockets, with every limit that keeps a bad
client from stalling the test process."""
import json
import os
import selectors
import socket
import stat
import struct
import threading
import time

from . import protocol

SOCKET_DIR = os.environ.get("PYNVME_MONITOR_DIR", "/var/tmp")
SHARED_NAME = "pynvme.sock"
MAX_REQUEST = 64 * 1024          # bytes of one request not yet parsed
MAX_PENDING_OUTPUT = 4 * 1024 * 1024   # answers a client has not read
MAX_CLIENTS = 32
PARTIAL_TIMEOUT = 5.0            # s an incomplete request may wait for its end
IDLE_TIMEOUT = 600.0             # s a silent connection is kept


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.partial_since = None
        self.last_active = time.monotonic()


class Service:
    def __init__(self, directory):
        self.directory = directory
        self.paths = []            # socket paths we bound (and will unlink)
        self.inodes = {}
        self.listeners = []
        self.sel = selectors.DefaultSelector()
        self.clients = {}
        self.stopping = False
        self.uid = os.getuid()
        self.pid = os.getpid()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.thread = None

    def _listen(self, path, take_stale):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(path)
        except OSError:
            if not take_stale or not _stale(path):
                s.close()
                return False
            try:
                os.unlink(path)
                s.bind(path)
            except OSError:
                s.close()
                return False
        # 0600: only this user (and root) may connect; connections are also
        # checked by peer credentials, which closes the window before chmod
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        s.listen(MAX_CLIENTS)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, "listen")
        self.listeners.append(s)
        self.paths.append(path)
        self.inodes[path] = os.stat(path).st_ino
        return True

    def _sweep(self):
        """Removes per-process sockets that processes killed without their
        exit handlers (SIGKILL, a crash) left behind: ours, and dead."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if not (name.startswith("pynvme-") and name.endswith(".sock")):
                continue
            pid = name[len("pynvme-"):-len(".sock")]
            path = os.path.join(self.directory, name)
            try:
                if not pid.isdigit() or os.lstat(path).st_uid != self.uid:
                    continue
                os.kill(int(pid), 0)
            except ProcessLookupError:
                if _stale(path):
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
            except OSError:
                continue

    def start(self):
        self._sweep()
        own = os.path.join(self.directory, f"pynvme-{os.getpid()}.sock")
        if not self._listen(own, take_stale=True):
            raise OSError(f"nvme.monitor: cannot listen on {own}")
        # the original's path, for its VS Code extension: the first process
        # that finds it free (or left behind by a dead process) takes it
        self._listen(os.path.join(self.directory, SHARED_NAME), take_stale=True)
        self.thread = threading.Thread(target=self._loop, name="pynvme-monitor", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass
        if self.thread and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
        for path in self.paths:
            try:
                # only if it is still ours (another process may have taken it over)
                if os.stat(path).st_ino == self.inodes.get(path):
                    os.unlink(path)
            except OSError:
                pass
        self.paths = []

    def _loop(self):
        while not self.stopping:
            try:
                events = self.sel.select(timeout=1.0)
            except OSError:
                continue
            for key, mask in events:
                if key.data is None:
                    try:
                        os.read(self.wake_r, 64)
                    except OSError:
                        pass
                elif key.data == "listen":
                    self._accept(key.fileobj)
                else:
                    try:
                        self._serve(key.data, mask)
                    except Exception:   # a bug with one client must not end the service
                        self._drop(key.data)
            self._expire()
        for c in list(self.clients.values()):
            self._drop(c)
        for s in self.listeners:
            self.sel.unregister(s)
            s.close()
        self.listeners = []

    def _accept(self, lsock):
        try:
            s, _ = lsock.accept()
        except OSError:
            return
        try:
            creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", creds)
        except OSError:
            uid = -1
        if uid not in (self.uid, 0) or len(self.clients) >= MAX_CLIENTS:
            s.close()
            return
        s.setblocking(False)
        c = Client(s)
        self.clients[s.fileno()] = c
        self.sel.register(s, selectors.EVENT_READ, c)

    def _drop(self, c):
        self.clients.pop(c.sock.fileno(), None)
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def _serve(self, c, mask):
        if mask & selectors.EVENT_READ:
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                return self._drop(c)
            if data == b"":
                return self._drop(c)
            if data:
                c.last_active = time.monotonic()
                c.inbuf += data
                texts, c.inbuf = protocol.split_requests(c.inbuf)
                for t in texts:
                    answer = protocol.handle(t)
                    if answer:
                        c.outbuf += answer.encode() + b"\n"
                if len(c.inbuf) > MAX_REQUEST:
                    c.outbuf += json.dumps(protocol._error(None, protocol.INVALID_REQUEST,
                                                  f"request larger than {MAX_REQUEST} bytes"))\
                        .encode() + b"\n"
                    c.inbuf = b""
                    self._flush(c)
                    return self._drop(c)
                c.partial_since = (c.partial_since or time.monotonic()) if c.inbuf else None
        if c.outbuf or mask & selectors.EVENT_WRITE:
            self._flush(c)

    def _flush(self, c):
        try:
            n = c.sock.send(c.outbuf)
            c.outbuf = c.outbuf[n:]
        except BlockingIOError:
            pass
        except OSError:
            return self._drop(c)
        if len(c.outbuf) > MAX_PENDING_OUTPUT:
            return self._drop(c)   # it does not read its answers
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.outbuf else 0)
        try:
            self.sel.modify(c.sock, want, c)
        except (KeyError, ValueError):
            pass

    def _expire(self):
        now = time.monotonic()
        for c in list(self.clients.values()):
            if (c.partial_since and now - c.partial_since > PARTIAL_TIMEOUT) or \
                    now - c.last_active > IDLE_TIMEOUT:
                self._drop(c)


def _stale(path):
    """A socket file nobody listens on (its process is gone)."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(path)
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()
