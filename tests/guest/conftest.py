"""Fixtures shared by the guest tests (the device fixtures nvme0, pcie, ...
come from nvme.pytest_plugin, loaded by tests/conftest.py)."""
import signal
import time

import pytest

import nvme as d

# test.toml's second controller: null backend, 4 KiB LBAs
NULL_BDF = "0000:02:00.0"

# On the host the suite runs on software controllers (lib/transport_soft.h)
# standing in for test.toml's: --pciaddr=soft:size=512M+256M,mdts=7 for the
# first controller, and this one for the null-backed second (a RAM store:
# what was never written reads zeroes, as on QEMU's null backend).
SOFT_NULL = "soft:lba=4096"


def is_soft(addr):
    return (addr or "").startswith("soft")


def pytest_collection_modifyitems(config, items):
    """Tests marked `testbed` need the emulated test bed itself (QEMU's ids,
    sysfs, QMP, the kernel's nvme driver, the third controller): on a
    software controller they are deselected, and counted as such."""
    if not is_soft(config.getoption("--pciaddr")):
        return
    keep = [i for i in items if not i.get_closest_marker("testbed")]
    dropped = [i for i in items if i.get_closest_marker("testbed")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def null_addr(pciaddr):
    """The null-backed controller with 4 KiB LBAs: test.toml's second one, or
    its software stand-in."""
    return SOFT_NULL if is_soft(pciaddr) else NULL_BDF


@pytest.fixture
def sigint_raises():
    """Ctrl-C raises KeyboardInterrupt during the test, also when the suite was
    started with SIGINT ignored (a background job of a non-interactive shell,
    as CI may start it: the process then inherits SIG_IGN)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def pci_vendor(pcie):
    """The PCI vendor id of the function under test (Identify VID must match)."""
    return pcie.register(0, 2)


@pytest.fixture
def null_ctrl(null_addr):
    """A Controller on the null-backed function, closed with its Pcie after
    the test."""
    p = d.Pcie(null_addr)
    c = d.Controller(p)
    yield c
    c.close()
    p.close()


def _msix_fired(q, within=0.5):
    """The MSI-X message may land a little after the CQE was polled."""
    deadline = time.monotonic() + within
    while not q.msix_isset():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def msix_fired():
    """msix_fired(q, within=0.5): whether q's MSI-X vector fires within
    `within` seconds."""
    return _msix_fired
