"""Admin commands: error statuses, callbacks, waitdone rules, command log,
admin queue wrap-around, timeout, abort, AER through a SMART event."""
import os
import re
import time
import warnings

import pytest

import nvme as d
from qmp import Qmp


def test_invalid_opcode_warns(nvme0):
    with pytest.warns(UserWarning, match="ERROR status: 00/01"):
        nvme0.send_cmd(0xff).waitdone()
    # vendor-specific range too
    with pytest.warns(UserWarning, match="ERROR status: 00/01"):
        nvme0.send_cmd(0xc1).waitdone()


def test_invalid_namespace(nvme0):
    buf = d.Buffer(4096)
    with pytest.warns(UserWarning, match="ERROR status: 00/0b"):
        nvme0.identify(buf, nsid=0xfffffff0, cns=0).waitdone()


def test_unsupported_log_page(nvme0):
    buf = d.Buffer(4096)
    # LID 0x7f is reserved: the spec says Invalid Log Page (01/09); QEMU 7.2
    # answers Invalid Field in Command (00/02)
    with pytest.warns(UserWarning, match="ERROR status: (01/09|00/02)"):
        nvme0.getlogpage(0x7f, buf, 512).waitdone()


def test_supported_log_pages(nvme0):
    buf = d.Buffer(4096)
    nvme0.getlogpage(0x02, buf, 512).waitdone()       # SMART / Health
    assert buf.data(2, 1) > 200                       # temperature in Kelvin
    nvme0.getlogpage(0x01, buf, 64).waitdone()        # error information
    nvme0.getlogpage(0x05, buf, 4096).waitdone()      # commands supported and effects
    assert buf.data(0x06 * 4 + 3, 0x06 * 4) & 1       # identify supported


def test_error_is_a_warning_not_an_exception(nvme0):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        dw0 = nvme0.send_cmd(0xff).waitdone()
    assert dw0 == 0
    assert len(w) == 1 and issubclass(w[0].category, UserWarning)
    assert re.search(r"ERROR status: [0-9a-f]{2}/[0-9a-f]{2}", str(w[0].message))


def test_waitdone_returns_dword0(nvme0):
    nq = nvme0.getfeatures(7).waitdone()
    assert nq & 0xffff >= 1 and nq >> 16 >= 1
    # several: dword0 of the last one
    nvme0.getfeatures(7)
    nvme0.getfeatures(4)  # temperature threshold
    thr = nvme0.waitdone(2)
    assert thr & 0xffff > 273


def test_setfeatures_then_getfeatures(nvme0):
    old = nvme0.getfeatures(4).waitdone() & 0xffff
    nvme0.setfeatures(4, cdw11=old - 1).waitdone()
    assert nvme0.getfeatures(4).waitdone() & 0xffff == old - 1
    nvme0.setfeatures(4, cdw11=old).waitdone()
    assert nvme0.getfeatures(4).waitdone() & 0xffff == old


def test_callbacks_of_both_arities(nvme0):
    got = []

    def cb1(cpl):
        got.append(("cpl", cpl))

    def cb2(cdw0, status1):
        got.append(("pair", cdw0, status1))

    class Obj:
        def method(self, cdw0, status1):
            got.append(("method", cdw0, status1))

    nvme0.getfeatures(7, cb=cb1)
    nvme0.getfeatures(7, cb=cb2)
    nvme0.getfeatures(7, cb=Obj().method)
    with pytest.warns(UserWarning, match="00/01"):
        nvme0.send_cmd(0xff, cb=cb2)
        nvme0.waitdone(4)
    kind, cpl = got[0]
    assert kind == "cpl" and len(cpl) == 4
    nq = cpl[0]
    assert (cpl[3] >> 16) & 0xfffe == 0          # status success
    assert got[1] == ("pair", nq, got[1][2]) and got[1][2] & 0xfffe == 0
    assert got[2][0] == "method" and got[2][1] == nq
    # status1: phase tag in bit 0, SC in bits 8:1 -> invalid opcode 0x01
    assert (got[3][2] >> 1) & 0xff == 1
    assert (got[3][2] >> 9) & 0x7 == 0


def test_callback_may_submit_but_not_wait(nvme0):
    seen = []

    def cb2(cdw0, status1):
        seen.append(cdw0)
        nvme0.getfeatures(7)  # a new command from inside a callback

    nvme0.getfeatures(7, cb=cb2).waitdone()
    assert len(seen) == 1
    nvme0.waitdone()  # the one the callback sent

    def bad(cdw0, status1):
        nvme0.waitdone()

    nvme0.getfeatures(7, cb=bad)
    with pytest.raises(RuntimeError, match="inside a completion callback"):
        nvme0.waitdone()


def test_callback_exception_propagates(nvme0):
    def boom(cpl):
        raise KeyError("from callback")

    nvme0.getfeatures(7, cb=boom)
    with pytest.raises(KeyError):
        nvme0.waitdone()
    nvme0.getfeatures(7).waitdone()


def test_waitdone_argument_checks(nvme0):
    with pytest.raises(ValueError, match="outstanding"):
        nvme0.waitdone()
    assert isinstance(nvme0.waitdone(0), int)     # at once, as the original
    with pytest.raises(ValueError):
        nvme0.waitdone(-1)
    with pytest.raises(TypeError):
        nvme0.waitdone("1")


def test_latest_cid_and_latency(nvme0):
    nvme0.getfeatures(7).waitdone()
    log = nvme0.cmdlog(1)[0]
    assert log["opcode"] == 0x0a
    assert nvme0.latest_cid == log["cid"]
    assert 0 < nvme0.latest_latency < 1000000
    assert log["latency_us"] is not None and log["cqe"] is not None


def test_cmdlog(nvme0):
    buf = d.Buffer(4096)
    nvme0.identify(buf).waitdone()
    nvme0.getfeatures(7).waitdone()
    log = nvme0.cmdlog(2)
    assert [e["opcode"] for e in log] == [0x0a, 0x06]
    assert log[1]["sqe"][10] == 1                          # CNS 1
    assert log[1]["sqe"][6] == buf.phys_addr & 0xffffffff  # PRP1
    assert log[0]["submit_us"] >= log[1]["submit_us"]
    assert len(nvme0.cmdlog()) >= 3
    # the driver's AER is outstanding: no completion yet
    aers = [e for e in nvme0.cmdlog() if e["opcode"] == 0x0c]
    assert aers and aers[-1]["cqe"] is None


def test_admin_queue_wraps(nvme0, pci_vendor):
    # 256-entry admin queue: 3000 commands wrap it many times, in batches
    # bigger than the queue too (submit waits for free slots)
    for batch in (1, 7, 100, 300):
        for i in range(batch):
            nvme0.getfeatures(7)
        assert nvme0.waitdone(batch) & 0xffff >= 1
    n = 0
    while n < 3000:
        for i in range(50):
            nvme0.getfeatures(4)
        nvme0.waitdone(50)
        n += 50
    assert nvme0.id_data(1, 0) == pci_vendor


def test_controller_disabled_behind_driver_fails_fast(nvme0):
    """Commands cannot complete once CC.EN is cleared under them: the driver
    notices CSTS.RDY=0 while waiting and completes them with all ones long
    before the command timeout."""
    nvme0[0x14] = nvme0[0x14] & ~1
    while nvme0[0x1c] & 1:
        pass
    start = time.monotonic()
    with pytest.warns(UserWarning, match="ERROR status: 07/ff"):
        dw0 = nvme0.getfeatures(7).waitdone()
    assert dw0 == 0xffffffff
    assert time.monotonic() - start < 2
    with pytest.raises(d.NvmeError, match="not ready"):
        nvme0.getfeatures(7)
    nvme0.reset()
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 1


def test_abort(nvme0):
    # abort a command that already completed: the controller may or may
    # not abort; either way the Abort command itself completes
    nvme0.getfeatures(7).waitdone()
    cid = nvme0.latest_cid
    dw0 = nvme0.abort(cid).waitdone()
    assert dw0 & 1 in (0, 1)
    with pytest.raises(ValueError):
        nvme0.abort(1 << 16)


def test_aer_through_smart_event(nvme0, pciaddr):
    qmp_path = os.environ.get("PYNVME_QMP")
    if not qmp_path:
        pytest.skip("no QMP port")
    index = int(pciaddr.split(":")[-2], 16) - 1
    dev = f"/machine/peripheral/nvme{index}"
    # enable SMART critical warning events
    nvme0.setfeatures(0x0b, cdw11=0xff).waitdone()
    buf = d.Buffer(4096)
    with Qmp(qmp_path) as qmp:
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                qmp.qom_set(dev, "smart_critical_warning", 0x1)
                deadline = time.monotonic() + 10
                while not any("AER triggered" in str(x.message) for x in w):
                    assert time.monotonic() < deadline, "no AER within 10 s"
                    nvme0.getfeatures(7).waitdone()
                    time.sleep(0.05)
            msg = [str(x.message) for x in w if "AER triggered" in str(x.message)][0]
            dw0 = int(re.search(r"dword0: (0x[0-9a-f]+)", msg).group(1), 16)
            assert dw0 & 0x7 == 1, "event type SMART / health status"
            assert (dw0 >> 16) & 0xff == 0x02, "log page 02h to read"
            # the driver sent a new AER: one is outstanding again
            assert [e for e in nvme0.cmdlog(4) if e["opcode"] == 0x0c and e["cqe"] is None]
            nvme0.getlogpage(0x02, buf, 512).waitdone()
            assert buf[0] & 0x1
        finally:
            qmp.qom_set(dev, "smart_critical_warning", 0)
            nvme0.getlogpage(0x02, buf, 512).waitdone()
