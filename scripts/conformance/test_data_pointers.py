"""Data pointers (NVMe 1.4 §4.3 PRP, §4.4 SGL): PRP1 offsets, PRP lists across
pages, SGL data blocks, and the statuses for SGLs where the controller does not
claim them. Raw IO commands on an nvme.Qpair, on a metadata-free namespace."""
import pytest

import nvme as d
from conformance_lib import expect, expect_status, run

OK, INVALID_FIELD = (0, 0), (0, 0x02)
WRITE, READ = 0x01, 0x02


@pytest.fixture
def io(nvme0, plain_ns):
    q = d.Qpair(nvme0, 16)
    yield q, plain_ns[0], plain_ns[1]
    q.delete()


def xfer(q, op, nsid, slba, nlb, buf, sgl=False):
    return run(q, "send_cmd", op, buf, nsid=nsid, cdw10=slba, cdw12=nlb - 1, sgl=sgl)


@pytest.mark.parametrize("offset", [0, 4, 512, 2048, 4092], ids=lambda o: f"off{o}")
def test_prp1_offset(io, offset):
    """NVMe 1.4 §4.3 (PRP Entry: a dword-aligned offset into the first page): data
    written from and read into a buffer at a page offset arrives intact, including
    when it spans into following pages (PRP2 / PRP list)."""
    q, nsid, ns = io
    nlb = max(1, 8192 // ns.lba_size)
    size = nlb * ns.lba_size
    w = d.Buffer(size + 4096, ptype=0xbeef, pvalue=100)
    w.offset, w.size = offset, size
    cpl = xfer(q, WRITE, nsid, 256, nlb, w)
    expect_status(cpl, OK, "NVMe 1.4 §4.3", f"Write from a buffer at page offset {offset}")
    r = d.Buffer(size + 4096)
    r.offset, r.size = offset, size
    cpl = xfer(q, READ, nsid, 256, nlb, r)
    expect_status(cpl, OK, "NVMe 1.4 §4.3", f"Read into a buffer at page offset {offset}")
    expect(r[offset:offset + size] == w[offset:offset + size], "NVMe 1.4 §4.3",
           f"the data intact through PRPs at offset {offset}", "returns different data")
    expect(not any(r[0:offset]) and not any(r[offset + size:offset + size + 64]), "NVMe 1.4 §4.3",
           "no bytes written outside the described memory", "wrote outside the PRP range")


@pytest.mark.parametrize("pages", [2, 3, 9, 17], ids=lambda p: f"{p}pages")
def test_prp_list_transfer(nvme0, io, pages):
    """NVMe 1.4 §4.3 (PRP List): transfers of more than two pages use a PRP list; the
    data arrives intact (bounded by MDTS)."""
    q, nsid, ns = io
    size = pages * 4096
    if nvme0.mdts and size > nvme0.mdts:
        pytest.skip(f"{size} bytes exceed MDTS {nvme0.mdts}")
    nlb = size // ns.lba_size
    w = d.Buffer(size, ptype=0xbeef, pvalue=100)
    expect_status(xfer(q, WRITE, nsid, 512, nlb, w), OK, "NVMe 1.4 §4.3", f"Write of {pages} pages")
    r = d.Buffer(size)
    expect_status(xfer(q, READ, nsid, 512, nlb, r), OK, "NVMe 1.4 §4.3", f"Read of {pages} pages")
    expect(r[0:size] == w[0:size], "NVMe 1.4 §4.3", f"{pages} pages intact through a PRP list",
           "returns different data")


@pytest.mark.parametrize("offset", [0, 100, 4095], ids=lambda o: f"off{o}")
def test_sgl_data_block(io, idc, offset):
    """NVMe 1.4 §4.4 (SGL Data Block descriptor) with SGLS bits 1:0: when SGLs are
    supported, data described by an SGL arrives intact (byte-aligned buffers when SGLS
    = 01b, dword-aligned when 10b)."""
    q, nsid, ns = io
    sgls = idc.sgls & 3
    if not sgls:
        pytest.skip("SGLS = 0: SGLs not supported")
    if sgls == 2 and offset % 4:
        pytest.skip("SGLs need dword alignment (SGLS = 10b)")
    size = 2 * ns.lba_size
    w = d.Buffer(size + 4096, ptype=0xbeef, pvalue=100)
    w.offset, w.size = offset, size
    expect_status(xfer(q, WRITE, nsid, 1024, 2, w, sgl=True), OK, "NVMe 1.4 §4.4", "Write with an SGL")
    r = d.Buffer(size + 4096)
    r.offset, r.size = offset, size
    expect_status(xfer(q, READ, nsid, 1024, 2, r, sgl=True), OK, "NVMe 1.4 §4.4", "Read with an SGL")
    expect(r[offset:offset + size] == w[offset:offset + size], "NVMe 1.4 §4.4",
           "the data intact through an SGL", "returns different data")


def test_sgl_unsupported(io, idc):
    """NVMe 1.4 §4.2 (PSDT) with SGLS = 0: a command using SGLs aborts with Invalid Field
    in Command."""
    if idc.sgls & 3:
        pytest.skip("SGLs are supported")
    q, nsid, ns = io
    cpl = xfer(q, READ, nsid, 0, 1, d.Buffer(ns.lba_size), sgl=True)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §4.2 (PSDT)", "Read with an SGL when SGLS = 0")

