/* Names of NVMe command opcodes, as the specification words them (nvme_names.h). */
#include "nvme_names.h"

const char *pn_nvme_admin_name(unsigned opc)
{
	switch (opc) {
	case 0x00: return "Delete I/O Submission Queue";
	case 0x01: return "Create I/O Submission Queue";
	case 0x02: return "Get Log Page";
	case 0x04: return "Delete I/O Completion Queue";
	case 0x05: return "Create I/O Completion Queue";
	case 0x06: return "Identify";
	case 0x08: return "Abort";
	case 0x09: return "Set Features";
	case 0x0a: return "Get Features";
	case 0x0c: return "Asynchronous Event Request";
	case 0x0d: return "Namespace Management";
	case 0x10: return "Firmware Commit";
	case 0x11: return "Firmware Image Download";
	case 0x14: return "Device Self-test";
	case 0x15: return "Namespace Attachment";
	case 0x18: return "Keep Alive";
	case 0x19: return "Directive Send";
	case 0x1a: return "Directive Receive";
	case 0x1c: return "Virtualization Management";
	case 0x1d: return "NVMe-MI Send";
	case 0x1e: return "NVMe-MI Receive";
	case 0x20: return "Capacity Management";
	case 0x24: return "Lockdown";
	case 0x7c: return "Doorbell Buffer Config";
	case 0x7f: return "Fabrics Commands";
	case 0x80: return "Format NVM";
	case 0x81: return "Security Send";
	case 0x82: return "Security Receive";
	case 0x84: return "Sanitize";
	case 0x86: return "Get LBA Status";
	default: return opc >= 0xc0 ? "Vendor Specific" : "Unknown";
	}
}

const char *pn_nvme_io_name(unsigned opc)
{
	switch (opc) {
	case 0x00: return "Flush";
	case 0x01: return "Write";
	case 0x02: return "Read";
	case 0x04: return "Write Uncorrectable";
	case 0x05: return "Compare";
	case 0x08: return "Write Zeroes";
	case 0x09: return "Dataset Management";
	case 0x0c: return "Verify";
	case 0x0d: return "Reservation Register";
	case 0x0e: return "Reservation Report";
	case 0x11: return "Reservation Acquire";
	case 0x15: return "Reservation Release";
	case 0x18: return "Cancel";
	case 0x19: return "Copy";
	case 0x79: return "Zone Management Send";
	case 0x7a: return "Zone Management Receive";
	case 0x7d: return "Zone Append";
	default: return opc >= 0x80 ? "Vendor Specific" : "Unknown";
	}
}
