"""Controller registers in BAR0: NVMe Base 1.4 §3.1 (2.0 §3.1.3), the register
conventions of 1.4 §1.5 ("hardware shall return '0' for all bits and registers
that are marked as reserved"), and the enable/disable/shutdown state machine of
1.4 §7.3 and §7.6.

These tests drive the registers by hand (no nvme.Controller): they disable the
controller, program the admin queue registers with DMA memory of their own and
enable it, so they run before any driver state exists.
"""
import pytest

import nvme as d
from conformance_lib import (ACQ, AQA, ASQ, BPINFO, BPMBL, BPRSEL, CAP, CC, CC_EN, CMBLOC,
                             CMBMSC, CMBSZ, CSTS, CSTS_CFS, CSTS_RDY, INTMC, INTMS, NSSR,
                             PMRCAP, VS, RawAdminQueues, bits, expect)

SHST_NORMAL, SHST_OCCURRING, SHST_COMPLETE = 0, 1, 2
CC_IO_ENTRIES = 4 << 20 | 6 << 16        # IOCQES = 16 bytes, IOSQES = 64 bytes


@pytest.fixture
def disabled(regs):
    """The controller disabled (CC.EN = 0, CSTS.RDY = 0); left disabled and CC = 0."""
    regs.disable()
    yield regs
    regs.disable()
    regs[CC] = 0


@pytest.fixture
def enabled(disabled):
    """The controller enabled on admin queues of this test's own memory."""
    admin = RawAdminQueues(d)
    disabled.enable(admin)
    disabled.admin = admin
    yield disabled


# ------------------------------------------------------------------- CAP

def test_cap_mqes_at_least_one(cap):
    """NVMe 1.4 §3.1.1 (CAP.MQES): the maximum individual queue size, 0's based; the
    minimum value is 1h (two entries); 0h is invalid."""
    expect(cap.mqes >= 1, "NVMe 1.4 §3.1.1 (CAP.MQES)", "MQES >= 1h", f"reports MQES {cap.mqes}")


def test_cap_timeout_nonzero(cap):
    """NVMe 1.4 §3.1.1 (CAP.TO): worst-case time for CSTS.RDY to change after CC.EN,
    in 500 ms units; a controller cannot promise 0 ms."""
    expect(cap.to >= 1, "NVMe 1.4 §3.1.1 (CAP.TO)", "a timeout of at least 1 (500 ms)",
           f"reports TO {cap.to}")


def test_cap_command_sets(cap):
    """NVMe 1.4 §3.1.1 (CAP.CSS) / 2.0 §3.1.3.1: bit 0 (NVM command set) or bit 7 (no
    I/O command set) is set; 2.0 adds bit 6 (I/O command sets)."""
    expect(cap.css & 0xc1, "NVMe 1.4 §3.1.1 (CAP.CSS)",
           "CSS bit 0 (NVM), 6 (I/O command sets) or 7 (admin only) set",
           f"reports CSS 0x{cap.css:02x}")


def test_cap_css_reserved_bits(cap):
    """NVMe 2.0 §3.1.3.1 (CAP.CSS bits 5:1 reserved) and 1.4 §1.5: reserved bits read 0."""
    expect(cap.css & 0x3e == 0, "NVMe 2.0 §3.1.3.1 (CAP.CSS)", "CSS bits 5:1 (reserved) = 0",
           f"reports CSS 0x{cap.css:02x}")


def test_cap_reserved_bits(cap):
    """NVMe 1.4 §3.1.1 (CAP bits 23:19 reserved) and §1.5: reserved bits read 0."""
    expect(bits(cap.value, 23, 19) == 0, "NVMe 1.4 §3.1.1", "CAP bits 23:19 (reserved) = 0",
           f"reports CAP 0x{cap.value:016x}")


def test_cap_page_size_range(cap):
    """NVMe 1.4 §3.1.1 (CAP.MPSMIN/MPSMAX): the minimum host memory page size is not
    above the maximum."""
    expect(cap.mpsmin <= cap.mpsmax, "NVMe 1.4 §3.1.1", "MPSMIN <= MPSMAX",
           f"reports MPSMIN {cap.mpsmin} (2^{12 + cap.mpsmin}) and MPSMAX {cap.mpsmax}")


def test_cap_doorbells_inside_bar0(pcie, cap):
    """NVMe 1.4 §3.1.1 (CAP.DSTRD) with §3.1.24/25: the admin SQ/CQ doorbells at
    1000h and 1000h + (4 << DSTRD) lie inside BAR0."""
    size = pcie.bar_size(0)
    expect(cap.cq_doorbell(0) + 4 <= size, "NVMe 1.4 §3.1.1 (CAP.DSTRD)",
           "the admin doorbells inside BAR0",
           f"has stride {cap.stride} and BAR0 of 0x{size:x} bytes")


def test_vs_version(regs):
    """NVMe 1.4 §3.1.2 (VS): a released major/minor version (1.0..1.4, 2.x)."""
    vs = regs[VS]
    mjr, mnr = vs >> 16, bits(vs, 15, 8)
    expect((mjr == 1 and mnr <= 4) or mjr == 2, "NVMe 1.4 §3.1.2 (VS)",
           "a version 1.0..1.4 or 2.x", f"reports VS 0x{vs:08x}")


@pytest.mark.parametrize("offset,name", [(CAP, "CAP[31:0]"), (CAP + 4, "CAP[63:32]"), (VS, "VS")],
                         ids=["cap_lo", "cap_hi", "vs"])
def test_read_only_register_ignores_writes(regs, offset, name):
    """NVMe 1.4 §3.1.1/§3.1.2: CAP and VS are read-only; writes have no effect."""
    before = regs[offset]
    regs[offset] = ~before
    after = regs[offset]
    expect(after == before, "NVMe 1.4 §3.1", f"the read-only {name} to ignore writes",
           f"read 0x{before:08x} before and 0x{after:08x} after writing its complement")


@pytest.mark.parametrize("offset", [0x18, 0x6c, 0x100, 0x400, 0x800, 0xdfc, 0xe1c, 0xefc],
                         ids=lambda o: f"0x{o:03x}")
def test_reserved_register_reads_zero(regs, offset):
    """NVMe 1.4 §3.1 (register map: 18h and 5Ch..DFFh, E1Ch..EFFh reserved; 2.0 uses
    up to 6Bh) and §1.5: reserved registers read 0, also after a write."""
    regs[offset] = 0xffffffff
    got = regs[offset]
    expect(got == 0, "NVMe 1.4 §3.1 / §1.5", f"the reserved register 0x{offset:03x} to read 0",
           f"reads 0x{got:08x} after writing 0xffffffff")


def test_nssr_reads_zero(regs, cap):
    """NVMe 1.4 §3.1.7 (NSSR): reads of NSSR return 0h whether or not NSSR is
    supported (CAP.NSSRS)."""
    got = regs[NSSR]
    expect(got == 0, "NVMe 1.4 §3.1.7 (NSSR)", "NSSR to read 0h", f"reads 0x{got:08x}")


def test_nssr_ignored_when_unsupported(enabled, cap):
    """NVMe 1.4 §3.1.7 with CAP.NSSRS = 0: NSSR is reserved, so writing 'NVMe' has no
    effect: the controller stays ready and CSTS.NSSRO stays 0."""
    if cap.nssrs:
        pytest.skip("CAP.NSSRS = 1: NVM subsystem reset is tested with the resets")
    enabled[NSSR] = 0x4e564d65
    csts = enabled[CSTS]
    expect(csts & CSTS_RDY and not csts & 0x10, "NVMe 1.4 §3.1.7",
           "a write to NSSR without CAP.NSSRS to have no effect",
           f"shows CSTS 0x{csts:08x} after it")


# -------------------------------------------------------------- INTMS/INTMC

def msix_enabled(pcie):
    off = pcie.cap_offset(0x11)
    return off is not None and pcie.register(off + 2, 2) & 0x8000


@pytest.fixture
def pin_mode(pcie, regs):
    """INTMS/INTMC are defined only while MSI-X is not in use (NVMe 1.4 §3.1.3)."""
    if msix_enabled(pcie):
        pytest.skip("MSI-X is enabled: INTMS/INTMC accesses are undefined")
    regs[INTMC] = 0xffffffff
    yield regs
    regs[INTMC] = 0xffffffff


def test_intms_sets_mask(pin_mode):
    """NVMe 1.4 §3.1.3 (INTMS, RW1S): writing 1 to a bit masks that vector; INTMS and
    INTMC both read the current mask."""
    pin_mode[INTMS] = 1
    ms, mc = pin_mode[INTMS], pin_mode[INTMC]
    expect(ms & 1 and mc & 1, "NVMe 1.4 §3.1.3/§3.1.4", "INTMS and INTMC to read the mask bit 0 set",
           f"reads INTMS 0x{ms:08x} INTMC 0x{mc:08x} after writing INTMS = 1")


def test_intmc_clears_mask(pin_mode):
    """NVMe 1.4 §3.1.4 (INTMC, RW1C): writing 1 to a bit unmasks that vector."""
    pin_mode[INTMS] = 1
    pin_mode[INTMC] = 1
    ms, mc = pin_mode[INTMS], pin_mode[INTMC]
    expect(not ms & 1 and not mc & 1, "NVMe 1.4 §3.1.4", "mask bit 0 clear after INTMC = 1",
           f"reads INTMS 0x{ms:08x} INTMC 0x{mc:08x}")


def test_intms_zero_write_no_effect(pin_mode):
    """NVMe 1.4 §3.1.3/§3.1.4: writing 0 to INTMS or INTMC changes nothing."""
    pin_mode[INTMS] = 1
    pin_mode[INTMS] = 0
    pin_mode[INTMC] = 0
    ms = pin_mode[INTMS]
    expect(ms & 1, "NVMe 1.4 §3.1.3", "writes of 0 to leave the mask bit set",
           f"reads INTMS 0x{ms:08x}")


# ----------------------------------------------------------------- CC, CSTS

@pytest.mark.parametrize("field,value", [
    ("IOSQES", 6 << 16), ("IOCQES", 4 << 20), ("AMS", 0), ("CSS", 0),
], ids=["iosqes", "iocqes", "ams", "css"])
def test_cc_fields_writable_when_disabled(disabled, field, value):
    """NVMe 1.4 §3.1.5 (CC): the configuration fields are read-write while CC.EN = 0."""
    disabled[CC] = value
    got = disabled[CC]
    expect(got == value, "NVMe 1.4 §3.1.5", f"CC.{field} to read back while disabled",
           f"read CC 0x{got:08x} after writing 0x{value:08x}")


def test_cc_mps_writable_when_disabled(disabled, cap):
    """NVMe 1.4 §3.1.5 (CC.MPS bits 10:7): read-write while disabled, for each page size
    in CAP.MPSMIN..MPSMAX."""
    bad = []
    for mps in range(cap.mpsmin, cap.mpsmax + 1):
        disabled[CC] = mps << 7
        if bits(disabled[CC], 10, 7) != mps:
            bad.append(mps)
    expect(not bad, "NVMe 1.4 §3.1.5 (CC.MPS)", "each supported MPS to read back",
           f"did not keep MPS {bad}")


def test_cc_reserved_bits_read_zero(disabled):
    """NVMe 1.4 §3.1.5 (CC bits 31:24 and 3:1 reserved; 2.0 gives bit 24 to CRIME) and
    §1.5: reserved bits read 0 even when the host writes ones."""
    disabled[CC] = 0xfe00000e
    got = disabled[CC]
    expect(got & 0xfe00000e == 0, "NVMe 1.4 §3.1.5 / §1.5", "CC bits 31:25 and 3:1 to read 0",
           f"reads CC 0x{got:08x} after writing 0xfe00000e")


def test_csts_read_only_ignores_writes(disabled):
    """NVMe 1.4 §3.1.6 (CSTS): RDY, CFS, SHST and PP are read-only; a write of ones sets
    none of them (NSSRO is RW1C)."""
    before = disabled[CSTS]
    disabled[CSTS] = 0xffffffff
    after = disabled[CSTS]
    expect(after & 0x2f == before & 0x2f, "NVMe 1.4 §3.1.6",
           "CSTS.RDY/CFS/SHST/PP to ignore writes",
           f"read CSTS 0x{before:08x} before and 0x{after:08x} after writing ones")


def test_csts_reserved_bits(regs):
    """NVMe 1.4 §3.1.6 (CSTS bits 31:6 reserved) and §1.5: read 0; SHST never reads
    the reserved value 11b."""
    csts = regs[CSTS]
    expect(csts >> 6 == 0 and bits(csts, 3, 2) != 3, "NVMe 1.4 §3.1.6",
           "CSTS bits 31:6 = 0 and SHST != 11b", f"reads CSTS 0x{csts:08x}")


def test_enable_sets_ready(enabled):
    """NVMe 1.4 §3.1.5 (CC.EN) / §7.6.1 (initialization): with AQA/ASQ/ACQ valid,
    setting CC.EN makes CSTS.RDY = 1 within CAP.TO, and CSTS.CFS stays 0."""
    csts = enabled[CSTS]
    expect(csts & CSTS_RDY and not csts & CSTS_CFS, "NVMe 1.4 §3.1.6",
           "RDY = 1 and CFS = 0 after enabling", f"shows CSTS 0x{csts:08x}")


def test_disable_clears_ready(enabled):
    """NVMe 1.4 §3.1.5 (CC.EN 1 -> 0) / §7.3.2: the controller resets and CSTS.RDY
    clears within CAP.TO."""
    enabled.disable(clause="NVMe 1.4 §3.1.5 (CC.EN) / §7.3.2")


def test_disable_keeps_admin_queue_registers(enabled):
    """NVMe 1.4 §7.3.2 (Controller Level Reset by CC.EN 1 -> 0): "the Admin Queue
    registers (AQA, ASQ, and ACQ) are not reset"."""
    before = (enabled[AQA], enabled.read64(ASQ), enabled.read64(ACQ))
    enabled.disable()
    after = (enabled[AQA], enabled.read64(ASQ), enabled.read64(ACQ))
    expect(after == before, "NVMe 1.4 §7.3.2", "AQA, ASQ and ACQ to keep their values across CC.EN 1 -> 0",
           f"read {[hex(v) for v in before]} before and {[hex(v) for v in after]} after")


def test_reenable_after_disable(enabled):
    """NVMe 1.4 §7.3.2 / §7.6.1: after CC.EN 1 -> 0 and RDY = 0 the controller can be
    enabled again with the same admin queues."""
    enabled.disable()
    enabled.enable(enabled.admin)


@pytest.mark.parametrize("shn,name", [(1, "normal"), (2, "abrupt")], ids=["normal", "abrupt"])
def test_shutdown_notification(enabled, cap, shn, name):
    """NVMe 1.4 §3.1.5 (CC.SHN) and §7.6.2 (shutdown): a normal (01b) or abrupt (10b)
    shutdown notification ends with CSTS.SHST = 10b (complete) within CAP.TO (or
    RTD3 entry latency, which is not known here), and the controller can then be
    disabled and enabled again."""
    enabled[CC] = enabled[CC] | shn << 14
    ok, csts, took = enabled.wait_csts(0xc, SHST_COMPLETE << 2, max(cap.timeout_s, 10) + 0.5)
    expect(ok, "NVMe 1.4 §7.6.2", f"CSTS.SHST = 10b after a {name} shutdown notification",
           f"shows CSTS 0x{csts:08x} after {took:.2f} s")
    enabled.disable()
    enabled.enable(enabled.admin)
    csts = enabled[CSTS]
    expect(bits(csts, 3, 2) == SHST_NORMAL, "NVMe 1.4 §3.1.6 (CSTS.SHST)",
           "SHST back to 00b (normal operation) after the controller is enabled again",
           f"shows CSTS 0x{csts:08x}")


# ------------------------------------------------------------ AQA/ASQ/ACQ

@pytest.mark.parametrize("offset,value,name", [
    (AQA, 0x001f000f, "AQA"), (ASQ, 0x12345000, "ASQ"), (ACQ, 0x23456000, "ACQ"),
], ids=["aqa", "asq", "acq"])
def test_admin_queue_register_writable_when_disabled(disabled, offset, value, name):
    """NVMe 1.4 §3.1.8/9/10: AQA, ASQ and ACQ are read-write (programmed while the
    controller is disabled)."""
    before = disabled.read64(offset) if offset != AQA else disabled[offset]
    try:
        if offset == AQA:
            disabled[offset] = value
            got = disabled[offset]
        else:
            disabled.write64(offset, value | 1 << 32)
            got = disabled.read64(offset)
            value |= 1 << 32
    finally:
        if offset == AQA:
            disabled[offset] = before
        else:
            disabled.write64(offset, before)
    expect(got == value, "NVMe 1.4 §3.1.8-10", f"{name} to read back what was written",
           f"read 0x{got:x} after writing 0x{value:x}")


@pytest.mark.parametrize("offset,name", [(ASQ, "ASQ"), (ACQ, "ACQ")], ids=["asq", "acq"])
def test_admin_queue_base_reserved_bits(disabled, offset, name):
    """NVMe 1.4 §3.1.9/§3.1.10 (ASQB/ACQB bits 11:0 reserved: the queues are 4 KiB
    aligned) and §1.5: reserved bits read 0 even when written with ones."""
    before = disabled.read64(offset)
    disabled.write64(offset, 0x10000fff)
    got = disabled.read64(offset)
    disabled.write64(offset, before)
    expect(got & 0xfff == 0, "NVMe 1.4 §3.1.9/10 / §1.5", f"{name} bits 11:0 to read 0",
           f"reads 0x{got:x} after writing 0x10000fff")


def test_aqa_reserved_bits(disabled):
    """NVMe 1.4 §3.1.8 (AQA bits 31:28 and 15:12 reserved) and §1.5: read 0."""
    before = disabled[AQA]
    disabled[AQA] = 0xffffffff
    got = disabled[AQA]
    disabled[AQA] = before
    expect(got & 0xf000f000 == 0, "NVMe 1.4 §3.1.8 / §1.5", "AQA bits 31:28 and 15:12 to read 0",
           f"reads 0x{got:08x} after writing ones")


# ---------------------------------------------- optional register groups

@pytest.mark.parametrize("offset,name", [(BPINFO, "BPINFO"), (BPRSEL, "BPRSEL"),
                                         (BPMBL, "BPMBL"), (BPMBL + 4, "BPMBL[63:32]")],
                         ids=["bpinfo", "bprsel", "bpmbl_lo", "bpmbl_hi"])
def test_boot_partition_registers_reserved_without_bps(regs, cap, offset, name):
    """NVMe 1.4 §3.1.13-15: without boot partitions (CAP.BPS = 0) the boot partition
    registers are reserved and read 0 (§1.5)."""
    if cap.bps:
        pytest.skip("CAP.BPS = 1: the controller has boot partitions")
    got = regs[offset]
    expect(got == 0, "NVMe 1.4 §3.1.13-15 / §1.5", f"{name} to read 0 when CAP.BPS = 0",
           f"reads 0x{got:08x}")


def test_boot_partition_info(regs, cap):
    """NVMe 1.4 §3.1.13 (BPINFO): with CAP.BPS = 1, BPSZ (bits 14:0) is non-zero."""
    if not cap.bps:
        pytest.skip("CAP.BPS = 0: no boot partitions")
    info = regs[BPINFO]
    expect(info & 0x7fff, "NVMe 1.4 §3.1.13", "a non-zero Boot Partition Size",
           f"reads BPINFO 0x{info:08x}")


@pytest.mark.parametrize("offset", [PMRCAP, PMRCAP + 4, PMRCAP + 8, PMRCAP + 0x10],
                         ids=["pmrcap", "pmrctl", "pmrsts", "pmrswtp"])
def test_pmr_registers_reserved_without_pmrs(regs, cap, offset):
    """NVMe 1.4 §3.1.17-23: without a persistent memory region (CAP.PMRS = 0) the PMR
    registers are reserved and read 0 (§1.5)."""
    if cap.pmrs:
        pytest.skip("CAP.PMRS = 1: the controller has a PMR")
    got = regs[offset]
    expect(got == 0, "NVMe 1.4 §3.1.17 / §1.5", f"PMR register 0x{offset:03x} to read 0",
           f"reads 0x{got:08x}")


def test_pmr_capabilities(pcie, regs, cap):
    """NVMe 1.4 §3.1.17 (PMRCAP): with CAP.PMRS = 1 the BIR names an implemented BAR
    (2..5)."""
    if not cap.pmrs:
        pytest.skip("CAP.PMRS = 0: no persistent memory region")
    pmrcap = regs[PMRCAP]
    bir = bits(pmrcap, 7, 5)
    expect(2 <= bir <= 5 and pcie.bar_size(bir), "NVMe 1.4 §3.1.17", "PMRCAP.BIR an implemented BAR 2..5",
           f"reads PMRCAP 0x{pmrcap:08x}")


def test_cmb_registers_zero_without_cmb(regs, cap):
    """NVMe 1.4 §3.1.11/12: CMBSZ = 0 means no controller memory buffer; then CMBLOC
    is reserved and reads 0."""
    if cap.cmbs:
        pytest.skip("CAP.CMBS = 1: tested by test_cmb_enable_exposes_location")
    sz, loc = regs[CMBSZ], regs[CMBLOC]
    if sz:
        pytest.skip("CMBSZ is non-zero without CAP.CMBS (legacy CMB)")
    expect(loc == 0, "NVMe 1.4 §3.1.11", "CMBLOC to read 0 when CMBSZ is 0", f"reads 0x{loc:08x}")


def test_cmb_enable_exposes_location(pcie, disabled, cap):
    """NVMe 1.4 §3.1.16 (CMBMSC.CRE) with §3.1.11/12: with CAP.CMBS = 1, setting CRE
    makes CMBLOC/CMBSZ meaningful: a non-zero size, in a valid unit (SZU <= 6h), in an
    implemented BAR (BIR 2..5) that contains it."""
    if not cap.cmbs:
        pytest.skip("CAP.CMBS = 0: no controller memory buffer")
    disabled.write64(CMBMSC, 1)
    try:
        sz, loc = disabled[CMBSZ], disabled[CMBLOC]
    finally:
        disabled.write64(CMBMSC, 0)
    expect(sz != 0, "NVMe 1.4 §3.1.12 (CMBSZ)", "a non-zero CMBSZ once CMBMSC.CRE = 1",
           "reads 0")
    szu = bits(sz, 11, 8)
    expect(szu <= 6, "NVMe 1.4 §3.1.12", "SZU 0h..6h", f"reads CMBSZ 0x{sz:08x}")
    bir = loc & 7
    size = (sz >> 12) * (4096 << (4 * szu))
    offset = (loc >> 12) * (4096 << (4 * szu))
    bar = pcie.bar_size(bir) if bir <= 5 else 0
    expect(2 <= bir <= 5 and bar, "NVMe 1.4 §3.1.11 (CMBLOC.BIR)", "BIR of an implemented BAR 2..5",
           f"reads CMBLOC 0x{loc:08x}")
    expect(offset + size <= bar, "NVMe 1.4 §3.1.11/12", "the CMB inside its BAR",
           f"places 0x{size:x} bytes at offset 0x{offset:x} of BAR{bir} (0x{bar:x} bytes)")
