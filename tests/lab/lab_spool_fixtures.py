"""Spools with runs in them, made directly (no pytest session), for the uploader's tests."""
import uuid as uuidlib

from nvme.lab.spool import Spool


def make_run(spool, finished=True, tests=3, host="lab-host-07"):
    uuid = str(uuidlib.uuid4())
    spool.begin_run({"uuid": uuid, "host": host, "started": "2026-12-02T11:20:01+00:00",
                     "ended": None, "suite": "tests/lab", "command": "pytest tests/lab",
                     "version": None, "git_commit": "ab" * 20, "ci": None,
                     "dut": {"pciaddr": "soft", "model": "m", "serial": "s", "firmware": "f",
                             "capacity_bytes": 1 << 26, "pcie_link_speed": None,
                             "pcie_link_width": None, "vendor_id": 0xfffe},
                     "worker": None})
    for i in range(tests):
        spool.add_test(uuid, {"nodeid": f"t.py::test_{i}", "outcome": "passed",
                              "duration_s": 0.1, "message": None, "spec_clause": None,
                              "started": "2026-12-02T11:20:02+00:00"})
    spool.add_metrics(uuid, [{"test": "t.py::test_0", "name": "ioworker.1.iops",
                              "value": 1000.0, "unit": "IO/s", "series": [[1, 990], [2, 1010]]}])
    spool.add_artifact(uuid, "t.py::test_0", "cmdlog.txt", "cmdlog", "text/plain", b"log\x00\xff")
    if finished:
        spool.finish_run(uuid, "2026-12-02T11:31:40+00:00")
    return uuid


def spool_with_runs(path, n, **kw):
    spool = Spool(str(path))
    uuids = [make_run(spool, **kw) for _ in range(n)]
    spool.close()
    return uuids
