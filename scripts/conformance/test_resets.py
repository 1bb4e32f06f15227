"""Initialization and resets (NVMe 1.4 §7.3 resets, §7.6.1 initialization, §7.6.2
shutdown; PCIe 4.0 §6.6 conventional reset and FLR): each reset kind the
function offers, the state it must leave (queues deleted, controller disabled,
admin queue registers kept or cleared), and that the controller initializes
again afterwards."""
import time
import warnings

import pytest

import nvme as d
from conformance_lib import (ACQ, AQA, ASQ, CC, CSTS, NSSR, Cap, expect, expect_status, run)

OK, INVALID_QID = (0, 0), (1, 0x01)
FLUSH = 0x00


def top_qid(nvme0):
    dw0 = nvme0.getfeatures(7).waitdone()
    return min((dw0 & 0xffff) + 1, (dw0 >> 16) + 1)


def make_raw_queues(nvme0, qid):
    rings = [d.Buffer(4096), d.Buffer(4096)]
    cpl = run(nvme0, "send_cmd", 0x05, rings[0], cdw10=15 << 16 | qid, cdw11=1)
    assert cpl.ok, f"Create I/O CQ {qid}: {cpl}"
    cpl = run(nvme0, "send_cmd", 0x01, rings[1], cdw10=15 << 16 | qid, cdw11=qid << 16 | 1)
    assert cpl.ok, f"Create I/O SQ {qid}: {cpl}"
    return rings


def assert_queues_gone(nvme0, qid, how):
    cpl = run(nvme0, "send_cmd", 0x00, cdw10=qid)
    expect_status(cpl, INVALID_QID, "NVMe 1.4 §7.3.2 (all I/O queues are deleted)",
                  f"Delete I/O SQ {qid} after {how} (the queue must be gone)")


def assert_works(nvme0, how):
    q = d.Qpair(nvme0, 8)
    try:
        cpl = run(q, "send_cmd", FLUSH, nsid=1)
        expect_status(cpl, [OK, (0, 0x0b)], "NVMe 1.4 §7.6.1", f"an IO command after {how}")
    finally:
        q.delete()
    cpl = run(nvme0, "getfeatures", 7)
    expect_status(cpl, OK, "NVMe 1.4 §7.6.1", f"an admin command after {how}")


def test_standard_initialization(nvme0):
    """NVMe 1.4 §7.6.1 (initialization): after the standard sequence the controller is
    enabled and ready, without fatal status, and answers admin commands."""
    cc, csts = nvme0[CC], nvme0[CSTS]
    expect(cc & 1 and csts & 1 and not csts & 2, "NVMe 1.4 §7.6.1", "CC.EN = 1, CSTS.RDY = 1, CFS = 0",
           f"shows CC 0x{cc:08x} CSTS 0x{csts:08x}")
    assert_works(nvme0, "initialization")


def test_controller_reset_deletes_io_queues(nvme0):
    """NVMe 1.4 §7.3.2 (Controller Level Reset by CC.EN 1 -> 0): all I/O submission and
    completion queues are deleted."""
    qid = top_qid(nvme0)
    make_raw_queues(nvme0, qid)
    nvme0.reset()
    assert_queues_gone(nvme0, qid, "a controller reset (CC.EN)")


def test_controller_reset_keeps_admin_queue_registers(nvme0):
    """NVMe 1.4 §7.3.2: a reset by CC.EN 1 -> 0 does not reset AQA, ASQ and ACQ."""
    before = (nvme0[AQA], nvme0[ASQ], nvme0[ASQ + 4], nvme0[ACQ], nvme0[ACQ + 4])
    nvme0[CC] = nvme0[CC] & ~1
    cap = Cap(nvme0.cap)
    deadline = time.monotonic() + cap.timeout_s + 0.5
    while nvme0[CSTS] & 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    after = (nvme0[AQA], nvme0[ASQ], nvme0[ASQ + 4], nvme0[ACQ], nvme0[ACQ + 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nvme0.reset()
    expect(after == before, "NVMe 1.4 §7.3.2", "AQA/ASQ/ACQ unchanged by CC.EN 1 -> 0",
           f"read {[hex(v) for v in before]} before and {[hex(v) for v in after]} after")


def test_controller_reset_then_works(nvme0):
    """NVMe 1.4 §7.3.2 / §7.6.1: after a controller reset and initialization, admin and
    IO commands work."""
    nvme0.reset()
    assert_works(nvme0, "a controller reset")


def test_repeated_controller_resets(nvme0):
    """NVMe 1.4 §7.3.2: ten resets in a row, each followed by a working controller."""
    for _ in range(10):
        nvme0.reset()
    assert_works(nvme0, "ten controller resets")


def test_reset_with_io_outstanding(nvme0, plain_ns):
    """NVMe 1.4 §7.3.2 (outstanding commands are aborted or completed): a reset with
    IO in flight leaves a working controller; every command gets a completion."""
    q = d.Qpair(nvme0, 32)
    buf = d.Buffer(64 * 1024)
    nlb = len(buf) // plain_ns[1].lba_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(16):
            q.send_cmd(0x02, buf, nsid=plain_ns[0], cdw10=i * nlb, cdw12=nlb - 1)
        nvme0.reset()
        q.waitdone(16)
    q.delete()
    assert_works(nvme0, "a reset with IO outstanding")


def test_flr_resets_controller(pcie, nvme0):
    """PCIe 4.0 §6.6.2 (FLR) with NVMe 1.4 §7.3.2: a function level reset disables the
    controller (CC = 0, CSTS.RDY = 0) and deletes the I/O queues; it initializes
    again afterwards."""
    exp = pcie.cap_offset(0x10)
    if exp is None or not pcie.register(exp + 4, 4) & (1 << 28):
        pytest.skip("Device Capabilities does not claim FLR")
    qid = top_qid(nvme0)
    make_raw_queues(nvme0, qid)
    pcie.flr()
    cc, csts = pcie.mem_dword_read(CC), pcie.mem_dword_read(CSTS)
    expect(cc == 0 and not csts & 1, "NVMe 1.4 §7.3.2", "CC = 0 and CSTS.RDY = 0 after FLR",
           f"shows CC 0x{cc:08x} CSTS 0x{csts:08x}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nvme0.reset()
    assert_queues_gone(nvme0, qid, "FLR")
    assert_works(nvme0, "FLR")


def test_flr_clears_admin_queue_registers(pcie, nvme0):
    """NVMe 1.4 §7.3.2 (a conventional reset or FLR resets all controller registers,
    including AQA, ASQ and ACQ, to their defaults of 0)."""
    exp = pcie.cap_offset(0x10)
    if exp is None or not pcie.register(exp + 4, 4) & (1 << 28):
        pytest.skip("Device Capabilities does not claim FLR")
    pcie.flr()
    regs = [pcie.mem_dword_read(o) for o in (AQA, ASQ, ASQ + 4, ACQ, ACQ + 4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nvme0.reset()
    expect(not any(regs), "NVMe 1.4 §3.1.8-10 (reset value 0) / §7.3.2",
           "AQA, ASQ and ACQ at their reset value 0 after FLR", f"read {[hex(v) for v in regs]}")


def test_hot_reset(pcie, nvme0):
    """PCIe 4.0 §6.6.1 (conventional reset, by secondary bus reset) with NVMe 1.4
    §7.3.1: the controller comes back disabled and initializes again."""
    qid = top_qid(nvme0)
    make_raw_queues(nvme0, qid)
    try:
        pcie.reset()
    except d.NvmeError as e:
        pytest.skip(f"no hot reset on this platform: {e}")
    cc = pcie.mem_dword_read(CC)
    expect(cc == 0, "NVMe 1.4 §7.3.1", "CC = 0 after a conventional reset", f"shows CC 0x{cc:08x}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nvme0.reset()
    assert_queues_gone(nvme0, qid, "a hot reset")
    assert_works(nvme0, "a hot reset")


def test_d3hot_cycle_then_initialize(pcie, nvme0):
    """PCI-PM 1.2 §5.4 with NVMe 1.4 §7.6.1: after D0 -> D3hot -> D0 the controller
    initializes again and works."""
    pcie.power_state = 3
    pcie.power_state = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nvme0.reset()
    assert_works(nvme0, "a D3hot cycle")


def test_nvm_subsystem_reset(nvme0):
    """NVMe 1.4 §3.1.7 (NSSR) and §7.3.1: with CAP.NSSRS = 1, writing 'NVMe' to NSSR
    resets the subsystem; afterwards CSTS.NSSRO = 1 and the controller initializes
    again."""
    cap = Cap(nvme0.cap)
    if not cap.nssrs:
        pytest.skip("CAP.NSSRS = 0: NVM subsystem reset not supported")
    nvme0[NSSR] = 0x4e564d65
    time.sleep(cap.timeout_s)
    nssro = nvme0[CSTS] & 0x10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nvme0.reset()
    expect(nssro, "NVMe 1.4 §3.1.6 (CSTS.NSSRO)", "NSSRO = 1 after an NVM subsystem reset", "shows 0")


def test_shutdown_then_initialize(nvme0):
    """NVMe 1.4 §7.6.2 (normal shutdown: CC.SHN = 01b, wait for CSTS.SHST = 10b) and
    §7.6.1: the controller completes the shutdown within CAP.TO and initializes
    again after it."""
    cap = Cap(nvme0.cap)
    nvme0[CC] = (nvme0[CC] & ~0xc000) | 1 << 14
    deadline = time.monotonic() + max(cap.timeout_s, 10)
    while (nvme0[CSTS] >> 2) & 3 != 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    shst = (nvme0[CSTS] >> 2) & 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nvme0.reset()
    expect(shst == 2, "NVMe 1.4 §7.6.2", "CSTS.SHST = 10b (shutdown complete)", f"shows SHST {shst:02b}b")
    assert_works(nvme0, "a shutdown and re-initialization")


def test_user_initialization_function(pcie):
    """NVMe 1.4 §7.6.1 (the initialization steps): a controller initialized step by step
    by the host (admin queue, identify, Number of Queues) is ready and usable."""
    steps = []

    def init(c):
        c[CC] = 0
        deadline = time.monotonic() + 10
        while c[CSTS] & 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        c.init_adminq()
        c[CC] = 0x460001
        while not c[CSTS] & 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        steps.append("enabled")
        c.init_ns()
        cdw0 = c.setfeatures(7, cdw11=0x00030003).waitdone()
        c.init_queues(cdw0)
        steps.append("queues")

    nvme0 = d.Controller(pcie, nvme_init_func=init)
    try:
        expect(steps == ["enabled", "queues"] and nvme0[CSTS] & 1, "NVMe 1.4 §7.6.1",
               "a ready controller after host-driven initialization",
               f"reached {steps}, CSTS 0x{nvme0[CSTS]:08x}")
        assert_works(nvme0, "host-driven initialization")
    finally:
        nvme0.close()
