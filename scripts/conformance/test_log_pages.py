"""Get Log Page (NVMe 1.4 §5.14): every log page the controller claims, its
contents against the controller's other claims, the Commands Supported and
Effects log against OACS/ONCS, and the error statuses for unclaimed and reserved
log identifiers and out-of-range offsets."""
import pytest

import nvme as d
from conformance_lib import expect, expect_status, log_page

INVALID_LOG, INVALID_FIELD = (1, 0x09), (0, 0x02)

# LID: (name, claim(idc)), NVMe 1.4 §5.14.1 Figure 191.
LOGS = {
    0x01: ("Error Information", lambda c: True),
    0x02: ("SMART / Health Information", lambda c: True),
    0x03: ("Firmware Slot Information", lambda c: True),
    0x04: ("Changed Namespace List", lambda c: c.oaes & (1 << 8)),
    0x05: ("Commands Supported and Effects", lambda c: c.lpa & 2),
    0x06: ("Device Self-test", lambda c: c.oacs & (1 << 4)),
    0x07: ("Telemetry Host-Initiated", lambda c: c.lpa & 8),
    0x08: ("Telemetry Controller-Initiated", lambda c: c.lpa & 8),
    0x09: ("Endurance Group Information", lambda c: c.ctratt & (1 << 4)),
    0x0c: ("Asymmetric Namespace Access", lambda c: c.cmic & 8),
    0x0d: ("Persistent Event Log", lambda c: c.lpa & 0x10),
    0x0e: ("LBA Status Information", lambda c: c.oacs & (1 << 9)),
    0x80: ("Reservation Notification", lambda c: c.oncs & (1 << 5)),
    0x81: ("Sanitize Status", lambda c: c.sanicap & 7),
}
# Size to read (bytes) for each page's fixed part.
SIZES = {0x01: 64, 0x02: 512, 0x03: 512, 0x04: 4096, 0x05: 4096, 0x06: 564, 0x07: 512,
         0x08: 512, 0x09: 512, 0x0c: 4096, 0x0d: 512, 0x0e: 16, 0x80: 64, 0x81: 512}
NSID_FOR = {0x0d: 0xffffffff}


def lid_id(lid):
    return f"lid{lid:02x}"


@pytest.mark.parametrize("lid", sorted(LOGS), ids=lid_id)
def test_claimed_log_page(nvme0, idc, lid):
    """NVMe 1.4 §5.14.1 (Figure 191): every mandatory log page and every optional one
    the controller claims (OAES, LPA, OACS, CTRATT, CMIC, ONCS, SANICAP) completes
    successfully."""
    name, claim = LOGS[lid]
    if not claim(idc):
        pytest.skip(f"log page {lid:#04x} ({name}) is not claimed")
    cpl, _ = log_page(nvme0, d, lid, size=SIZES[lid])
    expect_status(cpl, (0, 0), "NVMe 1.4 §5.14.1", f"Get Log Page {name}")


@pytest.mark.parametrize("lid", sorted(LOGS), ids=lid_id)
def test_unclaimed_log_page(nvme0, idc, lid):
    """NVMe 1.4 §5.14 (Get Log Page command specific status): a log page the
    controller does not support aborts with Invalid Log Page."""
    name, claim = LOGS[lid]
    if claim(idc):
        pytest.skip(f"log page {lid:#04x} ({name}) is claimed")
    cpl, _ = log_page(nvme0, d, lid, size=SIZES[lid])
    expect_status(cpl, INVALID_LOG, "NVMe 1.4 §5.14 (Figure 190)", f"Get Log Page of unclaimed {name}")


@pytest.mark.parametrize("lid", [0x00, 0x1f, 0x3f, 0x6f, 0xbf], ids=lid_id)
def test_reserved_log_page(nvme0, lid):
    """NVMe 1.4 §5.14.1 (Figure 191: LID 00h, 10h..6Fh, 82h..BFh reserved) and §5.14
    (Figure 190): Invalid Log Page."""
    cpl, _ = log_page(nvme0, d, lid, size=512)
    expect_status(cpl, INVALID_LOG, "NVMe 1.4 §5.14 (Figure 190)", f"Get Log Page of reserved LID {lid:#04x}")


def test_log_page_offset_beyond_size(nvme0, idc):
    """NVMe 1.4 §5.14 (LPOL/LPOU): with extended data (LPA bit 2), an offset beyond
    the end of the log page aborts with Invalid Field in Command."""
    if not idc.lpa & 4:
        pytest.skip("LPA bit 2 = 0: no log page offset")
    cpl, _ = log_page(nvme0, d, 0x02, size=512, offset=4096)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.14", "SMART log read at offset 4096 (page is 512 bytes)")


def test_log_page_offset_read(nvme0, idc):
    """NVMe 1.4 §5.14 (LPOL): with LPA bit 2, reading at an offset returns the bytes
    of the page from that offset."""
    if not idc.lpa & 4:
        pytest.skip("LPA bit 2 = 0: no log page offset")
    _, full = log_page(nvme0, d, 0x03, size=512)
    cpl, part = log_page(nvme0, d, 0x03, size=256, offset=8)
    expect(cpl.ok and part.raw[:256] == full.raw[8:264], "NVMe 1.4 §5.14 (LPOL)",
           "the page's bytes from offset 8", f"returns different bytes ({cpl})")


def test_error_log_entries(nvme0):
    """NVMe 1.4 §5.14.1.1 (Error Information): each 64-byte entry with a non-zero Error
    Count has a valid SQID (or FFFFh) and a Status Field; entries are ordered by
    decreasing Error Count (newest first)."""
    cpl, data = log_page(nvme0, d, 0x01, size=64 * 16)
    expect(cpl.ok, "NVMe 1.4 §5.14.1.1", "the error log", f"gives {cpl}")
    counts = [data(64 * i + 7, 64 * i) for i in range(16)]
    nonzero = [c for c in counts if c]
    expect(nonzero == sorted(nonzero, reverse=True), "NVMe 1.4 §5.14.1.1",
           "entries newest first (decreasing Error Count)", f"returns counts {nonzero}")


def test_smart_log_fields(nvme0):
    """NVMe 1.4 §5.14.1.2 (SMART / Health): composite temperature in Kelvin (non-zero),
    Available Spare and its threshold 0..100 %, critical warning bits 7:6 reserved."""
    cpl, data = log_page(nvme0, d, 0x02, size=512)
    expect(cpl.ok, "NVMe 1.4 §5.14.1.2", "the SMART log", f"gives {cpl}")
    temp, spare, thresh, warn = data(2, 1), data(3), data(4), data(0)
    expect(200 < temp < 400, "NVMe 1.4 §5.14.1.2", "a composite temperature in Kelvin", f"reports {temp}")
    expect(spare <= 100 and thresh <= 100, "NVMe 1.4 §5.14.1.2",
           "Available Spare and Available Spare Threshold 0..100", f"reports {spare} and {thresh}")
    expect(warn & 0xc0 == 0, "NVMe 1.4 §5.14.1.2", "Critical Warning bits 7:6 = 0", f"reports 0x{warn:02x}")


def test_smart_log_counts_host_commands(nvme0, plain_ns):
    """NVMe 1.4 §5.14.1.2 (Host Read Commands): the count grows when the host reads."""
    _, before = log_page(nvme0, d, 0x02, size=512)
    q = d.Qpair(nvme0, 8)
    buf = d.Buffer(plain_ns[1].lba_size)
    try:
        for _ in range(8):
            q.send_cmd(0x02, buf, nsid=plain_ns[0], cdw12=0).waitdone()
    finally:
        q.delete()
    _, after = log_page(nvme0, d, 0x02, size=512)
    r0, r1 = before(79, 64), after(79, 64)
    expect(r1 >= r0 + 8, "NVMe 1.4 §5.14.1.2 (Host Read Commands)",
           "the count to grow by the 8 reads", f"went from {r0} to {r1}")


def test_smart_log_controller_wide(nvme0):
    """NVMe 1.4 §5.14.1.2: the controller-wide SMART page is read with NSID FFFFFFFFh."""
    cpl, _ = log_page(nvme0, d, 0x02, size=512, nsid=0xffffffff)
    expect_status(cpl, (0, 0), "NVMe 1.4 §5.14.1.2", "SMART log with NSID FFFFFFFFh")


def test_smart_log_per_namespace_unclaimed(nvme0, idc, nsids):
    """NVMe 1.4 §5.14.1.2 with LPA bit 0: when SMART per namespace is not supported, a
    request for a specific namespace returns the controller-wide data or aborts with
    Invalid Field; when it is supported, it succeeds."""
    cpl, _ = log_page(nvme0, d, 0x02, size=512, nsid=nsids[0])
    want = [(0, 0)] if idc.lpa & 1 else [(0, 0), (0, 0x02)]
    expect_status(cpl, want, "NVMe 1.4 §5.14.1.2", f"SMART log of NSID {nsids[0]}")


def test_firmware_slot_log(nvme0, idc):
    """NVMe 1.4 §5.14.1.3 (Firmware Slot Information): the active slot (AFI bits 2:0)
    is 1..number of slots (FRMW bits 3:1) and its revision is non-empty and equals
    Identify Controller FR."""
    cpl, data = log_page(nvme0, d, 0x03, size=512)
    expect(cpl.ok, "NVMe 1.4 §5.14.1.3", "the firmware slot log", f"gives {cpl}")
    slots = (idc.frmw >> 1) & 7
    afi = data(0) & 7
    expect(1 <= afi <= max(slots, 1), "NVMe 1.4 §5.14.1.3 (AFI)", f"an active slot 1..{slots}",
           f"reports AFI 0x{data(0):02x} with FRMW 0x{idc.frmw:02x}")
    frs = data.text(8 * afi + 7, 8 * afi)
    expect(frs == idc.text(71, 64), "NVMe 1.4 §5.14.1.3 (FRS)",
           "the active slot's revision equal to Identify Controller FR",
           f"reports {frs!r} and FR {idc.text(71, 64)!r}")


ADMIN_MANDATORY = {0x00: "Delete I/O SQ", 0x01: "Create I/O SQ", 0x02: "Get Log Page",
                   0x04: "Delete I/O CQ", 0x05: "Create I/O CQ", 0x06: "Identify",
                   0x08: "Abort", 0x09: "Set Features", 0x0a: "Get Features",
                   0x0c: "Asynchronous Event Request"}
ADMIN_OPTIONAL = {0x80: (1, "Format NVM"), 0x10: (2, "Firmware Commit"),
                  0x11: (2, "Firmware Image Download"), 0x0d: (3, "Namespace Management"),
                  0x15: (3, "Namespace Attachment"), 0x14: (4, "Device Self-test"),
                  0x19: (5, "Directive Send"), 0x1a: (5, "Directive Receive"),
                  0x1d: (6, "NVMe-MI Send"), 0x1e: (6, "NVMe-MI Receive"),
                  0x1c: (7, "Virtualization Management"), 0x7c: (8, "Doorbell Buffer Config"),
                  0x81: (0, "Security Send"), 0x82: (0, "Security Receive"),
                  0x86: (9, "Get LBA Status")}
IO_MANDATORY = {0x00: "Flush", 0x01: "Write", 0x02: "Read"}
IO_OPTIONAL = {0x05: (0, "Compare"), 0x04: (1, "Write Uncorrectable"),
               0x09: (2, "Dataset Management"), 0x08: (3, "Write Zeroes"), 0x0c: (7, "Verify"),
               0x19: (8, "Copy")}


@pytest.fixture
def effects(nvme0, idc):
    if not idc.lpa & 2:
        pytest.skip("LPA bit 1 = 0: no Commands Supported and Effects log")
    cpl, data = log_page(nvme0, d, 0x05, size=4096)
    assert cpl.ok, f"Commands Supported and Effects log: {cpl}"
    return data


def admin_cse(effects, op):
    return effects(4 * op + 3, 4 * op)


def io_cse(effects, op):
    return effects(1024 + 4 * op + 3, 1024 + 4 * op)


@pytest.mark.parametrize("op", sorted(ADMIN_MANDATORY), ids=lambda o: f"admin{o:02x}")
def test_effects_log_mandatory_admin(effects, op):
    """NVMe 1.4 §5.14.1.5 (Commands Supported and Effects, CSUPP): every mandatory admin
    command is marked supported."""
    expect(admin_cse(effects, op) & 1, "NVMe 1.4 §5.14.1.5",
           f"CSUPP = 1 for the mandatory {ADMIN_MANDATORY[op]}",
           f"reports 0x{admin_cse(effects, op):08x}")


@pytest.mark.parametrize("op", sorted(ADMIN_OPTIONAL), ids=lambda o: f"admin{o:02x}")
def test_effects_log_optional_admin_matches_oacs(effects, idc, op):
    """NVMe 1.4 §5.14.1.5 with §5.15.2 (OACS): an optional admin command is marked
    supported in the effects log exactly when OACS claims it."""
    bit, name = ADMIN_OPTIONAL[op]
    claimed = bool(idc.oacs & (1 << bit))
    csupp = bool(admin_cse(effects, op) & 1)
    expect(claimed == csupp, "NVMe 1.4 §5.14.1.5 / §5.15.2 (OACS)",
           f"CSUPP of {name} to agree with OACS bit {bit}",
           f"reports CSUPP {int(csupp)} with OACS 0x{idc.oacs:04x}")


@pytest.mark.parametrize("op", sorted(IO_MANDATORY), ids=lambda o: f"io{o:02x}")
def test_effects_log_mandatory_io(effects, op):
    """NVMe 1.4 §5.14.1.5 / §6 (NVM command set): Flush, Write and Read are marked
    supported."""
    expect(io_cse(effects, op) & 1, "NVMe 1.4 §5.14.1.5", f"CSUPP = 1 for {IO_MANDATORY[op]}",
           f"reports 0x{io_cse(effects, op):08x}")


@pytest.mark.parametrize("op", sorted(IO_OPTIONAL), ids=lambda o: f"io{o:02x}")
def test_effects_log_optional_io_matches_oncs(effects, idc, op):
    """NVMe 1.4 §5.14.1.5 with §5.15.2 (ONCS): an optional NVM command is marked
    supported exactly when ONCS claims it."""
    bit, name = IO_OPTIONAL[op]
    claimed = bool(idc.oncs & (1 << bit))
    csupp = bool(io_cse(effects, op) & 1)
    expect(claimed == csupp, "NVMe 1.4 §5.14.1.5 / §5.15.2 (ONCS)",
           f"CSUPP of {name} to agree with ONCS bit {bit}",
           f"reports CSUPP {int(csupp)} with ONCS 0x{idc.oncs:04x}")


def test_effects_log_reserved_bits(effects):
    """NVMe 1.4 §5.14.1.5 (Figure 210): bits 15:5 and 31:19 of each entry are reserved;
    an unsupported command's entry is all zero."""
    bad = []
    for i in range(512):
        v = effects(4 * i + 3, 4 * i)
        if v & 0xfff8ffe0 or (v and not v & 1):
            bad.append((i, v))
    expect(not bad, "NVMe 1.4 §5.14.1.5", "reserved bits 0 and unsupported entries zero",
           f"reports {[(hex(i), hex(v)) for i, v in bad[:6]]}")


def test_sanitize_status_log(nvme0, idc):
    """NVMe 1.4 §5.14.1.17 (Sanitize Status): when sanitize is supported, SSTAT bits
    2:0 hold a defined status (0..4)."""
    if not idc.sanicap & 7:
        pytest.skip("SANICAP claims no sanitize operation")
    cpl, data = log_page(nvme0, d, 0x81, size=512)
    expect(cpl.ok and data(3, 2) & 7 <= 4, "NVMe 1.4 §5.14.1.17", "SSTAT status 0..4",
           f"reports SSTAT 0x{data(3, 2):04x} ({cpl})")


def test_self_test_log(nvme0, idc):
    """NVMe 1.4 §5.14.1.6 (Device Self-test): the current operation (byte 0 bits 3:0)
    is 0h (none), 1h (short) or 2h (extended) or Eh (vendor)."""
    if not idc.oacs & (1 << 4):
        pytest.skip("OACS bit 4 = 0: no device self-test")
    cpl, data = log_page(nvme0, d, 0x06, size=564)
    expect(cpl.ok and data(0) & 0xf in (0, 1, 2, 0xe), "NVMe 1.4 §5.14.1.6",
           "a defined current operation", f"reports 0x{data(0):02x} ({cpl})")


def test_smart_log_counts_data_written(nvme0, plain_ns):
    """NVMe 1.4 §5.14.1.2 (Data Units Written: thousands of 512-byte units, rounded up;
    Host Write Commands): writing 1 MiB (2048 units) raises Data Units Written by at
    least 2 and Host Write Commands by the number of writes."""
    nsid, ns = plain_ns
    _, before = log_page(nvme0, d, 0x02, size=512)
    q = d.Qpair(nvme0, 8)
    chunk = 128 * 1024
    if nvme0.mdts and chunk > nvme0.mdts:
        chunk = nvme0.mdts
    nlb = chunk // ns.lba_size
    buf = d.Buffer(chunk, ptype=0xbeef, pvalue=50)
    writes = (1 << 20) // chunk
    try:
        for i in range(writes):
            q.send_cmd(0x01, buf, nsid=nsid, cdw10=4096 + i * nlb, cdw12=nlb - 1).waitdone()
    finally:
        q.delete()
    _, after = log_page(nvme0, d, 0x02, size=512)
    duw0, duw1 = before(63, 48), after(63, 48)
    hwc0, hwc1 = before(95, 80), after(95, 80)
    expect(duw1 - duw0 >= 2, "NVMe 1.4 §5.14.1.2 (Data Units Written)",
           "an increase of at least 2 (2048 units of 512 bytes written, rounded up)",
           f"went from {duw0} to {duw1}")
    expect(hwc1 - hwc0 >= writes, "NVMe 1.4 §5.14.1.2 (Host Write Commands)",
           f"an increase of at least {writes}", f"went from {hwc0} to {hwc1}")


def test_changed_namespace_list(nvme0, idc):
    """NVMe 1.4 §5.14.1.4 (Changed Namespace List, claimed by OAES bit 8): a list of
    up to 1024 NSIDs in increasing order, each a valid NSID (<= NN), ended by zeroes,
    or FFFFFFFFh alone when more than 1024 changed."""
    if not idc.oaes & (1 << 8):
        pytest.skip("OAES bit 8 = 0: no Changed Namespace List")
    cpl, data = log_page(nvme0, d, 0x04, size=4096)
    expect(cpl.ok, "NVMe 1.4 §5.14.1.4", "the Changed Namespace List", f"gives {cpl}")
    ids = [data(4 * i + 3, 4 * i) for i in range(1024)]
    if ids[0] == 0xffffffff:
        return
    listed = ids[:ids.index(0)] if 0 in ids else ids
    expect(listed == sorted(set(listed)) and all(1 <= n <= idc.nn for n in listed)
           and not any(ids[len(listed):]), "NVMe 1.4 §5.14.1.4",
           "increasing valid NSIDs followed by zeroes", f"returns {listed[:16]}")
