"""nvme.Buffer: DMA memory of a script (API.md "Buffer").

Everything here works without opening a device; the IOVA checks run against the
driver's own allocator (the addresses buffers are mapped at once a device opens).
"""
import gc
import os
import zlib

import pytest

import nvme as d

PAGE = 4096
MSI_START, MSI_END = 0xfee00000, 0xfeefffff


def test_defaults_zero_filled_and_repr():
    b = d.Buffer()
    assert len(b) == 4096
    assert bytes(b) == bytes(4096)
    assert repr(b) == "<buffer name: buffer>"
    assert b.name == "buffer"
    assert b.offset == 0 and b.size == 4096
    n = d.Buffer(100, "identify")
    assert len(n) == 100
    assert repr(n) == "<buffer name: identify>"
    assert bytes(n) == bytes(100)


def test_keyword_arguments():
    b = d.Buffer(size=512, name="kw", pvalue=0x01020304, ptype=32)
    assert len(b) == 512 and b.name == "kw"
    assert b[0:4] == b"\x04\x03\x02\x01"


def test_pattern_zero_and_ones():
    assert bytes(d.Buffer(8192, pvalue=0, ptype=0)) == bytes(8192)
    assert bytes(d.Buffer(8192, pvalue=1, ptype=0)) == b"\xff" * 8192


def test_pattern_dword_little_endian():
    b = d.Buffer(4099, pvalue=0x12345678, ptype=32)
    assert bytes(b) == (b"\x78\x56\x34\x12" * 1025)[:4099]
    assert b.data(3, 0) == 0x12345678


@pytest.mark.parametrize("pvalue", [0, 25, 50, 75, 100])
def test_pattern_random_compressibility(pvalue):
    size = 256 * 1024
    data = bytes(d.Buffer(size, pvalue=pvalue, ptype=0xbeef))
    ratio = len(zlib.compress(data, 6)) / size
    if pvalue == 0:
        assert data == bytes(size)
    # pvalue% of the bytes are random (incompressible), the rest zero.
    assert abs(ratio - pvalue / 100) < 0.05, f"pvalue {pvalue}: compressed to {ratio:.3f}"


def test_pattern_random_reproducible_from_seed():
    d.srand(12345)
    a = bytes(d.Buffer(8192, pvalue=100, ptype=0xbeef))
    a2 = bytes(d.Buffer(8192, pvalue=100, ptype=0xbeef))
    d.srand(999)
    other = bytes(d.Buffer(8192, pvalue=100, ptype=0xbeef))
    d.srand(12345)
    b = bytes(d.Buffer(8192, pvalue=100, ptype=0xbeef))
    b2 = bytes(d.Buffer(8192, pvalue=100, ptype=0xbeef))
    assert a == b and a2 == b2       # same seed, same sequence of buffers
    assert a != a2                   # successive buffers differ
    assert a != other                # another seed differs


def test_bad_patterns():
    with pytest.raises(ValueError):
        d.Buffer(512, ptype=7)
    with pytest.raises(ValueError):
        d.Buffer(512, pvalue=101, ptype=0xbeef)
    with pytest.raises(ValueError):
        d.Buffer(512, pvalue=-1, ptype=32)
    with pytest.raises(ValueError):
        d.Buffer(512, pvalue=1 << 32, ptype=32)
    with pytest.raises(TypeError):
        d.Buffer(512, ptype="random")


def test_bad_sizes_and_names():
    for size in (0, -1, -4096):
        with pytest.raises(ValueError, match="size"):
            d.Buffer(size)
    with pytest.raises(TypeError, match="size"):
        d.Buffer("4096")
    with pytest.raises(TypeError, match="size"):
        d.Buffer(4096.0)
    with pytest.raises(TypeError):
        d.Buffer(512, name=5)
    # Far beyond memory: a clear exception, the interpreter lives on.
    for size in (1 << 40, 1 << 62, 1 << 70):
        with pytest.raises(MemoryError):
            d.Buffer(size)
    assert len(d.Buffer(512)) == 512


def test_index_and_slices():
    b = d.Buffer(16)
    for i in range(16):
        b[i] = i * 3
    assert b[0] == 0 and b[5] == 15 and b[15] == 45
    assert b[-1] == 45 and b[-16] == 0
    assert isinstance(b[3], int)
    assert b[2:5] == bytes([6, 9, 12])
    assert b[::4] == bytes([0, 12, 24, 36])
    assert b[10:2:-3] == bytes([30, 21, 12])
    assert b[14:100] == bytes([42, 45])
    assert b[-2:] == bytes([42, 45])
    assert b[5:5] == b""
    assert list(b)[:4] == [0, 3, 6, 9]
    with pytest.raises(IndexError):
        b[16]
    with pytest.raises(IndexError):
        b[-17]
    with pytest.raises(TypeError):
        b["x"]


def test_item_and_slice_assignment():
    b = d.Buffer(16)
    b[0] = 0x5a
    b[-1] = 0xa5
    assert b[0] == 0x5a and b[15] == 0xa5
    b[1:3] = [1, 2]
    b[3:6] = b"xyz"
    b[6:8] = bytearray(b"\x10\x20")
    b[8:12:2] = [0xee, 0xdd]
    assert b[0:12] == b"\x5a\x01\x02xyz\x10\x20\xee\x00\xdd\x00"
    b[12:16] = memoryview(b)[0:4]     # a source overlapping the target
    assert b[12:16] == b"\x5a\x01\x02x"
    with pytest.raises(ValueError):
        b[0] = 256
    with pytest.raises(ValueError):
        b[0] = -1
    with pytest.raises(TypeError):
        b[0] = "a"
    with pytest.raises(IndexError):
        b[16] = 1
    with pytest.raises(ValueError):
        b[0:2] = [1, 300]
    with pytest.raises(TypeError):
        b[0:2] = "ab"
    with pytest.raises(TypeError):
        b[0:2] = 5
    with pytest.raises(TypeError):
        del b[0]
    with pytest.raises(IndexError, match="do not fit"):
        b[len(b) - 2:] = b"abc"
    with pytest.raises(IndexError, match="extended slice"):
        b[0:6:2] = b"ab"
    assert b[0:3] == b"\x5a\x01\x02"   # failed assignments changed nothing
    # a value longer or shorter than the slice writes itself from the slice's
    # start, as the original pynvme did (docs/compatibility.md)
    b[0:3] = [1, 2]
    assert b[0:4] == b"\x01\x02\x02x"
    b[0:3] = b"abcd"
    assert b[0:5] == b"abcdy"


def test_buffer_protocol_zero_copy():
    b = d.Buffer(8192)
    m = memoryview(b)
    assert not m.readonly and m.nbytes == 8192 and m.contiguous
    m[100] = 0x77                      # written through the view ...
    assert b[100] == 0x77              # ... seen by the buffer: same memory
    b[200] = 0x33
    assert m[200] == 0x33
    m[0:4] = b"abcd"
    assert b[0:4] == b"abcd"
    assert bytes(b)[:4] == b"abcd" and bytearray(b)[100] == 0x77
    with open("/dev/urandom", "rb") as f:
        f.readinto(b)                  # a file read lands directly in DMA memory
    assert bytes(b) == bytes(m)
    assert bytes(b) != bytes(8192)
    m.release()


def test_data_int_and_str():
    b = d.Buffer(64)
    b[0:8] = bytes([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])
    assert b.data(0) == 0x01
    assert b.data(3) == 0x04
    assert b.data(1, 0) == 0x0201                # end first, then begin
    assert b.data(7, 0) == 0x0807060504030201
    assert b.data(7, 4) == 0x08070605
    assert b.data(byte_end=3, byte_begin=2) == 0x0403
    b[16:32] = b"QEMU NVMe Ctrl\x00 "
    assert b.data(31, 16, str) == "QEMU NVMe Ctrl"
    assert b.data(byte_end=31, byte_begin=16, type=str) == "QEMU NVMe Ctrl"
    b[32:40] = b"  ab    "
    assert b.data(39, 32, type=str) == "  ab"    # only trailing blanks go
    b[40:48] = bytes(8)
    assert b.data(47, 40, str) == ""
    # Wider than 64 bits still gives the exact integer.
    b[48:64] = bytes(range(1, 17))
    assert b.data(63, 48) == int.from_bytes(bytes(range(1, 17)), "little")
    with pytest.raises(IndexError, match="byte_end"):
        b.data(64)
    with pytest.raises(IndexError, match="byte_begin"):
        b.data(3, -1)
    with pytest.raises(ValueError, match="byte_begin"):
        b.data(1, 3)
    with pytest.raises(TypeError, match="type"):
        b.data(1, 0, float)


def test_dump():
    b = d.Buffer(40, "mybuf")
    b[0:5] = b"Hello"
    b[16] = 0xff
    text = b.dump()
    lines = text.splitlines()
    assert lines[0] == "mybuf"
    assert len(lines) == 1 + 3
    assert lines[1].startswith("00000000  48 65 6c 6c 6f 00 00 00  00 00 00 00 00 00 00 00")
    assert lines[1].endswith("|Hello...........|")
    assert lines[2].startswith("00000010  ff 00")
    assert lines[3].startswith("00000020  00 00 00 00 00 00 00 00 ")
    assert lines[3].endswith("|........|")
    short = b.dump(16).splitlines()
    assert short[0] == "mybuf" and len(short) == 2
    assert len(b.dump(1000).splitlines()) == 4       # at most the whole buffer
    assert b.dump(0).splitlines() == ["mybuf"]
    with pytest.raises(ValueError):
        b.dump(-1)


def test_set_dsm_range():
    b = d.Buffer(4096, pvalue=1, ptype=0)
    b.set_dsm_range(0, 0x1122334455667788, 8)
    b.set_dsm_range(2, lba=100, lba_count=0xffffffff, attr=0x5)
    assert b[0:16] == (0).to_bytes(4, "little") + (8).to_bytes(4, "little") \
        + (0x1122334455667788).to_bytes(8, "little")
    assert b[16:32] == b"\xff" * 16                   # entry 1 untouched
    assert b.data(35, 32) == 5 and b.data(39, 36) == 0xffffffff and b.data(47, 40) == 100
    with pytest.raises(ValueError, match="lba_count"):
        b.set_dsm_range(0, 0, 1 << 32)
    with pytest.raises(ValueError, match="index"):
        b.set_dsm_range(-1, 0, 1)
    with pytest.raises(IndexError):
        d.Buffer(32).set_dsm_range(2, 0, 1)


def test_offset_and_size_window():
    b = d.Buffer(4096)
    addr = b.phys_addr
    b.offset = 8
    # as the original: the offset keeps the size (a transfer may run past
    # len(b) into the buffer's page-rounded memory) and moves phys_addr
    assert b.offset == 8 and b.size == 4096
    assert b.phys_addr == addr + 8
    b.size = 512
    assert b.size == 512
    b.offset = 100
    assert (b.offset, b.size) == (100, 512)
    with pytest.raises(ValueError, match="size"):
        b.size = 4096 + 1
    with pytest.raises(ValueError, match="offset"):
        b.offset = 4097
    with pytest.raises(ValueError, match="offset"):
        b.offset = -1
    with pytest.raises(TypeError):
        b.size = "1"
    assert (b.offset, b.size) == (100, 512)
    b.offset, b.size = 0, 4096
    assert b.phys_addr == addr


def _ranges(bufs):
    return sorted((b.phys_addr, b.phys_addr + len(b)) for b in bufs)


def test_phys_addr_aligned_and_not_overlapping():
    bufs = [d.Buffer(size) for size in (1, 512, 4096, 4097, 65536, 3 << 20, 100)]
    for b in bufs:
        assert b.phys_addr % PAGE == 0
        assert b.phys_addr >= 1 << 20
        assert b.phys_addr + len(b) <= MSI_START or b.phys_addr > MSI_END
    spans = _ranges(bufs)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert e1 <= s2, f"IOVA ranges overlap: {s1:#x}-{e1:#x} and {s2:#x}-{e2:#x}"


def test_freed_iova_is_reused():
    gc.collect()           # buffers of earlier tests are not freed in the middle
    keep = d.Buffer(4096)
    b = d.Buffer(64 * 1024)
    addr = b.phys_addr
    del b
    gc.collect()
    c = d.Buffer(64 * 1024)
    assert c.phys_addr == addr
    assert keep.phys_addr != c.phys_addr


def test_64mib_buffer():
    size = 64 << 20
    b = d.Buffer(size, "big", pvalue=0x5a5aa5a5, ptype=32)
    assert len(b) == size
    assert b[0:4] == b"\xa5\xa5\x5a\x5a" and b[size - 4:] == b"\xa5\xa5\x5a\x5a"
    b[size - 1] = 0
    assert b[-1] == 0
    m = memoryview(b)
    assert m.nbytes == size
    assert m[size // 2:size // 2 + 4].tobytes() == b"\xa5\xa5\x5a\x5a"
    small = d.Buffer(4096)
    assert small.phys_addr + 4096 <= b.phys_addr or small.phys_addr >= b.phys_addr + size
    m.release()
    del b, m
    gc.collect()
    # The memory and the IOVA space come back: another one fits again.
    again = d.Buffer(size)
    assert again[size - 1] == 0


def test_many_buffers_allocate_and_free():
    for _ in range(3):
        bufs = [d.Buffer(8192) for _ in range(200)]
        assert len({b.phys_addr for b in bufs}) == 200
        del bufs
        gc.collect()


# ---- DMA through the IOMMU: buffers made before and after a device opens ----
# A minimal admin queue driven by hand over BAR0 (no Controller needed): the
# controller itself writes the completion and the identify data into Buffers,
# which proves they are mapped at phys_addr.

needs_pcie = pytest.mark.skipif(not hasattr(d, "Pcie"), reason="nvme.Pcie not built yet")

CC, CSTS, AQA, ASQ, ACQ = 0x14, 0x1c, 0x24, 0x28, 0x30


def _wait_ready(pcie, ready, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while (pcie.mem_dword_read(CSTS) & 1) != ready:
        assert time.monotonic() < deadline, f"CSTS.RDY did not become {ready}"
        time.sleep(0.001)


def _write_qword(pcie, offset, value):
    pcie.mem_dword_write(offset, value & 0xffffffff)
    pcie.mem_dword_write(offset + 4, value >> 32)


def _identify(pcie, sq, cq, ident, cid, slot, phase):
    """Identify Controller through admin queue slot `slot`; returns the CQE."""
    import time
    sqe = bytearray(64)
    sqe[0] = 0x06                                        # Identify
    sqe[2:4] = cid.to_bytes(2, "little")
    sqe[24:32] = ident.phys_addr.to_bytes(8, "little")  # PRP1 (phys_addr includes the offset)
    sqe[40:44] = (1).to_bytes(4, "little")              # CNS 1: controller
    sq[slot * 64:(slot + 1) * 64] = sqe
    dstrd = (pcie.mem_dword_read(0x4) >> 0) & 0xf        # CAP.DSTRD is bits 35:32
    pcie.mem_dword_write(0x1000, slot + 1)               # SQ0 tail doorbell
    deadline = time.monotonic() + 10
    while (cq.data(slot * 16 + 15, slot * 16 + 14) & 1) != phase:
        assert time.monotonic() < deadline, "no completion: the CQ buffer was not written by DMA"
        time.sleep(0.001)
    pcie.mem_dword_write(0x1000 + (4 << dstrd), slot + 1)  # CQ0 head doorbell
    return cq[slot * 16:(slot + 1) * 16]


@pytest.mark.testbed  # the VFIO IOMMU mapping
@needs_pcie
def test_open_maps_existing_buffers_and_dma_works(pciaddr):
    sq, cq = d.Buffer(4096, "asq"), d.Buffer(4096, "acq")
    ident = d.Buffer(4096, "identify", pvalue=0x5a5a5a5a, ptype=32)
    before = {b.name: b.phys_addr for b in (sq, cq, ident)}
    assert not any(b._iommu_mapped for b in (sq, cq, ident))

    pcie = d.Pcie(pciaddr)
    try:
        # Buffers made before the device opened are mapped now, at the same IOVA.
        assert all(b._iommu_mapped for b in (sq, cq, ident))
        assert {b.name: b.phys_addr for b in (sq, cq, ident)} == before
        late = d.Buffer(8192, "late", pvalue=1, ptype=0)
        assert late._iommu_mapped                           # mapped at allocation

        pcie.mem_dword_write(CC, 0)
        _wait_ready(pcie, 0)
        pcie.mem_dword_write(AQA, (15 << 16) | 15)
        _write_qword(pcie, ASQ, sq.phys_addr)
        _write_qword(pcie, ACQ, cq.phys_addr)
        pcie.mem_dword_write(CC, (4 << 20) | (6 << 16) | 1)  # IOCQES 16 B, IOSQES 64 B, EN
        _wait_ready(pcie, 1)

        cqe = _identify(pcie, sq, cq, ident, cid=0x1234, slot=0, phase=1)
        status = int.from_bytes(cqe[14:16], "little") >> 1
        assert status == 0, f"identify failed: status {status:#x}"
        assert cqe[12:14] == b"\x34\x12"                    # our command id came back
        assert ident[0:4] != b"\x5a\x5a\x5a\x5a"            # the device overwrote the pattern
        assert ident.data(23, 4, str) != ""                 # serial number
        assert ident.data(63, 24, str) != ""                # model number

        # The buffer allocated after open, through a window offset (PRP1 = phys_addr + offset).
        late.offset = 4096
        cqe = _identify(pcie, sq, cq, late, cid=0x77, slot=1, phase=1)
        assert int.from_bytes(cqe[14:16], "little") >> 1 == 0
        assert late[0:4096] == b"\xff" * 4096               # before the window: untouched
        assert late[4096:8192] == ident[0:4096]             # the same identify data

        pcie.mem_dword_write(CC, 0)
        _wait_ready(pcie, 0)
    finally:
        pcie.close()
    # Closing the last device drops the mappings; the buffers stay usable.
    assert not any(b._iommu_mapped for b in (sq, cq, ident, late))
    assert ident.phys_addr == before["identify"]
    # Opening again maps them again.
    pcie = d.Pcie(pciaddr)
    try:
        assert all(b._iommu_mapped for b in (sq, cq, ident, late))
    finally:
        pcie.close()


def _hugepages_free():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def test_hugepage_buffer_when_available():
    """With 2 MiB hugepages free, a large buffer takes them (2 MiB aligned IOVA);
    without, it silently uses 4 KiB pages (the rest of this file covers that)."""
    if "PYNVME_QMP" not in os.environ:
        pytest.skip("changes the system's hugepage reserve: only inside the test bed guest")
    path = "/proc/sys/vm/nr_hugepages"
    try:
        with open(path) as f:
            saved = int(f.read())
        with open(path, "w") as f:
            f.write(str(saved + 4))
    except OSError as e:
        pytest.skip(f"cannot reserve hugepages here: {e}")
    try:
        free = _hugepages_free()
        if free < 2:
            pytest.skip("the kernel did not provide 2 free hugepages")
        b = d.Buffer(3 << 20, "huge", pvalue=0xa5a5a5a5, ptype=32)
        assert _hugepages_free() == free - 2             # 3 MiB -> two 2 MiB pages
        assert b.phys_addr % (2 << 20) == 0
        assert b[0:4] == b"\xa5" * 4 and b[(3 << 20) - 4:] == b"\xa5" * 4
        assert len(b) == 3 << 20
        del b
        gc.collect()
        assert _hugepages_free() == free
    finally:
        with open(path, "w") as f:
            f.write(str(saved))

def test_pattern_random_restarts_when_seeded_again_with_the_same_value():
    d.srand(777)
    a = bytes(d.Buffer(4096, pvalue=100, ptype=0xbeef))
    d.srand(777)
    b = bytes(d.Buffer(4096, pvalue=100, ptype=0xbeef))
    assert a == b
