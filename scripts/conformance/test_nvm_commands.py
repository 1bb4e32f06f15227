"""NVM command set commands (NVMe 1.4 §6): read, write, flush, compare, write
zeroes, dataset management, verify, write uncorrectable, with LBA range errors,
MDTS, invalid namespaces, FUA and limited retry, reserved and unclaimed opcodes.
They run on the first namespace whose current format has no metadata, through
raw IO commands on an nvme.Qpair (expectations from Identify Namespace/Controller)."""
import pytest

import nvme as d
from conformance_lib import expect, expect_status, id_ns, run

OK = (0, 0)
INVALID_OPCODE, INVALID_FIELD, INVALID_NS = (0, 0x01), (0, 0x02), (0, 0x0b)
LBA_RANGE, COMPARE_FAILURE, READ_ERROR = (0, 0x80), (2, 0x85), (2, 0x81)
FLUSH, WRITE, READ, WUNC, COMPARE, WZ, DSM, VERIFY = 0x00, 0x01, 0x02, 0x04, 0x05, 0x08, 0x09, 0x0c
FUA, LR = 1 << 30, 1 << 31

# opcode: (name, ONCS bit or None for mandatory, carries data)
IO_CMDS = {READ: ("Read", None, True), WRITE: ("Write", None, True),
           COMPARE: ("Compare", 0, True), WZ: ("Write Zeroes", 3, False),
           VERIFY: ("Verify", 7, False), WUNC: ("Write Uncorrectable", 1, False)}


@pytest.fixture
def io(nvme0, plain_ns):
    """(qpair, nsid, IdNs) for raw IO commands."""
    q = d.Qpair(nvme0, 16)
    yield q, plain_ns[0], plain_ns[1]
    q.delete()


def need(idc, op):
    name, bit, _ = IO_CMDS[op]
    if bit is not None and not idc.oncs & (1 << bit):
        pytest.skip(f"{name} is not claimed (ONCS bit {bit})")
    return name


def io_cmd(q, op, nsid, slba, nlb, buf=None, flags=0, **kw):
    return run(q, "send_cmd", op, buf, nsid=nsid, cdw10=slba & 0xffffffff, cdw11=slba >> 32,
               cdw12=(nlb - 1) | flags, **kw)


def write_read(q, nsid, ns, slba, nlb, pattern, flags=0):
    size = ns.lba_size * nlb
    wbuf = d.Buffer(size, ptype=32, pvalue=pattern)
    cpl = io_cmd(q, WRITE, nsid, slba, nlb, wbuf, flags)
    expect_status(cpl, OK, "NVMe 1.4 §6.15", f"Write of {nlb} LBAs at {slba}")
    rbuf = d.Buffer(size)
    cpl = io_cmd(q, READ, nsid, slba, nlb, rbuf, flags)
    expect_status(cpl, OK, "NVMe 1.4 §6.9", f"Read of {nlb} LBAs at {slba}")
    return wbuf, rbuf


def test_write_then_read_back(io):
    """NVMe 1.4 §6.15 (Write) and §6.9 (Read): the data written is read back."""
    q, nsid, ns = io
    w, r = write_read(q, nsid, ns, 8, 4, 0x1234abcd)
    expect(w[0:len(w)] == r[0:len(r)], "NVMe 1.4 §6.9/§6.15", "the written data back",
           "returns different data")


@pytest.mark.parametrize("flags,name", [(FUA, "fua"), (LR, "limited_retry"), (FUA | LR, "both")],
                         ids=["fua", "limited_retry", "fua_lr"])
def test_write_read_with_flags(io, flags, name):
    """NVMe 1.4 §6.9/§6.15 (Figure 369: FUA bit 30, LR bit 31): commands with Force
    Unit Access and Limited Retry complete successfully with the data intact."""
    q, nsid, ns = io
    w, r = write_read(q, nsid, ns, 32, 2, 0x0f0f0f0f ^ flags, flags)
    expect(w[0:len(w)] == r[0:len(r)], "NVMe 1.4 §6.9", f"the data back with {name}", "returns different data")


def test_flush(io):
    """NVMe 1.4 §6.8 (Flush): completes successfully."""
    q, nsid, _ = io
    cpl = run(q, "send_cmd", FLUSH, nsid=nsid)
    expect_status(cpl, OK, "NVMe 1.4 §6.8", "Flush")


def test_flush_all_namespaces(io, idc):
    """NVMe 1.4 §6.8 with §5.15.2 (VWC bits 2:1): Flush with NSID FFFFFFFFh succeeds
    when the controller claims it (11b) and aborts with Invalid Namespace or Format
    when it claims not to (10b)."""
    q, _, _ = io
    support = (idc.vwc >> 1) & 3
    if support == 0:
        pytest.skip("VWC bits 2:1 = 00b: broadcast flush support not indicated")
    cpl = run(q, "send_cmd", FLUSH, nsid=0xffffffff)
    expect_status(cpl, OK if support == 3 else INVALID_NS, "NVMe 1.4 §6.8 / §5.15.2 (VWC)",
                  f"Flush of NSID FFFFFFFFh with VWC bits 2:1 = {support:02b}b")


@pytest.mark.parametrize("op", sorted(IO_CMDS), ids=lambda o: IO_CMDS[o][0].lower().replace(" ", "_"))
@pytest.mark.parametrize("where", ["last_plus_one", "crossing_end", "max_lba"])
def test_lba_out_of_range(io, idc, op, where):
    """NVMe 1.4 §6 (each command: "LBA Out of Range" when SLBA + NLB exceeds the
    namespace size, NSZE): an access at NSZE, one crossing the end and one at the
    largest SLBA abort with LBA Out of Range."""
    name = need(idc, op)
    q, nsid, ns = io
    slba, nlb = {"last_plus_one": (ns.nsze, 1), "crossing_end": (ns.nsze - 1, 2),
                 "max_lba": ((1 << 64) - 1, 1)}[where]
    buf = d.Buffer(ns.lba_size * nlb) if IO_CMDS[op][2] else None
    cpl = io_cmd(q, op, nsid, slba, nlb, buf)
    expect_status(cpl, LBA_RANGE, "NVMe 1.4 §6 (LBA Out of Range)",
                  f"{name} of {nlb} LBAs at {slba:#x} (NSZE {ns.nsze:#x})")


@pytest.mark.parametrize("op", [READ, WRITE], ids=["read", "write"])
@pytest.mark.parametrize("which", ["zero", "above_nn", "inactive", "broadcast"])
def test_io_invalid_namespace(io, idc, nsids, op, which):
    """NVMe 1.4 §6.1 (namespace ID types; 2.0 §3.2.1, Figure 91): an IO command to an
    invalid NSID (0, or above NN) aborts with Invalid Namespace or Format; to an
    inactive NSID with Invalid Field in Command; Read and Write do not take the
    broadcast NSID FFFFFFFFh, which is refused with either status."""
    q, _, ns = io
    want = INVALID_NS
    if which == "zero":
        nsid = 0
    elif which == "above_nn":
        nsid = idc.nn + 1
    elif which == "broadcast":
        nsid, want = 0xffffffff, [INVALID_NS, INVALID_FIELD]
    else:
        nsid, want = next((n for n in range(1, idc.nn + 1) if n not in nsids), None), INVALID_FIELD
        if nsid is None:
            pytest.skip("no inactive NSID")
    cpl = io_cmd(q, op, nsid, 0, 1, d.Buffer(ns.lba_size))
    expect_status(cpl, want, "NVMe 1.4 §6.1 / 2.0 §3.2.1", f"{IO_CMDS[op][0]} to {which} NSID {nsid:#x}")


@pytest.mark.parametrize("op", [READ, WRITE], ids=["read", "write"])
@pytest.mark.parametrize("size", ["mdts", "mdts_plus_one_lba"])
def test_mdts(nvme0, io, idc, op, size):
    """NVMe 1.4 §5.15.2 (MDTS): a transfer of exactly MDTS succeeds; one LBA more
    aborts with Invalid Field in Command."""
    if not idc.mdts:
        pytest.skip("MDTS = 0: no transfer limit")
    q, nsid, ns = io
    mdts = nvme0.mdts
    nlb = mdts // ns.lba_size + (1 if size == "mdts_plus_one_lba" else 0)
    buf = d.Buffer(nlb * ns.lba_size)
    cpl = io_cmd(q, op, nsid, 0, nlb, buf)
    expect_status(cpl, OK if size == "mdts" else INVALID_FIELD, "NVMe 1.4 §5.15.2 (MDTS)",
                  f"{IO_CMDS[op][0]} of {nlb * ns.lba_size} bytes with MDTS {mdts} bytes")


def test_compare_match_and_mismatch(io, idc):
    """NVMe 1.4 §6.6 (Compare): equal data completes successfully, different data
    aborts with Compare Failure (02/85)."""
    need(idc, COMPARE)
    q, nsid, ns = io
    w, _ = write_read(q, nsid, ns, 64, 1, 0x600dda7a)
    cpl = io_cmd(q, COMPARE, nsid, 64, 1, w)
    expect_status(cpl, OK, "NVMe 1.4 §6.6", "Compare of the data just written")
    other = d.Buffer(ns.lba_size, ptype=32, pvalue=0xbadda7a)
    cpl = io_cmd(q, COMPARE, nsid, 64, 1, other)
    expect_status(cpl, COMPARE_FAILURE, "NVMe 1.4 §6.6", "Compare of different data")


def test_write_zeroes_reads_zero(io, idc):
    """NVMe 1.4 §6.17 (Write Zeroes): the LBAs read back as zeroes."""
    need(idc, WZ)
    q, nsid, ns = io
    write_read(q, nsid, ns, 96, 4, 0xffffffff)
    cpl = io_cmd(q, WZ, nsid, 96, 4)
    expect_status(cpl, OK, "NVMe 1.4 §6.17", "Write Zeroes of 4 LBAs")
    r = d.Buffer(4 * ns.lba_size, ptype=32, pvalue=0x11111111)
    io_cmd(q, READ, nsid, 96, 4, r)
    expect(not any(r[0:len(r)]), "NVMe 1.4 §6.17", "zeroes after Write Zeroes", "returns non-zero data")


def test_verify(io, idc):
    """NVMe 1.4 §6.14 (Verify): verifying written LBAs completes successfully."""
    need(idc, VERIFY)
    q, nsid, ns = io
    write_read(q, nsid, ns, 128, 2, 0x7e7e7e7e)
    cpl = io_cmd(q, VERIFY, nsid, 128, 2)
    expect_status(cpl, OK, "NVMe 1.4 §6.14", "Verify of 2 written LBAs")


def test_write_uncorrectable_then_read(io, idc):
    """NVMe 1.4 §6.16 (Write Uncorrectable): reads of the marked LBA abort with
    Unrecovered Read Error until it is written again."""
    need(idc, WUNC)
    q, nsid, ns = io
    cpl = io_cmd(q, WUNC, nsid, 160, 1)
    expect_status(cpl, OK, "NVMe 1.4 §6.16", "Write Uncorrectable of one LBA")
    r = d.Buffer(ns.lba_size)
    cpl = io_cmd(q, READ, nsid, 160, 1, r)
    expect_status(cpl, READ_ERROR, "NVMe 1.4 §6.16", "Read of an LBA marked uncorrectable")
    write_read(q, nsid, ns, 160, 1, 0x12121212)


def test_dsm_deallocate(io, idc):
    """NVMe 1.4 §6.7 (Dataset Management, AD: the controller may deallocate the ranges)
    with §5.15.2 (DLFEAT 001b: deallocated blocks read as zeroes): after deallocating a
    written range, each block reads either its old data or, once deallocated, zeroes
    (when DLFEAT says so) - nothing else."""
    if not idc.oncs & 4:
        pytest.skip("Dataset Management is not claimed (ONCS bit 2)")
    q, nsid, ns = io
    w, _ = write_read(q, nsid, ns, 192, 8, 0x33333333)
    buf = d.Buffer(4096)
    buf.set_dsm_range(0, 192, 8)
    cpl = run(q, "send_cmd", DSM, buf, nsid=nsid, cdw10=0, cdw11=4)
    expect_status(cpl, OK, "NVMe 1.4 §6.7", "Dataset Management deallocate of 8 LBAs")
    r = d.Buffer(8 * ns.lba_size, ptype=32, pvalue=0x1)
    io_cmd(q, READ, nsid, 192, 8, r)
    zeroes = ns(33) & 7 == 1
    bs = ns.lba_size
    for i in range(8):
        block = r[i * bs:(i + 1) * bs]
        ok = block == w[i * bs:(i + 1) * bs] or (zeroes and not any(block))
        expect(ok, "NVMe 1.4 §6.7 / §5.15.2 (DLFEAT)",
               "a deallocated block to read its old data or (DLFEAT 001b) zeroes",
               f"returns other data for LBA {192 + i}")


def test_dsm_many_ranges(io, idc):
    """NVMe 1.4 §6.7 (NR is 0's based: up to 256 ranges): a Dataset Management command
    with 256 ranges completes successfully."""
    if not idc.oncs & 4:
        pytest.skip("Dataset Management is not claimed (ONCS bit 2)")
    q, nsid, ns = io
    buf = d.Buffer(4096)
    for i in range(256):
        buf.set_dsm_range(i, 2048 + 4 * i, 2)
    cpl = run(q, "send_cmd", DSM, buf, nsid=nsid, cdw10=255, cdw11=4)
    expect_status(cpl, OK, "NVMe 1.4 §6.7", "Dataset Management with 256 ranges")


@pytest.mark.parametrize("op", [0x03, 0x07, 0x0a, 0x0b, 0x0f, 0x7f], ids=lambda o: f"op{o:02x}")
def test_reserved_io_opcode(io, op):
    """NVMe 1.4 §6 (Figure 346: opcodes not listed are reserved): Invalid Command
    Opcode."""
    q, nsid, _ = io
    cpl = run(q, "send_cmd", op, nsid=nsid)
    expect_status(cpl, INVALID_OPCODE, "NVMe 1.4 §6 (Figure 346)", f"reserved IO opcode {op:#04x}")


@pytest.mark.parametrize("op,bit,name", [(COMPARE, 0, "Compare"), (WUNC, 1, "Write Uncorrectable"),
                                         (DSM, 2, "Dataset Management"), (WZ, 3, "Write Zeroes"),
                                         (VERIFY, 7, "Verify"), (0x19, 8, "Copy")],
                         ids=["compare", "write_uncorrectable", "dsm", "write_zeroes", "verify", "copy"])
def test_unclaimed_io_command(io, idc, op, bit, name):
    """NVMe 1.4 §5.15.2 (ONCS): an optional NVM command the controller does not claim
    aborts with Invalid Command Opcode."""
    if idc.oncs & (1 << bit):
        pytest.skip(f"{name} is claimed (ONCS bit {bit})")
    q, nsid, ns = io
    cpl = run(q, "send_cmd", op, d.Buffer(4096), nsid=nsid)
    expect_status(cpl, INVALID_OPCODE, "NVMe 1.4 §5.15.2 (ONCS)", f"unclaimed {name} ({op:#04x})")


def test_io_to_every_active_namespace(nvme0, nsids):
    """NVMe 1.4 §6.1 (namespaces): a read of LBA 0 succeeds on every active namespace
    whose format needs no separate metadata buffer."""
    q = d.Qpair(nvme0, 8)
    try:
        tried = 0
        for nsid in nsids:
            _, ns = id_ns(nvme0, d, nsid)
            if ns.current["ms"] and not ns.flbas & 0x10:
                continue
            tried += 1
            size = ns.lba_size + (ns.current["ms"] if ns.flbas & 0x10 else 0)
            cpl = io_cmd(q, READ, nsid, 0, 1, d.Buffer(size))
            expect_status(cpl, OK, "NVMe 1.4 §6.9", f"Read of LBA 0 on NSID {nsid}")
    finally:
        q.delete()
    if not tried:
        pytest.skip("no namespace without a separate metadata buffer")


def test_namespaces_hold_separate_data(nvme0, nsids):
    """NVMe 1.4 §6.1: namespaces are independent: data written to LBA 0 of one is not
    seen at LBA 0 of another."""
    plain = []
    for nsid in nsids:
        _, ns = id_ns(nvme0, d, nsid)
        if not ns.current["ms"]:
            plain.append((nsid, ns))
    if len(plain) < 2:
        pytest.skip("fewer than two namespaces without metadata")
    q = d.Qpair(nvme0, 8)
    try:
        (a, na), (b, nb) = plain[:2]
        io_cmd(q, WRITE, a, 0, 1, d.Buffer(na.lba_size, ptype=32, pvalue=0xaaaaaaaa))
        io_cmd(q, WRITE, b, 0, 1, d.Buffer(nb.lba_size, ptype=32, pvalue=0xbbbbbbbb))
        r = d.Buffer(na.lba_size)
        io_cmd(q, READ, a, 0, 1, r)
    finally:
        q.delete()
    expect(r[0:4] == b"\xaa" * 4, "NVMe 1.4 §6.1", f"NSID {a} to keep its own data",
           f"returns {r[0:4]!r} after NSID {b} was written")
