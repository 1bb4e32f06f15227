"""Fixtures shared by the guest tests (the device fixtures nvme0, pcie, ...
come from nvme.pytest_plugin, loaded by tests/conftest.py)."""
import time

import pytest

import nvme as d

# test.toml's second controller: null backend, 4 KiB LBAs
NULL_BDF = "0000:02:00.0"


@pytest.fixture
def null_ctrl():
    """A Controller on the null-backed function, closed with its Pcie after
    the test."""
    p = d.Pcie(NULL_BDF)
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
