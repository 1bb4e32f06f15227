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

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(obj, method)(*args, cb=cb, **kwargs).waitdone()
    _sort_warnings(caught)
    assert got, f"{method}: the callback did not run"
    return got[-1]


AER_SEEN = []   # dword0 of AER completions reaped while waiting for other commands


def _sort_warnings(caught):
    """Keeps AER completions for wait_aer(), drops error-status warnings (they are
    values here), and passes every other warning on."""
    import re
    for w in caught:
        text = str(w.message)
        m = re.search(r"AER triggered, dword0: (0x[0-9a-f]+)", text)
        if m:
            AER_SEEN.append(int(m.group(1), 16))
        elif "ERROR status" not in text:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


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
    (1, 0x0f): "Feature Not Namespace Specific", (1, 0x18): "Namespace Already Attached", (1, 0x80): "Conflicting Attributes",
    (1, 0x81): "Invalid Protection Information", (2, 0x81): "Unrecovered Read Error",
    (2, 0x82): "End-to-end Guard Check Error", (2, 0x84): "End-to-end Reference Tag Check Error",
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


# ------------------------------------------------------------ identify data

class Data:
    """A 4 KiB data structure read from the controller, with little-endian field access."""

    def __init__(self, buf):
        self.buf = buf
        self.raw = bytes(buf[0:len(buf)])

    def __call__(self, end, begin=None):
        """Bytes begin..end inclusive as a little-endian int (one byte if begin is None)."""
        begin = end if begin is None else begin
        return int.from_bytes(self.raw[begin:end + 1], "little")

    def text(self, end, begin):
        return self.raw[begin:end + 1]

    def zero(self):
        return not any(self.raw)


def identify(ctrl, nvme_module, cns, nsid=0, cntid=0, csi=0):
    """(Completion, Data) of an Identify command."""
    buf = nvme_module.Buffer(4096, f"identify cns {cns:#x}")
    cpl = run(ctrl, "identify", buf, nsid=nsid, cns=cns, cntid=cntid, csi=csi)
    return cpl, Data(buf)


def log_page(ctrl, nvme_module, lid, size=4096, offset=0, nsid=0xffffffff, lsp=0):
    """(Completion, Data) of a Get Log Page command."""
    buf = nvme_module.Buffer(max(4096, size), f"log {lid:#x}")
    cpl = run(ctrl, "getlogpage", lid, buf, size=size, offset=offset, nsid=nsid, lsp=lsp)
    return cpl, Data(buf)


class IdCtrl(Data):
    """Identify Controller (NVMe 1.4 §5.15.2, Figure 247) with named fields."""

    @property
    def oacs(self):
        return self(257, 256)

    @property
    def oncs(self):
        return self(521, 520)

    @property
    def lpa(self):
        return self(261)

    @property
    def nn(self):
        return self(519, 516)

    @property
    def ctratt(self):
        return self(99, 96)

    @property
    def oaes(self):
        return self(95, 92)

    @property
    def sanicap(self):
        return self(331, 328)

    @property
    def frmw(self):
        return self(260)

    @property
    def sgls(self):
        return self(539, 536)

    @property
    def vwc(self):
        return self(525)

    @property
    def npss(self):
        return self(263)

    @property
    def mdts(self):
        return self(77)

    @property
    def aerl(self):
        return self(259)

    @property
    def acl(self):
        return self(258)

    @property
    def ver(self):
        return self(83, 80)

    @property
    def cmic(self):
        return self(76)

    @property
    def fna(self):
        return self(524)

    @property
    def apsta(self):
        return self(265)

    @property
    def hmpre(self):
        return self(275, 272)

    @property
    def kas(self):
        return self(321, 320)

    @property
    def hctma(self):
        return self(323, 322)

    @property
    def nwpc(self):
        return self(531)


class IdNs(Data):
    """Identify Namespace (NVMe 1.4 §5.15.2, Figure 245 / NVM command set)."""

    @property
    def nsze(self):
        return self(7, 0)

    @property
    def ncap(self):
        return self(15, 8)

    @property
    def nuse(self):
        return self(23, 16)

    @property
    def nsfeat(self):
        return self(24)

    @property
    def nlbaf(self):
        return self(25)

    @property
    def flbas(self):
        return self(26)

    @property
    def mc(self):
        return self(27)

    @property
    def dpc(self):
        return self(28)

    @property
    def dps(self):
        return self(29)

    def lbaf(self, i):
        v = self(128 + 4 * i + 3, 128 + 4 * i)
        return {"ms": v & 0xffff, "lbads": (v >> 16) & 0xff, "rp": (v >> 24) & 3}

    @property
    def current(self):
        return self.lbaf(self.flbas & 0xf)

    @property
    def lba_size(self):
        return 1 << self.current["lbads"]


def id_ctrl(ctrl, nvme_module):
    cpl, data = identify(ctrl, nvme_module, 1)
    assert cpl.ok, f"Identify Controller failed: {cpl}"
    out = IdCtrl.__new__(IdCtrl)
    out.__dict__.update(data.__dict__)
    return out


def id_ns(ctrl, nvme_module, nsid):
    cpl, data = identify(ctrl, nvme_module, 0, nsid=nsid)
    out = IdNs.__new__(IdNs)
    out.__dict__.update(data.__dict__)
    return cpl, out


def active_nsids(ctrl, nvme_module):
    cpl, data = identify(ctrl, nvme_module, 2, nsid=0)
    assert cpl.ok, f"Identify Active Namespace ID list failed: {cpl}"
    ids = []
    for i in range(1024):
        v = data(4 * i + 3, 4 * i)
        if not v:
            break
        ids.append(v)
    return ids


# ----------------------------------------------------------- async events

def wait_aer(ctrl, seconds=5.0):
    """dword0 of the next AER completion (one already reaped by run(), or one reaped
    within `seconds` while admin commands are sent to drive the reaping), or None."""
    deadline = time.monotonic() + seconds
    while True:
        if AER_SEEN:
            return AER_SEEN.pop(0)
        if time.monotonic() >= deadline:
            return None
        run(ctrl, "getfeatures", 7)
        time.sleep(0.02)


class EventInjector:
    """Raises SMART critical warnings on the controller under test, where the
    platform can: QEMU's monitor in the emulated test bed ($PYNVME_QMP, the
    controller's QOM path /machine/peripheral/nvme<N> with N = bus - 1). On a real
    drive there is no generic way, and the tests that need one skip."""

    def __init__(self, pciaddr):
        import itertools
        import json
        import os
        import select
        self._json, self._os, self._select = json, os, select
        path = os.environ.get("PYNVME_QMP")
        if not path:
            pytest.skip("no way to raise a SMART event on this platform ($PYNVME_QMP not set)")
        self.dev = f"/machine/peripheral/nvme{int(pciaddr.split(':')[-2], 16) - 1}"
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.ids = itertools.count(1)
        self.pending = b""
        self.command("qmp_capabilities", check=False)

    def command(self, execute, arguments=None, check=True):
        cid = f"conformance-{self._os.getpid()}-{next(self.ids)}"
        msg = {"execute": execute, "id": cid}
        if arguments is not None:
            msg["arguments"] = arguments
        self._os.write(self.fd, self._json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + 10
        while True:
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"QMP: no answer to {execute}")
                if self._select.select([self.fd], [], [], left)[0]:
                    try:
                        self.pending += self._os.read(self.fd, 65536)
                    except BlockingIOError:
                        pass
            line, self.pending = self.pending.split(b"\n", 1)
            try:
                reply = self._json.loads(line)
            except ValueError:
                continue
            if reply.get("id") != cid:
                continue
            if "error" in reply and check:
                raise RuntimeError(f"QMP {execute}: {reply['error']}")
            return reply.get("return")

    def critical_warning(self, bits):
        self.command("qom-set", {"path": self.dev, "property": "smart_critical_warning",
                                 "value": bits})

    def close(self):
        try:
            self.critical_warning(0)
        finally:
            self._os.close(self.fd)
