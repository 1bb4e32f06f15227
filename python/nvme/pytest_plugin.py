"""pytest plugin of pynvme: `--pciaddr`, the device fixtures, seeding and logging.

Load it with `-p nvme.pytest_plugin` or `pytest_plugins = ["nvme.pytest_plugin"]`
in a conftest. Fixtures: pciaddr, pcie, nvme0, nvme0n1, qpair, subsystem, buf,
verify, instrument (--instrument: the fault source, docs/instruments.md); an autouse fixture seeds nvme.srand from the clock (logged, so a failing
test can be replayed with --seed) and logs each test's duration.
"""
import glob
import logging
import os
import time

import pytest

import nvme as d

log = logging.getLogger("pynvme")
NVME_CLASS = "0x010802"


def pytest_addoption(parser):
    group = parser.getgroup("pynvme")
    group.addoption("--pciaddr", action="store", default=None,
                    help="BDF of the NVMe function under test (e.g. 01:00.0); "
                         "default: the only NVMe function bound to vfio-pci")
    group.addoption("--seed", action="store", type=int, default=None,
                    help="seed for nvme.srand (default: from the clock, logged)")
    group.addoption("--instrument", action="store", default=None,
                    help="the fault source of the instrument fixture and of subsystem's power: "
                         "testbed, testbed:port, soft, quarch:tcp:HOST[:PORT], quarch:serial:DEV[@BAUD] "
                         "(default: none; subsystem uses slot power)")
    group.addoption("--no-monitor", action="store_true", default=False,
                    help="do not start the live monitor service (JSON-RPC on "
                         "/var/tmp/pynvme-<pid>.sock, see docs/monitor.md)")


def pytest_configure(config):
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
        return candidates[0]
    if not candidates:
        raise pytest.UsageError(
            "no --pciaddr given and no NVMe function is bound to vfio-pci "
            "(bind one with tools/nvme-setup bind <bdf>)")
    raise pytest.UsageError(
        f"no --pciaddr given and several NVMe functions are bound to vfio-pci: "
        f"{', '.join(candidates)}; choose one with --pciaddr")


@pytest.fixture(scope="function")
def pcie(pciaddr):
    p = d.Pcie(pciaddr)
    yield p
    p.close()


@pytest.fixture(scope="function")
def nvme0(pcie):
    ctrl = d.Controller(pcie)
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
