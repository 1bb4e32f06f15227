"""PCIe configuration space and capabilities of the NVMe function.

References: PCI Express Base Specification 4.0 (PCIe §7.5.1 type 0 header,
§7.5.2 PM capability, §7.5.3 PCI Express capability, §7.7.2 MSI-X, §7.8.4 AER,
§7.6 extended capabilities), PCI Bus Power Management Interface 1.2 (PCI-PM),
NVMe Base 1.4 §2 (the PCI header an NVMe controller presents).

Config space is reached through VFIO, which virtualises a few fields (BARs, the
MSI/MSI-X enables, parts of the PM and PCIe capabilities). Tests that write
config space check the value the function then reads back through VFIO, which is
what any user-space driver sees.
"""
import warnings

import pytest

import nvme as d
from conformance_lib import CC, CSTS, Regs, bits, expect

PCI_STATUS_CAP_LIST = 0x10
CAP_PM, CAP_MSIX, CAP_EXP = 0x01, 0x11, 0x10
EXT_AER = 0x0001


def cfg16(pcie, off):
    return pcie.register(off, 2)


def cfg32(pcie, off):
    return pcie.register(off, 4)


def require_cap(pcie, cap_id, name, extended=False):
    off = pcie.cap_offset(cap_id, extended=extended) if extended else pcie.cap_offset(cap_id)
    if off is None:
        pytest.skip(f"the function has no {name} capability")
    return off


# ------------------------------------------------------------ type 0 header

def test_vendor_id_valid(pcie):
    """PCIe 4.0 §7.5.1.1.1 (Vendor ID): a present function never reads 0xFFFF (no
    device) or 0x0000."""
    vid = cfg16(pcie, 0)
    expect(vid not in (0, 0xffff), "PCIe 4.0 §7.5.1.1.1", "a valid PCI-SIG Vendor ID",
           f"reads Vendor ID 0x{vid:04x}")


def test_class_code_is_nvme(pcie):
    """NVMe 1.4 §2.1.6 (CC: Class Code): base class 01h (mass storage), sub-class
    08h (non-volatile memory), programming interface 02h (NVM Express)."""
    cls = pcie.register(0x09, 3)
    expect(cls == 0x010802, "NVMe 1.4 §2.1.6 (Class Code)", "class code 010802h",
           f"reads 0x{cls:06x}")


def test_header_type_0(pcie):
    """PCIe 4.0 §7.5.1.1.9 (Header Type): an endpoint uses the type 0 layout (bits
    6:0 = 00h)."""
    ht = pcie[0x0e]
    expect(ht & 0x7f == 0, "PCIe 4.0 §7.5.1.1.9", "header layout 00h for an endpoint",
           f"reads Header Type 0x{ht:02x}")


def test_status_capabilities_list(pcie):
    """PCIe 4.0 §7.5.1.1.4 (Status: Capabilities List): hardwired to 1b for PCI
    Express functions, which must have a capability list."""
    st = cfg16(pcie, 0x06)
    expect(st & PCI_STATUS_CAP_LIST, "PCIe 4.0 §7.5.1.1.4", "Capabilities List = 1b",
           f"reads Status 0x{st:04x}")


def test_status_reserved_bits(pcie):
    """PCIe 4.0 §7.5.1.1.4 (Status): bits 2:0 are reserved and read 0; bits 5 (66 MHz),
    7 (fast back-to-back) and 10:9 (DEVSEL timing) do not apply to PCIe and are 0."""
    st = cfg16(pcie, 0x06)
    expect(st & 0x0687 == 0, "PCIe 4.0 §7.5.1.1.4",
           "Status bits 10:9, 7, 5 and 2:0 to read 0", f"reads Status 0x{st:04x}")


def test_command_reserved_bits(pcie):
    """PCIe 4.0 §7.5.1.1.3 (Command): bits 15:11 are reserved (read 0); bits 3
    (special cycles), 4 (MWI), 5 (VGA snoop), 7 (IDSEL stepping) and 9 (fast
    back-to-back) do not apply to PCIe and are hardwired to 0."""
    cmd = cfg16(pcie, 0x04)
    expect(cmd & 0xf8b8 == 0, "PCIe 4.0 §7.5.1.1.3",
           "Command bits 15:11, 9, 7, 5:3 to read 0", f"reads Command 0x{cmd:04x}")


def test_capabilities_pointer(pcie):
    """PCIe 4.0 §7.5.1.1.11 (Capabilities Pointer): points into device-specific
    space (40h..FCh) with bits 1:0 reserved (0)."""
    ptr = pcie[0x34]
    expect(0x40 <= ptr <= 0xfc and ptr & 3 == 0, "PCIe 4.0 §7.5.1.1.11",
           "a dword-aligned pointer in 40h..FCh", f"reads 0x{ptr:02x}")


def test_capability_list_well_formed(pcie):
    """PCIe 4.0 §7.5.1.1.11 and §7.5.2: every standard capability lies in 40h..FCh,
    is dword aligned, and the list ends (no loop)."""
    ptr, seen = pcie[0x34] & 0xfc, []
    while ptr:
        expect(0x40 <= ptr <= 0xfc and ptr not in seen, "PCIe 4.0 §7.5.1.1.11",
               "capability pointers inside 40h..FCh forming a terminated list",
               f"links to 0x{ptr:02x} after {[hex(s) for s in seen]}")
        seen.append(ptr)
        ptr = pcie[ptr + 1]
        expect(ptr & 3 == 0, "PCIe 4.0 §7.5.1.1.11", "Next Capability Pointer bits 1:0 = 0",
               f"reads next pointer 0x{ptr:02x} at 0x{seen[-1]:02x}")
    assert seen, "empty capability list"


def test_latency_timer_and_grant_zero(pcie):
    """PCIe 4.0 §7.5.1.1.8, §7.5.1.2.11/12: Latency Timer, Min_Gnt and Max_Lat do not
    apply to PCI Express and are hardwired to 00h."""
    lt, mingnt, maxlat = pcie[0x0d], pcie[0x3e], pcie[0x3f]
    expect((lt, mingnt, maxlat) == (0, 0, 0), "PCIe 4.0 §7.5.1.1.8/§7.5.1.2",
           "Latency Timer, Min_Gnt and Max_Lat to read 00h",
           f"reads {lt:#x}, {mingnt:#x}, {maxlat:#x}")


def test_interrupt_pin(pcie):
    """NVMe 1.4 §2.1.18 (INTP) / PCIe 4.0 §7.5.1.1.x (Interrupt Pin): 00h (none) or
    01h..04h (INTA..INTD); NVMe supports pin-based interrupts, so a pin is used."""
    pin = pcie[0x3d]
    expect(1 <= pin <= 4, "NVMe 1.4 §2.1.18 (INTP)", "Interrupt Pin 01h..04h",
           f"reads 0x{pin:02x}")


def test_bist_not_capable_reads_zero(pcie):
    """PCIe 4.0 §7.5.1.1.10 (BIST): without BIST capable (bit 7) the register reads 0."""
    bist = pcie[0x0f]
    if bist & 0x80:
        pytest.skip("the function claims BIST capability")
    expect(bist == 0, "PCIe 4.0 §7.5.1.1.10", "BIST 00h when not BIST capable",
           f"reads 0x{bist:02x}")


def test_bar0_is_64bit_memory(pcie):
    """NVMe 1.4 §2.1.10 (MLBAR/BAR0): memory space (bit 0 = 0), 64-bit (bits 2:1 =
    10b), not prefetchable (bit 3 = 0)."""
    bar0 = cfg32(pcie, 0x10)
    expect(bar0 & 0xf == 0x4, "NVMe 1.4 §2.1.10 (MLBAR)",
           "BAR0 bits 3:0 = 0100b (memory, 64-bit, not prefetchable)",
           f"reads BAR0 0x{bar0:08x}")


def test_bar0_size_covers_registers(pcie, cap):
    """NVMe 1.4 §2.1.10 (MLBAR bits 13:4 reserved, so BAR0 is at least 16 KiB) and
    §3.1: it holds the registers and the admin doorbells at 1000h + stride."""
    size = pcie.bar_size(0)
    need = max(0x4000, cap.cq_doorbell(0) + 4)
    expect(size >= need, "NVMe 1.4 §2.1.10/§3.1", f"BAR0 of at least 0x{need:x} bytes",
           f"has BAR0 of 0x{size:x} bytes")


@pytest.mark.parametrize("offset,width,name", [
    (0x00, 2, "Vendor ID"), (0x02, 2, "Device ID"), (0x08, 1, "Revision ID"),
    (0x09, 3, "Class Code"), (0x0e, 1, "Header Type"), (0x2c, 2, "Subsystem Vendor ID"),
    (0x2e, 2, "Subsystem ID"), (0x34, 1, "Capabilities Pointer"), (0x3d, 1, "Interrupt Pin"),
], ids=["vid", "did", "rid", "class", "header_type", "ssvid", "ssid", "cap_ptr", "int_pin"])
def test_read_only_header_field_ignores_writes(pcie, offset, width, name):
    """PCIe 4.0 §7.5.1 (HwInit/RO fields of the type 0 header): writes have no effect."""
    before = pcie.register(offset, width)
    try:
        for i in range(width):
            pcie[offset + i] = ~(before >> (8 * i)) & 0xff
        after = pcie.register(offset, width)
    finally:
        for i in range(width):
            pcie[offset + i] = (before >> (8 * i)) & 0xff
    expect(after == before, "PCIe 4.0 §7.5.1", f"the read-only {name} to ignore writes",
           f"read 0x{before:x} before and 0x{after:x} after writing its complement")


def test_cache_line_size_read_write(pcie):
    """PCIe 4.0 §7.5.1.1.7 (Cache Line Size): implemented as a read-write register
    for legacy software compatibility (it has no effect on a PCIe function)."""
    before = pcie[0x0c]
    try:
        pcie[0x0c] = 0x10
        after = pcie[0x0c]
    finally:
        pcie[0x0c] = before
    expect(after == 0x10, "PCIe 4.0 §7.5.1.1.7", "Cache Line Size to be read-write",
           f"read 0x{after:02x} after writing 0x10")


# ------------------------------------------------------ power management

def test_pm_capability_present(pcie):
    """PCIe 4.0 §7.5.2: every PCI Express function implements the PCI Power
    Management capability."""
    expect(pcie.cap_offset(CAP_PM) is not None, "PCIe 4.0 §7.5.2",
           "a PCI Power Management capability", "has none in its capability list")


def test_pm_version(pcie):
    """PCIe 4.0 §7.5.2.1 (PMC Version bits 2:0): 011b for functions that comply with
    PCI-PM 1.2 as PCIe requires."""
    pm = require_cap(pcie, CAP_PM, "power management")
    pmc = cfg16(pcie, pm + 2)
    expect(pmc & 7 == 3, "PCIe 4.0 §7.5.2.1", "PMC Version = 011b",
           f"reads PMC 0x{pmc:04x}")


def test_pm_pme_clock_zero(pcie):
    """PCIe 4.0 §7.5.2.1 (PMC bit 3, PME Clock): does not apply to PCIe, hardwired 0."""
    pm = require_cap(pcie, CAP_PM, "power management")
    pmc = cfg16(pcie, pm + 2)
    expect(not pmc & 8, "PCIe 4.0 §7.5.2.1", "PME Clock = 0", f"reads PMC 0x{pmc:04x}")


def test_pm_starts_in_d0(pcie):
    """PCI-PM 1.2 §3.2.4 (PMCSR PowerState): a function in use is in D0 (00b)."""
    pm = require_cap(pcie, CAP_PM, "power management")
    pmcsr = cfg16(pcie, pm + 4)
    expect(pmcsr & 3 == 0, "PCI-PM 1.2 §3.2.4", "PowerState D0 while the function is used",
           f"reads PMCSR 0x{pmcsr:04x}")
    assert pcie.power_state == 0


def test_pmcsr_reserved_bits(pcie):
    """PCIe 4.0 §7.5.2.2 (PMCSR): bit 2 and bits 7:4 are reserved and read 0."""
    pm = require_cap(pcie, CAP_PM, "power management")
    pmcsr = cfg16(pcie, pm + 4)
    expect(pmcsr & 0xf4 == 0, "PCIe 4.0 §7.5.2.2", "PMCSR bits 7:4 and 2 to read 0",
           f"reads PMCSR 0x{pmcsr:04x}")


def test_d3hot_round_trip(pcie, regs):
    """PCI-PM 1.2 §5.4 / PCIe 4.0 §7.5.2.2 (No_Soft_Reset): D0 -> D3hot -> D0. With
    No_Soft_Reset = 1 the function keeps its state (a controller register the host
    wrote keeps its value); with 0 it is reset (CC reads 0, NVMe 1.4 §3.1.5)."""
    pm = require_cap(pcie, CAP_PM, "power management")
    regs.disable()
    marker = 4 << 20 | 6 << 16          # CC.IOCQES/IOSQES, harmless with EN = 0
    regs[CC] = marker
    nsr = cfg16(pcie, pm + 4) & 8
    pcie.power_state = 3
    try:
        state = pcie.power_state
        expect(state == 3, "PCI-PM 1.2 §3.2.4", "PowerState to read D3hot (11b) after it is written",
               f"reads D{state}")
    finally:
        pcie.power_state = 0
    expect(pcie.power_state == 0, "PCI-PM 1.2 §3.2.4", "PowerState D0 after writing 00b",
           f"reads D{pcie.power_state}")
    cc = regs[CC]
    if nsr:
        expect(cc == marker, "PCIe 4.0 §7.5.2.2 (No_Soft_Reset = 1)",
               "the function's state to be preserved across D3hot -> D0",
               f"read CC 0x{cc:08x} after the transition (was 0x{marker:08x})")
    else:
        expect(cc == 0, "PCIe 4.0 §7.5.2.2 (No_Soft_Reset = 0)",
               "an internal reset on D3hot -> D0, CC back to 0",
               f"read CC 0x{cc:08x} after the transition")
    regs[CC] = 0


@pytest.mark.parametrize("state", [1, 2], ids=["D1", "D2"])
def test_unsupported_d_state_write_ignored(pcie, state):
    """PCI-PM 1.2 §3.2.4 (PowerState): writing a state the PMC does not claim (D1 bit
    9, D2 bit 10) is ignored: the write completes and the state does not change."""
    pm = require_cap(pcie, CAP_PM, "power management")
    pmc = cfg16(pcie, pm + 2)
    if pmc & (1 << (8 + state)):
        pytest.skip(f"the function supports D{state} (PMC 0x{pmc:04x})")
    before = cfg16(pcie, pm + 4)
    try:
        pcie[pm + 4] = (before & 0xfc) | state
        after = cfg16(pcie, pm + 4)
    finally:
        pcie[pm + 4] = before & 0xfc
    expect(after & 3 == before & 3, "PCI-PM 1.2 §3.2.4",
           f"a write of unsupported D{state} to be ignored",
           f"reads PowerState {after & 3} after it (PMCSR 0x{after:04x})")


@pytest.mark.parametrize("state", [1, 2], ids=["D1", "D2"])
def test_supported_d_state(pcie, state):
    """PCI-PM 1.2 §3.2.3/§3.2.4: a D-state that PMC claims can be entered and left."""
    pm = require_cap(pcie, CAP_PM, "power management")
    pmc = cfg16(pcie, pm + 2)
    if not pmc & (1 << (8 + state)):
        pytest.skip(f"the function does not claim D{state} (PMC 0x{pmc:04x})")
    pcie.power_state = state
    try:
        got = pcie.power_state
    finally:
        pcie.power_state = 0
    expect(got == state, "PCI-PM 1.2 §3.2.4", f"PowerState D{state} after writing it",
           f"reads D{got}")


# ------------------------------------------------------------------ MSI-X

def msix(pcie):
    off = require_cap(pcie, CAP_MSIX, "MSI-X")
    ctrl = cfg16(pcie, off + 2)
    table = cfg32(pcie, off + 4)
    pba = cfg32(pcie, off + 8)
    return off, ctrl, (ctrl & 0x7ff) + 1, table & 7, table & ~7, pba & 7, pba & ~7


def test_msix_table_size(pcie):
    """PCIe 4.0 §7.7.2.2 (MSI-X Message Control, Table Size): N-1 encoded, 1..2048
    vectors."""
    _, ctrl, n, *_ = msix(pcie)
    expect(1 <= n <= 2048, "PCIe 4.0 §7.7.2.2", "1..2048 vectors", f"claims {n}")


def test_msix_control_reserved_bits(pcie):
    """PCIe 4.0 §7.7.2.2 (Message Control): bits 13:11 are reserved and read 0."""
    _, ctrl, *_ = msix(pcie)
    expect(ctrl & 0x3800 == 0, "PCIe 4.0 §7.7.2.2", "Message Control bits 13:11 = 0",
           f"reads 0x{ctrl:04x}")


def test_msix_table_in_memory_bar(pcie):
    """PCIe 4.0 §7.7.2.3 (Table Offset/BIR): the BIR names an implemented memory BAR
    (0..5) and the table of N 16-byte entries lies inside it."""
    _, _, n, bir, off, _, _ = msix(pcie)
    expect(bir <= 5, "PCIe 4.0 §7.7.2.3", "Table BIR 0..5", f"reads BIR {bir}")
    size = pcie.bar_size(bir)
    expect(size and off + 16 * n <= size, "PCIe 4.0 §7.7.2.3",
           f"the {n}-entry table (0x{16 * n:x} bytes at 0x{off:x}) inside BAR{bir}",
           f"has BAR{bir} of 0x{size:x} bytes")


def test_msix_pba_in_memory_bar(pcie):
    """PCIe 4.0 §7.7.2.4 (PBA Offset/BIR): the PBA (one bit per vector, in qwords)
    lies inside an implemented memory BAR."""
    _, _, n, _, _, bir, off = msix(pcie)
    expect(bir <= 5, "PCIe 4.0 §7.7.2.4", "PBA BIR 0..5", f"reads BIR {bir}")
    size = pcie.bar_size(bir)
    need = 8 * ((n + 63) // 64)
    expect(size and off + need <= size, "PCIe 4.0 §7.7.2.4",
           f"the PBA (0x{need:x} bytes at 0x{off:x}) inside BAR{bir}",
           f"has BAR{bir} of 0x{size:x} bytes")


def test_msix_table_and_pba_do_not_overlap(pcie):
    """PCIe 4.0 §7.7.2 (the table and the PBA are separate structures; they may share a
    BAR but must not overlap) and NVMe 1.4 §2.4 (they stay clear of the controller
    registers 0h..FFFh of BAR0)."""
    _, _, n, tbir, toff, pbir, poff = msix(pcie)
    tend, pend = toff + 16 * n, poff + 8 * ((n + 63) // 64)
    if tbir == pbir:
        expect(tend <= poff or pend <= toff, "PCIe 4.0 §7.7.2", "disjoint table and PBA",
               f"places the table at 0x{toff:x}..0x{tend:x} and the PBA at 0x{poff:x}..0x{pend:x}")
    for bir, off, what in ((tbir, toff, "table"), (pbir, poff, "PBA")):
        if bir == 0:
            expect(off >= 0x1000, "NVMe 1.4 §3.1", f"the MSI-X {what} outside the registers 0h..FFFh",
                   f"places it at BAR0 + 0x{off:x}")


def test_msix_disabled_before_use(pcie):
    """PCIe 4.0 §7.7.2.2: MSI-X Enable and Function Mask reset to 0 (no driver has
    enabled MSI-X on the freshly opened function)."""
    _, ctrl, *_ = msix(pcie)
    expect(ctrl & 0xc000 == 0, "PCIe 4.0 §7.7.2.2", "MSI-X Enable = 0 and Function Mask = 0 "
           "until software sets them", f"reads Message Control 0x{ctrl:04x}")


def table_hidden(pcie, bir, off):
    """VFIO keeps the MSI-X table for the kernel: through it the table reads all
    ones and writes are dropped (the PBA stays readable)."""
    return all(pcie.mem_dword_read(off + 4 * i, bar=bir) == 0xffffffff for i in range(4))


def test_msix_vectors_masked_at_reset(pcie):
    """PCIe 4.0 §7.7.2.8 (Vector Control): the Mask Bit of every entry resets to 1 and
    bits 31:1 are reserved (0). Checked after an FLR (or as found if FLR is absent)."""
    _, _, n, bir, off, _, _ = msix(pcie)
    exp = pcie.cap_offset(CAP_EXP)
    if exp is not None and cfg32(pcie, exp + 4) & (1 << 28):
        pcie.flr()
    if table_hidden(pcie, bir, off):
        pytest.skip("the MSI-X table is not accessible through VFIO (reads all ones)")
    bad = []
    for i in range(n):
        vc = pcie.mem_dword_read(off + 16 * i + 12, bar=bir)
        if vc != 1:
            bad.append((i, vc))
    expect(not bad, "PCIe 4.0 §7.7.2.8", "Vector Control = 1 (masked, reserved bits 0) after reset",
           lambda: f"reads {', '.join(f'vector {i}: 0x{v:08x}' for i, v in bad[:8])}"
                   f"{' ...' if len(bad) > 8 else ''} ({len(bad)} of {n})")


def test_msix_pba_clear_when_idle(pcie):
    """PCIe 4.0 §7.7.2.9 (Pending Bits): no message is pending on an idle function
    that has never been enabled."""
    _, _, n, _, _, bir, off = msix(pcie)
    words = [pcie.mem_dword_read(off + 4 * i, bar=bir) for i in range(2 * ((n + 63) // 64))]
    expect(not any(words), "PCIe 4.0 §7.7.2.9", "all Pending Bits 0 on an idle function",
           f"reads PBA {[hex(w) for w in words]}")


def test_msix_table_entry_read_write(pcie):
    """PCIe 4.0 §7.7.2.5/6/7: Message Address/Upper Address/Data of a table entry are
    read-write; Message Address bits 1:0 are reserved (0)."""
    _, _, n, bir, off, _, _ = msix(pcie)
    if table_hidden(pcie, bir, off):
        pytest.skip("the MSI-X table is not accessible through VFIO (reads all ones)")
    entry = off + 16 * (n - 1)
    saved = [pcie.mem_dword_read(entry + 4 * i, bar=bir) for i in range(3)]
    try:
        pcie.mem_dword_write(entry, 0xfee00003, bar=bir)
        pcie.mem_dword_write(entry + 8, 0x5a5a, bar=bir)
        addr = pcie.mem_dword_read(entry, bar=bir)
        data = pcie.mem_dword_read(entry + 8, bar=bir)
    finally:
        for i in range(3):
            pcie.mem_dword_write(entry + 4 * i, saved[i], bar=bir)
    expect(data == 0x5a5a, "PCIe 4.0 §7.7.2.7", "Message Data to be read-write",
           f"read 0x{data:x} after writing 0x5a5a")
    expect(addr & ~3 == 0xfee00000, "PCIe 4.0 §7.7.2.5", "Message Address bits 31:2 read-write",
           f"read 0x{addr:08x} after writing 0xfee00003")
    expect(addr & 3 == 0, "PCIe 4.0 §7.7.2.5 / NVMe 1.4 §1.5 (reserved bits read 0)",
           "Message Address bits 1:0 (reserved) to read 0",
           f"read 0x{addr:08x} after writing 0xfee00003")


# ------------------------------------------------------- PCIe capability

def test_pcie_capability_present(pcie):
    """PCIe 4.0 §7.5.3: every PCI Express function has the PCI Express capability."""
    expect(pcie.cap_offset(CAP_EXP) is not None, "PCIe 4.0 §7.5.3",
           "a PCI Express capability", "has none in its capability list")


def test_pcie_capability_version_and_type(pcie):
    """PCIe 4.0 §7.5.3.2 (PCI Express Capabilities): version 2h, device/port type
    endpoint (0000b), legacy endpoint (0001b) or RC integrated endpoint (1001b)."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    caps = cfg16(pcie, exp + 2)
    expect(caps & 0xf == 2, "PCIe 4.0 §7.5.3.2", "Capability Version 2h",
           f"reads 0x{caps & 0xf:x} (register 0x{caps:04x})")
    expect(bits(caps, 7, 4) in (0, 1, 9), "PCIe 4.0 §7.5.3.2",
           "an endpoint Device/Port Type (0h, 1h or 9h)", f"reads type 0x{bits(caps, 7, 4):x}")


def test_device_capabilities_fields(pcie):
    """PCIe 4.0 §7.5.3.3 (Device Capabilities): Max_Payload_Size Supported 000b..101b
    (128..4096 bytes); bits 17:16 and 31:29 reserved (0)."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    dc = cfg32(pcie, exp + 4)
    expect(dc & 7 <= 5, "PCIe 4.0 §7.5.3.3", "Max_Payload_Size Supported <= 101b",
           f"reads 0x{dc:08x}")
    expect(dc & 0xe0030000 == 0, "PCIe 4.0 §7.5.3.3", "reserved bits 31:29 and 17:16 = 0",
           f"reads Device Capabilities 0x{dc:08x}")


def test_device_control_within_capabilities(pcie):
    """PCIe 4.0 §7.5.3.4 (Device Control): Max_Payload_Size is not above what Device
    Capabilities supports, and Max_Read_Request_Size is 000b..101b."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    dc, dctl = cfg32(pcie, exp + 4), cfg16(pcie, exp + 8)
    expect(bits(dctl, 7, 5) <= dc & 7, "PCIe 4.0 §7.5.3.4",
           "Max_Payload_Size <= Max_Payload_Size Supported",
           f"reads Device Control 0x{dctl:04x} with Device Capabilities 0x{dc:08x}")
    expect(bits(dctl, 14, 12) <= 5, "PCIe 4.0 §7.5.3.4", "Max_Read_Request_Size <= 101b",
           f"reads Device Control 0x{dctl:04x}")


def test_device_status_idle(pcie):
    """PCIe 4.0 §7.5.3.5 (Device Status): Transactions Pending (bit 5) is 0 on an idle
    function; bits 15:7 are reserved (0)."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    ds = cfg16(pcie, exp + 0x0a)
    expect(ds & 0xff80 == 0, "PCIe 4.0 §7.5.3.5", "Device Status bits 15:7 = 0",
           f"reads 0x{ds:04x}")
    expect(not ds & 0x20, "PCIe 4.0 §7.5.3.5", "Transactions Pending = 0 while idle",
           f"reads Device Status 0x{ds:04x}")


def test_link_capabilities_fields(pcie):
    """PCIe 4.0 §7.5.3.6 (Link Capabilities): Max Link Speed 1..5 (2.5..32 GT/s, as an
    index into the supported speeds), Maximum Link Width one of x1, x2, x4, x8, x12,
    x16, x32."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    lc = cfg32(pcie, exp + 0x0c)
    expect(1 <= lc & 0xf <= 6, "PCIe 4.0 §7.5.3.6", "Max Link Speed 1h..6h", f"reads 0x{lc:08x}")
    expect(bits(lc, 9, 4) in (1, 2, 4, 8, 12, 16, 32), "PCIe 4.0 §7.5.3.6",
           "Maximum Link Width x1/x2/x4/x8/x12/x16/x32", f"reads x{bits(lc, 9, 4)}")


def test_link_status_within_capabilities(pcie):
    """PCIe 4.0 §7.5.3.8 (Link Status): the negotiated speed and width do not exceed
    Link Capabilities."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    lc, ls = cfg32(pcie, exp + 0x0c), cfg16(pcie, exp + 0x12)
    expect(1 <= ls & 0xf <= lc & 0xf, "PCIe 4.0 §7.5.3.8",
           "Current Link Speed between 1h and Max Link Speed",
           f"reads Link Status 0x{ls:04x} with Link Capabilities 0x{lc:08x}")
    expect(1 <= bits(ls, 9, 4) <= bits(lc, 9, 4), "PCIe 4.0 §7.5.3.8",
           "Negotiated Link Width between x1 and the Maximum Link Width",
           f"reads x{bits(ls, 9, 4)} with maximum x{bits(lc, 9, 4)}")


@pytest.mark.parametrize("aspm", [0, 1, 2, 3], ids=["off", "L0s", "L1", "L0s+L1"])
def test_aspm_control_supported_states(pcie, aspm):
    """PCIe 4.0 §7.5.3.7 (Link Control, ASPM Control) with §7.5.3.6 (ASPM Support):
    every state Link Capabilities claims can be set and reads back."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    supported = bits(cfg32(pcie, exp + 0x0c), 11, 10)
    if aspm & ~supported:
        pytest.skip(f"ASPM Support 0b{supported:02b} does not include this state")
    before = pcie.aspm
    try:
        # the driver warns when the function does not keep the value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pcie.aspm = aspm
        got = pcie.aspm
    except d.NvmeError as e:
        got = f"an error from the driver ({e})"
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pcie.aspm = before
    expect(got == aspm, "PCIe 4.0 §7.5.3.7", f"ASPM Control {aspm} to read back",
           f"reads {got}")


@pytest.mark.parametrize("offset,name", [
    (0x02, "PCI Express Capabilities"), (0x04, "Device Capabilities"),
    (0x0c, "Link Capabilities"), (0x24, "Device Capabilities 2"),
], ids=["pcie_caps", "devcap", "linkcap", "devcap2"])
def test_pcie_capability_ro_registers_ignore_writes(pcie, offset, name):
    """PCIe 4.0 §7.5.3.2/3/6/15: the capability registers are read-only (RO/HwInit):
    writes have no effect."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    width = 2 if offset == 0x02 else 4
    before = pcie.register(exp + offset, width)
    try:
        for i in range(width):
            pcie[exp + offset + i] = ~(before >> (8 * i)) & 0xff
        after = pcie.register(exp + offset, width)
    finally:
        for i in range(width):
            pcie[exp + offset + i] = (before >> (8 * i)) & 0xff
    expect(after == before, "PCIe 4.0 §7.5.3", f"the read-only {name} to ignore writes",
           f"read 0x{before:x} before and 0x{after:x} after writing its complement")


def test_flr_capability_clears_controller(pcie, regs):
    """PCIe 4.0 §6.6.2 (FLR) with NVMe 1.4 §7.3.2 (Controller Level Reset): after a
    function level reset the controller is disabled (CC = 0, CSTS.RDY = 0) and the
    admin queue registers are back to their reset value 0."""
    exp = require_cap(pcie, CAP_EXP, "PCI Express")
    if not cfg32(pcie, exp + 4) & (1 << 28):
        pytest.skip("Device Capabilities does not claim Function Level Reset")
    regs.disable()
    regs[CC] = 4 << 20 | 6 << 16
    pcie.flr()
    cc, csts = regs[CC], regs[CSTS]
    expect(cc == 0 and csts & 1 == 0, "NVMe 1.4 §7.3.2 / §3.1.5",
           "CC = 0 and CSTS.RDY = 0 after a function level reset",
           f"reads CC 0x{cc:08x} CSTS 0x{csts:08x}")


# --------------------------------------------------------- extended caps

def test_extended_capability_list(pcie):
    """PCIe 4.0 §7.6.3 (PCI Express Extended Capability Header): the list starts at
    100h; an absent list reads 0 there; every header has a non-zero version and a
    next offset of 0 or >= 100h, dword aligned, without loops."""
    if len(pcie) <= 0x100:
        pytest.skip("config space is 256 bytes (no extended space)")
    off, seen = 0x100, []
    while True:
        hdr = cfg32(pcie, off)
        if off == 0x100 and hdr == 0:
            return
        expect(hdr != 0xffffffff and bits(hdr, 19, 16) != 0, "PCIe 4.0 §7.6.3",
               "a valid extended capability header (version != 0)",
               f"reads 0x{hdr:08x} at 0x{off:03x}")
        seen.append(off)
        nxt = bits(hdr, 31, 20)
        if nxt == 0:
            return
        expect(nxt >= 0x100 and nxt & 3 == 0 and nxt not in seen, "PCIe 4.0 §7.6.3",
               "a Next Capability Offset >= 100h, dword aligned, not looping",
               f"links 0x{off:03x} to 0x{nxt:03x}")
        off = nxt


def aer(pcie):
    return require_cap(pcie, EXT_AER, "Advanced Error Reporting (extended)", extended=True)


def test_aer_version(pcie):
    """PCIe 4.0 §7.8.4.1 (AER Extended Capability Header): version 1h or 2h."""
    off = aer(pcie)
    ver = bits(cfg32(pcie, off), 19, 16)
    expect(ver in (1, 2), "PCIe 4.0 §7.8.4.1", "AER Capability Version 1h or 2h",
           f"reads {ver}")


def test_aer_no_errors_logged(pcie):
    """PCIe 4.0 §7.8.4.2/§7.8.4.5: no uncorrectable or correctable error is logged on a
    function that has only been configured."""
    off = aer(pcie)
    unc, cor = cfg32(pcie, off + 4), cfg32(pcie, off + 0x10)
    expect(unc == 0 and cor == 0, "PCIe 4.0 §7.8.4.2/5", "no error status bits set",
           f"reads Uncorrectable 0x{unc:08x}, Correctable 0x{cor:08x}")


def test_aer_status_rw1c(pcie):
    """PCIe 4.0 §7.8.4.2 (Uncorrectable Error Status, RW1CS): writing 1 to a clear bit
    does not set it."""
    off = aer(pcie)
    before = cfg32(pcie, off + 4)
    for i in range(4):
        pcie[off + 4 + i] = 0xff
    after = cfg32(pcie, off + 4)
    expect(after & ~before == 0, "PCIe 4.0 §7.8.4.2", "RW1C status bits not to be set by writes",
           f"read 0x{before:08x} then 0x{after:08x} after writing ones")


def test_aer_mask_reserved_bits(pcie):
    """PCIe 4.0 §7.8.4.3 (Uncorrectable Error Mask): bits 3:0 and 11:6 are reserved
    (0), also after writing ones."""
    off = aer(pcie)
    before = cfg32(pcie, off + 8)
    try:
        for i in range(4):
            pcie[off + 8 + i] = 0xff
        after = cfg32(pcie, off + 8)
    finally:
        for i in range(4):
            pcie[off + 8 + i] = (before >> (8 * i)) & 0xff
    expect(after & 0x0fcf == 0, "PCIe 4.0 §7.8.4.3", "reserved mask bits 3:0 and 11:6 = 0",
           f"reads 0x{after:08x} after writing ones")
