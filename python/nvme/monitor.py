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
Methods and their results: docs/monitor.md.
"""
import atexit
import json
import os
import selectors
import socket
import stat
import struct
import threading
import time

from . import _nvme
from . import nvme_status

SOCKET_DIR = os.environ.get("PYNVME_MONITOR_DIR", "/var/tmp")
SHARED_NAME = "pynvme.sock"
MAX_REQUEST = 64 * 1024          # bytes of one request not yet parsed
MAX_PENDING_OUTPUT = 4 * 1024 * 1024   # answers a client has not read
MAX_CLIENTS = 32
PARTIAL_TIMEOUT = 5.0            # s an incomplete request may wait for its end
IDLE_TIMEOUT = 600.0             # s a silent connection is kept
CMDLOG_MAX = 1024
MAX_BATCH = 100                  # requests in one batch: a batch is answered in one go

# JSON-RPC 2.0 error codes
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = \
    -32700, -32600, -32601, -32602, -32603
BUSY = -32000                    # server-defined: the queue is being re-created, ask again


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# ---- what the driver looks like ----------------------------------------

def _controllers():
    return _nvme._monitor_controllers()


def _find_ctrl(params):
    """The controller a request names: params "ctrlr" as its address or its
    index in `controllers`; the only one when there is one."""
    ctrls = _controllers()
    want = params.get("ctrlr") if isinstance(params, dict) else None
    if want is None:
        if len(ctrls) == 1:
            return 0, ctrls[0]
        raise RpcError(INVALID_PARAMS, f"{len(ctrls)} controllers open: name one with "
                       "\"ctrlr\" (address or index)")
    for i, c in enumerate(ctrls):
        if want == i or want == c.addr:
            return i, c
    raise RpcError(INVALID_PARAMS, f"no open controller {want!r}")


def _reg(value, width=8):
    return {"value": value, "hex": f"0x{value:0{width}x}"}


def method_controllers(params):
    out = []
    for i, c in enumerate(_controllers()):
        info = _nvme._monitor_ctrl_info(c)
        cap, cc, csts = info["cap"], info["cc"], info["csts"]
        out.append({
            "index": i, "ctrlr": info["addr"], "model": info["model"],
            "serial": info["serial"], "firmware": info["firmware"],
            "identified": bool(info["identified"]), "failed": bool(info["failed"]),
            "mdts": info["mdts"], "timeout_ms": info["timeout_ms"],
            "registers": {
                "CAP": dict(_reg(cap, 16), MQES=(cap & 0xffff) + 1,
                            TO_ms=((cap >> 24) & 0xff) * 500, DSTRD=(cap >> 32) & 0xf),
                "VS": dict(_reg(info["vs"]), version=f"{info['vs'] >> 16}."
                           f"{(info['vs'] >> 8) & 0xff}.{info['vs'] & 0xff}"),
                "CC": dict(_reg(cc), EN=cc & 1, SHN=(cc >> 14) & 3),
                "CSTS": dict(_reg(csts), RDY=csts & 1, CFS=(csts >> 1) & 1,
                             SHST=(csts >> 2) & 3),
            },
        })
    return out


def _queues_of(index, c):
    out = []
    for q in _nvme._monitor_queues(c):
        q = dict(q, ctrlr=c.addr, ctrlr_index=index, ien=bool(q["ien"]))
        q["handle"] = _handle(index, q["qid"])
        out.append(q)
    return out


def method_queues(params):
    if isinstance(params, dict) and "ctrlr" in params:
        return _queues_of(*_find_ctrl(params))
    out = []
    for i, c in enumerate(_controllers()):
        out.extend(_queues_of(i, c))
    return out


def _decode_entry(e, admin):
    sqe, cqe = e["sqe"], e["cqe"]
    entry = {
        "cid": e["cid"], "opcode": e["opcode"],
        "name": _nvme._monitor_opname(e["opcode"], admin),
        "nsid": sqe[1], "psdt": (sqe[0] >> 14) & 3, "fuse": (sqe[0] >> 8) & 3,
        "prp1": sqe[6] | sqe[7] << 32, "prp2": sqe[8] | sqe[9] << 32,
        "cdw10_15": sqe[10:16], "sqe": sqe, "cqe": cqe,
        "submit_us": e["submit_us"], "latency_us": e["latency_us"],
        "complete_us": None if e["latency_us"] is None else e["submit_us"] + e["latency_us"],
        "synthesized": e["synthesized"], "status": None,
    }
    if cqe is not None:
        entry["status"] = nvme_status.decode(cqe[3] >> 16)
    return entry


def _cmdlog(c, qid, count):
    entries = None
    for _ in range(20):
        entries = _nvme._monitor_cmdlog(c, qid, count)
        if entries is not None:
            break
        time.sleep(0.001)   # the admin queue is being re-created: briefly
    if entries is None:
        raise RpcError(BUSY, "the admin queue is busy (being re-created); ask again")
    # entries never sent (a slot's log reused before submission) carry no CID info
    return [_decode_entry(e, qid == 0) for e in entries]


def _int_param(params, name, default, lo, hi):
    v = params.get(name, default) if isinstance(params, dict) else default
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise RpcError(INVALID_PARAMS, f"{name} must be an int {lo}..{hi}, got {v!r}")
    return v


def method_cmdlog(params):
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object: {\"ctrlr\", \"qid\", \"count\"}")
    _, c = _find_ctrl(params)
    qid = _int_param(params, "qid", 0, 0, 65535)
    count = _int_param(params, "count", 32, 1, CMDLOG_MAX)
    try:
        return _cmdlog(c, qid, count)
    except _nvme.ArgumentError as e:
        raise RpcError(INVALID_PARAMS, str(e)) from None


class _Rates:
    """Current IOPS of each ioworker, from the difference of its completion
    count between two looks at least RATE_WINDOW apart (the C worker keeps
    a count, not a rate: the rate costs it nothing)."""
    RATE_WINDOW = 0.5

    def __init__(self):
        self.samples = {}   # (ctrlr, qid) -> (t, completed, rate)

    def rate(self, key, w):
        now = time.monotonic()
        old = self.samples.get(key)
        if not w["running"]:
            rate = 0.0
        elif old is None or w["completed"] < old[1]:
            # first look (or a new worker on that queue): the average so far
            el = w["elapsed_ns"] / 1e9
            rate = w["completed"] / el if el > 0 else 0.0
        elif now - old[0] < self.RATE_WINDOW:
            return old[2]
        else:
            rate = (w["completed"] - old[1]) / (now - old[0])
        self.samples[key] = (now, w["completed"], rate)
        return rate


_rates = _Rates()


def _ioworkers():
    out = []
    for i, c in enumerate(_controllers()):
        for w in _nvme._monitor_ioworkers(c):
            iops = _rates.rate((c.addr, w["qid"]), w)
            done = w["completed"]
            out.append({
                "ctrlr": c.addr, "ctrlr_index": i, "qid": w["qid"], "nsid": w["nsid"],
                "qdepth": w["qdepth"], "running": w["running"],
                "completed": done, "in_flight": max(0, w["submitted"] - done),
                "elapsed_s": round(w["elapsed_ns"] / 1e9, 3),
                "iops": round(iops, 1),
                "bandwidth": round(iops * w["io_bytes_mean"]),
                "io_bytes_mean": w["io_bytes_mean"],
                "latency_avg_us": round(w["latency_sum_ns"] / done / 1000, 2) if done else None,
                "io_per_second": w["io_per_second"], "first_second": w["first_second"],
                "error": w["error"],
                "error_status": f"{w['error_status'] >> 8:02x}/{w['error_status'] & 0xff:02x}",
            })
    return out


def method_ioworkers(params):
    return _ioworkers()


def method_smart(params):
    _, c = _find_ctrl(params if isinstance(params, dict) else {})
    try:
        raw = _nvme._monitor_smart(c)
    except (OSError, RuntimeError) as e:
        raise RpcError(INTERNAL_ERROR, f"SMART log: {e}") from None

    def u128(off):
        lo, hi = struct.unpack_from("<QQ", raw, off)
        return lo | hi << 64

    temp_k = struct.unpack_from("<H", raw, 1)[0]
    return {
        "critical_warning": raw[0], "temperature_k": temp_k,
        "temperature_c": temp_k - 273 if temp_k else None,
        "available_spare": raw[3], "available_spare_threshold": raw[4],
        "percentage_used": raw[5],
        "data_units_read": u128(32), "data_units_written": u128(48),
        "host_read_commands": u128(64), "host_write_commands": u128(80),
        "controller_busy_time_min": u128(96), "power_cycles": u128(112),
        "power_on_hours": u128(128), "unsafe_shutdowns": u128(144),
        "media_errors": u128(160), "error_log_entries": u128(176),
    }


def method_info(params):
    return {"pid": os.getpid(), "sockets": list(_service.paths) if _service else [],
            "methods": sorted(METHODS)}


# ---- the original pynvme-console extension's three methods -------------

def _handle(index, qid):
    """A queue handle for get_cmdlog: controller index and queue id in one int
    (the original passed a pointer; the extension only hands it back)."""
    return (index + 1) << 16 | qid


def method_list_all_qpair(params):
    out = []
    for i, c in enumerate(_controllers()):
        model = _nvme._monitor_ctrl_info(c)["model"]
        for q in _nvme._monitor_queues(c):
            out.append({"ctrlr": c.addr, "qid": q["qid"] + 1, "qpair": _handle(i, q["qid"]),
                        "outstanding": q["outstanding"], "model": model})
    return out


def _cmdlog_line(e):
    st = e["status"]
    done = (f"{st['sct']:02x}/{st['sc']:02x} {st['name']}, {e['latency_us']} us"
            if st else "outstanding")
    dws = " ".join(f"{d:08x}" for d in e["sqe"])
    return (f"{e['submit_us'] / 1e6:.6f} cid {e['cid']:<5} {e['name']} (0x{e['opcode']:02x}) "
            f"-> {done}{' (driver)' if e['synthesized'] else ''} | {dws}")


def method_get_cmdlog(params):
    handle = params[0] if isinstance(params, list) and params else \
        params.get("qpair") if isinstance(params, dict) else params
    if not isinstance(handle, int) or isinstance(handle, bool) or handle < 0x10000:
        raise RpcError(INVALID_PARAMS, "get_cmdlog takes a qpair handle from list_all_qpair")
    index, qid = (handle >> 16) - 1, handle & 0xffff
    ctrls = _controllers()
    if index >= len(ctrls):
        raise RpcError(INVALID_PARAMS, f"no queue with handle {handle} (controller closed?)")
    try:
        return [_cmdlog_line(e) for e in _cmdlog(ctrls[index], qid, CMDLOG_MAX)]
    except _nvme.ArgumentError as e:
        raise RpcError(INVALID_PARAMS, str(e)) from None


def method_get_iostat(params):
    ws = [w for w in _ioworkers() if w["running"]]
    return [sum(w["bandwidth"] for w in ws), round(sum(w["iops"] for w in ws))]


METHODS = {
    "list_all_qpair": method_list_all_qpair,
    "get_cmdlog": method_get_cmdlog,
    "get_iostat": method_get_iostat,
    "controllers": method_controllers,
    "queues": method_queues,
    "cmdlog": method_cmdlog,
    "ioworkers": method_ioworkers,
    "smart": method_smart,
    "info": method_info,
}


def _answer(req):
    """The response object to one request object, or None for a notification."""
    if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or \
            not isinstance(req.get("method"), str):
        return _error(req.get("id") if isinstance(req, dict) else None, INVALID_REQUEST,
                      "not a JSON-RPC 2.0 request (needs \"jsonrpc\": \"2.0\" and a method)")
    rid = req.get("id")
    fn = METHODS.get(req["method"])
    if fn is None:
        return _error(rid, METHOD_NOT_FOUND, f"unknown method {req['method'][:100]!r}; "
                      f"methods: {', '.join(sorted(METHODS))}")
    params = req.get("params", {})
    if not isinstance(params, (dict, list)):
        return _error(rid, INVALID_PARAMS, "params must be an object or an array")
    try:
        result = fn(params)
    except RpcError as e:
        return _error(rid, e.code, e.message)
    except Exception as e:  # a monitor bug must not end the service
        return _error(rid, INTERNAL_ERROR, f"{type(e).__name__}: {e}")
    if "id" not in req:
        return None
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def _error(rid, code, message):
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def handle_request_bytes(text):
    """Answers one JSON text (a request or a batch): the response text, or ''."""
    try:
        req = json.loads(text)
    except (ValueError, RecursionError) as e:   # RecursionError: nesting too deep
        return json.dumps(_error(None, PARSE_ERROR, f"parse error: {str(e)[:200]}"))
    if isinstance(req, list):
        if not req or len(req) > MAX_BATCH:
            return json.dumps(_error(None, INVALID_REQUEST,
                                     f"a batch holds 1..{MAX_BATCH} requests, not {len(req)}"))
        answers = [a for a in (_answer(r) for r in req) if a is not None]
        return json.dumps(answers) if answers else ""
    a = _answer(req)
    return json.dumps(a) if a is not None else ""


# ---- the service ---------------------------------------------------------

class _Client:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.partial_since = None
        self.last_active = time.monotonic()


_decoder = json.JSONDecoder()


def _split_requests(buf):
    """Complete JSON values at the start of `buf` (requests may be sent
    back to back, with or without newlines, as the original's server took
    them): (list of texts, rest of the buffer). A value that cannot be
    parsed ends the stream with itself as a text (answered: parse error)."""
    texts = []
    text = buf.decode("utf-8", errors="replace")
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return texts, b""
        try:
            _, end = _decoder.raw_decode(text, pos)
        except RecursionError:
            # nested too deep to parse: complete or not, it gets a parse error
            texts.append(text[pos:])
            return texts, b""
        except ValueError:
            rest = text[pos:]
            # incomplete (the rest may still arrive) or broken? A newline after a
            # value that does not parse means broken: answer and drop it.
            if "\n" in rest:
                line, _, after = rest.partition("\n")
                texts.append(line)
                text, pos = after, 0
                continue
            return texts, rest.encode()
        texts.append(text[pos:end])
        pos = end


class _Service:
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
        c = _Client(s)
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
                texts, c.inbuf = _split_requests(c.inbuf)
                for t in texts:
                    answer = handle_request_bytes(t)
                    if answer:
                        c.outbuf += answer.encode() + b"\n"
                if len(c.inbuf) > MAX_REQUEST:
                    c.outbuf += json.dumps(_error(None, INVALID_REQUEST,
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
            svc = _Service(directory or SOCKET_DIR)
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
