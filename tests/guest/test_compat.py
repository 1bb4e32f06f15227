"""Behaviours scripts written for the original pynvme depend on (issue 10;
docs/compatibility.md lists each with the original's and ours)."""
import os
import random

import pytest

import nvme as d


# ---- waitdone ------------------------------------------------------------

def test_waitdone_zero_returns_at_once_with_the_latest_dword0(nvme0, qpair, nvme0n1):
    nvme0.getfeatures(7).waitdone()
    latest = nvme0.waitdone(0)
    assert latest == nvme0.getfeatures(7).waitdone()
    assert nvme0.waitdone(0) == latest            # nothing outstanding: still at once
    assert qpair.waitdone(0) == 0                 # no IO reaped yet on this queue


def test_waitdone_counts_completions_that_arrived_before_it(nvme0n1, qpair, buf):
    for lba in range(4):
        nvme0n1.read(qpair, buf, lba)
    qpair.waitdone(1)
    # the other three completed meanwhile; they are still owed to waitdone
    qpair.waitdone(3)
    with pytest.raises(AssertionError, match="no command is outstanding"):
        qpair.waitdone(1)


def test_waitdone_counts_commands_that_callbacks_send(nvme0n1, qpair, buf):
    """A chain of commands, each sent by the previous one's callback: the
    script waits for all of them although only the first was outstanding."""
    sent = []

    def next_read(cdw0, status1):
        if len(sent) < 10:
            sent.append(len(sent))
            nvme0n1.read(qpair, buf, len(sent), cb=next_read)

    sent.append(0)
    nvme0n1.read(qpair, buf, 0, cb=next_read)
    qpair.waitdone(10)
    assert len(sent) == 10


def test_waitdone_argument_errors_are_assertion_and_value_errors(qpair):
    for bad in (-1,):
        with pytest.raises(AssertionError):
            qpair.waitdone(bad)
        with pytest.raises(ValueError):
            qpair.waitdone(bad)


# ---- a full qpair ----------------------------------------------------------

def test_full_qpair_raises_assertion_error(nvme0, nvme0n1, buf):
    q = d.Qpair(nvme0, 4)
    for lba in range(4):                       # the original took `depth` commands
        nvme0n1.read(q, buf, lba)
    with pytest.raises(AssertionError, match="is full"):
        nvme0n1.read(q, buf, 4)
    q.waitdone(4)                              # all four complete, the fifth never went
    with pytest.raises(AssertionError):
        q.waitdone(1)
    nvme0n1.read(q, buf, 0).waitdone()         # usable again
    q.delete()


# ---- Buffer ----------------------------------------------------------------

def _write_pattern(ns, q, lba, nbytes):
    data = bytes((i * 7 + 3) & 0xff for i in range(nbytes))
    w = d.Buffer(nbytes)
    w[0:nbytes] = data
    ns.write(q, w, lba, nbytes // 512).waitdone()
    # a write changes nothing in the caller's buffer when verification is off
    return w[0:nbytes]


def test_read_into_an_offset_lands_at_the_offset(nvme0n1, qpair):
    data = _write_pattern(nvme0n1, qpair, 10, 512)
    b = d.Buffer(1024, pvalue=1)          # all 0xff: what the read does not touch stays
    b.offset = 16
    assert b.size == 1024                 # the offset does not shrink the window
    nvme0n1.read(qpair, b, 10).waitdone()
    assert b[0:16] == b"\xff" * 16
    assert b[16:528] == data
    assert b[528:1024] == b"\xff" * 496


def test_buffer_phys_addr_includes_the_offset():
    b = d.Buffer(4096)
    base = b.phys_addr
    b.offset = 0x10
    assert b.phys_addr == base + 0x10


def test_buffer_smaller_than_the_transfer_is_accepted(nvme0n1, qpair):
    data = _write_pattern(nvme0n1, qpair, 20, 4096)
    small = d.Buffer(512)
    nvme0n1.read(qpair, small, 20, 8).waitdone()     # 4 KiB into 512 bytes: as the original
    assert small[0:512] == data[0:512]
    # never past the buffer's (page-rounded) memory: that would be someone else's
    with pytest.raises(AssertionError, match="memory ends at byte 4096"):
        nvme0n1.read(qpair, small, 20, 16)
    small.offset = 512
    with pytest.raises(ValueError, match="memory ends"):
        nvme0n1.read(qpair, small, 20, 8)


def test_buffer_slice_assignment_as_the_original():
    b = d.Buffer(16)
    b[2:4] = b"abcdef"                    # the whole value, from the slice's start
    assert b[0:8] == b"\x00\x00abcdef"
    b[10:] = [1, 2]                       # shorter: only its own bytes
    assert b[8:16] == b"\x00\x00\x01\x02\x00\x00\x00\x00"
    with pytest.raises(IndexError):
        b[12:14] = bytes(8)               # would run past the end: nothing written
    assert b[12:16] == b"\x00\x00\x00\x00"
    assert isinstance(b[0:4], bytes)


def test_buffer_argument_errors_are_assertion_errors():
    for make in (lambda: d.Buffer(0), lambda: d.Buffer(-1)):
        with pytest.raises(AssertionError):
            make()
        with pytest.raises(ValueError):
            make()
    b = d.Buffer(512)
    with pytest.raises(AssertionError):
        b.size = 513
    b.size = 512


# ---- Pcie, callbacks, srand, Controller ----------------------------------------

def test_pcie_slice_is_a_list_of_ints(pcie):
    ids = pcie[0:4]
    assert isinstance(ids, list) and all(isinstance(x, int) for x in ids)
    assert ids == [pcie[0], pcie[1], pcie[2], pcie[3]]


def test_one_argument_callback_gets_a_tuple(nvme0):
    got = []
    nvme0.getfeatures(7, cb=lambda cpl: got.append(cpl)).waitdone()
    cpl = got[0]
    assert isinstance(cpl, tuple) and len(cpl) == 4
    assert cpl[3] >> 17 == 0                       # status: success
    assert cpl[2] >> 16 == 0                       # SQ id: admin


@pytest.mark.testbed  # the reset function writes sysfs
def test_pcie_reset_calls_the_scripts_reset_function(pcie, pciaddr):
    nvme0 = d.Controller(pcie)
    calls = []

    def function_reset():
        calls.append(pcie.reset_count)
        with open(f"/sys/bus/pci/devices/{pciaddr}/reset", "w") as f:
            f.write("1")

    before = pcie.reset_count
    pcie.reset(function_reset)
    assert calls == [before]
    assert pcie.reset_count == before + 1
    assert "script's reset function" in pcie.last_reset
    nvme0.reset()
    nvme0.getfeatures(7).waitdone()
    # a reset function that raises: the error reaches the script, the device
    # is brought back all the same
    with pytest.raises(RuntimeError, match="relay stuck"):
        pcie.reset(lambda: (_ for _ in ()).throw(RuntimeError("relay stuck")))
    nvme0.reset()
    nvme0.getfeatures(7).waitdone()
    with pytest.raises(TypeError, match="rst_fn"):
        pcie.reset(3)
    nvme0.close()


def test_srand_seeds_pythons_random_too():
    d.srand(1234)
    first = [random.random() for _ in range(3)]
    d.srand(1234)
    assert [random.random() for _ in range(3)] == first


def test_controller_addr_is_the_bdf(nvme0, pciaddr):
    assert nvme0.addr == pciaddr
    nvme0.close()
    assert nvme0.addr == pciaddr


# ---- the original's exception classes ---------------------------------------------

def test_exception_classes_exist_and_are_nvme_errors():
    for name in ("NvmeEnumerateError", "NvmeDeletionError", "QpairCreationError",
                 "QpairDeletionError", "NamespaceCreationError",
                 "NvmeShutdownStatusTimeoutError"):
        cls = getattr(d, name)
        assert issubclass(cls, d.NvmeError), name


def test_enumerate_error_for_a_function_that_is_not_there():
    with pytest.raises(d.NvmeEnumerateError):
        d.Pcie("0000:7f:00.0")


def test_namespace_creation_error_for_an_inactive_namespace(nvme0):
    with pytest.raises(d.NamespaceCreationError):
        d.Namespace(nvme0, 77)


def test_qpair_creation_error_when_the_device_refuses(nvme0):
    # an interrupt vector the controller does not have: Create I/O CQ fails
    with pytest.warns(UserWarning, match="ERROR status"):
        with pytest.raises(d.QpairCreationError):
            d.Qpair(nvme0, 16, iv=0x7ff)


# ---- command fields are not second-guessed ----------------------------------------

def test_io_flags_as_the_original_and_in_place(nvme0n1, qpair, buf):
    nvme0n1.read(qpair, buf, 0, io_flags=0x8000).waitdone()    # CDW12 bit 31: Limited Retry
    nvme0n1.read(qpair, buf, 0, io_flags=1 << 31).waitdone()   # the same, spelled in place
    cdw12 = [e["sqe"][12] for e in qpair.cmdlog(2)]
    assert cdw12 == [0x80000000, 0x80000000]
    with pytest.raises(ValueError, match="io_flags"):
        nvme0n1.read(qpair, buf, 0, io_flags=0x18000)


def test_fw_download_of_any_size_and_offset_reaches_the_device(nvme0):
    buf = d.Buffer(4096)
    # unaligned size and offset: the controller answers (QEMU 7.2 has no
    # firmware commands and says Invalid Opcode), the driver does not refuse
    with pytest.warns(UserWarning, match="ERROR status"):
        nvme0.fw_download(buf, 2, 6).waitdone()
    log = nvme0.cmdlog(1)[0]
    assert log["opcode"] == 0x11
    assert log["sqe"][10] == 0 and log["sqe"][11] == 0    # NUMD = 6/4 - 1, OFST = 2/4
