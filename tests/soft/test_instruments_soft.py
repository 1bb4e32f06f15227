"""Instruments on the host: the software controller as the fault source
(nvme.instruments.SoftController) behind Subsystem, so the driver's side of
power loss, surprise removal and glitches is checked without a test bed."""
import time
import warnings

import pytest

import nvme as d
from nvme.instruments import FaultNotSupported, SoftController, open_instrument

ADDR = "soft:size=64M"
READ = 0x02


@pytest.fixture
def dev():
    pcie = d.Pcie(ADDR)
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    yield pcie, nvme0, ns
    pcie.inject_clear()
    ns.close()
    nvme0.close()
    pcie.close()


def test_power_cycle_through_the_instrument(dev):
    pcie, nvme0, ns = dev
    inst = SoftController(pcie)
    sub = d.Subsystem(nvme0, inst)
    assert sub.instrument is inst
    q = d.Qpair(nvme0, 16)
    data = d.Buffer(8 * 512, ptype=0xbeef, pvalue=100)
    ns.write(q, data, 100, 8).waitdone()
    done = []
    bufs = [d.Buffer(4096) for _ in range(8)]
    for i, b in enumerate(bufs):
        q.send_cmd(READ, b, nsid=1, cdw10=i * 8, cdw12=7, cb=lambda dw0, st: done.append(st >> 1))
    sub.poweroff()
    assert pcie.register(8, 4) == 0xffffffff, "no power: config space reads all ones"
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q.waitdone(8)
    assert time.monotonic() - start < 2 and len(done) == 8, "every outstanding command completed"
    with pytest.raises(d.NvmeError, match="lost power"):
        nvme0.getfeatures(7)
    sub.poweron()
    nvme0.reset()
    back = d.Buffer(8 * 512)
    ns.read(q, back, 100, 8).waitdone()
    assert back[:] == data[:], "the store survives power (docs/software-controller.md)"
    start = time.monotonic()
    sub.power_cycle(0.2)
    assert time.monotonic() - start >= 0.2
    nvme0.reset()
    q.delete()


def test_surprise_removal_under_io_then_reinsert(dev):
    pcie, nvme0, ns = dev
    inst = open_instrument("soft", pcie)
    w = ns.ioworker(io_size=8, time=20, qdepth=16, read_percentage=50).start()
    time.sleep(0.5)
    start = time.monotonic()
    inst.surprise_removal()
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        r = w.close()
    assert time.monotonic() - start < 5, "the worker stops instead of running its 20 s"
    assert r.error != 0 and any("ioworker host ERROR" in str(x.message) for x in ws)
    with pytest.raises(d.NvmeError, match="all ones"):
        nvme0.getfeatures(7).waitdone()
    pcie.reset(inst.reinsert)
    nvme0.reset()
    r = ns.ioworker(io_size=8, io_count=500, qdepth=8, read_percentage=50).start().close()
    assert r.error == 0 and r.io_count_read + r.io_count_write == 500


def test_glitch_is_noticed(dev):
    pcie, nvme0, ns = dev
    inst = SoftController(pcie)
    inst.glitch(20)
    # the controller is back in its power-on state (disabled): the driver
    # completes the command itself and says so
    with pytest.warns(UserWarning, match="ERROR status: 07/ff.*got no completion"):
        nvme0.getfeatures(7).waitdone()
    pcie.reset(lambda: None)
    nvme0.reset()
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1


def test_what_a_software_controller_cannot_do(dev):
    pcie, nvme0, ns = dev
    inst = SoftController(pcie)
    for call, fault in [(lambda: inst.inject_pcie_error("fatal"), "inject a PCIe error"),
                        (lambda: inst.set_voltage("12V", 11000), "set a rail voltage"),
                        (lambda: inst.glitch(5, rails=["12V"]), "glitch single rails"),
                        (lambda: inst.critical_warning(2), "raise a SMART critical warning")]:
        with pytest.raises(FaultNotSupported, match=f"instrument soft\\(soft:size=64M\\) cannot {fault}"):
            call()
    with pytest.raises(Exception, match="needs a Pcie of a software controller"):
        SoftController("01:00.0")


def smart_counts(nvme0):
    buf = d.Buffer(512)
    nvme0.getlogpage(0x02, buf, 512).waitdone()
    return buf.data(127, 112), buf.data(159, 144)   # Power Cycles, Unsafe Shutdowns


def test_smart_keeps_score_of_power_losses(dev):
    """SMART Power Cycles and Unsafe Shutdowns count across slot power and
    surprise removal: a loss without a completed shutdown (CC.SHN) since the
    controller was enabled is unsafe (the dirty power cycle suite checks it)."""
    pcie, nvme0, ns = dev
    inst = SoftController(pcie)
    sub = d.Subsystem(nvme0, inst)
    cycles, unsafe = smart_counts(nvme0)    # the controller may have lived through other tests
    assert cycles >= 1
    sub.power_cycle(0)                       # dirty: the controller was enabled
    nvme0.reset()
    assert smart_counts(nvme0) == (cycles + 1, unsafe + 1)
    sub.shutdown_notify()                    # clean: shut down first
    sub.power_cycle(0)
    nvme0.reset()
    assert smart_counts(nvme0) == (cycles + 2, unsafe + 1)
    inst.surprise_removal()                  # pulled out while running: unsafe too
    pcie.reset(inst.reinsert)
    nvme0.reset()
    assert smart_counts(nvme0) == (cycles + 3, unsafe + 2)


def test_orderly_removal_under_verified_io_then_reopen():
    """The driver's side of an orderly hot removal, as in the test bed
    (tests/guest/test_hot_removal.py) but on the host: a verified ioworker
    stops with an error naming the removal, the script reopens the device
    after reinsert() and finds what it wrote before."""
    pcie = d.Pcie(ADDR)
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    ns.verify_enable(True)
    inst = SoftController(pcie)
    assert inst.supports("orderly_removal")
    q = d.Qpair(nvme0, 16)
    data = d.Buffer(8 * 512, ptype=0xbeef, pvalue=100)
    ns.write(q, data, 0, 8).waitdone()
    w = ns.ioworker(io_size=8, time=20, qdepth=16, read_percentage=50,
                    region_start=1024, region_end=8192).start()
    time.sleep(0.5)
    start = time.monotonic()
    inst.orderly_removal()
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        r = w.close()
    assert time.monotonic() - start < 5, "the worker stops instead of running its 20 s"
    assert r.error_code == -7 and "hot-removed" in r.error_text, r.error_text
    assert any("ioworker host ERROR" in str(x.message) for x in ws)
    with pytest.raises(d.NvmeError, match="hot-removed"):
        nvme0.getfeatures(7).waitdone()
    inst.reinsert()
    pcie = d.Pcie(ADDR)                 # the removed objects close quietly
    nvme0 = d.Controller(pcie)
    ns = d.Namespace(nvme0, 1)
    q = d.Qpair(nvme0, 16)
    back = d.Buffer(8 * 512)
    ns.read(q, back, 0, 8).waitdone()
    assert back[:] == data[:], "data written before the removal reads back"
    r = ns.ioworker(io_size=8, io_count=500, qdepth=8, read_percentage=50).start().close()
    assert r.error == 0 and r.io_count_read + r.io_count_write == 500
    q.delete()
    ns.close()
    nvme0.close()
    pcie.close()
