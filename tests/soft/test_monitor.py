"""The live monitor service (nvme.monitor, docs/monitor.md) on a software
controller: what its JSON-RPC methods answer against what the Python API says,
the original pynvme-console extension's three methods, and bad clients that must
never stall the test process."""
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings

import pytest

import nvme as d
from nvme import monitor
from nvme.monitor import errors, protocol, service

ADDR = "soft:size=64M"
READ, WRITE = 0x02, 0x01


class Rpc:
    """A JSON-RPC client on one connection, every wait bounded."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        for attempt in range(50):
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:   # the listen backlog is full for a moment (a loaded machine)
                time.sleep(0.05)
        else:
            raise TimeoutError(f"cannot connect to {path}")
        self.buf = b""
        self.id = 0

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_answer(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed by the monitor")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def raw(self, req):
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.read_answer()

    def call(self, method, params=None):
        self.id += 1
        req = {"jsonrpc": "2.0", "id": self.id, "method": method}
        if params is not None:
            req["params"] = params
        answer = self.raw(req)
        assert answer["id"] == self.id
        assert "error" not in answer, answer
        return answer["result"]

    def close(self):
        self.sock.close()


@pytest.fixture
def own_socket():
    paths = monitor.start()   # the plugin started it already; this returns its paths
    assert paths and paths[0].endswith(f"pynvme-{os.getpid()}.sock")
    return paths[0]


@pytest.fixture
def rpc(own_socket):
    r = Rpc(own_socket)
    yield r
    r.close()


@pytest.fixture
def dev():
    pcie = d.Pcie(ADDR)
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    q = d.Qpair(nvme0, 16)
    yield nvme0, ns, q
    q.delete()
    ns.close()
    nvme0.close()
    pcie.close()


# ---- the sockets -----------------------------------------------------------

def test_started_by_the_plugin_with_private_sockets(own_socket):
    st = os.stat(own_socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    shared = os.path.join(service.SOCKET_DIR, service.SHARED_NAME)
    # the original's path exists; this process or an earlier one holds it
    assert stat.S_ISSOCK(os.stat(shared).st_mode)
    if shared in monitor.socket_paths():
        assert stat.S_IMODE(os.stat(shared).st_mode) == 0o600
    assert monitor.start() == monitor.socket_paths()   # a second start is the same service


def test_other_users_cannot_connect(own_socket):
    if os.getuid() != 0:
        pytest.skip("needs root to try as another user")
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            "try:\n s.connect(sys.argv[1])\nexcept PermissionError:\n print('refused')\n"
            "else:\n print('connected')\n")
    out = subprocess.run([sys.executable, "-c", code, own_socket], capture_output=True,
                         text=True, timeout=30, user=65534, group=65534)
    assert out.stdout.strip() == "refused", out


def test_own_service_in_a_directory_takes_stale_shared_socket_and_cleans_up(tmp_path):
    # a socket file left behind by a dead process (nobody listens)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "pynvme.sock"))
    stale.close()
    # and per-process ones of a killed process (a pid that cannot exist) and of a
    # live one (pid 1: always there), which must stay
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(tmp_path / "pynvme-999999999.sock"))
    dead.close()
    alive = socket.socket(socket.AF_UNIX)
    alive.bind(str(tmp_path / "pynvme-1.sock"))
    alive.close()
    svc = service.Service(str(tmp_path))
    svc.start()
    try:
        assert svc.paths == [str(tmp_path / f"pynvme-{os.getpid()}.sock"),
                             str(tmp_path / "pynvme.sock")]
        r = Rpc(str(tmp_path / "pynvme.sock"))
        assert r.call("info")["pid"] == os.getpid()
        r.close()
        # a second service finds the shared socket alive and leaves it alone
        other = service.Service(str(tmp_path))
        assert not other._listen(str(tmp_path / "pynvme.sock"), take_stale=True)
    finally:
        svc.stop()
    assert [p.name for p in tmp_path.iterdir()] == ["pynvme-1.sock"]


# ---- the original extension's three methods ----------------------------------

def test_original_methods_answer_before_any_controller(rpc):
    assert rpc.call("list_all_qpair") == []
    assert rpc.call("get_iostat") == [0, 0]


def test_original_methods_shapes(rpc, dev):
    nvme0, ns, q = dev
    buf = d.Buffer(4096)
    ns.write(q, buf, 0, 8).waitdone()
    ns.read(q, buf, 0, 8).waitdone()
    qpairs = rpc.call("list_all_qpair")
    assert all(set(e) == {"ctrlr", "qid", "qpair", "outstanding", "model"} for e in qpairs)
    assert [e["qid"] for e in qpairs] == [1, q.sqid + 1]   # queue id plus one
    assert {e["model"] for e in qpairs} == {nvme0.id_data(63, 24, type=str)}
    assert {e["ctrlr"] for e in qpairs} == {ADDR}
    io = qpairs[1]
    lines = rpc.call("get_cmdlog", [io["qpair"]])
    assert all(isinstance(line, str) for line in lines)
    assert len(lines) == 2
    assert "Read" in lines[0] and "Write" in lines[1]          # newest first
    assert "00/00 Successful Completion" in lines[0]
    assert rpc.call("get_cmdlog", {"qpair": io["qpair"]}) == lines
    iostat = rpc.call("get_iostat")
    assert iostat == [0, 0]   # no ioworker running


def test_get_cmdlog_bad_handle(rpc, dev):
    for params in ([12345678], ["x"], [True], [0x70000]):
        answer = rpc.raw({"jsonrpc": "2.0", "id": 5, "method": "get_cmdlog", "params": params})
        assert answer["error"]["code"] == errors.INVALID_PARAMS, params


# ---- the richer methods against the Python API --------------------------------

def test_controllers_identity_and_registers(rpc, dev):
    nvme0, _, _ = dev
    (c,) = rpc.call("controllers")
    assert c["ctrlr"] == ADDR
    assert c["model"] == nvme0.id_data(63, 24, type=str)
    assert c["serial"] == nvme0.id_data(23, 4, type=str)
    assert c["firmware"] == nvme0.id_data(71, 64, type=str)
    regs = c["registers"]
    assert regs["CAP"]["value"] == nvme0.cap
    assert regs["VS"]["value"] == nvme0[0x08]
    assert regs["CC"]["value"] == nvme0[0x14] and regs["CC"]["EN"] == 1
    assert regs["CSTS"]["RDY"] == 1 and regs["CSTS"]["CFS"] == 0
    assert c["mdts"] == nvme0.mdts


def test_queues_and_outstanding_commands(rpc, dev):
    nvme0, ns, q = dev
    queues = rpc.call("queues")
    assert [(x["qid"], x["kind"]) for x in queues] == [(0, "admin"), (q.sqid, "qpair")]
    io = queues[1]
    assert io["depth"] == 16 and io["outstanding"] == 0 and io["ien"] is True
    bufs = [d.Buffer(4096) for _ in range(3)]
    for i, b in enumerate(bufs):
        ns.read(q, b, i * 8, 8)
    io = rpc.call("queues", {"ctrlr": 0})[1]
    # submitted, not reaped by waitdone yet: outstanding from the script's view
    assert io["outstanding"] == 3
    assert io["sq_tail"] == 3 and io["submitted"] == 3
    q.waitdone(3)
    io = rpc.call("queues", {"ctrlr": ADDR})[1]
    assert io["outstanding"] == 0 and io["completed"] == 3 and io["cq_head"] == 3


def test_cmdlog_matches_the_python_cmdlog(rpc, dev):
    nvme0, ns, q = dev
    buf = d.Buffer(4096)
    ns.write(q, buf, 8, 8).waitdone()
    ns.read(q, buf, 16, 8).waitdone()
    with pytest.warns(UserWarning, match="ERROR status: 00/80"):
        ns.read(q, buf, ns.capacity, 1).waitdone()   # past the end: LBA Out of Range
    mine = rpc.call("cmdlog", {"qid": q.sqid, "count": 10})
    api = q.cmdlog(10)
    assert [e["cid"] for e in mine] == [e["cid"] for e in api]
    assert [e["sqe"] for e in mine] == [e["sqe"] for e in api]
    assert [e["submit_us"] for e in mine] == [e["submit_us"] for e in api]
    assert [e["latency_us"] for e in mine] == [e["latency_us"] for e in api]
    bad, read, write = mine
    assert (read["name"], write["name"], bad["name"]) == ("Read", "Write", "Read")
    assert read["status"]["name"] == "Successful Completion" and read["status"]["ok"]
    assert (bad["status"]["sct"], bad["status"]["sc"]) == (0, 0x80)
    assert bad["status"]["name"] == "LBA Out of Range" and not bad["status"]["ok"]
    assert read["prp1"] == buf.phys_addr and read["nsid"] == 1
    assert read["cdw10_15"][0] == 16 and read["cdw10_15"][2] == 7   # SLBA, NLB 0-based
    assert read["complete_us"] == read["submit_us"] + read["latency_us"]
    assert read["submit_us"] > write["complete_us"] - 1


def test_admin_cmdlog_matches_the_controller(rpc, dev):
    nvme0, _, _ = dev
    nvme0.getfeatures(7).waitdone()
    mine = rpc.call("cmdlog", {"qid": 0, "count": 5})
    api = nvme0.cmdlog(5)
    assert [e["cid"] for e in mine] == [e["cid"] for e in api]
    assert mine[0]["name"] == "Get Features" and mine[0]["cdw10_15"][0] == 7


def test_cmdlog_params_checked(rpc, dev):
    for params, code in (({"qid": 99}, errors.INVALID_PARAMS),
                         ({"qid": -1}, errors.INVALID_PARAMS),
                         ({"qid": 0, "count": 0}, errors.INVALID_PARAMS),
                         ({"ctrlr": "nope"}, errors.INVALID_PARAMS),
                         ([1, 2], errors.INVALID_PARAMS)):
        answer = rpc.raw({"jsonrpc": "2.0", "id": 1, "method": "cmdlog", "params": params})
        assert answer["error"]["code"] == code, params


def test_smart_summary(rpc, dev):
    nvme0, _, _ = dev
    buf = d.Buffer(512)
    nvme0.getlogpage(2, buf, 512).waitdone()
    s = rpc.call("smart")
    assert s["temperature_k"] == buf.data(2, 1)
    assert s["available_spare"] == buf[3]
    assert s["power_cycles"] == buf.data(127, 112)


def test_ioworker_live_counters(rpc):
    pcie = d.Pcie("soft:null,size=64M")
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    try:
        w = ns.ioworker(io_size=8, lba_random=True, read_percentage=100, time=4, qdepth=16)
        w.start()
        time.sleep(2.2)
        first = rpc.call("ioworkers")
        time.sleep(1.0)
        (live,) = rpc.call("ioworkers")
        iostat = rpc.call("get_iostat")
        queues = rpc.call("queues")
        result = w.close()
        (after,) = rpc.call("ioworkers")
    finally:
        ns.close()
        nvme0.close()
        pcie.close()
    (before,) = first
    assert before["running"] and live["running"]
    assert live["completed"] > before["completed"] > 0
    assert live["iops"] > 0 and live["bandwidth"] == pytest.approx(live["iops"] * 4096, rel=0.01)
    assert live["io_per_second"] and all(n > 0 for n in live["io_per_second"])
    assert live["error"] == 0 and live["latency_avg_us"] > 0
    assert [x for x in queues if x["kind"] == "ioworker"][0]["qid"] == live["qid"]
    assert iostat[1] > 0 and iostat[0] > 0
    assert not after["running"] and after["iops"] == 0
    assert after["completed"] == result.io_count_read


def test_ioworker_latency_percentiles_live_and_whole_run(rpc):
    """Live: the percentiles of the IOs of the last window of a second or more
    (not of the whole run); once finished: those of the whole run, which are
    the ioworker's own output_percentile_latency."""
    pcie = d.Pcie("soft:null,size=64M")
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    own = {50: 0, 99: 0, 99.9: 0}
    try:
        w = ns.ioworker(io_size=8, lba_random=True, read_percentage=100, time=4, qdepth=16,
                        iops=20000, output_percentile_latency=own)
        w.start()
        time.sleep(1.2)
        rpc.call("ioworkers")               # opens a window
        time.sleep(1.3)
        (live,) = rpc.call("ioworkers")     # closes it: the IOs of those 1.3 s
        (again,) = rpc.call("ioworkers")    # within the next window: the same answer
        w.close()
        (done,) = rpc.call("ioworkers")
    finally:
        ns.close()
        nvme0.close()
        pcie.close()
    lat = live["latency_us"]
    assert live["running"] and again["latency_us"] == lat
    assert lat["window_s"] >= 1.0
    assert 0 < lat["ios"] < live["completed"]           # a window, not the run so far
    assert 0 < lat["p50"] <= lat["p99"] <= lat["p99_9"]
    whole = done["latency_us"]
    assert not done["running"] and whole["ios"] == done["completed"]
    for p, key in ((50, "p50"), (99, "p99"), (99.9, "p99_9")):
        # one histogram; the worker's result re-buckets it in ns (within
        # 1%) and gives whole microseconds
        assert whole[key] == pytest.approx(own[p], rel=0.01, abs=1), (key, whole, own)


def test_latency_percentiles_of_a_snapshot_difference():
    """The arithmetic behind the live percentiles: two snapshots of a
    histogram (values below 256 ticks have buckets of their own)."""
    from array import array
    from nvme import _nvme
    buckets = (64 - 7 + 1) * 128
    before, after = array("Q", [0]) * buckets, array("Q", [0]) * buckets
    before[100] = after[100] = 90     # 90 IOs of 100 ticks before the window
    after[250] = 10                   # 10 IOs of 250 ticks in it
    count, (p50, p99) = _nvme._monitor_latency_percentiles(after.tobytes(), None, (50, 99))
    assert count == 100 and p99 == pytest.approx(2.5 * p50, rel=0.05)
    count, (p50w, p99w) = _nvme._monitor_latency_percentiles(after.tobytes(), before.tobytes(),
                                                              (50, 99))
    assert count == 10 and p50w == p99w == p99
    assert _nvme._monitor_latency_percentiles(before.tobytes(), before.tobytes(), (50,)) == (0, [0])
    with pytest.raises(ValueError, match="latency histogram is 59392 bytes"):
        _nvme._monitor_latency_percentiles(b"x", None, (50,))


# ---- bad requests and bad clients ----------------------------------------------

def test_bad_requests_get_errors_and_the_connection_stays(rpc):
    rpc.send_raw(b"{this is not json}\n")
    assert rpc.read_answer()["error"]["code"] == errors.PARSE_ERROR
    assert rpc.raw({"jsonrpc": "2.0", "id": 2, "method": "nope"})["error"]["code"] == \
        errors.METHOD_NOT_FOUND
    assert rpc.raw({"id": 3, "method": "info"})["error"]["code"] == errors.INVALID_REQUEST
    assert rpc.raw([])["error"]["code"] == errors.INVALID_REQUEST
    too_many = [{"jsonrpc": "2.0", "id": i, "method": "info"} for i in range(protocol.MAX_BATCH + 1)]
    assert rpc.raw(too_many)["error"]["code"] == errors.INVALID_REQUEST
    assert rpc.raw({"jsonrpc": "2.0", "id": 4, "method": "info", "params": 7})["error"][
        "code"] == errors.INVALID_PARAMS
    rpc.send_raw(b"[" * 3000 + b"]" * 3000 + b"\n")   # nested deeper than Python parses
    assert rpc.read_answer()["error"]["code"] == errors.PARSE_ERROR
    # a batch, and a notification (no id: no answer) inside it
    batch = rpc.raw([{"jsonrpc": "2.0", "id": 5, "method": "info"},
                     {"jsonrpc": "2.0", "method": "info"},
                     {"jsonrpc": "2.0", "id": 6, "method": "nope"}])
    assert [a["id"] for a in batch] == [5, 6] and "error" in batch[1]
    # two requests back to back without a newline, as the original's server took them
    rpc.send_raw(b'{"jsonrpc":"2.0","id":7,"method":"info"}{"jsonrpc":"2.0","id":8,'
                 b'"method":"info"}')
    assert [rpc.read_answer()["id"] for _ in range(2)] == [7, 8]
    assert rpc.call("info")["pid"] == os.getpid()


def test_huge_request_is_refused_and_closed(own_socket):
    r = Rpc(own_socket)
    r.send_raw(b'{"jsonrpc": "2.0", "id": 1, "method": "info", "params": ["' +
               b"x" * (service.MAX_REQUEST + 10))
    answer = r.read_answer()
    assert answer["error"]["code"] == errors.INVALID_REQUEST
    assert "larger than" in answer["error"]["message"]
    with pytest.raises((ConnectionError, OSError)):
        r.send_raw(b"x" * 100000)
        r.read_answer()
    r.close()


def test_hung_clients_stall_nothing(own_socket, monkeypatch):
    monkeypatch.setattr(service, "PARTIAL_TIMEOUT", 1.0)
    silent = Rpc(own_socket)                   # connects, never sends
    partial = Rpc(own_socket)
    partial.send_raw(b'{"jsonrpc": "2.0", "id": 1, "meth')   # never ends its request
    deaf = Rpc(own_socket)                     # sends, never reads its answers
    deaf.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"list_all_qpair"}\n' * 2000)
    # the test process goes on at full speed meanwhile ...
    ticks, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 0.5:
        ticks += 1
    assert ticks > 1000
    # ... and a well-behaved client is answered at once
    good = Rpc(own_socket)
    t0 = time.monotonic()
    assert good.call("info")["pid"] == os.getpid()
    assert time.monotonic() - t0 < 2.0
    # the incomplete request is dropped after PARTIAL_TIMEOUT (bounded wait)
    partial.sock.settimeout(10)
    t0 = time.monotonic()
    assert partial.sock.recv(100) == b""
    assert time.monotonic() - t0 < 5
    for c in (silent, partial, deaf, good):
        c.close()


def test_many_connections_are_capped(own_socket):
    clients = []
    try:
        answered = 0
        for _ in range(service.MAX_CLIENTS + 5):
            # one at a time: each is accepted (and served, or closed) before the next
            c = Rpc(own_socket, timeout=5)
            clients.append(c)
            try:
                c.call("info")
                answered += 1
            except (ConnectionError, OSError):
                pass
        # all the cap allows (a connection of an earlier test whose end the
        # service has not seen yet may hold a place)
        assert service.MAX_CLIENTS - 2 <= answered <= service.MAX_CLIENTS
    finally:
        for c in clients:
            c.close()
    # and the service is fine afterwards
    r = Rpc(own_socket)
    assert r.call("info")["pid"] == os.getpid()
    r.close()


def test_monitor_survives_controllers_coming_and_going(own_socket):
    """A client polling all the time while the script opens, uses and closes
    controllers and queues: no crash, no error other than a vanished queue."""
    stop = threading.Event()
    problems = []
    rounds = [0]

    def poll():
        try:
            poll_until_stopped()
        except Exception as e:   # the test fails on it, not just a thread
            problems.append(repr(e))

    def poll_until_stopped():
        r = Rpc(own_socket)
        while not stop.is_set():
            for m in ("list_all_qpair", "queues", "ioworkers", "controllers"):
                a = r.raw({"jsonrpc": "2.0", "id": 1, "method": m})
                if "error" in a:
                    problems.append(a)
            for e in r.raw({"jsonrpc": "2.0", "id": 1, "method": "list_all_qpair"})["result"]:
                a = r.raw({"jsonrpc": "2.0", "id": 2, "method": "get_cmdlog",
                           "params": [e["qpair"]]})
                if "error" in a and a["error"]["code"] != errors.INVALID_PARAMS:
                    problems.append(a)
            # a Get Log Page of the monitor's own while the script resets and closes:
            # it may fail (no controller, the controller reset under it), never crash
            a = r.raw({"jsonrpc": "2.0", "id": 3, "method": "smart"})
            if "error" in a and a["error"]["code"] not in (errors.INVALID_PARAMS,
                                                           errors.INTERNAL_ERROR):
                problems.append(a)
            rounds[0] += 1
        r.close()

    t = threading.Thread(target=poll)
    t.start()
    try:
        for _ in range(5):
            pcie = d.Pcie("soft:null,size=64M")
            nvme0 = d.Controller(pcie)
            ns = d.Namespace(nvme0, 1)
            q = d.Qpair(nvme0, 8)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ns.ioworker(io_size=8, time=1, qdepth=8).start().close()
            nvme0.reset()
            q.delete()
            ns.close()
            nvme0.close()
            pcie.close()
    finally:
        stop.set()
        t.join(timeout=30)
    assert not t.is_alive()
    assert problems == []
    assert rounds[0] > 10   # it polled all along


@pytest.mark.parametrize("args, env, expected", [
    ([], {}, True),
    (["--no-monitor"], {}, False),
    ([], {"PYNVME_MONITOR": "0"}, False),
])
def test_plugin_starts_the_monitor_unless_told_not(tmp_path, args, env, expected):
    (tmp_path / "test_inner.py").write_text(
        "import os\nimport nvme\n\n"
        "def test_monitor_state():\n"
        f"    assert nvme.monitor.running() is {expected}\n"
        f"    assert os.path.exists(os.path.join({str(tmp_path)!r}, "
        f"f'pynvme-{{os.getpid()}}.sock')) is {expected}\n")
    full_env = dict(os.environ, PYNVME_MONITOR_DIR=str(tmp_path), **env)
    full_env["PYTHONPATH"] = os.path.dirname(os.path.dirname(d.__file__))
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
                          "nvme.pytest_plugin", "-q", *args, str(tmp_path / "test_inner.py")],
                         capture_output=True, text=True, timeout=120, env=full_env,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    # the process removed its sockets at exit
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".sock"]
