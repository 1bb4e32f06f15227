"""Illegal admin commands for the stress suites: each is harmless when the
controller refuses it as it must, and none of them can touch the data or the
IO queues of the workers running beside it (no Format, no Sanitize, no queue
ids a worker may own, no data pointer outside the host's buffers).

Each generator returns an IllegalCommand: its class (opcode, field, prp,
queue), a description, the call that sends it, `must_fail`: whether the
specification says "shall" (an accepted command is a failure of the suite)
or only "should" (an accepted one is reported, not failed), and `undo`, what
cleans up after a controller that accepted it (None: nothing to undo).
"""
from collections import namedtuple

import nvme as d

IllegalCommand = namedtuple("IllegalCommand", "kind text send must_fail undo", defaults=(None,))

# Admin opcodes assigned by NVMe 2.0 (Figure 28) below the vendor range:
# a random opcode outside these (and not claimed in the Commands Supported
# and Effects log) must be refused with Invalid Command Opcode.
ASSIGNED_ADMIN = {0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x0e, 0x10,
                  0x11, 0x14, 0x15, 0x18, 0x19, 0x1a, 0x1c, 0x1d, 0x1e, 0x20, 0x24, 0x7c, 0x7f,
                  0x80, 0x81, 0x82, 0x84, 0x86}
IDENTIFY, GET_LOG_PAGE, GET_FEATURES = 0x06, 0x02, 0x0a
DELETE_SQ, CREATE_SQ, DELETE_CQ, CREATE_CQ = 0x00, 0x01, 0x04, 0x05
NUMBER_OF_QUEUES = 0x07


class IllegalCommands:
    """Draws random illegal admin commands for controller `ctrl`."""

    def __init__(self, ctrl, rng):
        self.ctrl, self.rng = ctrl, rng
        self.buf = d.Buffer(4096)
        self.prp_buf = d.Buffer(3 * 4096)
        # Number of Queues allocated (0's based), so queue ids above both are invalid
        nq = ctrl.getfeatures(NUMBER_OF_QUEUES).waitdone()
        self.max_qid = max(nq & 0xffff, nq >> 16) + 1
        self.free_opcodes = [op for op in range(0xc0) if op not in ASSIGNED_ADMIN
                             and not ctrl.supports(op)]
        self.kinds = [self.opcode, self.field_fid, self.field_lid, self.field_cns,
                      self.field_nsid, self.prp_offset, self.queue_create, self.queue_delete]

    def draw(self):
        return self.rng.choice(self.kinds)()

    def _send(self, opcode, buf=None, **cdw):
        return lambda cb: self.ctrl.send_cmd(opcode, buf, cb=cb, **cdw)

    # ---- invalid opcodes ----------------------------------------------------
    def opcode(self):
        op = self.rng.choice(self.free_opcodes)
        return IllegalCommand("opcode", f"opcode 0x{op:02x} (unassigned)",
                              self._send(op, None, nsid=self.rng.choice([0, 1, 0xffffffff])), True)

    # ---- invalid fields ---------------------------------------------------------
    def field_fid(self):
        fid = self.rng.choice([0x00] + list(range(0x30, 0x70)))
        return IllegalCommand("field", f"Get Features FID 0x{fid:02x} (reserved)",
                              self._send(GET_FEATURES, self.buf, cdw10=fid), True)

    def field_lid(self):
        lid = self.rng.randrange(0x30, 0x70)
        numd = 1024 // 4 - 1
        return IllegalCommand("field", f"Get Log Page LID 0x{lid:02x} (reserved)",
                              self._send(GET_LOG_PAGE, self.buf, nsid=0xffffffff,
                                         cdw10=numd << 16 | lid), True)

    def field_cns(self):
        cns = self.rng.randrange(0x40, 0x80)
        return IllegalCommand("field", f"Identify CNS 0x{cns:02x} (reserved)",
                              self._send(IDENTIFY, self.buf, cdw10=cns), True)

    def field_nsid(self):
        nsid = self.rng.choice([0, 0xfffffffe])
        return IllegalCommand("field", f"Identify Namespace NSID 0x{nsid:x} (invalid)",
                              self._send(IDENTIFY, self.buf, nsid=nsid, cdw10=0), True)

    # ---- data pointers ----------------------------------------------------------
    def prp_offset(self):
        """A queue must start on a memory page: Create IO CQ with PRP1 at a
        dword offset into the page (the driver refuses offsets that are not
        dword aligned itself). NVMe 1.4 §5.3: "should" fail with PRP Offset
        Invalid; on the highest queue id allocated, which the workers do not
        reach; a controller that accepts it gets the queue deleted again."""
        offset = self.rng.choice([4, 64, 2048])
        buf, qid = self.prp_buf, self.max_qid

        def send(cb):
            buf.offset, buf.size = offset, 4096
            return self.ctrl.send_cmd(CREATE_CQ, buf, cdw10=15 << 16 | qid, cdw11=1, cb=cb)

        def undo():
            self.ctrl.send_cmd(DELETE_CQ, None, cdw10=qid).waitdone()
        return IllegalCommand("prp", f"Create IO CQ qid {qid} with PRP1 at page offset {offset}",
                              send, False, undo)

    # ---- queue operations -------------------------------------------------------
    def queue_create(self):
        qid = self.rng.choice([0, self.max_qid + 1, 0xffff])
        if self.rng.random() < 0.5:
            return IllegalCommand("queue", f"Create IO CQ qid {qid}",
                                  self._send(CREATE_CQ, self.buf, cdw10=15 << 16 | qid, cdw11=1),
                                  True)
        return IllegalCommand("queue", f"Create IO SQ qid {qid} (on CQ {qid})",
                              self._send(CREATE_SQ, self.buf, cdw10=15 << 16 | qid,
                                         cdw11=qid << 16 | 1), True)

    def queue_delete(self):
        qid = self.rng.choice([0, self.max_qid + 1, 0xffff])
        op, name = self.rng.choice([(DELETE_SQ, "SQ"), (DELETE_CQ, "CQ")])
        return IllegalCommand("queue", f"Delete IO {name} qid {qid}",
                              self._send(op, None, cdw10=qid), True)
