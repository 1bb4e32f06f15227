"""The monitor's methods: what the driver looks like (controllers, queues, a
queue's decoded command log, ioworkers, SMART), and the original pynvme-console
extension's three methods in their original shapes. Each takes the request's
params and returns a JSON-able result or raises RpcError. They read the driver
through nvme._nvme's _monitor_* snapshots (python/nvme/ext/py_monitor.c)."""
import os
import struct
import time

from .. import _nvme
from . import status as nvme_status
from .errors import BUSY, INTERNAL_ERROR, INVALID_PARAMS, RpcError

CMDLOG_MAX = 1024

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


class _Latencies:
    """Latency percentiles of each running ioworker over its last window of
    at least WINDOW seconds: the difference of two copies of the worker's
    histogram (the C worker records every IO in it anyway; the copy is read
    without a lock, _monitor_latency_percentiles does the arithmetic). Every
    client sees the same last full window, however often it asks. A worker
    that is not running shows the percentiles of its whole run."""
    WINDOW = 1.0
    PERCENTILES = (50, 99, 99.9)
    KEYS = ("p50", "p99", "p99_9")

    def __init__(self):
        self.samples = {}   # (ctrlr, qid) -> (t, hist, completed, answer)

    def _answer(self, new, old, seconds):
        count, ns = _nvme._monitor_latency_percentiles(new, old, self.PERCENTILES)
        if not count:
            return None
        out = {k: round(v / 1000, 2) for k, v in zip(self.KEYS, ns)}
        out.update(ios=count, window_s=round(seconds, 3))
        return out

    def percentiles(self, key, w):
        now = time.monotonic()
        old = self.samples.get(key)
        hist = w["latency_hist"]
        if not w["running"]:
            self.samples.pop(key, None)
            return self._answer(hist, None, w["elapsed_s"])
        if old is None or w["completed"] < old[2]:
            # first look (or a new worker on that queue): the run so far
            answer = self._answer(hist, None, w["elapsed_s"])
        elif now - old[0] < self.WINDOW:
            return old[3]
        else:
            answer = self._answer(hist, old[1], now - old[0])
        self.samples[key] = (now, hist, w["completed"], answer)
        return answer


_latencies = _Latencies()


def _ioworkers():
    out = []
    for i, c in enumerate(_controllers()):
        for w in _nvme._monitor_ioworkers(c):
            iops = _rates.rate((c.addr, w["qid"]), w)
            w["elapsed_s"] = round(w["elapsed_ns"] / 1e9, 3)
            latency = _latencies.percentiles((c.addr, w["qid"]), w)
            done = w["completed"]
            out.append({
                "ctrlr": c.addr, "ctrlr_index": i, "qid": w["qid"], "nsid": w["nsid"],
                "qdepth": w["qdepth"], "running": w["running"],
                "completed": done, "in_flight": max(0, w["submitted"] - done),
                "elapsed_s": w["elapsed_s"],
                "iops": round(iops, 1),
                "bandwidth": round(iops * w["io_bytes_mean"]),
                "io_bytes_mean": w["io_bytes_mean"],
                "latency_avg_us": round(w["latency_sum_ns"] / done / 1000, 2) if done else None,
                "latency_us": latency,
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
    from . import socket_paths
    return {"pid": os.getpid(), "sockets": socket_paths(), "methods": sorted(METHODS)}


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

