"""Get Features / Set Features (NVMe 1.4 §5.13, §5.21): every feature the
controller must or claims to support, the Select field (current, default, saved,
supported capabilities), saveable and changeable semantics, feature-specific
round trips and the error statuses for reserved FIDs and invalid values."""
import pytest

import nvme as d
from conformance_lib import bits, expect, expect_status, run

INVALID_FIELD = (0, 0x02)
NOT_SAVEABLE, NOT_CHANGEABLE = (1, 0x0d), (1, 0x0e)
SEQUENCE_ERROR = (0, 0x0c)

# FID: (name, claim) where claim(idc) says whether the controller supports it.
FEATURES = {
    0x01: ("Arbitration", lambda c: True),
    0x02: ("Power Management", lambda c: True),
    0x04: ("Temperature Threshold", lambda c: True),
    0x05: ("Error Recovery", lambda c: True),
    0x06: ("Volatile Write Cache", lambda c: c.vwc & 1),
    0x07: ("Number of Queues", lambda c: True),
    0x08: ("Interrupt Coalescing", lambda c: True),
    0x09: ("Interrupt Vector Configuration", lambda c: True),
    0x0a: ("Write Atomicity Normal", lambda c: True),
    0x0b: ("Asynchronous Event Configuration", lambda c: True),
    0x0c: ("Autonomous Power State Transition", lambda c: c.apsta & 1),
    0x0d: ("Host Memory Buffer", lambda c: c.hmpre),
    0x0e: ("Timestamp", lambda c: c.oncs & (1 << 6)),
    0x0f: ("Keep Alive Timer", lambda c: c.kas),
    0x10: ("Host Controlled Thermal Management", lambda c: c.hctma & 1),
    0x12: ("Read Recovery Level Config", lambda c: c.ctratt & (1 << 3)),
    0x84: ("Namespace Write Protection Config", lambda c: c.nwpc & 1),
}
NS_SPECIFIC = {0x03, 0x05, 0x84}


def fid_id(fid):
    return f"fid{fid:02x}"


def claimed(idc, fid):
    name, claim = FEATURES[fid]
    if not claim(idc):
        pytest.skip(f"feature {fid:#04x} ({name}) is not claimed by identify controller")
    return name


DATA_FIDS = {0x03, 0x0c, 0x0d, 0x0e, 0x81}   # features that transfer a data structure


def getf(nvme0, fid, sel=0, nsid=None, cdw11=0):
    buf = d.Buffer(4096) if fid in DATA_FIDS else None
    if nsid is None:
        return run(nvme0, "getfeatures", fid, sel=sel, cdw11=cdw11, buf=buf)
    return run(nvme0, "send_cmd", 0x0a, buf=buf, nsid=nsid, cdw10=sel << 8 | fid, cdw11=cdw11)


def setf(nvme0, fid, cdw11, sv=0, nsid=None):
    if nsid is None:
        return run(nvme0, "setfeatures", fid, sv=sv, cdw11=cdw11)
    return run(nvme0, "setfeatures", fid, sv=sv, cdw11=cdw11, nsid=nsid)


def feature_nsid(fid, nsids):
    return nsids[0] if fid in NS_SPECIFIC and nsids else None


@pytest.mark.parametrize("fid", sorted(FEATURES), ids=fid_id)
def test_get_features_current(nvme0, idc, nsids, fid):
    """NVMe 1.4 §5.13 (Get Features, SEL 000b current): every mandatory feature and
    every optional one the controller claims completes successfully."""
    name = claimed(idc, fid)
    cpl = getf(nvme0, fid, nsid=feature_nsid(fid, nsids))
    expect_status(cpl, (0, 0), "NVMe 1.4 §5.13", f"Get Features {name} (current)")


@pytest.mark.parametrize("fid", sorted(FEATURES), ids=fid_id)
def test_get_features_supported_capabilities(nvme0, idc, nsids, fid):
    """NVMe 1.4 §5.13.1 (SEL 011b, Figure 229): with ONCS bit 4 the controller reports
    whether a feature is saveable (bit 0), namespace specific (bit 1) and changeable
    (bit 2); bits 31:3 are reserved. A feature that is not changeable rejects Set
    Features with Feature Not Changeable; a feature that is not saveable rejects
    SV = 1 with Feature Identifier Not Saveable."""
    name = claimed(idc, fid)
    if not idc.oncs & (1 << 4):
        pytest.skip("ONCS bit 4 = 0: no Select field / Save support")
    nsid = feature_nsid(fid, nsids)
    cpl = getf(nvme0, fid, sel=3, nsid=nsid)
    expect_status(cpl, (0, 0), "NVMe 1.4 §5.13.1", f"Get Features {name} (supported capabilities)")
    caps = cpl.dw0
    expect(caps >> 3 == 0, "NVMe 1.4 §5.13.1 (Figure 229)", "capability bits 31:3 = 0",
           f"returns 0x{caps:08x} for {name}")
    current = getf(nvme0, fid, nsid=nsid).dw0
    if fid in (0x07, 0x0d, 0x0e):      # set only at init / needs a buffer / time-dependent
        return
    if not caps & 4:
        cpl = setf(nvme0, fid, current, nsid=nsid)
        expect_status(cpl, NOT_CHANGEABLE, "NVMe 1.4 §5.21",
                      f"Set Features of the unchangeable {name}")
    if not caps & 1:
        cpl = setf(nvme0, fid, current, sv=1, nsid=nsid)
        expect_status(cpl, [NOT_SAVEABLE, NOT_CHANGEABLE] if not caps & 4 else NOT_SAVEABLE,
                      "NVMe 1.4 §5.21 (SV)", f"Set Features with SV = 1 of the unsaveable {name}")


@pytest.mark.parametrize("fid", sorted(FEATURES), ids=fid_id)
def test_get_features_default_and_saved(nvme0, idc, nsids, fid):
    """NVMe 1.4 §5.13.1 (SEL 001b default, 010b saved): both complete successfully when
    ONCS bit 4 is set; for a feature that is not saveable, saved returns the default."""
    name = claimed(idc, fid)
    if not idc.oncs & (1 << 4):
        pytest.skip("ONCS bit 4 = 0: no Select field")
    nsid = feature_nsid(fid, nsids)
    default = getf(nvme0, fid, sel=1, nsid=nsid)
    saved = getf(nvme0, fid, sel=2, nsid=nsid)
    caps = getf(nvme0, fid, sel=3, nsid=nsid).dw0
    expect_status(default, (0, 0), "NVMe 1.4 §5.13.1", f"Get Features {name} (default)")
    expect_status(saved, (0, 0), "NVMe 1.4 §5.13.1", f"Get Features {name} (saved)")
    if not caps & 1 and fid not in (0x0e,):
        expect(saved.dw0 == default.dw0, "NVMe 1.4 §5.13.1 (Figure 228)",
               "the saved value of an unsaveable feature to be its default",
               f"returns saved 0x{saved.dw0:x} and default 0x{default.dw0:x} for {name}")


@pytest.mark.parametrize("sel", [4, 5, 6, 7], ids=lambda s: f"sel{s}")
def test_get_features_reserved_select(nvme0, idc, sel):
    """NVMe 1.4 §5.13.1 (Figure 228: SEL 100b..111b reserved): Invalid Field in
    Command."""
    if not idc.oncs & (1 << 4):
        pytest.skip("ONCS bit 4 = 0: the Select field is not supported")
    cpl = getf(nvme0, 0x01, sel=sel)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.13.1", f"Get Features with reserved SEL {sel}")


@pytest.mark.parametrize("fid", [0x00, 0x6f, 0x7d, 0xbf], ids=fid_id)
def test_get_features_reserved_fid(nvme0, fid):
    """NVMe 1.4 §5.21.1 (Figure 271: FID 00h and 19h..77h, 85h..BFh reserved): Get
    Features of a reserved FID aborts with Invalid Field in Command."""
    cpl = getf(nvme0, fid)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1", f"Get Features of reserved FID {fid:#04x}")


@pytest.mark.parametrize("fid", [0x00, 0x6f, 0x7d, 0xbf], ids=fid_id)
def test_set_features_reserved_fid(nvme0, fid):
    """NVMe 1.4 §5.21.1 (reserved FIDs): Set Features aborts with Invalid Field in
    Command."""
    cpl = setf(nvme0, fid, 0)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1", f"Set Features of reserved FID {fid:#04x}")


# ------------------------------------------------------ feature round trips

def require_changeable(nvme0, fid, name, nsid=None):
    """Skips when the controller reports the feature as not changeable (SEL 011b);
    that report itself is checked by test_get_features_supported_capabilities."""
    caps = getf(nvme0, fid, sel=3, nsid=nsid)
    if caps.ok and not caps.dw0 & 4:
        pytest.skip(f"{name} is reported not changeable (capabilities 0x{caps.dw0:x})")


def roundtrip(nvme0, fid, value, mask, name, nsid=None, get_cdw11=0):
    """Sets `value`, reads it back with Get Features (dword 11 = `get_cdw11`, for
    features that select what to read) and restores the value read before."""
    require_changeable(nvme0, fid, name, nsid)
    before = getf(nvme0, fid, nsid=nsid, cdw11=get_cdw11).dw0
    try:
        cpl = setf(nvme0, fid, value, nsid=nsid)
        expect_status(cpl, (0, 0), "NVMe 1.4 §5.21", f"Set Features {name} = 0x{value:x}")
        got = getf(nvme0, fid, nsid=nsid, cdw11=get_cdw11).dw0
    finally:
        setf(nvme0, fid, before, nsid=nsid)
    expect(got & mask == value & mask, "NVMe 1.4 §5.13/§5.21",
           f"Get Features {name} to return the value set (0x{value & mask:x})",
           f"returns 0x{got:x}")


def test_arbitration_roundtrip(nvme0):
    """NVMe 1.4 §5.21.1.1 (Arbitration): Arbitration Burst (bits 2:0) is read-write;
    the weights (bits 31:8) too when weighted round robin is supported (CAP.AMS bit 0)."""
    wrr = (nvme0.cap >> 17) & 1
    value = 0x3 | ((0x11223300) if wrr else 0)
    roundtrip(nvme0, 0x01, value, 0xffffff07 if wrr else 0x7, "Arbitration")


def test_power_management_roundtrip(nvme0, idc):
    """NVMe 1.4 §5.21.1.2 (Power Management): PS (bits 4:0) selects a state 0..NPSS."""
    roundtrip(nvme0, 0x02, idc.npss, 0x1f, "Power Management")


def test_power_management_invalid_state(nvme0, idc):
    """NVMe 1.4 §5.21.1.2: a power state above NPSS aborts with Invalid Field in
    Command."""
    if idc.npss >= 31:
        pytest.skip("every power state 0..31 exists")
    require_changeable(nvme0, 0x02, "Power Management")
    cpl = setf(nvme0, 0x02, idc.npss + 1)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1.2", f"Power Management PS {idc.npss + 1} > NPSS")
    setf(nvme0, 0x02, 0)


def test_temperature_threshold_roundtrip(nvme0):
    """NVMe 1.4 §5.21.1.4 (Temperature Threshold): TMPTH of the composite temperature
    (TMPSEL 0, over threshold) is read-write."""
    roundtrip(nvme0, 0x04, 350, 0xffff, "Temperature Threshold")


def test_temperature_threshold_reserved_type(nvme0):
    """NVMe 1.4 §5.21.1.4 (THSEL 11b reserved): Invalid Field in Command."""
    cpl = setf(nvme0, 0x04, 3 << 20 | 350)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1.4", "Temperature Threshold with THSEL 11b")


def test_temperature_threshold_unimplemented_sensor(nvme0):
    """NVMe 1.4 §5.21.1.4 (TMPSEL): a temperature sensor the SMART log does not report
    (its Temperature Sensor field is 0) aborts with Invalid Field in Command."""
    buf = d.Buffer(4096)
    run(nvme0, "getlogpage", 0x02, buf, size=512)
    # Temperature Sensor N at bytes 200 + 2 (N - 1) (Figure 194)
    absent = [i for i in range(1, 9) if not buf.data(200 + 2 * i - 1, 200 + 2 * i - 2)]
    if not absent:
        pytest.skip("all eight temperature sensors are implemented")
    cpl = getf(nvme0, 0x04, cdw11=absent[0] << 16)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1.4",
                  f"Temperature Threshold of unimplemented sensor {absent[0]}")


def test_error_recovery_roundtrip(nvme0, nsids):
    """NVMe 1.4 §5.21.1.5 (Error Recovery): TLER (bits 15:0) is read-write."""
    roundtrip(nvme0, 0x05, 0x10, 0xffff, "Error Recovery", nsid=nsids[0] if nsids else None)


def test_error_recovery_dulbe_unsupported(nvme0, idc, nsids):
    """NVMe 1.4 §5.21.1.5 (DULBE): enabling deallocated-block errors when the namespace
    does not claim it (NSFEAT bit 2) aborts with Invalid Field in Command."""
    from conformance_lib import id_ns
    _, ns = id_ns(nvme0, d, nsids[0])
    if ns.nsfeat & 4:
        pytest.skip("the namespace supports DULBE")
    cpl = setf(nvme0, 0x05, 1 << 16, nsid=nsids[0])
    setf(nvme0, 0x05, 0, nsid=nsids[0])
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1.5", "Error Recovery with DULBE = 1 unsupported")


@pytest.mark.parametrize("wce", [0, 1], ids=["off", "on"])
def test_volatile_write_cache_roundtrip(nvme0, idc, wce):
    """NVMe 1.4 §5.21.1.6 (Volatile Write Cache): WCE is read-write when a volatile
    write cache is present (VWC bit 0)."""
    if not idc.vwc & 1:
        pytest.skip("no volatile write cache")
    roundtrip(nvme0, 0x06, wce, 1, "Volatile Write Cache")


def test_volatile_write_cache_absent(nvme0, idc):
    """NVMe 1.4 §5.21.1.6: without a volatile write cache (VWC bit 0 = 0), Set
    Features Volatile Write Cache aborts with Invalid Field in Command."""
    if idc.vwc & 1:
        pytest.skip("a volatile write cache is present")
    cpl = setf(nvme0, 0x06, 1)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1.6", "Set Volatile Write Cache without a cache")


def test_number_of_queues_granted(nvme0):
    """NVMe 1.4 §5.21.1.7 (Number of Queues): dword0 of Get Features holds NSQA/NCQA,
    0's based, at least one each."""
    dw0 = getf(nvme0, 0x07).dw0
    expect(dw0 != 0xffffffff, "NVMe 1.4 §5.21.1.7", "NSQA/NCQA (0's based)", f"returns 0x{dw0:x}")


def test_number_of_queues_65536_invalid(nvme0):
    """NVMe 1.4 §5.21.1.7: NSQR or NCQR of 65535 (65536 queues) is invalid: Invalid
    Field in Command."""
    cpl = setf(nvme0, 0x07, 0xffff << 16 | 0xffff)
    expect_status(cpl, [INVALID_FIELD, SEQUENCE_ERROR], "NVMe 1.4 §5.21.1.7",
                  "Set Number of Queues with NSQR = NCQR = 65535")


def test_number_of_queues_after_queue_creation(nvme0):
    """NVMe 1.4 §5.21.1.7: Number of Queues is set during initialization before any
    IO queue exists; with IO queues created, Set Features aborts with Command
    Sequence Error."""
    q = d.Qpair(nvme0, 4)
    try:
        cpl = setf(nvme0, 0x07, 0)
    finally:
        q.delete()
    expect_status(cpl, SEQUENCE_ERROR, "NVMe 1.4 §5.21.1.7",
                  "Set Number of Queues while an IO queue exists")


def test_interrupt_coalescing_roundtrip(nvme0):
    """NVMe 1.4 §5.21.1.8 (Interrupt Coalescing): THR (7:0) and TIME (15:8) read-write."""
    roundtrip(nvme0, 0x08, 0x0304, 0xffff, "Interrupt Coalescing")


def test_interrupt_vector_configuration_roundtrip(nvme0):
    """NVMe 1.4 §5.21.1.9 (Interrupt Vector Configuration): CD (bit 16) for vector 1
    is read-write (vector 0, the admin vector, cannot disable coalescing)."""
    q = d.Qpair(nvme0, 4)
    try:
        iv = q.iv
        if iv == 0:
            pytest.skip("the IO queue shares the admin vector")
        # Get Features reads the vector named in dword 11 (§5.21.1.9)
        roundtrip(nvme0, 0x09, 1 << 16 | iv, 0x1ffff, "Interrupt Vector Configuration",
                  get_cdw11=iv)
    finally:
        q.delete()


def test_interrupt_vector_configuration_invalid_vector(nvme0, pcie):
    """NVMe 1.4 §5.21.1.9: an Interrupt Vector beyond the vectors the function has
    (MSI-X table size) aborts with Invalid Field in Command."""
    off = pcie.cap_offset(0x11)
    if off is None:
        pytest.skip("no MSI-X")
    n = (pcie.register(off + 2, 2) & 0x7ff) + 1
    cpl = getf(nvme0, 0x09, cdw11=n + 1)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.21.1.9", f"Interrupt Vector Configuration of vector {n + 1}")


def test_write_atomicity_roundtrip(nvme0):
    """NVMe 1.4 §5.21.1.10 (Write Atomicity Normal): DN (bit 0) is read-write."""
    roundtrip(nvme0, 0x0a, 1, 1, "Write Atomicity Normal")


def test_async_event_configuration_roundtrip(nvme0):
    """NVMe 1.4 §5.21.1.11 (Asynchronous Event Configuration): the SMART / Health
    critical warning bits (7:0) are read-write."""
    roundtrip(nvme0, 0x0b, 0x1f, 0xff, "Asynchronous Event Configuration")


def test_timestamp_roundtrip(nvme0, idc):
    """NVMe 1.4 §5.21.1.14 (Timestamp): a set timestamp is returned by Get Features,
    advanced by the time elapsed, with Timestamp Origin 001b (set by the host)."""
    if not idc.oncs & (1 << 6):
        pytest.skip("ONCS bit 6 = 0: no Timestamp feature")
    buf = d.Buffer(4096)
    stamp = 1_700_000_000_000
    buf[0:6] = stamp.to_bytes(6, "little")
    cpl = run(nvme0, "setfeatures", 0x0e, buf=buf)
    expect_status(cpl, (0, 0), "NVMe 1.4 §5.21.1.14", "Set Features Timestamp")
    out = d.Buffer(4096)
    cpl = run(nvme0, "getfeatures", 0x0e, buf=out)
    expect_status(cpl, (0, 0), "NVMe 1.4 §5.21.1.14", "Get Features Timestamp")
    got = out.data(5, 0)
    expect(stamp <= got < stamp + 600_000, "NVMe 1.4 §5.21.1.14",
           "the timestamp set, advanced by the elapsed milliseconds", f"returns {got}")
    expect(bits(out[6], 3, 1) == 1, "NVMe 1.4 §5.21.1.14 (Figure 297)", "Timestamp Origin 001b",
           f"returns attributes 0x{out[6]:02x}")


def test_software_progress_marker(nvme0):
    """NVMe 1.4 §5.21.1.21 (Software Progress Marker, FID 80h): when supported, the
    Pre-boot Software Load Count (bits 7:0) is returned; unsupported is Invalid Field."""
    cpl = getf(nvme0, 0x80)
    expect_status(cpl, [(0, 0), INVALID_FIELD], "NVMe 1.4 §5.21.1.21", "Get Software Progress Marker")
    if cpl.ok:
        expect(cpl.dw0 >> 8 == 0, "NVMe 1.4 §5.21.1.21", "dword0 bits 31:8 reserved (0)",
               f"returns 0x{cpl.dw0:08x}")
