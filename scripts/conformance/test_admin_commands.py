"""Admin commands other than identify, features and logs: IO queue creation and
deletion with every error case (NVMe 1.4 §5.3-§5.6), Abort (§5.1), Asynchronous
Event Request (§5.2), Format NVM (§5.23), firmware (§5.11/§5.12), device
self-test (§5.7), sanitize (§5.24), namespace management/attachment (§5.19/§5.20)
where claimed, and Invalid Command Opcode for what is not claimed or reserved."""
import pytest

import nvme as d
from conformance_lib import expect, expect_status, id_ns, run

OK = (0, 0)
INVALID_OPCODE, INVALID_FIELD, INVALID_NS = (0, 0x01), (0, 0x02), (0, 0x0b)
CQ_INVALID, INVALID_QID, INVALID_QSIZE = (1, 0x00), (1, 0x01), (1, 0x02)
INVALID_VECTOR, INVALID_DELETION, INVALID_FORMAT = (1, 0x08), (1, 0x0c), (1, 0x0a)
PRP_OFFSET = (0, 0x13)
AER_LIMIT = (1, 0x05)
FW_SLOT = (1, 0x06)

CREATE_SQ, DELETE_SQ, CREATE_CQ, DELETE_CQ = 0x01, 0x00, 0x05, 0x04


def granted(nvme0):
    dw0 = nvme0.getfeatures(7).waitdone()
    return (dw0 & 0xffff) + 1, (dw0 >> 16) + 1


def mqes(nvme0):
    return (nvme0.cap & 0xffff) + 1


def create_cq(nvme0, qid, size, ring=None, iv=0, ien=0, pc=1):
    ring = ring or d.Buffer(4096 * 4)
    return run(nvme0, "send_cmd", CREATE_CQ, ring, cdw10=(size - 1) << 16 | qid,
               cdw11=iv << 16 | ien << 1 | pc), ring


def create_sq(nvme0, qid, size, cqid, ring=None, pc=1):
    ring = ring or d.Buffer(4096 * 16)
    return run(nvme0, "send_cmd", CREATE_SQ, ring, cdw10=(size - 1) << 16 | qid,
               cdw11=cqid << 16 | pc), ring


def delete(nvme0, op, qid):
    return run(nvme0, "send_cmd", op, cdw10=qid)


@pytest.fixture
def free_qid(nvme0):
    """The highest granted queue ID (the driver allocates from 1 up); removed after."""
    nsq, ncq = granted(nvme0)
    qid = min(nsq, ncq)
    yield qid
    delete(nvme0, DELETE_SQ, qid)
    delete(nvme0, DELETE_CQ, qid)


# ------------------------------------------------------- queue creation

def test_create_and_delete_io_queues(nvme0, free_qid):
    """NVMe 1.4 §5.3/§5.4/§5.5/§5.6: a CQ and an SQ bound to it are created and deleted
    (SQ first) successfully."""
    cpl, _ = create_cq(nvme0, free_qid, 16)
    expect_status(cpl, OK, "NVMe 1.4 §5.3", f"Create I/O CQ {free_qid}")
    cpl, _ = create_sq(nvme0, free_qid, 16, free_qid)
    expect_status(cpl, OK, "NVMe 1.4 §5.4", f"Create I/O SQ {free_qid} on CQ {free_qid}")
    expect_status(delete(nvme0, DELETE_SQ, free_qid), OK, "NVMe 1.4 §5.6", f"Delete I/O SQ {free_qid}")
    expect_status(delete(nvme0, DELETE_CQ, free_qid), OK, "NVMe 1.4 §5.5", f"Delete I/O CQ {free_qid}")


def test_create_queue_of_max_size(nvme0, free_qid):
    """NVMe 1.4 §5.3/§5.4 with CAP.MQES: queues of MQES+1 entries are accepted."""
    n = mqes(nvme0)
    cpl, _ = create_cq(nvme0, free_qid, n, ring=d.Buffer(16 * n + 4096))
    expect_status(cpl, OK, "NVMe 1.4 §5.3", f"Create I/O CQ of {n} entries (MQES+1)")
    cpl, _ = create_sq(nvme0, free_qid, n, free_qid, ring=d.Buffer(64 * n + 4096))
    expect_status(cpl, OK, "NVMe 1.4 §5.4", f"Create I/O SQ of {n} entries (MQES+1)")


@pytest.mark.parametrize("case", ["qid0", "above_granted", "duplicate"])
def test_create_cq_invalid_qid(nvme0, free_qid, case):
    """NVMe 1.4 §5.3 (Figure 153): QID 0, a QID above the number granted (Number of
    Queues) or one already in use aborts with Invalid Queue Identifier."""
    qid = {"qid0": 0, "above_granted": granted(nvme0)[1] + 1, "duplicate": free_qid}[case]
    if case == "duplicate":
        create_cq(nvme0, free_qid, 16)
    cpl, _ = create_cq(nvme0, qid, 16)
    expect_status(cpl, INVALID_QID, "NVMe 1.4 §5.3", f"Create I/O CQ with {case} QID {qid}")


@pytest.mark.parametrize("case", ["size1", "above_mqes"])
def test_create_cq_invalid_size(nvme0, free_qid, case):
    """NVMe 1.4 §5.3 (QSIZE, 0's based: 0 is invalid) and CAP.MQES: Invalid Queue Size."""
    size = 1 if case == "size1" else mqes(nvme0) + 1
    if size > 65536:
        pytest.skip("MQES is the maximum encodable")
    cpl, _ = create_cq(nvme0, free_qid, size, ring=d.Buffer(16 * size + 4096))
    expect_status(cpl, INVALID_QSIZE, "NVMe 1.4 §5.3", f"Create I/O CQ of {size} entries")


def test_create_cq_invalid_vector(nvme0, pcie, free_qid):
    """NVMe 1.4 §5.3 (IV): an interrupt vector beyond those the function has (MSI-X
    table size) aborts with Invalid Interrupt Vector."""
    off = pcie.cap_offset(0x11)
    n = (pcie.register(off + 2, 2) & 0x7ff) + 1 if off is not None else 1
    cpl, _ = create_cq(nvme0, free_qid, 16, iv=n, ien=1)
    expect_status(cpl, INVALID_VECTOR, "NVMe 1.4 §5.3", f"Create I/O CQ with vector {n} of {n}")


def test_create_cq_noncontiguous_when_required(nvme0, free_qid):
    """NVMe 1.4 §5.3 (PC) with CAP.CQR = 1: a queue that is not physically contiguous
    aborts with Invalid Field in Command."""
    if not (nvme0.cap >> 16) & 1:
        pytest.skip("CAP.CQR = 0: non-contiguous queues are allowed")
    cpl, _ = create_cq(nvme0, free_qid, 16, pc=0)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.3", "Create I/O CQ with PC = 0 and CAP.CQR = 1")


def test_create_cq_prp_offset(nvme0, free_qid):
    """NVMe 1.4 §5.3 (PRP Entry 1 of a contiguous queue is page aligned: offset 0):
    a non-zero offset aborts with Invalid PRP Offset (or Invalid Field)."""
    ring = d.Buffer(4096 * 2)
    ring.offset, ring.size = 64, 4096
    cpl, _ = create_cq(nvme0, free_qid, 16, ring=ring)
    expect_status(cpl, [PRP_OFFSET, INVALID_FIELD], "NVMe 1.4 §4.3 / §5.3",
                  "Create I/O CQ with PRP1 not page aligned")


@pytest.mark.parametrize("case", ["qid0", "above_granted", "duplicate"])
def test_create_sq_invalid_qid(nvme0, free_qid, case):
    """NVMe 1.4 §5.4 (Figure 157): QID 0, above the number granted, or in use: Invalid
    Queue Identifier."""
    create_cq(nvme0, free_qid, 16)
    qid = {"qid0": 0, "above_granted": granted(nvme0)[0] + 1, "duplicate": free_qid}[case]
    if case == "duplicate":
        create_sq(nvme0, free_qid, 16, free_qid)
    cpl, _ = create_sq(nvme0, qid, 16, free_qid)
    expect_status(cpl, INVALID_QID, "NVMe 1.4 §5.4", f"Create I/O SQ with {case} QID {qid}")


@pytest.mark.parametrize("case", ["admin_cq", "missing_cq"])
def test_create_sq_invalid_cq(nvme0, free_qid, case):
    """NVMe 1.4 §5.4 (CQID): the admin CQ (0) or a CQ that does not exist aborts with
    Completion Queue Invalid."""
    cqid = 0 if case == "admin_cq" else free_qid
    cpl, _ = create_sq(nvme0, free_qid, 16, cqid)
    expect_status(cpl, CQ_INVALID, "NVMe 1.4 §5.4", f"Create I/O SQ on {case} {cqid}")


@pytest.mark.parametrize("case", ["size1", "above_mqes"])
def test_create_sq_invalid_size(nvme0, free_qid, case):
    """NVMe 1.4 §5.4 (QSIZE) and CAP.MQES: Invalid Queue Size."""
    create_cq(nvme0, free_qid, 16)
    size = 1 if case == "size1" else mqes(nvme0) + 1
    if size > 65536:
        pytest.skip("MQES is the maximum encodable")
    cpl, _ = create_sq(nvme0, free_qid, size, free_qid, ring=d.Buffer(64 * size + 4096))
    expect_status(cpl, INVALID_QSIZE, "NVMe 1.4 §5.4", f"Create I/O SQ of {size} entries")


@pytest.mark.parametrize("op,name", [(DELETE_SQ, "SQ"), (DELETE_CQ, "CQ")], ids=["sq", "cq"])
def test_delete_admin_queue_rejected(nvme0, op, name):
    """NVMe 1.4 §5.5/§5.6: QID 0 (the admin queue) cannot be deleted: Invalid Queue
    Identifier."""
    cpl = delete(nvme0, op, 0)
    expect_status(cpl, INVALID_QID, "NVMe 1.4 §5.5/§5.6", f"Delete I/O {name} 0")


@pytest.mark.parametrize("op,name", [(DELETE_SQ, "SQ"), (DELETE_CQ, "CQ")], ids=["sq", "cq"])
def test_delete_missing_queue(nvme0, free_qid, op, name):
    """NVMe 1.4 §5.5/§5.6: deleting a queue that does not exist aborts with Invalid
    Queue Identifier."""
    cpl = delete(nvme0, op, free_qid)
    expect_status(cpl, INVALID_QID, "NVMe 1.4 §5.5/§5.6", f"Delete I/O {name} {free_qid} (not created)")


def test_delete_cq_with_sq_attached(nvme0, free_qid):
    """NVMe 1.4 §5.5: a CQ with an SQ still bound to it aborts with Invalid Queue
    Deletion."""
    create_cq(nvme0, free_qid, 16)
    create_sq(nvme0, free_qid, 16, free_qid)
    cpl = delete(nvme0, DELETE_CQ, free_qid)
    expect_status(cpl, INVALID_DELETION, "NVMe 1.4 §5.5", "Delete I/O CQ with its SQ present")


# ------------------------------------------------------------- opcodes

OPTIONAL_ADMIN = {0x10: (2, "Firmware Commit"), 0x11: (2, "Firmware Image Download"),
                  0x14: (4, "Device Self-test"), 0x0d: (3, "Namespace Management"),
                  0x15: (3, "Namespace Attachment"), 0x19: (5, "Directive Send"),
                  0x1a: (5, "Directive Receive"), 0x1c: (7, "Virtualization Management"),
                  0x7c: (8, "Doorbell Buffer Config"), 0x80: (1, "Format NVM"),
                  0x81: (0, "Security Send"), 0x82: (0, "Security Receive"),
                  0x86: (9, "Get LBA Status")}


@pytest.mark.parametrize("op", sorted(OPTIONAL_ADMIN), ids=lambda o: f"op{o:02x}")
def test_unclaimed_admin_command_invalid_opcode(nvme0, idc, op):
    """NVMe 1.4 §5.15.2 (OACS) with §4.6.1.2.1 (Generic status): an optional admin
    command the controller does not claim aborts with Invalid Command Opcode."""
    bit, name = OPTIONAL_ADMIN[op]
    if idc.oacs & (1 << bit):
        pytest.skip(f"{name} is claimed (OACS bit {bit})")
    cpl = run(nvme0, "send_cmd", op, d.Buffer(4096))
    expect_status(cpl, INVALID_OPCODE, "NVMe 1.4 §5.15.2 (OACS)", f"unclaimed {name} ({op:#04x})")


def test_unclaimed_sanitize_invalid_opcode(nvme0, idc):
    """NVMe 1.4 §5.15.2 (SANICAP) / §5.24: without any sanitize operation claimed,
    Sanitize aborts with Invalid Command Opcode."""
    if idc.sanicap & 7:
        pytest.skip("sanitize is claimed")
    cpl = run(nvme0, "send_cmd", 0x84, cdw10=2)
    expect_status(cpl, INVALID_OPCODE, "NVMe 1.4 §5.24", "unclaimed Sanitize")


@pytest.mark.parametrize("op", [0x03, 0x07, 0x0b, 0x0e, 0x13, 0x3f, 0x7f, 0xbf],
                         ids=lambda o: f"op{o:02x}")
def test_reserved_admin_opcode(nvme0, op):
    """NVMe 1.4 §5 (Figure 139: opcodes not listed are reserved): Invalid Command
    Opcode."""
    cpl = run(nvme0, "send_cmd", op)
    expect_status(cpl, INVALID_OPCODE, "NVMe 1.4 §5 (Figure 139)", f"reserved admin opcode {op:#04x}")


@pytest.mark.parametrize("op", [0xc0, 0xf0, 0xff], ids=lambda o: f"op{o:02x}")
def test_unsupported_vendor_admin_opcode(nvme0, idc, op):
    """NVMe 1.4 §5 (C0h..FFh vendor specific) with §5.14.1.5: a vendor opcode the
    effects log does not mark supported aborts with Invalid Command Opcode."""
    if idc.lpa & 2:
        buf = d.Buffer(4096)
        run(nvme0, "getlogpage", 0x05, buf, size=4096)
        if buf.data(4 * op + 3, 4 * op) & 1:
            pytest.skip(f"vendor opcode {op:#04x} is supported")
    cpl = run(nvme0, "send_cmd", op)
    expect_status(cpl, INVALID_OPCODE, "NVMe 1.4 §5", f"unsupported vendor admin opcode {op:#04x}")


# ---------------------------------------------------------- abort, AER

def test_abort_completed_command(nvme0):
    """NVMe 1.4 §5.1 (Abort, dword0 bit 0): aborting a command that has already
    completed succeeds and reports bit 0 = 1 (command not aborted)."""
    nvme0.getfeatures(7).waitdone()
    cid = nvme0.latest_cid
    cpl = run(nvme0, "abort", cid, sqid=0)
    expect_status(cpl, OK, "NVMe 1.4 §5.1", "Abort of a completed command")
    expect(cpl.dw0 & 1, "NVMe 1.4 §5.1 (Figure 143)",
           "dword0 bit 0 = 1: the completed command was not aborted", f"returns dword0 0x{cpl.dw0:x}")


def test_abort_unknown_sqid(nvme0):
    """NVMe 1.4 §5.1: an Abort naming an SQ that does not exist completes (it is best
    effort) and reports the command as not aborted (dword0 bit 0 = 1)."""
    cpl = run(nvme0, "abort", 0x1234, sqid=0xfff0)
    expect_status(cpl, [OK, INVALID_FIELD], "NVMe 1.4 §5.1", "Abort on a non-existent SQ")
    if cpl.ok:
        expect(cpl.dw0 & 1, "NVMe 1.4 §5.1", "dword0 bit 0 = 1 (not aborted)", f"returns 0x{cpl.dw0:x}")


def test_aer_limit_exceeded(nvme0, idc):
    """NVMe 1.4 §5.2 (AERL is 0's based) and Figure 146: once AERL+1 requests are
    outstanding, another aborts with Asynchronous Event Request Limit Exceeded. The
    driver keeps at least one outstanding, so AERL+1 more must see the error."""
    results = []

    def cb(cdw0, status1):
        results.append(((status1 >> 9) & 7, (status1 >> 1) & 0xff))

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(idc.aerl + 1):
            nvme0.aer(cb=cb)
        nvme0.getfeatures(7).waitdone()
        import time
        deadline = time.monotonic() + 5
        while AER_LIMIT not in results and time.monotonic() < deadline:
            nvme0.getfeatures(7).waitdone()
    expect(AER_LIMIT in results, "NVMe 1.4 §5.2", f"an AER beyond AERL+1 = {idc.aerl + 1} outstanding "
           "to abort with 01/05 (Asynchronous Event Request Limit Exceeded)",
           f"completed {results or 'none of them'}")


# ------------------------------------------------------------- format

@pytest.fixture
def formattable(nvme0, idc, plain_ns):
    if not idc.oacs & 2:
        pytest.skip("OACS bit 1 = 0: Format NVM not supported")
    return plain_ns


def test_format_current_lbaf(nvme0, formattable):
    """NVMe 1.4 §5.23 (Format NVM): formatting a namespace with its current LBA format
    succeeds and keeps the format."""
    nsid, ns = formattable
    lbaf = ns.flbas & 0xf
    nvme0.timeout = 60000
    cpl = run(nvme0, "format", lbaf=lbaf, nsid=nsid)
    expect_status(cpl, OK, "NVMe 1.4 §5.23", f"Format NVM of NSID {nsid} with LBAF {lbaf}")
    _, after = id_ns(nvme0, d, nsid)
    expect(after.flbas & 0xf == lbaf, "NVMe 1.4 §5.23", "FLBAS to select the format used",
           f"reports FLBAS {after.flbas:#x}")


def test_format_user_data_erase(nvme0, formattable):
    """NVMe 1.4 §5.23 (SES 001b, user data erase): data written before reads back as
    something else than what was written (zeroes or vendor pattern) after the format."""
    nsid, ns = formattable
    q = d.Qpair(nvme0, 4)
    buf = d.Buffer(ns.lba_size, pvalue=0x5a5a5a5a, ptype=32)
    try:
        q.send_cmd(0x01, buf, nsid=nsid).waitdone()
        nvme0.timeout = 60000
        cpl = run(nvme0, "format", lbaf=ns.flbas & 0xf, ses=1, nsid=nsid)
        expect_status(cpl, OK, "NVMe 1.4 §5.23", "Format NVM with SES = 001b")
        out = d.Buffer(ns.lba_size)
        q.send_cmd(0x02, out, nsid=nsid).waitdone()
    finally:
        q.delete()
    expect(out[0:16] != buf[0:16], "NVMe 1.4 §5.23 (SES 001b)",
           "user data erased by the format", "returns the data written before it")


def test_format_invalid_lbaf(nvme0, formattable):
    """NVMe 1.4 §5.23 (LBAF): a format index above NLBAF aborts with Invalid Format."""
    nsid, ns = formattable
    if ns.nlbaf >= 15:
        pytest.skip("all 16 formats exist")
    cpl = run(nvme0, "format", lbaf=ns.nlbaf + 1, nsid=nsid)
    expect_status(cpl, [INVALID_FORMAT, INVALID_FIELD], "NVMe 1.4 §5.23",
                  f"Format NVM with LBAF {ns.nlbaf + 1} > NLBAF {ns.nlbaf}")


def test_format_reserved_ses(nvme0, formattable):
    """NVMe 1.4 §5.23 (SES 011b..111b reserved): Invalid Field in Command."""
    nsid, ns = formattable
    cpl = run(nvme0, "format", lbaf=ns.flbas & 0xf, ses=3, nsid=nsid)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.23", "Format NVM with reserved SES 011b")


def test_format_crypto_erase_unclaimed(nvme0, idc, formattable):
    """NVMe 1.4 §5.23 (SES 010b) with FNA bit 2: cryptographic erase not claimed aborts
    with Invalid Field in Command."""
    nsid, ns = formattable
    if idc.fna & 4:
        pytest.skip("FNA claims cryptographic erase")
    cpl = run(nvme0, "format", lbaf=ns.flbas & 0xf, ses=2, nsid=nsid)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.23", "Format NVM with SES 010b unclaimed")


def test_format_invalid_namespace(nvme0, idc, formattable):
    """NVMe 1.4 §5.23 / §6.1.2: an invalid NSID (above NN) aborts with Invalid Namespace
    or Format."""
    cpl = run(nvme0, "format", lbaf=0, nsid=idc.nn + 1)
    expect_status(cpl, INVALID_NS, "NVMe 1.4 §5.23", f"Format NVM of invalid NSID {idc.nn + 1}")


# ------------------------------------- firmware, self-test, sanitize, ns mgmt

def test_firmware_commit_invalid_slot(nvme0, idc):
    """NVMe 1.4 §5.11 (Firmware Commit): a slot above the number of slots (FRMW bits
    3:1) aborts with Invalid Firmware Slot."""
    if not idc.oacs & 4:
        pytest.skip("OACS bit 2 = 0: no firmware commands")
    slots = (idc.frmw >> 1) & 7
    if slots >= 7:
        pytest.skip("all seven slots exist")
    cpl = run(nvme0, "fw_commit", slots + 1, 2)
    expect_status(cpl, FW_SLOT, "NVMe 1.4 §5.11", f"Firmware Commit to slot {slots + 1} of {slots}")


def test_firmware_download_unaligned(nvme0, idc):
    """NVMe 1.4 §5.12 (NUMD/OFST in dwords; FWUG granularity): a download not aligned
    to the update granularity aborts with Invalid Field in Command."""
    if not idc.oacs & 4:
        pytest.skip("OACS bit 2 = 0: no firmware commands")
    fwug = idc(319)
    if fwug in (0, 0xff) or fwug * 4096 <= 4:
        pytest.skip("FWUG gives no granularity to violate")
    cpl = run(nvme0, "fw_download", d.Buffer(4096), 4, size=4096)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.12", "Firmware Image Download at offset 4 bytes")


def test_device_self_test_short(nvme0, idc):
    """NVMe 1.4 §5.7 (Device Self-test, STC 1h): starts a short test that the
    self-test log then reports in progress or completed."""
    if not idc.oacs & (1 << 4):
        pytest.skip("OACS bit 4 = 0: no device self-test")
    cpl = run(nvme0, "dst", stc=1, nsid=0xffffffff)
    expect_status(cpl, OK, "NVMe 1.4 §5.7", "Device Self-test short")
    run(nvme0, "dst", stc=0xf, nsid=0xffffffff)


def test_device_self_test_reserved_code(nvme0, idc):
    """NVMe 1.4 §5.7 (STC 3h..Dh reserved): Invalid Field in Command."""
    if not idc.oacs & (1 << 4):
        pytest.skip("OACS bit 4 = 0: no device self-test")
    cpl = run(nvme0, "dst", stc=3, nsid=0xffffffff)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.7", "Device Self-test with reserved STC 3h")


def test_sanitize_unclaimed_action(nvme0, idc):
    """NVMe 1.4 §5.24 (SANACT) with SANICAP: an action the controller does not claim
    aborts with Invalid Field in Command."""
    if not idc.sanicap & 7:
        pytest.skip("no sanitize support")
    unclaimed = [a for a, bit in ((2, 1), (3, 2), (4, 0)) if not idc.sanicap & (1 << bit)]
    if not unclaimed:
        pytest.skip("every sanitize action is claimed")
    cpl = run(nvme0, "sanitize", option=unclaimed[0])
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.24", f"Sanitize action {unclaimed[0]} not in SANICAP")


def test_sanitize_reserved_action(nvme0, idc):
    """NVMe 1.4 §5.24 (SANACT 000b, 101b..111b reserved): Invalid Field in Command."""
    if not idc.sanicap & 7:
        pytest.skip("no sanitize support")
    cpl = run(nvme0, "sanitize", option=5)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.24", "Sanitize with reserved action 101b")


def test_namespace_attachment_invalid_select(nvme0, idc, nsids):
    """NVMe 1.4 §5.19 (Namespace Attachment SEL 2h..Fh reserved): Invalid Field in
    Command."""
    if not idc.oacs & (1 << 3):
        pytest.skip("OACS bit 3 = 0: no namespace management")
    buf = d.Buffer(4096)
    cpl = run(nvme0, "send_cmd", 0x15, buf, nsid=nsids[0], cdw10=0xf)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.19", "Namespace Attachment with reserved SEL")


def test_namespace_management_invalid_select(nvme0, idc):
    """NVMe 1.4 §5.20 (Namespace Management SEL 2h..Fh reserved): Invalid Field in
    Command."""
    if not idc.oacs & (1 << 3):
        pytest.skip("OACS bit 3 = 0: no namespace management")
    cpl = run(nvme0, "send_cmd", 0x0d, d.Buffer(4096), nsid=0, cdw10=0xf)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.20", "Namespace Management with reserved SEL")


# ------------------------------------------------------ doorbell buffer config

def test_doorbell_buffer_config(nvme0, idc):
    """NVMe 1.4 §5.10 (Doorbell Buffer Config, claimed by OACS bit 8): with a
    page-aligned shadow doorbell buffer (PRP1) and EventIdx buffer (PRP2) the command
    completes successfully. (The controller is re-initialized afterwards.)"""
    if not idc.oacs & (1 << 8):
        pytest.skip("OACS bit 8 = 0: no Doorbell Buffer Config")
    buf = d.Buffer(8192)                     # page 0 -> PRP1, page 1 -> PRP2
    cpl = run(nvme0, "send_cmd", 0x7c, buf)
    nvme0.reset()
    expect_status(cpl, OK, "NVMe 1.4 §5.10", "Doorbell Buffer Config with page-aligned buffers")


def test_doorbell_buffer_config_unaligned(nvme0, idc):
    """NVMe 1.4 §5.10 (PRP1/PRP2 are page aligned: bits 11:0 are 0): a buffer address
    with a page offset aborts with Invalid Field in Command."""
    if not idc.oacs & (1 << 8):
        pytest.skip("OACS bit 8 = 0: no Doorbell Buffer Config")
    buf = d.Buffer(3 * 4096)
    buf.offset, buf.size = 64, 8192
    cpl = run(nvme0, "send_cmd", 0x7c, buf)
    nvme0.reset()
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.10", "Doorbell Buffer Config with PRP1 not page aligned")


# ------------------------------------------------------------- keep alive

def test_keep_alive(nvme0, idc):
    """NVMe 1.4 §5.16 (Keep Alive, mandatory when KAS != 0): completes successfully;
    without KAS the command is not supported (Invalid Command Opcode)."""
    cpl = run(nvme0, "send_cmd", 0x18)
    expect_status(cpl, OK if idc.kas else INVALID_OPCODE, "NVMe 1.4 §5.16 / §5.15.2 (KAS)",
                  f"Keep Alive with KAS {idc.kas}")


# ----------------------------------------------------- namespace attachment

def controller_list(cntids):
    buf = d.Buffer(4096)
    buf[0:2] = len(cntids).to_bytes(2, "little")
    for i, c in enumerate(cntids):
        buf[2 + 2 * i:4 + 2 * i] = c.to_bytes(2, "little")
    return buf


def test_attach_already_attached_namespace(nvme0, idc, nsids):
    """NVMe 1.4 §5.19 (Namespace Attachment, SEL 0h attach; Figure 237): attaching a
    namespace to a controller it is already attached to aborts with Namespace Already
    Attached (01/18)."""
    if not idc.oacs & (1 << 3):
        pytest.skip("OACS bit 3 = 0: no namespace attachment")
    cntid = idc(79, 78)
    cpl = run(nvme0, "send_cmd", 0x15, controller_list([cntid]), nsid=nsids[0], cdw10=0)
    expect_status(cpl, (1, 0x18), "NVMe 1.4 §5.19", f"attaching NSID {nsids[0]} again to controller {cntid}")


def test_attach_invalid_namespace(nvme0, idc):
    """NVMe 1.4 §5.19 / §6.1.2: Namespace Attachment of an invalid NSID (above NN) aborts
    with Invalid Namespace or Format (or Invalid Field)."""
    if not idc.oacs & (1 << 3):
        pytest.skip("OACS bit 3 = 0: no namespace attachment")
    cpl = run(nvme0, "send_cmd", 0x15, controller_list([idc(79, 78)]), nsid=idc.nn + 1, cdw10=0)
    expect_status(cpl, [INVALID_NS, INVALID_FIELD], "NVMe 1.4 §5.19", f"attaching invalid NSID {idc.nn + 1}")
