"""pytest plugin of pynvme: `--pciaddr`, the device fixtures, seeding and logging,
the lab's recording of every session and the device lock (docs/lab.md).

Load it with `-p nvme.pytest_plugin` or `pytest_plugins = ["nvme.pytest_plugin"]`
in a conftest. Fixtures: pciaddr, pcie, nvme0, nvme0n1, qpair, subsystem, buf,
verify, instrument (--instrument: the fault source, docs/instruments.md); an autouse fixture seeds nvme.srand from the clock (logged, so a failing
test can be replayed with --seed) and logs each test's duration.
"""
import argparse
import glob
import logging
import os
import time

import pytest

import nvme as d

log = logging.getLogger("pynvme")
NVME_CLASS = "0x010802"


class _JoinAddresses(argparse.Action):
    """--pciaddr repeated: the addresses joined with commas, as --pciaddr=A,B."""

    def __call__(self, parser, namespace, values, option_string=None):
        before = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, f"{before},{values}" if before else values)


def pytest_addoption(parser):
    group = parser.getgroup("pynvme")
    group.addoption("--pciaddr", action=_JoinAddresses, default=None,
                    help="BDF of the NVMe function under test (e.g. 01:00.0); "
                         "default: the only NVMe function bound to vfio-pci. With "
                         "pytest-xdist, one per worker: --pciaddr=A,B (or repeated) gives "
                         "gw0 A and gw1 B")
    group.addoption("--seed", action="store", type=int, default=None,
                    help="seed for nvme.srand (default: from the clock, logged)")
    group.addoption("--instrument", action="store", default=None,
                    help="the fault source of the instrument fixture and of subsystem's power: "
                         "testbed, testbed:port, soft, quarch:tcp:HOST[:PORT], quarch:serial:DEV[@BAUD] "
                         "(default: none; subsystem uses slot power)")
    group.addoption("--no-monitor", action="store_true", default=False,
                    help="do not start the live monitor service (JSON-RPC on "
                         "/var/tmp/pynvme-<pid>.sock, see docs/monitor.md)")
    group.addoption("--no-record", action="store_true", default=False,
                    help="do not record this session into the lab's spool (docs/lab.md)")
    group.addoption("--lab-spool", action="store", default=None, metavar="PATH",
                    help="the lab's spool (SQLite) this session is recorded into (also: env "
                         "PYNVME_LAB_SPOOL; default: build/lab/spool.sqlite in the project)")
    group.addoption("--lock-timeout", action="store", type=float, default=None,
                    metavar="SECONDS",
                    help="give up when the device stays locked by another job this long "
                         "(default: wait for it)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # first: every later configure hook (conftests) sees this worker's own address
    _assign_worker_address(config)
    _take_device_lock(config, config.getoption("--pciaddr"))
    _start_recording(config)
    _start_monitor(config)


def _assign_worker_address(config):
    """Under pytest-xdist, --pciaddr=A,B names one device per worker: this worker
    keeps its own. Without xdist, one device only."""
    from nvme.lab.worker_addresses import address_for_worker, split_addresses
    value = config.getoption("--pciaddr")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        try:
            config.option.pciaddr = address_for_worker(value, workerinput["workerid"]) \
                if value else None
        except ValueError as e:
            raise pytest.UsageError(str(e)) from None
    elif len(split_addresses(value)) > 1 and not config.getoption("numprocesses", default=None):
        raise pytest.UsageError(f"--pciaddr names several devices ({value}): run them in "
                                f"parallel with pytest-xdist (-n {len(split_addresses(value))}) "
                                f"or give one")


def _is_xdist_controller(config):
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", default=None))


def _take_device_lock(config, addr):
    """Holds /run/lock/pynvme-<BDF>.lock for the session (once per process)."""
    from nvme.lab.device_lock import DeviceLock, DeviceLockTimeout, canonical_bdf
    if getattr(config, "_pynvme_device_lock", None) is not None or _is_xdist_controller(config):
        return
    bdf = canonical_bdf(addr) if addr else None
    if bdf is None:
        return
    held = os.environ.get("PYNVME_DEVICE_LOCKS_HELD", "").split(",")
    if bdf in held:
        # a pytest started by a test of the session that holds the lock (a
        # subprocess of it): it drives the device on its parent's behalf
        return

    def say(text):
        log.warning(text)
        tr = config.pluginmanager.get_plugin("terminalreporter")
        (tr.write_line if tr else print)(f"pynvme: {text}")
    try:
        config._pynvme_device_lock = DeviceLock(bdf).acquire(
            config.getoption("--lock-timeout"), say=say)
        os.environ["PYNVME_DEVICE_LOCKS_HELD"] = ",".join([h for h in held if h] + [bdf])
    except DeviceLockTimeout as e:
        raise pytest.UsageError(str(e)) from None
    except OSError as e:
        # a lock folder we cannot write must not stop a lone engineer's run
        log.warning("device lock for %s not taken: %s", bdf, e)
        config._pynvme_device_lock = False


def _start_recording(config):
    from nvme.lab.project import default_spool_path
    from nvme.lab.record import Recorder, recording_wanted
    if os.environ.get("PYNVME_LAB_RECORD", "1") == "0" or not recording_wanted(config):
        return
    if os.environ.get("PYNVME_LAB_PARENT_RUN"):
        # a pytest that a recorded session's test runs (a subprocess): its
        # results belong to that test, not to a run of their own
        return
    workerinput = getattr(config, "workerinput", None)
    recorder = Recorder(config, config.getoption("--lab-spool") or default_spool_path(),
                        worker=workerinput["workerid"] if workerinput else None)
    recorder.start()
    os.environ["PYNVME_LAB_PARENT_RUN"] = recorder.uuid
    config.pluginmanager.register(recorder, "pynvme-lab-recorder")
    config._pynvme_recorder = recorder


def _recorder(config):
    return getattr(config, "_pynvme_recorder", None)


def pytest_unconfigure(config):
    recorder = _recorder(config)
    if recorder is not None:
        recorder.close()
        config._pynvme_recorder = None
        os.environ.pop("PYNVME_LAB_PARENT_RUN", None)
        _upload_at_end(recorder)
    lock = getattr(config, "_pynvme_device_lock", None)
    if lock:
        lock.release()
        config._pynvme_device_lock = None
        held = [h for h in os.environ.get("PYNVME_DEVICE_LOCKS_HELD", "").split(",")
                if h and h != lock.bdf]
        os.environ["PYNVME_DEVICE_LOCKS_HELD"] = ",".join(held)


def _upload_at_end(recorder):
    """With PYNVME_LAB_URL and PYNVME_LAB_TOKEN set, the spool goes up now. A server
    that is down costs a few seconds and loses nothing: the spool keeps the runs for
    the next upload (the next session's, the CI job's, `pynvme-lab upload --watch`)."""
    url, token = os.environ.get("PYNVME_LAB_URL"), os.environ.get("PYNVME_LAB_TOKEN")
    if not (url and token) or recorder.spool_path is None:
        return
    try:
        from nvme.lab.upload import upload_pending
        # an xdist worker sends its own run (its siblings send theirs), a
        # session the backlog too
        only = [recorder.uuid] if recorder.worker else None
        upload_pending(recorder.spool_path, url, token, deadline_s=5, timeout_s=10, only=only,
                       say=lambda text: log.warning("lab upload: %s", text))
    except Exception as e:  # noqa: BLE001 (never fail the session)
        log.warning("lab upload failed: %s (the spool keeps the run)", e)


def _start_monitor(config):
    # The live view (pynvme-top, the VS Code extension) connects while tests run.
    # A monitor that cannot listen (no /var/tmp, ...) must not stop the tests.
    if config.getoption("--no-monitor", default=False) or \
            os.environ.get("PYNVME_MONITOR", "1") == "0":
        return
    try:
        paths = d.monitor.start()
    except OSError as e:
        log.warning("monitor not started: %s", e)
        return
    log.info("monitor listening on %s", ", ".join(paths))


def vfio_nvme_functions():
    """BDFs of the NVMe functions (class 0x010802) bound to vfio-pci, sorted."""
    found = []
    for dev in sorted(glob.glob("/sys/bus/pci/devices/*")):
        try:
            with open(os.path.join(dev, "class")) as f:
                cls = f.read().strip()
            driver = os.path.basename(os.readlink(os.path.join(dev, "driver")))
        except OSError:
            continue
        if cls == NVME_CLASS and driver == "vfio-pci":
            found.append(os.path.basename(dev))
    return found


@pytest.fixture(scope="session")
def pciaddr(request):
    addr = request.config.getoption("--pciaddr")
    if addr:
        return addr
    candidates = vfio_nvme_functions()
    if len(candidates) == 1:
        _take_device_lock(request.config, candidates[0])
        return candidates[0]
    if not candidates:
        raise pytest.UsageError(
            "no --pciaddr given and no NVMe function is bound to vfio-pci "
            "(bind one with tools/nvme-setup bind <bdf>)")
    raise pytest.UsageError(
        f"no --pciaddr given and several NVMe functions are bound to vfio-pci: "
        f"{', '.join(candidates)}; choose one with --pciaddr")


@pytest.fixture(scope="function")
def pcie(request, pciaddr):
    p = d.Pcie(pciaddr)
    recorder = _recorder(request.config)
    if recorder is not None:
        recorder.note_pcie(p, pciaddr)
    yield p
    p.close()


@pytest.fixture(scope="function")
def nvme0(request, pcie):
    ctrl = d.Controller(pcie)
    recorder = _recorder(request.config)
    if recorder is not None:
        recorder.note_controller(ctrl)
    yield ctrl
    # close explicitly: a failed test's traceback keeps the object alive,
    # and the Pcie must be free for the next test
    ctrl.close()


@pytest.fixture(scope="function")
def instrument(request, pcie):
    """The instrument --instrument names (docs/instruments.md); a test that
    needs one is skipped, saying so, when none is given."""
    from nvme.instruments import open_instrument
    spec = request.config.getoption("--instrument")
    if not spec:
        pytest.skip("needs an instrument: --instrument testbed | quarch:tcp:HOST[:PORT] | "
                    "quarch:serial:DEV[@BAUD]")
    with open_instrument(spec, pcie) as inst:
        yield inst


@pytest.fixture(scope="function")
def subsystem(request, nvme0):
    """Subsystem of nvme0; its power goes through --instrument when given."""
    if request.config.getoption("--instrument"):
        return d.Subsystem(nvme0, request.getfixturevalue("instrument"))
    return d.Subsystem(nvme0)


@pytest.fixture(scope="function")
def nvme0n1(nvme0):
    ns = d.Namespace(nvme0, 1)
    yield ns
    ns.close()


@pytest.fixture(scope="function")
def qpair(nvme0):
    q = d.Qpair(nvme0, 64)
    yield q
    q.delete()


@pytest.fixture(scope="function")
def buf():
    return d.Buffer(4096)


@pytest.fixture(scope="function")
def verify(nvme0n1):
    nvme0n1.verify_enable(True)
    yield True
    nvme0n1.verify_enable(False)


@pytest.fixture(autouse=True)
def _pynvme_seed_and_time(request):
    seed = request.config.getoption("--seed")
    if seed is None:
        seed = time.time_ns() & 0xffffffff
    d.srand(seed)
    log.info("srand seed %d (replay with --seed=%d)", seed, seed)
    start = time.monotonic()
    yield
    log.info("%s took %.3f s", request.node.nodeid, time.monotonic() - start)
