"""Metadata and end-to-end protection (NVMe 1.4 §8.2, §8.3) where the namespace
formats offer them, and the controller memory buffer (NVMe 1.4 §8.7, registers
§3.1.11/12/16) where the controller has one."""
import pytest

import nvme as d
from conformance_lib import CMBLOC, CMBMSC, CMBSZ, bits, expect, expect_status, id_ns, run

OK = (0, 0)
PRACT, PRCHK_GUARD, PRCHK_APP, PRCHK_REF = 1 << 29, 1 << 28, 1 << 27, 1 << 26
REFTAG_ERROR, INVALID_PI = (2, 0x84), (1, 0x81)


def pi_namespace(nvme0, nsids):
    for nsid in nsids:
        _, ns = id_ns(nvme0, d, nsid)
        if ns.dps & 7 and ns.current["ms"] == 8:
            return nsid, ns
    pytest.skip("no namespace formatted with protection information and 8-byte metadata")


def io(q, op, nsid, slba, nlb, buf=None, prinfo=0, eilbrt=0):
    return run(q, "send_cmd", op, buf, nsid=nsid, cdw10=slba, cdw12=(nlb - 1) | prinfo, cdw14=eilbrt)


def test_pi_pract_write_read(nvme0, nsids):
    """NVMe 1.4 §8.3.1 (PRACT = 1 with 8-byte metadata: the controller inserts and
    strips the protection information, no metadata crosses the host interface):
    data written with PRACT reads back with PRACT, checking guard and reference tag."""
    nsid, ns = pi_namespace(nvme0, nsids)
    q = d.Qpair(nvme0, 8)
    try:
        w = d.Buffer(2 * ns.lba_size, ptype=0xbeef, pvalue=100)
        cpl = io(q, 0x01, nsid, 10, 2, w, PRACT | PRCHK_GUARD | PRCHK_REF, eilbrt=10)
        expect_status(cpl, OK, "NVMe 1.4 §8.3.1", "Write with PRACT = 1 on a PI namespace")
        r = d.Buffer(2 * ns.lba_size)
        cpl = io(q, 0x02, nsid, 10, 2, r, PRACT | PRCHK_GUARD | PRCHK_REF, eilbrt=10)
        expect_status(cpl, OK, "NVMe 1.4 §8.3.1", "Read with PRACT = 1 checking guard and reference tag")
    finally:
        q.delete()
    expect(r[0:len(r)] == w[0:len(w)], "NVMe 1.4 §8.3.1", "the data back", "returns different data")


def test_pi_reference_tag_mismatch(nvme0, nsids):
    """NVMe 1.4 §8.3 (the reference tag is checked against EILBRT; for Type 1 it is the
    LBA) and §4.6.1.2.3: a read checking the reference tag against a wrong expected
    value aborts: End-to-end Reference Tag Check Error (02/84), or for Type 1, where
    EILBRT must match the SLBA, Invalid Protection Information (01/81)."""
    nsid, ns = pi_namespace(nvme0, nsids)
    if ns.dps & 7 == 3:
        pytest.skip("type 3 protection does not check the reference tag")
    q = d.Qpair(nvme0, 8)
    try:
        w = d.Buffer(ns.lba_size, ptype=32, pvalue=0x12345678)
        io(q, 0x01, nsid, 20, 1, w, PRACT, eilbrt=20)
        cpl = io(q, 0x02, nsid, 20, 1, d.Buffer(ns.lba_size), PRACT | PRCHK_REF, eilbrt=21)
    finally:
        q.delete()
    expect_status(cpl, [REFTAG_ERROR, INVALID_PI], "NVMe 1.4 §8.3", "Read with PRCHK reference tag and a wrong EILBRT")


def test_pi_write_wrong_reference_tag(nvme0, nsids):
    """NVMe 1.4 §8.3 (Type 1, PRACT = 1: the initial reference tag must match the
    SLBA's low 32 bits): a write with EILBRT != SLBA and reference tag checking aborts
    with Invalid Protection Information (01/81) or End-to-end Reference Tag Check
    Error (02/84)."""
    nsid, ns = pi_namespace(nvme0, nsids)
    if ns.dps & 7 != 1:
        pytest.skip("not protection type 1")
    q = d.Qpair(nvme0, 8)
    try:
        cpl = io(q, 0x01, nsid, 30, 1, d.Buffer(ns.lba_size), PRACT | PRCHK_REF, eilbrt=31)
    finally:
        q.delete()
    expect_status(cpl, [REFTAG_ERROR, INVALID_PI], "NVMe 1.4 §8.3", "Write of type 1 PI with EILBRT != SLBA")


def test_format_extended_metadata(nvme0, idc, nsids):
    """NVMe 1.4 §5.23 (Format NVM, MSET = 1) and §8.2 (extended LBA: metadata follows
    each block's data): a namespace formatted to an LBA format with metadata as an
    extended LBA transfers data + metadata contiguously; formatted back afterwards."""
    if not idc.oacs & 2:
        pytest.skip("OACS bit 1 = 0: Format NVM not supported")
    for nsid in nsids:
        _, ns = id_ns(nvme0, d, nsid)
        cur = ns.flbas & 0xf
        target = next((i for i in range(ns.nlbaf + 1)
                       if ns.lbaf(i)["ms"] and ns.lbaf(i)["lbads"] == ns.current["lbads"]), None)
        if target is not None and ns.mc & 1 and not ns.dps & 7:
            break
    else:
        pytest.skip("no namespace offers a metadata format usable as extended LBA")
    nvme0.timeout = 60000
    ms, bs = ns.lbaf(target)["ms"], ns.lba_size
    cpl = run(nvme0, "format", lbaf=target, mset=1, nsid=nsid)
    expect_status(cpl, OK, "NVMe 1.4 §5.23", f"Format NVM NSID {nsid} to LBAF {target} (MS {ms}) extended")
    q = d.Qpair(nvme0, 8)
    try:
        _, after = id_ns(nvme0, d, nsid)
        expect(after.flbas & 0xf == target and after.flbas & 0x10, "NVMe 1.4 §5.15.2 (FLBAS)",
               f"FLBAS = LBAF {target} with bit 4 (extended) set", f"reports FLBAS {after.flbas:#x}")
        w = d.Buffer(2 * (bs + ms), ptype=0xbeef, pvalue=100)
        expect_status(io(q, 0x01, nsid, 0, 2, w), OK, "NVMe 1.4 §8.2", "Write of 2 extended LBAs")
        r = d.Buffer(2 * (bs + ms))
        expect_status(io(q, 0x02, nsid, 0, 2, r), OK, "NVMe 1.4 §8.2", "Read of 2 extended LBAs")
        expect(r[0:len(r)] == w[0:len(w)], "NVMe 1.4 §8.2", "data and metadata back", "returns different bytes")
    finally:
        q.delete()
        run(nvme0, "format", lbaf=cur, mset=(ns.flbas >> 4) & 1, nsid=nsid)


# --------------------------------------------------------------------- CMB

@pytest.fixture
def cmb(pcie, regs, cap):
    if not cap.cmbs:
        pytest.skip("CAP.CMBS = 0: no controller memory buffer")
    regs.disable()
    regs.write64(CMBMSC, 1)
    sz, loc = regs[CMBSZ], regs[CMBLOC]
    szu = 4096 << (4 * bits(sz, 11, 8))
    yield {"sz": sz, "loc": loc, "bir": loc & 7, "offset": (loc >> 12) * szu, "size": (sz >> 12) * szu}
    regs.write64(CMBMSC, 0)


def test_cmb_memory_read_write(pcie, cmb):
    """NVMe 1.4 §8.7 (Controller Memory Buffer: general purpose read/write memory in a
    BAR): dwords written at the start, middle and end of the CMB read back."""
    base, size, bir = cmb["offset"], cmb["size"], cmb["bir"]
    bad = []
    for off in (base, base + size // 2, base + size - 4):
        pcie.mem_dword_write(off, 0xa5a50000 | (off & 0xffff), bar=bir)
    for off in (base, base + size // 2, base + size - 4):
        got = pcie.mem_dword_read(off, bar=bir)
        if got != 0xa5a50000 | (off & 0xffff):
            bad.append((hex(off), hex(got)))
    expect(not bad, "NVMe 1.4 §8.7", "CMB memory to keep what is written", f"returns {bad}")


def test_cmbsz_reserved_bits(cmb):
    """NVMe 1.4 §3.1.12 (CMBSZ bits 7:5 reserved) and §1.5: read 0."""
    expect(cmb["sz"] & 0xe0 == 0, "NVMe 1.4 §3.1.12 / §1.5", "CMBSZ bits 7:5 = 0",
           f"reads CMBSZ 0x{cmb['sz']:08x}")


def test_cmbsz_claims_a_use(cmb):
    """NVMe 1.4 §3.1.12 (SQS, CQS, LISTS, RDS, WDS): a CMB supports at least one use."""
    expect(cmb["sz"] & 0x1f, "NVMe 1.4 §3.1.12", "at least one of SQS/CQS/LISTS/RDS/WDS",
           f"reads CMBSZ 0x{cmb['sz']:08x}")
