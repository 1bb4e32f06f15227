"""Helpers of the conformance suite: spec-quoting failures, register layout,
raw controller enable/disable on BAR0, and command completions as values.

Every expectation of the suite comes from what the controller claims (CAP,
identify, log pages); these helpers only decode and compare, they never assume
a vendor or a model.
"""
import time
import warnings

import pytest

# ---------------------------------------------------------------- failures


def fail_spec(clause, requires, observed):
    """Fails the test with a message quoting the spec and the controller."""
    pytest.fail(f"{clause}: the spec requires {requires}; the controller {observed}",
                pytrace=False)


def expect(cond, clause, requires, observed):
    """fail_spec() unless cond holds; observed may be a callable (evaluated lazily)."""
    if not cond:
        fail_spec(clause, requires, observed() if callable(observed) else observed)


def bits(value, hi, lo):
    """Bits hi..lo (inclusive) of value."""
    return (value >> lo) & ((1 << (hi - lo + 1)) - 1)


# ------------------------------------------------------- controller registers
# NVMe 1.4 §3.1 (2.0 §3.1.3): offsets in BAR0.
CAP, VS, INTMS, INTMC, CC, CSTS, NSSR = 0x00, 0x08, 0x0c, 0x10, 0x14, 0x1c, 0x20
AQA, ASQ, ACQ, CMBLOC, CMBSZ = 0x24, 0x28, 0x30, 0x38, 0x3c
BPINFO, BPRSEL, BPMBL, CMBMSC, CMBSTS = 0x40, 0x44, 0x48, 0x50, 0x58
PMRCAP, PMRCTL, PMRSTS = 0xe00, 0xe04, 0xe08
DOORBELLS = 0x1000

CC_EN = 1
CSTS_RDY, CSTS_CFS = 1, 2


class Cap:
    """CAP decoded (NVMe 1.4 §3.1.1, 2.0 §3.1.3.1)."""

    def __init__(self, value):
        self.value = value
        self.mqes = bits(value, 15, 0)
        self.cqr = bits(value, 16, 16)
        self.ams = bits(value, 18, 17)
        self.to = bits(value, 31, 24)
        self.dstrd = bits(value, 35, 32)
        self.nssrs = bits(value, 36, 36)
        self.css = bits(value, 44, 37)
        self.bps = bits(value, 45, 45)
        self.mpsmin = bits(value, 51, 48)
        self.mpsmax = bits(value, 55, 52)
        self.pmrs = bits(value, 56, 56)
        self.cmbs = bits(value, 57, 57)

    @property
    def timeout_s(self):
        """CAP.TO in seconds (500 ms units), at least 0.5 s."""
        return max(self.to, 1) * 0.5

    @property
    def stride(self):
        return 4 << self.dstrd

    def sq_doorbell(self, qid):
        return DOORBELLS + (2 * qid) * self.stride

    def cq_doorbell(self, qid):
        return DOORBELLS + (2 * qid + 1) * self.stride


class Regs:
    """BAR0 registers of a Pcie, by dword (mem_dword_read/write)."""

    def __init__(self, pcie):
        self.pcie = pcie

    def __getitem__(self, offset):
        return self.pcie.mem_dword_read(offset)

    def __setitem__(self, offset, value):
        self.pcie.mem_dword_write(offset, value & 0xffffffff)

    def read64(self, offset):
        return self[offset] | self[offset + 4] << 32

    def write64(self, offset, value):
        self[offset] = value & 0xffffffff
        self[offset + 4] = value >> 32

    @property
    def cap(self):
        return Cap(self.read64(CAP))

    def wait_csts(self, mask, want, timeout_s):
        """Polls CSTS until (CSTS & mask) == want; returns (ok, last CSTS, seconds)."""
        start = time.monotonic()
        while True:
            csts = self[CSTS]
            if csts == 0xffffffff:
                return False, csts, time.monotonic() - start
            if csts & mask == want:
                return True, csts, time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                return False, csts, time.monotonic() - start
            time.sleep(0.001)

    def disable(self, clause="NVMe 1.4 §3.1.6 (CSTS.RDY)"):
        """CC.EN=0 and wait for CSTS.RDY=0 within CAP.TO; fails the test if not."""
        cap = self.cap
        self[CC] = self[CC] & ~CC_EN
        ok, csts, took = self.wait_csts(CSTS_RDY, 0, cap.timeout_s + 0.5)
        expect(ok, clause, f"CSTS.RDY to clear within CAP.TO ({cap.timeout_s:.1f} s) "
               "after CC.EN is cleared", f"shows CSTS 0x{csts:08x} after {took:.2f} s")

    def enable(self, admin, cc=None, clause="NVMe 1.4 §3.1.6 (CSTS.RDY)"):
        """Programs AQA/ASQ/ACQ from `admin` (a RawAdminQueues) and sets CC.EN=1
        with 4 KiB pages and 64/16 byte entries; waits for CSTS.RDY=1."""
        cap = self.cap
        self[AQA] = (admin.depth - 1) << 16 | (admin.depth - 1)
        self.write64(ASQ, admin.sq.phys_addr)
        self.write64(ACQ, admin.cq.phys_addr)
        self[CC] = cc if cc is not None else (4 << 20 | 6 << 16 | CC_EN)
        ok, csts, took = self.wait_csts(CSTS_RDY | CSTS_CFS, CSTS_RDY, cap.timeout_s + 0.5)
        expect(ok, clause, f"CSTS.RDY to be set within CAP.TO ({cap.timeout_s:.1f} s) "
               "after CC.EN is set with valid admin queues",
               f"shows CSTS 0x{csts:08x} after {took:.2f} s")


class RawAdminQueues:
    """Admin SQ/CQ memory in DMA buffers, for enabling a controller by hand."""

    def __init__(self, nvme_module, depth=16):
        self.depth = depth
        self.sq = nvme_module.Buffer(4096, "asq")
        self.cq = nvme_module.Buffer(4096, "acq")


# --------------------------------------------------------------- completions

class Completion:
    """A command's completion: dword0, SCT, SC, DNR, M, phase; `ok` when SCT/SC 0/0."""

    def __init__(self, dw0, status1):
        self.dw0 = dw0
        self.status1 = status1
        self.phase = status1 & 1
        self.sc = (status1 >> 1) & 0xff
        self.sct = (status1 >> 9) & 7
        self.more = (status1 >> 14) & 1
        self.dnr = (status1 >> 15) & 1

    @property
    def ok(self):
        return self.sct == 0 and self.sc == 0

    @property
    def status(self):
        return (self.sct, self.sc)

    def __repr__(self):
        return f"status {self.sct:02x}/{self.sc:02x} dword0 0x{self.dw0:08x}"


def run(obj, method, *args, **kwargs):
    """Sends one command (obj.method(..., cb=...)), reaps it, and returns its
    Completion. Error statuses are values here, not warnings."""
    got = []

    def cb(cdw0, status1):
        got.append(Completion(cdw0, status1))

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ERROR status")
        getattr(obj, method)(*args, cb=cb, **kwargs).waitdone()
    assert got, f"{method}: the callback did not run"
    return got[-1]


STATUS_NAMES = {
    (0, 0x00): "Successful Completion", (0, 0x01): "Invalid Command Opcode",
    (0, 0x02): "Invalid Field in Command", (0, 0x04): "Data Transfer Error",
    (0, 0x07): "Command Abort Requested", (0, 0x08): "Command Aborted due to SQ Deletion",
    (0, 0x0b): "Invalid Namespace or Format", (0, 0x0c): "Command Sequence Error",
    (0, 0x0d): "Invalid SGL Segment Descriptor", (0, 0x0e): "Invalid Number of SGL Descriptors",
    (0, 0x0f): "Data SGL Length Invalid", (0, 0x11): "SGL Descriptor Type Invalid",
    (0, 0x13): "PRP Offset Invalid", (0, 0x80): "LBA Out of Range",
    (0, 0x81): "Capacity Exceeded", (1, 0x00): "Completion Queue Invalid",
    (1, 0x01): "Invalid Queue Identifier", (1, 0x02): "Invalid Queue Size",
    (1, 0x03): "Abort Command Limit Exceeded", (1, 0x05): "Asynchronous Event Request Limit Exceeded",
    (1, 0x06): "Invalid Firmware Slot", (1, 0x07): "Invalid Firmware Image",
    (1, 0x08): "Invalid Interrupt Vector", (1, 0x09): "Invalid Log Page",
    (1, 0x0a): "Invalid Format", (1, 0x0c): "Invalid Queue Deletion",
    (1, 0x0d): "Feature Identifier Not Saveable", (1, 0x0e): "Feature Not Changeable",
    (1, 0x0f): "Feature Not Namespace Specific", (1, 0x80): "Conflicting Attributes",
    (2, 0x85): "Compare Failure",
}


def status_text(status):
    sct, sc = status
    return f"{sct:02x}/{sc:02x} ({STATUS_NAMES.get(status, 'see spec')})"


def expect_status(cpl, want, clause, what):
    """Fails unless the completion has status `want` ((sct, sc), or a list of
    acceptable ones), quoting the spec and the status the controller returned."""
    wants = want if isinstance(want, list) else [want]
    expect(cpl.status in wants, clause,
           f"{what} to complete with status " + " or ".join(status_text(w) for w in wants),
           f"completed it with status {status_text(cpl.status)} (dword0 0x{cpl.dw0:08x})")
