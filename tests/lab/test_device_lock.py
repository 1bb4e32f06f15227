"""The device lock: two processes on one DUT, the second waits or gives up naming
the holder; the lock goes with its holder, even when it is killed."""
import os
import signal
import subprocess
import sys
import time

import pytest

from lab_test_env import clean_env
from nvme.lab.device_lock import DeviceLock, DeviceLockTimeout, canonical_bdf
from nvme.lab.worker_addresses import address_for_worker, split_addresses

BDF = "0000:5e:00.0"
HOLDER = """
import sys, time
from nvme.lab.device_lock import DeviceLock
DeviceLock(sys.argv[1], sys.argv[2]).acquire()
print("locked", flush=True)
sys.stdin.read()            # holds it until the test closes our stdin
"""


def start_holder(lock_dir, bdf=BDF):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, bdf, str(lock_dir)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=clean_env())
    assert proc.stdout.readline().strip() == b"locked"
    return proc


def test_second_process_gives_up_naming_the_holder(tmp_path):
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(DeviceLockTimeout) as e:
            DeviceLock(BDF, str(tmp_path)).acquire(timeout_s=0.5, poll_s=0.05)
        assert f"device {BDF} is in use by pid {holder.pid}:" in str(e.value)
        assert "-c" in str(e.value) and "gave up after 0.5 s (--lock-timeout)" in str(e.value)
        # another device of the host is free meanwhile
        DeviceLock("0000:5f:00.0", str(tmp_path)).acquire(timeout_s=0).release()
    finally:
        holder.stdin.close()
        holder.wait()


def test_second_process_waits_saying_so_then_gets_it(tmp_path):
    holder = start_holder(tmp_path)
    said = []
    got = []
    import threading
    t = threading.Thread(target=lambda: got.append(
        DeviceLock(BDF, str(tmp_path)).acquire(say=said.append, poll_s=0.05)))
    t.start()
    try:
        end = time.monotonic() + 30
        while not said:
            assert time.monotonic() < end
            time.sleep(0.02)
        assert not got                      # still waiting while the holder runs
        assert f"in use by pid {holder.pid}" in said[0] and "waiting for it" in said[0]
    finally:
        holder.stdin.close()
        holder.wait()
    t.join(30)
    assert got and len(said) == 1
    got[0].release()


def test_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = start_holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    DeviceLock(BDF, str(tmp_path)).acquire(timeout_s=0).release()


def test_pytest_session_holds_the_lock_and_a_second_session_fails_clearly(tmp_path):
    """Two pytest sessions on one --pciaddr: the second ends with a usage error naming
    the first's pid and command (the address is no device here: the lock comes first)."""
    marker = tmp_path / "first_running"
    (tmp_path / "test_hold.py").write_text(
        f"import time, os\ndef test_hold():\n    open({str(marker)!r}, 'w').close()\n"
        f"    while os.path.exists({str(marker)!r}):\n        time.sleep(0.05)\n")
    env = clean_env(PYNVME_LOCK_DIR=str(tmp_path))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "nvme.pytest_plugin",
           "-q", "--no-record", "--pciaddr=5e:00.0"]
    first = subprocess.Popen(cmd + ["test_hold.py"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 60
        while not marker.exists():
            assert first.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        second = subprocess.run(cmd + ["--lock-timeout=0.5", "test_hold.py"], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 4
        assert f"device {BDF} is in use by pid {first.pid}: " in second.stderr
        assert "--pciaddr=5e:00.0" in second.stderr
    finally:
        marker.unlink()
        first.wait(60)
    assert first.returncode == 0
    # released at the end of the session
    DeviceLock(BDF, str(tmp_path)).acquire(timeout_s=0).release()


@pytest.mark.parametrize("addr, bdf", [("01:00.0", "0000:01:00.0"), ("0000:AF:1f.7", "0000:af:1f.7"),
                                       ("soft:size=64M", None), ("tcp:1.2.3.4", None)])
def test_canonical_bdf(addr, bdf):
    assert canonical_bdf(addr) == bdf


def test_addresses_for_workers():
    assert split_addresses("0000:01:00.0,02:00.0") == ["0000:01:00.0", "02:00.0"]
    assert split_addresses("soft:size=64M,mdts=7,soft:size=64M") == \
        ["soft:size=64M,mdts=7", "soft:size=64M"]
    assert split_addresses("soft:size=512M+256M,mdts=7") == ["soft:size=512M+256M,mdts=7"]
    assert split_addresses("soft,soft:null") == ["soft", "soft:null"]
    assert address_for_worker("01:00.0,02:00.0", "gw1") == "02:00.0"
    assert address_for_worker("soft:size=64M", "gw3") == "soft:size=64M"
    with pytest.raises(ValueError, match=r"lists 1 device\(s\) \(01:00.0\) but worker gw1 "
                                         r"needs device #2"):
        address_for_worker("01:00.0", "gw1")
