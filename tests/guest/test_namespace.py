"""nvme.Namespace against QEMU's NVMe controllers of test.toml: 0000:01:00.0
(two file-backed namespaces that keep data, 512 B LBAs, mdts=7 i.e. 512 KiB)
and 0000:02:00.0 (null backend, 4 KiB LBAs).

Expectations come from what the controller reports (identify, CAP), never
from its name.
"""
import warnings

import pytest

import nvme as d

READ, WRITE = 0x02, 0x01


def statuses(fn):
    """Runs fn() and returns the 'ERROR status: xx/yy' texts it warned."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message).split(":")[1].strip() for x in w
            if str(x.message).startswith("ERROR status")]


def write_read(ns, q, lba, count, offset=0, sgl=False):
    """Writes random data of `count` LBAs at `lba` from a buffer window at
    `offset`, reads it back into another window at `offset`, returns both."""
    n = count * ns.lba_size
    w = d.Buffer(n + offset, ptype=0xbeef, pvalue=100)
    r = d.Buffer(n + offset)
    for b in (w, r):
        b.offset, b.size = offset, n
    assert statuses(lambda: ns.write(q, w, lba, count, sgl=sgl).waitdone()) == []
    assert statuses(lambda: ns.read(q, r, lba, count, sgl=sgl).waitdone()) == []
    return w[offset:offset + n], r[offset:offset + n]


def test_properties_match_identify(nvme0, nvme0n1):
    assert nvme0n1.nsid == 1
    assert nvme0n1.capacity == nvme0n1.id_data(7, 0) == nvme0.id_data(7, 0, nsid=1, cns=0)
    flbas = nvme0n1.id_data(26) & 0xf
    assert nvme0n1.lba_size == 1 << nvme0n1.id_data(128 + 4 * flbas + 2)
    assert nvme0n1.capacity * nvme0n1.lba_size == 512 << 20
    assert nvme0n1.get_lba_format(nvme0n1.lba_size, 0) == flbas
    assert nvme0n1.get_lba_format(520, 0) is None
    assert repr(nvme0n1).startswith(f"<Namespace 1 of {nvme0.addr}")


def test_supports_and_cmdname(nvme0n1):
    assert nvme0n1.supports(READ) and nvme0n1.supports(WRITE) and nvme0n1.supports(0x00)
    # ONCS tells which optional commands exist; the effects log must agree
    oncs = nvme0n1.id_data(521, 520, cns=1)  # identify controller through the namespace
    assert nvme0n1.supports(0x04) == bool(oncs & 0x2)    # write uncorrectable
    assert nvme0n1.supports(0x08) == bool(oncs & 0x8)    # write zeroes
    assert nvme0n1.supports(0x09) == bool(oncs & 0x4)    # dataset management
    assert not nvme0n1.supports(0x7f)
    assert nvme0n1.cmdname(0x02) == "Read" and nvme0n1.cmdname(0x09) == "Dataset Management"
    assert nvme0n1.cmdname(0x90) == "Vendor Specific"


@pytest.mark.parametrize("count", [1, 2, 7, 8, 9, 16, 63, 64, 65, 255, 256, 511, 1024])
def test_write_read_sizes(nvme0n1, qpair, count):
    w, r = write_read(nvme0n1, qpair, 4096, count)
    assert w == r


@pytest.mark.parametrize("offset", [4, 8, 512, 2048, 4092, 4096 + 4, 8192 - 512])
@pytest.mark.parametrize("count", [1, 8, 9, 17, 100])
def test_prp_offsets(nvme0n1, qpair, offset, count):
    # PRP1 inside a page, PRP2 as the second page or a list, all shifted
    w, r = write_read(nvme0n1, qpair, 8192 + count, count, offset=offset)
    assert w == r


def test_transfer_up_to_mdts_with_prp_list(nvme0, nvme0n1, qpair):
    count = nvme0.mdts // nvme0n1.lba_size
    # an odd dword offset makes the transfer touch one page more: longest list
    w, r = write_read(nvme0n1, qpair, 1 << 16, count, offset=4)
    assert w == r


def test_transfer_over_mdts_is_refused_by_the_device(nvme0, nvme0n1, qpair):
    count = nvme0.mdts // nvme0n1.lba_size + 1
    buf = d.Buffer(count * nvme0n1.lba_size)
    assert statuses(lambda: nvme0n1.read(qpair, buf, 0, count).waitdone()) == ["00/02"]


def test_sgl_when_offered(nvme0, nvme0n1, qpair):
    sgls = nvme0.id_data(539, 536)
    if not sgls & 3:
        pytest.skip("the controller offers no SGLs")
    for count, offset in [(1, 0), (8, 4), (300, 100)]:
        w, r = write_read(nvme0n1, qpair, 20000, count, offset=offset, sgl=True)
        assert w == r


def test_lba_out_of_range(nvme0n1, qpair, buf):
    cap = nvme0n1.capacity
    assert statuses(lambda: nvme0n1.read(qpair, buf, cap).waitdone()) == ["00/80"]
    assert statuses(lambda: nvme0n1.write(qpair, buf, cap - 1, 2).waitdone()) == ["00/80"]
    assert statuses(lambda: nvme0n1.read(qpair, buf, cap - 1).waitdone()) == []


def test_invalid_namespace(nvme0, nvme0n1, qpair, buf):
    nn = nvme0.id_data(519, 516)
    # NSID 0 and NSIDs above NN are invalid: Invalid Namespace or Format
    for nsid in (0, nn + 1, 0xfffffffe):
        assert statuses(lambda: nvme0n1.send_cmd(READ, qpair, buf, nsid=nsid).waitdone()) == ["00/0b"], nsid
    # an inactive NSID inside 1..NN: QEMU reports Invalid Field in Command
    st = statuses(lambda: nvme0n1.send_cmd(READ, qpair, buf, nsid=nn).waitdone())
    assert st in (["00/02"], ["00/0b"])
    with pytest.raises(d.NvmeError, match="not active"):
        d.Namespace(nvme0, nn)


def test_compare(nvme0n1, qpair):
    w = d.Buffer(4096, ptype=0xbeef, pvalue=100)
    nvme0n1.write(qpair, w, 300, 8).waitdone()
    assert statuses(lambda: nvme0n1.compare(qpair, w, 300, 8).waitdone()) == []
    other = d.Buffer(4096, ptype=0xbeef, pvalue=100)
    assert statuses(lambda: nvme0n1.compare(qpair, other, 300, 8).waitdone()) == ["02/85"]


def test_write_zeroes_reads_zero(nvme0n1, qpair):
    w = d.Buffer(8192, ptype=32, pvalue=0x5a5aa5a5)
    r = d.Buffer(8192, ptype=32, pvalue=0xffffffff)
    nvme0n1.write(qpair, w, 600, 16).waitdone()
    assert statuses(lambda: nvme0n1.write_zeroes(qpair, 604, 8).waitdone()) == []
    nvme0n1.read(qpair, r, 600, 16).waitdone()
    assert r[0:2048] == w[0:2048]
    assert r[2048:6144] == bytes(4096)
    assert r[6144:8192] == w[6144:8192]


def test_verify_and_flush(nvme0n1, qpair):
    assert statuses(lambda: nvme0n1.verify(qpair, 0, 64).waitdone()) == []
    assert statuses(lambda: nvme0n1.flush(qpair).waitdone()) == []
    assert statuses(lambda: nvme0n1.verify(qpair, nvme0n1.capacity).waitdone()) == ["00/80"]


def test_write_uncorrectable_as_oncs_says(nvme0, nvme0n1, qpair):
    expected = [] if nvme0.id_data(521, 520) & 0x2 else ["00/01"]
    assert statuses(lambda: nvme0n1.write_uncorrectable(qpair, 900).waitdone()) == expected


def test_dsm_trim(nvme0n1, qpair):
    w = d.Buffer(4096, ptype=32, pvalue=0x12345678)
    nvme0n1.write(qpair, w, 1000, 8).waitdone()
    ranges = d.Buffer(4096)
    ranges.set_dsm_range(0, 1000, 8)
    ranges.set_dsm_range(1, 5000, 16)
    assert statuses(lambda: nvme0n1.dsm(qpair, ranges, 2).waitdone()) == []
    r = d.Buffer(4096, ptype=32, pvalue=0xffffffff)
    nvme0n1.read(qpair, r, 1000, 8).waitdone()
    if nvme0n1.id_data(33) & 7 == 1 and r[:] != bytes(4096):
        # DLFEAT promises zeroes after deallocate; QEMU's raw file backend
        # without discard=unmap ignores the discard and keeps the data
        assert r[:] == w[:]
        pytest.xfail("device deviation: DLFEAT=001b but deallocated LBAs keep their data "
                     "(QEMU file backend without discard=unmap)")
    if nvme0n1.id_data(33) & 7 == 1:
        assert r[:] == bytes(4096)


def test_transfer_past_the_buffers_memory_is_a_value_error(nvme0n1, qpair):
    # shorter than the transfer is fine inside the buffer's page-rounded
    # memory (the original sent it), past that memory never
    with pytest.raises(ValueError, match="9 LBAs|4608 bytes from buffer offset 0, but the "
                                         "buffer's memory ends at byte 4096"):
        nvme0n1.read(qpair, d.Buffer(4096), 0, 9)
    b = d.Buffer(8192)
    b.offset, b.size = 4096, 2048
    nvme0n1.write(qpair, b, 0, 8).waitdone()
    with pytest.raises(ValueError, match="memory ends at byte 8192"):
        nvme0n1.write(qpair, b, 0, 9)
    with pytest.raises(ValueError, match="range_count"):
        nvme0n1.dsm(qpair, b, 0)
    ranges = d.Buffer(16)
    ranges.offset = 16
    with pytest.raises(ValueError, match="4096 bytes from buffer offset 16, but the buffer's "
                                         "memory ends at byte 4096"):
        nvme0n1.dsm(qpair, ranges, 256)
    with pytest.raises(ValueError, match="lba_count"):
        nvme0n1.read(qpair, b, 0, 0)
    with pytest.raises(TypeError, match="qpair"):
        nvme0n1.read(None, b, 0)


def test_callbacks_both_forms(nvme0n1, qpair, buf):
    got = {}
    nvme0n1.write(qpair, buf, 10, cb=lambda cpl: got.setdefault("cpl", cpl))
    nvme0n1.read(qpair, buf, 10, cb=lambda cdw0, status1: got.setdefault("st", status1))
    nvme0n1.read(qpair, buf, nvme0n1.capacity, cb=lambda cdw0, status1: got.setdefault("err", status1))
    with pytest.warns(UserWarning, match="ERROR status: 00/80"):
        qpair.waitdone(3)     # completions may come in any order
    assert len(got["cpl"]) == 4 and (got["cpl"][3] >> 17) == 0
    assert got["st"] >> 1 == 0
    assert (got["err"] >> 1) & 0xff == 0x80 and (got["err"] >> 9) & 7 == 0


def test_send_cmd_and_fused_bits(nvme0n1, qpair):
    w = d.Buffer(512, ptype=32, pvalue=0xcafef00d)
    nvme0n1.send_cmd(WRITE, qpair, w, nsid=1, cdw10=1234).waitdone()
    r = d.Buffer(512)
    nvme0n1.send_cmd(READ, qpair, r, nsid=1, cdw10=1234).waitdone()
    assert r[:] == w[:]
    # a fused compare-and-write: the FUSE bits ride in bits 9:8 of opcode
    cmp, new = d.Buffer(512), d.Buffer(512, ptype=32, pvalue=0x11111111)
    cmp[:] = w[:]
    st = statuses(lambda: (nvme0n1.send_cmd(0x105, qpair, cmp, nsid=1, cdw10=1234),
                           nvme0n1.send_cmd(0x201, qpair, new, nsid=1, cdw10=1234),
                           qpair.waitdone(2)))
    nvme0n1.read(qpair, r, 1234).waitdone()
    if nvme0n1.id_data(523, 522, cns=1) & 1:      # FUSES: compare and write
        assert st == [] and r[:] == new[:]
    else:  # a controller without fused operations refuses both halves
        assert st == ["00/02", "00/02"] and r[:] == w[:]
    log = qpair.cmdlog(3)               # most recent first: read, 2nd fused, 1st fused
    assert [e["sqe"][0] & 0x3ff for e in log] == [0x002, 0x201, 0x105]
    with pytest.raises(ValueError, match="fuse"):
        nvme0n1.send_cmd(0x401, qpair)


def test_two_namespaces_at_once(nvme0, qpair):
    ns1, ns2 = d.Namespace(nvme0, 1), d.Namespace(nvme0, 2)
    assert ns2.capacity * ns2.lba_size == 256 << 20
    a = d.Buffer(4096, ptype=32, pvalue=0xaaaaaaaa)
    b = d.Buffer(4096, ptype=32, pvalue=0xbbbbbbbb)
    ns1.write(qpair, a, 2000, 8)
    ns2.write(qpair, b, 2000, 8)
    qpair.waitdone(2)
    ra, rb = d.Buffer(4096), d.Buffer(4096)
    ns1.read(qpair, ra, 2000, 8)
    ns2.read(qpair, rb, 2000, 8)
    qpair.waitdone(2)
    assert ra[:] == a[:] and rb[:] == b[:]
    ns1.close()
    ns2.close()
    with pytest.raises(ValueError, match="closed"):
        ns1.read(qpair, ra, 0)


def test_4k_lba_namespace(null_ctrl):
    ns = d.Namespace(null_ctrl)
    q = d.Qpair(null_ctrl, 16)
    assert ns.lba_size == 4096 and ns.capacity == (1 << 30) // 4096
    b = d.Buffer(8 * 4096, ptype=32, pvalue=0x77777777)
    assert statuses(lambda: ns.write(q, b, 0, 8).waitdone()) == []
    assert statuses(lambda: ns.read(q, b, ns.capacity - 8, 8).waitdone()) == []
    assert b[:] == bytes(8 * 4096)      # the null backend reads zeroes
    with pytest.raises(ValueError, match="36864 bytes from buffer offset 0, but the buffer's "
                                         "memory ends at byte 32768"):
        ns.read(q, b, 0, 9)
    assert statuses(lambda: ns.read(q, b, ns.capacity, 1).waitdone()) == ["00/80"]
    q.delete()
    ns.close()


def test_metadata_formats(nvme0, qpair):
    ns2 = d.Namespace(nvme0, 2)
    lbaf = ns2.get_lba_format(512, 8)
    if lbaf is None:
        pytest.skip("no 512+8 LBA format")
    try:
        # extended LBA: 520 bytes per LBA in the data buffer
        assert ns2.format(512, 8, mset=1) == lbaf
        assert (ns2.lba_size, ns2.meta_size, ns2.extended) == (512, 8, True)
        w = d.Buffer(520 * 4, ptype=0xbeef, pvalue=100)
        r = d.Buffer(520 * 4)
        with pytest.raises(ValueError, match="4160 bytes from buffer offset 0, but the "
                                             "buffer's memory ends at byte 4096"):
            ns2.read(qpair, d.Buffer(2048), 0, 8)
        assert statuses(lambda: ns2.write(qpair, w, 0, 4).waitdone()) == []
        assert statuses(lambda: ns2.read(qpair, r, 0, 4).waitdone()) == []
        assert r[:] == w[:]
        with pytest.raises(ValueError, match="metadata"):
            ns2.ioworker(io_count=1)
        # separate metadata: 512 bytes per LBA in buf, 8 per LBA through MPTR
        assert ns2.format(512, 8, mset=0) == lbaf and not ns2.extended
        w, r = d.Buffer(2048, ptype=0xbeef, pvalue=100), d.Buffer(2048)
        m, m_read = d.Buffer(32), d.Buffer(32)
        for i in range(32):
            m[i] = 0xa0 + i
        assert statuses(lambda: ns2.write(qpair, w, 0, 4, meta=m).waitdone()) == []
        assert statuses(lambda: ns2.read(qpair, r, 0, 4, meta=m_read).waitdone()) == []
        assert r[:] == w[:]
        assert m_read[:32] == m[:32]   # the metadata went through MPTR both ways
        # a metadata buffer shorter than 4 LBAs' 32 bytes is fine within its
        # page (as the original), one that ends before them is refused
        ns2.read(qpair, r, 0, 4, meta=d.Buffer(16)).waitdone()
        tail = d.Buffer(4096)
        tail.offset = 4080
        with pytest.raises(ValueError, match="meta: the command transfers 32 bytes from buffer "
                                             "offset 4080, but the buffer's memory ends"):
            ns2.read(qpair, r, 0, 4, meta=tail)
    finally:
        assert ns2.format(512, 0) == ns2.get_lba_format(512, 0)
    assert (ns2.lba_size, ns2.meta_size) == (512, 0)
    ns2.close()


def test_api_examples(nvme0, nvme0n1, qpair, buf):
    # `x.cmd(...).waitdone()`: commands return their queue
    assert nvme0n1.write(qpair, buf, 0) is qpair
    qpair.waitdone()
    nvme0n1.read(qpair, buf, 0).waitdone()
    with pytest.warns(UserWarning, match="ERROR status: 00/80"):
        nvme0n1.read(qpair, buf, nvme0n1.capacity).waitdone()
    # ioworker from the namespace; with-block starts and closes it
    with nvme0n1.ioworker(io_size=8, time=1, qdepth=8) as w:
        pass
    r = w.close()
    assert r['io_count_read'] == r.io_count_read > 0
    # verification through the fixture-like switch
    assert nvme0n1.verify_enable(True) is True and nvme0n1.verifying
    nvme0n1.write(qpair, buf, 8, 1).waitdone()
    nvme0n1.read(qpair, buf, 8, 1).waitdone()
    assert nvme0n1.verify_enable(False) is False
