"""Two DUTs of one host in parallel (docs/lab.md): pytest-xdist with one worker per
controller of the test bed, every test on each (--dist each); each worker records
its own run, with its own device, into the spool."""
import os
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.testbed

# test.toml: PYNVME0001 behind the first root port, PYNVME0002 (4 KiB LBAs) behind the second
DUTS = {"gw0": ("0000:01:00.0", "PYNVME0001"), "gw1": ("0000:02:00.0", "PYNVME0002")}

TESTS = '''
def test_identify(nvme0, pciaddr, worker_id):
    assert pciaddr == {duts!r}[worker_id][0]
    assert nvme0.id_data(23, 4, str) == {duts!r}[worker_id][1]

def test_io(nvme0n1):
    nvme0n1.ioworker(io_size=8, io_count=500, qdepth=8).start().close()
'''


def test_two_workers_record_both_duts(tmp_path):
    pytest.importorskip("xdist")
    (tmp_path / "test_duts.py").write_text(TESTS.format(duts=DUTS))
    spool = tmp_path / "spool.sqlite"
    # this session's own recording and device lock are its; the inner one records
    # its runs (PYNVME_DEVICE_LOCKS_HELD tells it that 01:00.0 is held for it)
    env = {k: v for k, v in os.environ.items() if k != "PYNVME_LAB_PARENT_RUN"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)     # this session's build of nvme
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "nvme.pytest_plugin",
         "-q", "-n", "2", "--dist", "each", "--lock-timeout=60",
         f"--pciaddr={DUTS['gw0'][0]},{DUTS['gw1'][0]}", f"--lab-spool={spool}", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    db = sqlite3.connect(spool)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    runs = db.execute("SELECT uuid, worker, finished, dut FROM runs ORDER BY worker").fetchall()
    assert [(r[1], r[2]) for r in runs] == [("gw0", 1), ("gw1", 1)]
    import json
    for uuid, worker, _, dut in runs:
        dut = json.loads(dut)
        assert (dut["pciaddr"], dut["serial"]) == DUTS[worker]
        assert dut["model"].startswith("QEMU NVMe")
        assert dut["pcie_link_speed"] and dut["pcie_link_width"] >= 1   # a real link
        outcomes = db.execute("SELECT outcome, count(*) FROM tests WHERE run_uuid = ? "
                              "GROUP BY outcome", (uuid,)).fetchall()
        assert outcomes == [("passed", 2)]
        iops = db.execute("SELECT value FROM metrics WHERE run_uuid = ? AND "
                          "name = 'ioworker.1.iops'", (uuid,)).fetchall()
        assert len(iops) == 1 and iops[0][0] > 0
