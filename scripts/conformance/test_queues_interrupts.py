"""Queues and interrupts (NVMe 1.4 §4.1 queue model, §4.6 completion queue entry,
§7.5 interrupts, §5.2 asynchronous events for invalid doorbell writes; PCIe 4.0
§6.1.4 MSI-X): full queues, wrap-around and the phase tag, many queues at once,
several SQs on one CQ, per-vector MSI-X delivery and masking, and invalid
doorbell writes."""
import time

import pytest

import nvme as d
from conformance_lib import Cap, expect, expect_status, run, wait_aer

OK = (0, 0)
FLUSH = 0x00


def flushes(q, n, nsid):
    """n flushes, completion entries (4 dwords each) in completion order."""
    cqes = []
    for _ in range(n):
        q.send_cmd(FLUSH, nsid=nsid, cb=lambda cpl: cqes.append(list(cpl)))
    q.waitdone(n)
    return cqes


def test_full_queue(nvme0, plain_ns):
    """NVMe 1.4 §4.1.1 (a queue of N entries is full with N-1 commands): N-1 commands
    submitted at once all complete successfully."""
    depth = min(64, (nvme0.cap & 0xffff) + 1)
    q = d.Qpair(nvme0, depth)
    try:
        cqes = flushes(q, depth - 1, plain_ns[0])
    finally:
        q.delete()
    bad = [c for c in cqes if (c[3] >> 17) & 0x7ff]
    expect(len(cqes) == depth - 1 and not bad, "NVMe 1.4 §4.1.1",
           f"{depth - 1} commands in a {depth}-entry queue to complete",
           f"completed {len(cqes)}, {len(bad)} with errors")


def test_cqe_fields(nvme0, plain_ns):
    """NVMe 1.4 §4.6 (Figure 124/125): every completion entry names its SQ (SQID), a
    head pointer inside the queue (SQHD < size) and the command's CID, and CIDs are
    unique among outstanding commands."""
    q = d.Qpair(nvme0, 8)
    try:
        cqes = flushes(q, 7, plain_ns[0])
        sqid = q.sqid
    finally:
        q.delete()
    for c in cqes:
        expect(c[2] >> 16 == sqid, "NVMe 1.4 §4.6 (SQID)", f"SQ Identifier {sqid}",
               f"returns dword2 0x{c[2]:08x}")
        expect(c[2] & 0xffff < 8, "NVMe 1.4 §4.6 (SQHD)", "SQ Head Pointer < 8 (queue size)",
               f"returns dword2 0x{c[2]:08x}")
    cids = [c[3] & 0xffff for c in cqes]
    expect(len(set(cids)) == len(cids), "NVMe 1.4 §4.6 (CID)", "the CIDs of the 7 commands",
           f"returns CIDs {cids}")


@pytest.mark.parametrize("depth", [2, 3, 16], ids=lambda n: f"depth{n}")
def test_wrap_around_and_phase_tag(nvme0, plain_ns, depth):
    """NVMe 1.4 §4.6 (Phase Tag) and §4.1: the phase tag is 1 on the first pass through
    the completion queue and inverts on every wrap; SQHD wraps modulo the SQ size."""
    q = d.Qpair(nvme0, depth)
    n = 3 * depth + 1
    try:
        phases, heads = [], []
        for _ in range(n):                   # one at a time: completion order is known
            q.send_cmd(FLUSH, nsid=plain_ns[0],
                       cb=lambda cpl: (phases.append((cpl[3] >> 16) & 1), heads.append(cpl[2] & 0xffff)))
            q.waitdone(1)
    finally:
        q.delete()
    want = [1 - (i // depth) % 2 for i in range(n)]
    expect(phases == want, "NVMe 1.4 §4.6 (Phase Tag)", f"phases {want}", f"reports {phases}")
    expect(heads == [(i + 1) % depth for i in range(n)], "NVMe 1.4 §4.6 (SQHD)",
           "SQ head advancing by one modulo the queue size", f"reports {heads}")


def test_many_queues_at_once(nvme0, plain_ns):
    """NVMe 1.4 §5.21.1.7 / §4.1: as many IO queue pairs as granted (up to 32 here)
    exist at once and each completes commands."""
    dw0 = nvme0.getfeatures(7).waitdone()
    n = min((dw0 & 0xffff) + 1, (dw0 >> 16) + 1, 32)
    qs = []
    try:
        for _ in range(n):
            qs.append(d.Qpair(nvme0, 4))
        for q in qs:
            q.send_cmd(FLUSH, nsid=plain_ns[0])
        for q in qs:
            q.waitdone()
    finally:
        for q in qs:
            q.delete()
    assert len(qs) == n


def test_several_sqs_on_one_cq(nvme0):
    """NVMe 1.4 §4.1 (several SQs may use the same CQ) and §5.4: two SQs are created on
    one CQ; the CQ can be deleted only after both SQs."""
    dw0 = nvme0.getfeatures(7).waitdone()
    top = min((dw0 & 0xffff) + 1, (dw0 >> 16) + 1)
    if top < 3:
        pytest.skip("fewer than three IO queues granted")
    cq, sqs = top, (top, top - 1)
    rings = [d.Buffer(4096) for _ in range(3)]
    cpl = run(nvme0, "send_cmd", 0x05, rings[0], cdw10=15 << 16 | cq, cdw11=1)
    expect_status(cpl, OK, "NVMe 1.4 §5.3", f"Create I/O CQ {cq}")
    try:
        for ring, sq in zip(rings[1:], sqs):
            cpl = run(nvme0, "send_cmd", 0x01, ring, cdw10=15 << 16 | sq, cdw11=cq << 16 | 1)
            expect_status(cpl, OK, "NVMe 1.4 §5.4", f"Create I/O SQ {sq} on CQ {cq}")
        run(nvme0, "send_cmd", 0x00, cdw10=sqs[0])
        cpl = run(nvme0, "send_cmd", 0x04, cdw10=cq)
        expect_status(cpl, (1, 0x0c), "NVMe 1.4 §5.5", "Delete I/O CQ while one of its two SQs remains")
    finally:
        for sq in sqs:
            run(nvme0, "send_cmd", 0x00, cdw10=sq)
        run(nvme0, "send_cmd", 0x04, cdw10=cq)


def test_msix_per_vector_delivery(nvme0, plain_ns):
    """NVMe 1.4 §7.5 (each CQ signals its own MSI-X vector, IV of Create I/O CQ): a
    completion on one queue raises its vector only."""
    qs = []
    try:
        for iv in (1, 2, 3):
            qs.append(d.Qpair(nvme0, 4, iv=iv))
        for q in qs:
            q.msix_clear()
        qs[1].send_cmd(FLUSH, nsid=plain_ns[0]).waitdone()
        time.sleep(0.05)
        fired = [q.msix_isset() for q in qs]
    finally:
        for q in qs:
            q.delete()
    expect(fired == [False, True, False], "NVMe 1.4 §7.5 / PCIe 4.0 §6.1.4",
           "only vector 2 to fire for a completion on the CQ using vector 2",
           f"fired {fired} on vectors 1, 2, 3")


def test_msix_masked_vector_pending(nvme0, plain_ns):
    """PCIe 4.0 §6.1.4.5 (MSI-X masking): a masked vector sends no message; the message
    is sent when the vector is unmasked."""
    q = d.Qpair(nvme0, 4)
    try:
        q.msix_clear()
        q.msix_mask()
        q.send_cmd(FLUSH, nsid=plain_ns[0]).waitdone()
        time.sleep(0.05)
        masked = q.msix_isset()
        q.msix_unmask()
        time.sleep(0.05)
        after = q.msix_isset()
    finally:
        q.delete()
    expect(not masked, "PCIe 4.0 §6.1.4.5", "no interrupt while the vector is masked", "fired one")
    expect(after, "PCIe 4.0 §6.1.4.5", "the pending interrupt on unmask", "sent none")


def test_interrupts_disabled_cq(nvme0, plain_ns):
    """NVMe 1.4 §5.3 (IEN = 0): a CQ created with interrupts disabled raises none."""
    q = d.Qpair(nvme0, 4, ien=False)
    try:
        q.msix_clear()
        q.send_cmd(FLUSH, nsid=plain_ns[0]).waitdone()
        time.sleep(0.05)
        fired = q.msix_isset()
    finally:
        q.delete()
    expect(not fired, "NVMe 1.4 §5.3 (IEN)", "no interrupt from a CQ with IEN = 0", "fired one")


def test_invalid_doorbell_value(nvme0, plain_ns):
    """NVMe 1.4 §5.2 (Figure 147, Error status, 01h: Invalid Doorbell Write Value): a
    SQ tail doorbell write beyond the queue size raises an asynchronous event of type
    Error (000b) with information 01h."""
    q = d.Qpair(nvme0, 4)
    cap = Cap(nvme0.cap)
    try:
        nvme0[cap.sq_doorbell(q.sqid)] = 100
        dw0 = wait_aer(nvme0)
    finally:
        try:
            nvme0.reset()
        finally:
            q.delete()
    expect(dw0 is not None, "NVMe 1.4 §5.2", "an Error asynchronous event for an invalid doorbell value",
           "sent no AER within 5 s")
    expect(dw0 & 7 == 0 and (dw0 >> 8) & 0xff == 1, "NVMe 1.4 §5.2 (Figure 147)",
           "event type 000b (Error), information 01h (Invalid Doorbell Write Value)",
           f"sent dword0 0x{dw0:08x}")


def test_doorbell_of_missing_queue(nvme0):
    """NVMe 1.4 §5.2 (Figure 147, Error status, 00h: Write to Invalid Doorbell
    Register): a write to the doorbell of a queue that does not exist raises an
    asynchronous event of type Error with information 00h."""
    cap = Cap(nvme0.cap)
    dw0 = nvme0.getfeatures(7).waitdone()
    qid = min((dw0 & 0xffff) + 1, (dw0 >> 16) + 1)
    try:
        nvme0[cap.sq_doorbell(qid)] = 1
        ev = wait_aer(nvme0)
    finally:
        nvme0.reset()
    expect(ev is not None, "NVMe 1.4 §5.2", "an Error asynchronous event for a doorbell of a missing queue",
           "sent no AER within 5 s")
    expect(ev & 7 == 0 and (ev >> 8) & 0xff == 0, "NVMe 1.4 §5.2 (Figure 147)",
           "event type 000b (Error), information 00h (Write to Invalid Doorbell Register)",
           f"sent dword0 0x{ev:08x}")
