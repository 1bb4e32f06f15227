#include "pci_cap.h"

#include <errno.h>

#define PCI_STATUS            0x06
#define PCI_STATUS_CAP_LIST   0x10
#define PCI_CAPABILITY_LIST   0x34

/* A list can hold at most this many distinct entries (each at least 4 bytes
 * standard, 4 bytes extended, inside its area); walking more means a loop. */
#define STD_MAX_ENTRIES ((PCI_CAP_STD_END - PCI_CAP_STD_START) / 4)
#define EXT_MAX_ENTRIES ((PCI_CAP_EXT_END - PCI_CAP_EXT_START) / 4)

static int walk_standard(pci_cfg_read_fn read, void *ctx, pci_cap_visit_fn visit, void *arg)
{
	uint8_t status_lo, ptr;
	int ret;

	ret = read(ctx, PCI_STATUS, &status_lo, 1);
	if (ret < 0)
		return ret;
	if (!(status_lo & PCI_STATUS_CAP_LIST))
		return 0;
	ret = read(ctx, PCI_CAPABILITY_LIST, &ptr, 1);
	if (ret < 0)
		return ret;
	/* The low two bits of every pointer are reserved (spec: software masks them). */
	ptr &= ~3u;
	for (int n = 0; n < STD_MAX_ENTRIES && ptr >= PCI_CAP_STD_START; n++) {
		uint8_t hdr[2];

		ret = read(ctx, ptr, hdr, 2);
		if (ret < 0)
			return ret;
		/* An id of 0xff is what an absent device reads as: the list ends. */
		if (hdr[0] == 0xff)
			return 0;
		ret = visit(arg, hdr[0], ptr);
		if (ret)
			return ret;
		ptr = hdr[1] & ~3u;
	}
	return 0;
}

static int walk_extended(pci_cfg_read_fn read, void *ctx, uint32_t cfg_size,
			 pci_cap_visit_fn visit, void *arg)
{
	uint32_t offset = PCI_CAP_EXT_START;
	uint32_t end = cfg_size < PCI_CAP_EXT_END ? cfg_size : PCI_CAP_EXT_END;

	for (int n = 0; n < EXT_MAX_ENTRIES && offset >= PCI_CAP_EXT_START && offset + 4 <= end; n++) {
		uint8_t raw[4];
		uint32_t hdr;
		int ret = read(ctx, offset, raw, 4);

		if (ret < 0)
			return ret;
		hdr = raw[0] | raw[1] << 8 | raw[2] << 16 | (uint32_t)raw[3] << 24;
		/* 0: no extended capabilities; all-ones: absent/unreadable device. */
		if (hdr == 0 || hdr == 0xffffffffu)
			return 0;
		ret = visit(arg, hdr & 0xffff, offset);
		if (ret)
			return ret;
		offset = (hdr >> 20) & ~3u;
	}
	return 0;
}

int pci_cap_walk(pci_cfg_read_fn read, void *ctx, uint32_t cfg_size, bool extended,
		 pci_cap_visit_fn visit, void *arg)
{
	if (!extended)
		return walk_standard(read, ctx, visit, arg);
	if (cfg_size <= PCI_CAP_EXT_START)
		return 0;
	return walk_extended(read, ctx, cfg_size, visit, arg);
}

struct find_arg {
	int cap_id;
};

static int find_visit(void *arg, int cap_id, uint32_t offset)
{
	struct find_arg *find = arg;

	return cap_id == find->cap_id ? (int)offset : 0;
}

int pci_cap_find(pci_cfg_read_fn read, void *ctx, uint32_t cfg_size, bool extended, int cap_id)
{
	struct find_arg find = {.cap_id = cap_id};
	int ret = pci_cap_walk(read, ctx, cfg_size, extended, find_visit, &find);

	if (ret == 0)
		return -ENOENT;
	return ret;
}
