"""Identify (NVMe 1.4 §5.15): every CNS the controller claims, the fields of
Identify Controller and Identify Namespace against the controller's other claims,
and the error statuses for reserved CNS values and invalid namespace IDs."""
import string

import pytest

import nvme as d
from conformance_lib import VS, expect, expect_status, id_ns, identify

INVALID_FIELD, INVALID_NS = (0, 0x02), (0, 0x0b)
PRINTABLE = set(string.printable.encode()) - set(b"\t\n\r\x0b\x0c")


def claimed_cns(idc, vs):
    """CNS values the controller must answer, from its version and claims."""
    cns = {0x00: "namespace", 0x01: "controller", 0x02: "active namespace list"}
    if vs >= 0x10300:
        cns[0x03] = "namespace identification descriptor list"
    if idc.ctratt & (1 << 2):
        cns[0x04] = "NVM set list"
    if idc.oacs & (1 << 3):
        cns.update({0x10: "allocated namespace list", 0x11: "allocated namespace",
                    0x12: "controllers attached to a namespace", 0x13: "controllers in the subsystem"})
    if idc.oacs & (1 << 7):
        cns.update({0x14: "primary controller capabilities", 0x15: "secondary controller list"})
    if idc.ctratt & (1 << 9):
        cns[0x17] = "UUID list"
    return cns


ALL_CNS = [0x00, 0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]


@pytest.mark.parametrize("cns", ALL_CNS, ids=lambda c: f"cns{c:02x}")
def test_identify_claimed_cns(nvme0, idc, nsids, cns):
    """NVMe 1.4 §5.15.1 (Figure 244): every CNS value the controller is required to
    support by its version (VS) and claims (OACS, CTRATT) completes successfully."""
    version = nvme0[VS]
    claimed = claimed_cns(idc, version)
    if cns not in claimed:
        pytest.skip(f"CNS {cns:#04x} is not claimed (OACS 0x{idc.oacs:x}, CTRATT 0x{idc.ctratt:x})")
    nsid = nsids[0] if cns in (0x00, 0x03, 0x11, 0x12) and nsids else 0
    cpl, data = identify(nvme0, d, cns, nsid=nsid)
    expect_status(cpl, (0, 0), "NVMe 1.4 §5.15.1", f"Identify CNS {cns:#04x} ({claimed[cns]})")
    if cns in (0x00, 0x01):
        expect(not data.zero(), "NVMe 1.4 §5.15.2", f"a non-empty data structure for CNS {cns:#04x}",
               "returned all zeroes")


@pytest.mark.parametrize("cns", [0x09, 0x0f, 0x1f, 0x5a, 0x7f, 0xbf, 0xff], ids=lambda c: f"cns{c:02x}")
def test_identify_reserved_cns(nvme0, cns):
    """NVMe 1.4 §5.15.1 (Figure 244: values not listed are reserved) with §4.1.x
    (Generic Command Status): a reserved CNS aborts with Invalid Field in Command."""
    cpl, _ = identify(nvme0, d, cns)
    expect_status(cpl, INVALID_FIELD, "NVMe 1.4 §5.15.1", f"Identify with reserved CNS {cns:#04x}")


def test_identify_controller_vid_matches_pci(nvme0, pcie, idc):
    """NVMe 1.4 §5.15.2 (Identify Controller VID, SSVID): the same values as the PCI
    Vendor ID and Subsystem Vendor ID."""
    vid, ssvid = idc(1, 0), idc(3, 2)
    expect(vid == pcie.register(0, 2), "NVMe 1.4 §5.15.2 (VID)", "VID equal to the PCI Vendor ID",
           f"reports 0x{vid:04x} with PCI Vendor ID 0x{pcie.register(0, 2):04x}")
    expect(ssvid == pcie.register(0x2c, 2), "NVMe 1.4 §5.15.2 (SSVID)",
           "SSVID equal to the PCI Subsystem Vendor ID",
           f"reports 0x{ssvid:04x} with PCI SSVID 0x{pcie.register(0x2c, 2):04x}")


@pytest.mark.parametrize("field,end,begin", [("SN", 23, 4), ("MN", 63, 24), ("FR", 71, 64)],
                         ids=["sn", "mn", "fr"])
def test_identify_controller_ascii_strings(idc, field, end, begin):
    """NVMe 1.4 §5.15.2 (SN, MN, FR) and §1.5 (ASCII strings): printable ASCII, left
    justified, padded with spaces (20h), not empty."""
    raw = idc.text(end, begin)
    expect(all(c in PRINTABLE for c in raw), "NVMe 1.4 §5.15.2", f"{field} in printable ASCII",
           f"reports {raw!r}")
    expect(raw.strip(b" "), "NVMe 1.4 §5.15.2", f"a non-empty {field}", f"reports {raw!r}")
    expect(raw[:1] != b" ", "NVMe 1.4 §1.5", f"{field} left justified", f"reports {raw!r}")


def test_identify_controller_version_matches_vs(nvme0, idc):
    """NVMe 1.4 §5.15.2 (VER): for controllers of 1.2 and later, the same value as
    the VS register."""
    vs = nvme0[VS]
    if vs < 0x10200:
        pytest.skip("VS is below 1.2: VER may be 0")
    expect(idc.ver == vs, "NVMe 1.4 §5.15.2 (VER)", "VER equal to the VS register",
           f"reports VER 0x{idc.ver:08x} with VS 0x{vs:08x}")


def test_identify_controller_queue_entry_sizes(idc):
    """NVMe 1.4 §5.15.2 (SQES, CQES): the required entry size is 2^6 = 64 bytes for
    SQ and 2^4 = 16 bytes for CQ entries, and the maximum is not below it."""
    sqes, cqes = idc(512), idc(513)
    expect(sqes & 0xf == 6 and sqes >> 4 >= 6, "NVMe 1.4 §5.15.2 (SQES)",
           "required 6 (64 B) and maximum >= 6", f"reports SQES 0x{sqes:02x}")
    expect(cqes & 0xf == 4 and cqes >> 4 >= 4, "NVMe 1.4 §5.15.2 (CQES)",
           "required 4 (16 B) and maximum >= 4", f"reports CQES 0x{cqes:02x}")


def test_identify_controller_namespace_count(idc, nsids):
    """NVMe 1.4 §5.15.2 (NN): the largest namespace ID; every active NSID is <= NN."""
    expect(idc.nn >= 1, "NVMe 1.4 §5.15.2 (NN)", "NN >= 1", f"reports NN {idc.nn}")
    expect(all(n <= idc.nn for n in nsids), "NVMe 1.4 §6.1", "active NSIDs <= NN",
           f"lists {nsids} with NN {idc.nn}")


def test_identify_controller_mdts(nvme0, idc):
    """NVMe 1.4 §5.15.2 (MDTS): 0 (no limit) or 2^MDTS minimum pages, which must hold
    at least one minimum page (MDTS >= 1 is meaningful); the driver's mdts agrees."""
    cap = nvme0.cap
    mpsmin = 4096 << ((cap >> 48) & 0xf)
    if idc.mdts:
        expect(nvme0.mdts == mpsmin << idc.mdts, "NVMe 1.4 §5.15.2 (MDTS)",
               f"a transfer limit of 2^MDTS x CAP.MPSMIN = {mpsmin << idc.mdts} bytes",
               f"is driven with mdts {nvme0.mdts}")


def test_identify_controller_type(nvme0, idc):
    """NVMe 1.4 §5.15.2 (CNTRLTYPE): a 1.4 or later controller reports its type; for a
    PCIe NVM controller 1h (I/O controller)."""
    if nvme0[VS] < 0x10400:
        pytest.skip("VS below 1.4: CNTRLTYPE is reserved")
    t = idc(111)
    expect(t == 1, "NVMe 1.4 §5.15.2 (CNTRLTYPE)", "1h (I/O controller)", f"reports {t}")


def test_identify_controller_subnqn(nvme0, idc):
    """NVMe 1.4 §5.15.2 (SUBNQN) with §7.9 (NQN format): controllers of 1.2.1 and later
    report an NVMe Qualified Name starting 'nqn.' and NUL terminated."""
    if nvme0[VS] < 0x10201:
        pytest.skip("VS below 1.2.1: SUBNQN is optional")
    raw = idc.text(1023, 768)
    nqn = raw.split(b"\0", 1)[0]
    expect(nqn.startswith(b"nqn.") and b"\0" in raw, "NVMe 1.4 §5.15.2 (SUBNQN) / §7.9",
           "a NUL-terminated NQN starting with 'nqn.'", f"reports {nqn[:64]!r}")


def test_identify_controller_power_states(idc):
    """NVMe 1.4 §5.15.2 (NPSS, PSD0..31): power state 0 is described (MP non-zero);
    descriptors beyond NPSS are zero."""
    npss = idc.npss
    psd0 = idc(2048 + 31, 2048)
    expect(psd0 & 0xffff, "NVMe 1.4 §5.15.2 (PSD0)", "a non-zero Maximum Power for state 0",
           f"reports PSD0 0x{psd0:x}")
    for i in range(npss + 1, 32):
        expect(not idc(2048 + 32 * i + 31, 2048 + 32 * i), "NVMe 1.4 §5.15.2 (PSDn)",
               f"power state descriptor {i} beyond NPSS {npss} to be zero", "fills it")


def test_identify_controller_temperatures(idc):
    """NVMe 1.4 §5.15.2 (WCTEMP, CCTEMP): when reported, the warning threshold is
    below the critical one, both in Kelvin (above 0 C)."""
    wc, cc = idc(267, 266), idc(269, 268)
    if not wc or not cc:
        pytest.skip("WCTEMP or CCTEMP not reported")
    expect(273 < wc < cc, "NVMe 1.4 §5.15.2", "273 K < WCTEMP < CCTEMP",
           f"reports WCTEMP {wc} K, CCTEMP {cc} K")


def test_identify_controller_sgl_support(idc):
    """NVMe 1.4 §5.15.2 (SGLS bits 1:0): 00b none, 01b any alignment, 10b dword
    alignment; 11b is reserved."""
    expect(idc.sgls & 3 != 3, "NVMe 1.4 §5.15.2 (SGLS)", "SGL support bits 1:0 != 11b",
           f"reports SGLS 0x{idc.sgls:08x}")


def test_identify_active_ns_list_order(nvme0, idc, nsids):
    """NVMe 1.4 §5.15.2 (CNS 02h): active NSIDs in increasing order, greater than the
    NSID given (0 here); every listed namespace identifies with a non-zero NSZE."""
    expect(nsids == sorted(set(nsids)), "NVMe 1.4 §5.15.2 (CNS 02h)",
           "a strictly increasing list", f"returns {nsids}")
    for nsid in nsids:
        cpl, ns = id_ns(nvme0, d, nsid)
        expect(cpl.ok and ns.nsze, "NVMe 1.4 §5.15.2 (CNS 00h)",
               f"active namespace {nsid} to identify with NSZE > 0", f"gives {cpl}, NSZE {ns.nsze}")


def test_identify_active_ns_list_from_nsid(nvme0, nsids):
    """NVMe 1.4 §5.15.2 (CNS 02h): the list holds only NSIDs greater than the NSID in
    the command."""
    if len(nsids) < 2:
        pytest.skip("fewer than two active namespaces")
    cpl, data = identify(nvme0, d, 2, nsid=nsids[0])
    got = [data(4 * i + 3, 4 * i) for i in range(len(nsids) - 1)]
    expect(cpl.ok and got == nsids[1:], "NVMe 1.4 §5.15.2 (CNS 02h)",
           f"the NSIDs above {nsids[0]}: {nsids[1:]}", f"returns {got} ({cpl})")


@pytest.mark.parametrize("nsid", [0xfffffffe, 0xffffffff], ids=["fffffffe", "ffffffff"])
def test_identify_active_ns_list_invalid_nsid(nvme0, nsid):
    """NVMe 1.4 §5.15.2 (CNS 02h): NSID FFFFFFFEh or FFFFFFFFh aborts with Invalid
    Namespace or Format."""
    cpl, _ = identify(nvme0, d, 2, nsid=nsid)
    expect_status(cpl, INVALID_NS, "NVMe 1.4 §5.15.2 (CNS 02h)", f"the active list from NSID {nsid:#x}")


def test_identify_inactive_namespace_zero_filled(nvme0, idc, nsids):
    """NVMe 1.4 §5.15.2 (CNS 00h) / §6.1.5: for an inactive NSID (valid, <= NN, not
    active) the controller returns a zero-filled data structure."""
    inactive = next((n for n in range(1, idc.nn + 1) if n not in nsids), None)
    if inactive is None:
        pytest.skip("every NSID up to NN is active")
    cpl, ns = id_ns(nvme0, d, inactive)
    expect(cpl.ok and ns.zero(), "NVMe 1.4 §5.15.2 (CNS 00h)",
           f"a zero-filled structure with success for inactive NSID {inactive}",
           f"returns {cpl} and {'zeroes' if ns.zero() else 'data'}")


@pytest.mark.parametrize("offset", [1, 0x10000], ids=["above_nn_by_1", "far_above_nn"])
def test_identify_namespace_invalid_nsid(nvme0, idc, offset):
    """NVMe 1.4 §5.15.2 (CNS 00h) / §6.1.2 (invalid NSID): an NSID above NN (and not
    FFFFFFFFh) aborts with Invalid Namespace or Format."""
    nsid = idc.nn + offset
    if nsid >= 0xffffffff:
        pytest.skip("NN leaves no invalid NSID")
    cpl, _ = id_ns(nvme0, d, nsid)
    expect_status(cpl, INVALID_NS, "NVMe 1.4 §6.1.2", f"Identify Namespace of invalid NSID {nsid:#x}")


def test_identify_ns_descriptors(nvme0, nsids):
    """NVMe 1.4 §5.15.2 (CNS 03h, Figure 248): descriptors of NIDT 1 (EUI64, 8 bytes),
    2 (NGUID, 16), 3 (UUID, 16) or 4 (CSI, 1, 2.0), each type at most once, list ended
    by a zero NIDL."""
    if nvme0[VS] < 0x10300:
        pytest.skip("VS below 1.3: CNS 03h optional")
    for nsid in nsids:
        cpl, data = identify(nvme0, d, 3, nsid=nsid)
        expect(cpl.ok, "NVMe 1.4 §5.15.2 (CNS 03h)", f"descriptors of namespace {nsid}", f"gives {cpl}")
        pos, seen = 0, []
        while pos < 4096 - 4 and data(pos + 1):
            nidt, nidl = data(pos), data(pos + 1)
            want = {1: 8, 2: 16, 3: 16, 4: 1}.get(nidt)
            expect(want == nidl and nidt not in seen, "NVMe 1.4 §5.15.2 (Figure 248)",
                   "known NIDT with its NIDL, each once",
                   f"returns NIDT {nidt} NIDL {nidl} at offset {pos} (seen {seen}) for NSID {nsid}")
            expect(nidt == 4 or any(data.raw[pos + 4:pos + 4 + nidl]), "NVMe 1.4 §5.15.2 (Figure 248)",
                   "a non-zero identifier", f"returns zero NIDT {nidt} for NSID {nsid}")
            seen.append(nidt)
            pos += 4 + nidl


def test_identify_ns_sizes(nvme0, nsids):
    """NVMe 1.4 §5.15.2 (NSZE, NCAP, NUSE): NUSE <= NCAP <= NSZE, all non-zero for an
    active namespace (NUSE may be 0)."""
    for nsid in nsids:
        _, ns = id_ns(nvme0, d, nsid)
        expect(ns.nuse <= ns.ncap <= ns.nsze and ns.ncap, "NVMe 1.4 §5.15.2 (NSZE/NCAP/NUSE)",
               "NUSE <= NCAP <= NSZE with NCAP > 0",
               f"reports NSZE {ns.nsze} NCAP {ns.ncap} NUSE {ns.nuse} for NSID {nsid}")


def test_identify_ns_lba_formats(nvme0, nsids):
    """NVMe 1.4 §5.15.2 (NLBAF, FLBAS, LBAF): FLBAS selects one of the NLBAF+1
    formats; every format has LBADS >= 9 (512 bytes) or 0 (not supported); the
    current one is supported."""
    for nsid in nsids:
        _, ns = id_ns(nvme0, d, nsid)
        expect(ns.flbas & 0xf <= ns.nlbaf and ns.nlbaf <= 15, "NVMe 1.4 §5.15.2 (FLBAS)",
               "FLBAS bits 3:0 <= NLBAF <= 15", f"reports FLBAS {ns.flbas:#x} NLBAF {ns.nlbaf}")
        for i in range(ns.nlbaf + 1):
            lbads = ns.lbaf(i)["lbads"]
            expect(lbads == 0 or lbads >= 9, "NVMe 1.4 §5.15.2 (LBADS)", "LBADS 0 or >= 9",
                   f"reports LBAF{i} LBADS {lbads} for NSID {nsid}")
        expect(ns.current["lbads"] >= 9, "NVMe 1.4 §5.15.2 (LBAF)", "the current format supported",
               f"reports current LBADS {ns.current['lbads']} for NSID {nsid}")


def test_identify_ns_metadata_capabilities(nvme0, nsids):
    """NVMe 1.4 §5.15.2 (MC, FLBAS bit 4) and §8.2 (metadata): a current format with
    metadata is transferred as the MC bits allow: extended LBA (FLBAS bit 4 = 1)
    needs MC bit 0, a separate buffer (bit 4 = 0) needs MC bit 1."""
    checked = 0
    for nsid in nsids:
        _, ns = id_ns(nvme0, d, nsid)
        if not ns.current["ms"]:
            continue
        checked += 1
        extended = ns.flbas & 0x10
        expect(ns.mc & (1 if extended else 2), "NVMe 1.4 §5.15.2 (MC)",
               f"MC to allow the {'extended LBA' if extended else 'separate buffer'} metadata in use",
               f"reports MC {ns.mc:#x} with FLBAS {ns.flbas:#x} for NSID {nsid}")
    if not checked:
        pytest.skip("no namespace uses a format with metadata")


def test_identify_ns_protection_settings(nvme0, nsids):
    """NVMe 1.4 §5.15.2 (DPC, DPS) and §8.3: protection enabled (DPS type 1..3) only
    with a type DPC claims and with at least 8 bytes of metadata; DPS type 4..7 is
    reserved."""
    checked = 0
    for nsid in nsids:
        _, ns = id_ns(nvme0, d, nsid)
        pit = ns.dps & 7
        expect(pit <= 3, "NVMe 1.4 §5.15.2 (DPS)", "PI type 0..3", f"reports DPS {ns.dps:#x}")
        if not pit:
            continue
        checked += 1
        expect(ns.dpc & (1 << (pit - 1)), "NVMe 1.4 §5.15.2 (DPC)", f"DPC to claim PI type {pit}",
               f"reports DPC {ns.dpc:#x} with DPS {ns.dps:#x} for NSID {nsid}")
        expect(ns.current["ms"] >= 8, "NVMe 1.4 §8.3", "at least 8 bytes of metadata for PI",
               f"uses MS {ns.current['ms']} with DPS {ns.dps:#x} for NSID {nsid}")
    if not checked:
        pytest.skip("no namespace has protection information enabled")
