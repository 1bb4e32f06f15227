"""Names of NVMe completion statuses (NVMe base specification 2.0, "Status Code
Definitions"), for the monitor's decoded command log. Pure tables."""

GENERIC = {
    0x00: "Successful Completion", 0x01: "Invalid Command Opcode",
    0x02: "Invalid Field in Command", 0x03: "Command ID Conflict",
    0x04: "Data Transfer Error", 0x05: "Commands Aborted due to Power Loss Notification",
    0x06: "Internal Error", 0x07: "Command Abort Requested",
    0x08: "Command Aborted due to SQ Deletion", 0x09: "Command Aborted due to Failed Fused Command",
    0x0a: "Command Aborted due to Missing Fused Command", 0x0b: "Invalid Namespace or Format",
    0x0c: "Command Sequence Error", 0x0d: "Invalid SGL Segment Descriptor",
    0x0e: "Invalid Number of SGL Descriptors", 0x0f: "Data SGL Length Invalid",
    0x10: "Metadata SGL Length Invalid", 0x11: "SGL Descriptor Type Invalid",
    0x12: "Invalid Use of Controller Memory Buffer", 0x13: "PRP Offset Invalid",
    0x14: "Atomic Write Unit Exceeded", 0x15: "Operation Denied", 0x16: "SGL Offset Invalid",
    0x18: "Host Identifier Inconsistent Format", 0x19: "Keep Alive Timer Expired",
    0x1a: "Keep Alive Timeout Invalid", 0x1b: "Command Aborted due to Preempt and Abort",
    0x1c: "Sanitize Failed", 0x1d: "Sanitize In Progress", 0x1e: "SGL Data Block Granularity Invalid",
    0x1f: "Command Not Supported for Queue in CMB", 0x20: "Namespace is Write Protected",
    0x21: "Command Interrupted", 0x22: "Transient Transport Error",
    0x80: "LBA Out of Range", 0x81: "Capacity Exceeded", 0x82: "Namespace Not Ready",
    0x83: "Reservation Conflict", 0x84: "Format In Progress",
}

COMMAND_SPECIFIC = {
    0x00: "Completion Queue Invalid", 0x01: "Invalid Queue Identifier",
    0x02: "Invalid Queue Size", 0x03: "Abort Command Limit Exceeded",
    0x05: "Asynchronous Event Request Limit Exceeded", 0x06: "Invalid Firmware Slot",
    0x07: "Invalid Firmware Image", 0x08: "Invalid Interrupt Vector",
    0x09: "Invalid Log Page", 0x0a: "Invalid Format", 0x0b: "Firmware Activation Requires Conventional Reset",
    0x0c: "Invalid Queue Deletion", 0x0d: "Feature Identifier Not Saveable",
    0x0e: "Feature Not Changeable", 0x0f: "Feature Not Namespace Specific",
    0x10: "Firmware Activation Requires NVM Subsystem Reset",
    0x11: "Firmware Activation Requires Controller Level Reset",
    0x12: "Firmware Activation Requires Maximum Time Violation",
    0x13: "Firmware Activation Prohibited", 0x14: "Overlapping Range",
    0x15: "Namespace Insufficient Capacity", 0x16: "Namespace Identifier Unavailable",
    0x18: "Namespace Already Attached", 0x19: "Namespace Is Private",
    0x1a: "Namespace Not Attached", 0x1b: "Thin Provisioning Not Supported",
    0x1c: "Controller List Invalid", 0x1d: "Device Self-test In Progress",
    0x1e: "Boot Partition Write Prohibited", 0x1f: "Invalid Controller Identifier",
    0x20: "Invalid Secondary Controller State", 0x21: "Invalid Number of Controller Resources",
    0x22: "Invalid Resource Identifier", 0x80: "Conflicting Attributes",
    0x81: "Invalid Protection Information", 0x82: "Attempted Write to Read Only Range",
}

MEDIA = {
    0x80: "Write Fault", 0x81: "Unrecovered Read Error", 0x82: "End-to-end Guard Check Error",
    0x83: "End-to-end Application Tag Check Error", 0x84: "End-to-end Reference Tag Check Error",
    0x85: "Compare Failure", 0x86: "Access Denied", 0x87: "Deallocated or Unwritten Logical Block",
}

PATH = {0x00: "Internal Path Error", 0x60: "Internal Path Error (controller)",
        0x70: "Transport Path Error (host)"}

_TABLES = {0: GENERIC, 1: COMMAND_SPECIFIC, 2: MEDIA, 3: PATH}


def name(sct, sc):
    """The status's name; for codes without one, the kind of code it is."""
    if sct == 7:
        return "Vendor Specific"
    found = _TABLES.get(sct, {}).get(sc)
    if found:
        return found
    return f"Unknown (SCT {sct:x}h, SC {sc:02x}h)"


def decode(status):
    """The status field of a completion (the upper 16 bits of dword 3, with the
    phase tag in bit 0) as a dict. 0xffff, all ones, is what the driver puts
    in a completion it made itself (timeout, teardown)."""
    sc = (status >> 1) & 0xff
    sct = (status >> 9) & 0x7
    d = {"sct": sct, "sc": sc, "crd": (status >> 12) & 3, "more": (status >> 14) & 1,
         "dnr": (status >> 15) & 1, "name": name(sct, sc), "ok": sct == 0 and sc == 0}
    if status == 0xffff:
        d["name"] = "No completion from the device (made by the driver)"
    return d
