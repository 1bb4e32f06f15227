"""Closing means closed: Pcie.close() releases the device at once, whoever
still holds its Controller, Namespace, Qpair or IOWorker objects, and a test
that fails with live objects never spoils the tests after it."""
import os
import subprocess
import sys
import textwrap

import pytest

import nvme as d


def test_pcie_close_closes_what_hangs_on_it(pciaddr):
    pcie = d.Pcie(pciaddr)
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    q = d.Qpair(nvme0, 16)
    buf = d.Buffer(4096)
    w = ns.ioworker(io_size=8, time=30, qdepth=8).start()
    assert w.running

    pcie.close()

    # every object refuses use with a clear error and never touches the device
    refusals = {
        "Controller command": lambda: nvme0.getfeatures(7),
        "Controller register": lambda: nvme0[0x1c],
        "Qpair command": lambda: q.send_cmd(0),
        "Namespace read": lambda: ns.read(q, buf, 0),
        "Namespace ioworker": lambda: ns.ioworker(io_size=8, time=1),
        "Pcie config": lambda: pcie[0],
    }
    for what, call in refusals.items():
        with pytest.raises(ValueError, match="closed|deleted") as e:
            call()
        assert e.value is not None, what
    # the worker was stopped (terminated) and still gives its result
    assert not w.running
    with pytest.warns(UserWarning, match="ioworker host ERROR -7"):
        r = w.close()
    assert r.error == -7
    # closing again, or closing the dead objects, is harmless
    pcie.close()
    nvme0.close()
    q.delete()
    ns.close()

    # the device opens again at once, in this process
    p2 = d.Pcie(pciaddr)
    c2 = d.Controller(p2)
    q2 = d.Qpair(c2, 4)
    d.Namespace(c2, 1).read(q2, buf, 0).waitdone()
    p2.close()


def test_new_pcie_takes_over_one_never_closed(pciaddr):
    """A script that never closed its Pcie (or a frame that keeps it alive)
    does not block the next open of the same device."""
    stale = d.Pcie(pciaddr)
    stale_ctrl = d.Controller(stale)
    with pytest.warns(ResourceWarning, match="still open"):
        fresh = d.Pcie(pciaddr)
    assert stale.closed
    with pytest.raises(ValueError, match="closed"):
        stale_ctrl.getfeatures(7)
    nvme0 = d.Controller(fresh)
    nvme0.getfeatures(7).waitdone()
    fresh.close()


# A conftest in the style of the original pynvme's: the Controller fixture
# is never closed, only the Pcie.
ORIGINAL_STYLE_CONFTEST = """
import pytest
import nvme as d

def pytest_addoption(parser):
    parser.addoption("--pciaddr", action="store", default="")

@pytest.fixture(scope="function")
def pcie(request):
    ret = d.Pcie(request.config.getoption("--pciaddr"))
    yield ret
    ret.close()

@pytest.fixture(scope="function")
def nvme0(pcie):
    return d.Controller(pcie)

@pytest.fixture(scope="function")
def nvme0n1(nvme0):
    ret = d.Namespace(nvme0, 1)
    yield ret
    ret.close()
"""

FAILING_TESTS = """
import nvme as d

def test_fails_holding_a_qpair(nvme0, nvme0n1):
    q = d.Qpair(nvme0, 8)
    nvme0n1.read(q, d.Buffer(4096), 0).waitdone()
    assert False, "fails with a live Qpair"

def test_fails_with_a_running_ioworker(nvme0n1):
    w = nvme0n1.ioworker(io_size=8, time=30, qdepth=4).start()
    assert False, "fails while the worker runs"

def test_fails_with_an_inline_pcie(request):
    p = d.Pcie(request.config.getoption("--pciaddr"))
    c = d.Controller(p)
    assert False, "fails and never closes its Pcie"

def test_fails_again(nvme0):
    q = d.Qpair(nvme0, 8)
    assert False, "fails with a live Qpair again"

def test_still_runs_against_a_fresh_open(nvme0, nvme0n1):
    q = d.Qpair(nvme0, 8)
    buf = d.Buffer(4096)
    nvme0n1.write(q, buf, 0).waitdone()
    nvme0n1.read(q, buf, 0).waitdone()
    q.delete()
"""


def test_failed_tests_with_live_objects_do_not_spoil_the_next(pciaddr, tmp_path):
    """pytest keeps each failed test's frames (and so its objects) for the
    report; every later test must still open the device afresh."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent(ORIGINAL_STYLE_CONFTEST))
    (tmp_path / "test_original_style.py").write_text(textwrap.dedent(FAILING_TESTS))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
         f"--pciaddr={pciaddr}", "-W", "ignore::ResourceWarning", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert "4 failed, 1 passed" in out, out
    assert "error" not in out.splitlines()[-1], out
    for reason in ("fails with a live Qpair", "fails while the worker runs",
                   "fails and never closes its Pcie", "fails with a live Qpair again"):
        assert reason in out, out
