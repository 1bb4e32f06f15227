/* Software NVMe controller: the NVM command set and the RAM store. sc_io_cmd() is the hot path: no locks, no system calls, no
 * allocation; in null mode it only checks the command.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "soft_ctrl_priv.h"

#define GEN(sc) sc_status(NVME_SCT_GENERIC, (sc))
#define XFER_ERROR sc_status_retry(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR)

/* ---- the store ---- */

int sc_ns_init(struct soft_ctrl *c, unsigned i)
{
	struct sc_ns *ns = &c->ns[i];

	ns->blocks = c->cfg.ns[i].blocks;
	ns->lba_size = c->cfg.ns[i].lba_size;
	ns->lba_shift = (uint8_t)__builtin_ctz(ns->lba_size);
	if (c->cfg.null_mode)
		return 0;
	/* Anonymous memory reserves nothing until written, and reads zeroes:
	 * a fresh namespace is all zeroes, as after a format. */
	ns->data_bytes = ns->blocks << ns->lba_shift;
	ns->data = mmap(NULL, ns->data_bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ns->data == MAP_FAILED) {
		ns->data = NULL;
		return -ENOMEM;
	}
	ns->uncor = mmap(NULL, (ns->blocks + 63) / 64 * 8, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ns->uncor == MAP_FAILED) {
		ns->uncor = NULL;
		return -ENOMEM;
	}
	return 0;
}

void sc_ns_fini(struct soft_ctrl *c, unsigned i)
{
	struct sc_ns *ns = &c->ns[i];

	if (ns->data)
		munmap(ns->data, ns->data_bytes);
	if (ns->uncor)
		munmap(ns->uncor, (ns->blocks + 63) / 64 * 8);
	ns->data = NULL;
	ns->uncor = NULL;
}

static bool uncor_any(const struct sc_ns *ns, uint64_t slba, uint64_t nlb)
{
	for (uint64_t b = slba; b < slba + nlb; b++)
		if (ns->uncor[b / 64] >> (b % 64) & 1)
			return true;
	return false;
}

static void uncor_set(struct sc_ns *ns, uint64_t slba, uint64_t nlb, bool set)
{
	for (uint64_t b = slba; b < slba + nlb; b++) {
		uint64_t bit = 1ull << (b % 64);
		bool was = ns->uncor[b / 64] & bit;

		if (set && !was) {
			ns->uncor[b / 64] |= bit;
			ns->uncor_count++;
		} else if (!set && was) {
			ns->uncor[b / 64] &= ~bit;
			ns->uncor_count--;
		}
	}
}

/* Zeroes blocks; whole pages go back to the kernel (they read as zeroes
 * and stop costing memory), the edges are cleared by hand. */
static void store_zero(struct sc_ns *ns, uint64_t slba, uint64_t nlb)
{
	uint8_t *start = ns->data + (slba << ns->lba_shift);
	uint8_t *end = start + (nlb << ns->lba_shift);
	uint8_t *page_start = (uint8_t *)(((uintptr_t)start + 4095) & ~(uintptr_t)4095);
	uint8_t *page_end = (uint8_t *)((uintptr_t)end & ~(uintptr_t)4095);

	if (page_end > page_start + 65536 &&
	    madvise(page_start, (size_t)(page_end - page_start), MADV_DONTNEED) == 0) {
		memset(start, 0, (size_t)(page_start - start));
		memset(page_end, 0, (size_t)(end - page_end));
	} else {
		memset(start, 0, (size_t)(end - start));
	}
	if (ns->uncor_count)
		uncor_set(ns, slba, nlb, false);
}

void sc_ns_erase(struct soft_ctrl *c, unsigned i)
{
	struct sc_ns *ns = &c->ns[i];

	if (!c->cfg.null_mode)
		store_zero(ns, 0, ns->blocks);
}

static uint16_t compare_with_host(struct soft_ctrl *c, const struct pn_sqe *sqe,
				  const uint8_t *stored, uint64_t len)
{
	long n = sc_data_walk(c, sqe, len);

	if (n < 0)
		return (uint16_t)-n;
	for (long i = 0; i < n; i++) {
		if (memcmp(c->segs[i].vaddr, stored, c->segs[i].len))
			return sc_status(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
		stored += c->segs[i].len;
	}
	return 0;
}

/* ---- NVM commands ---- */

/* The status of a command naming no active namespace (NVMe 1.4 §6.1.2,
 * §6.1.5): an invalid NSID (0, above NN, broadcast where it is not taken)
 * is Invalid Namespace or Format; an inactive one (1..NN, not attached) is
 * Invalid Field in Command. */
static uint32_t nsid_status(uint32_t nsid)
{
	if (nsid && nsid <= SOFT_CTRL_MAX_NS)
		return GEN(NVME_SC_INVALID_FIELD);
	return GEN(NVME_SC_INVALID_NS);
}

static uint32_t cmd_dsm(struct soft_ctrl *c, struct sc_ns *ns, const struct pn_sqe *sqe)
{
	uint32_t nr = (sqe->cdw10 & 0xff) + 1;
	struct nvme_dsm_range *ranges = (struct nvme_dsm_range *)c->scratch;
	uint16_t status;

	if (c->cfg.null_mode)
		return 0;
	status = sc_copy_from_host(c, sqe, ranges, nr * sizeof(*ranges));
	if (status)
		return status;
	for (uint32_t i = 0; i < nr; i++)
		if (ranges[i].slba + ranges[i].nlb > ns->blocks || ranges[i].slba + ranges[i].nlb < ranges[i].slba)
			return GEN(NVME_SC_LBA_RANGE);
	if (sqe->cdw11 & NVME_DSMGMT_AD)
		for (uint32_t i = 0; i < nr; i++)
			if (ranges[i].nlb)
				store_zero(ns, ranges[i].slba, ranges[i].nlb);
	return 0;
}

uint32_t sc_io_cmd(struct soft_ctrl *c, const struct pn_sqe *sqe)
{
	uint32_t nsid = sqe->nsid;
	uint8_t opc = sqe->opc;
	struct sc_ns *ns;
	uint64_t slba, nlb, bytes;
	uint8_t *stored;
	uint16_t status;

	switch (opc) {
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_compare:
	case nvme_cmd_write_zeroes:
	case nvme_cmd_write_uncor:
	case nvme_cmd_dsm:
	case nvme_cmd_verify:
		break;
	case nvme_cmd_flush:
		if (nsid != 0xffffffff && (nsid - 1u) >= c->cfg.nr_ns)
			return nsid_status(nsid);
		return 0;
	default:
		return GEN(NVME_SC_INVALID_OPCODE);
	}
	if (__builtin_expect((nsid - 1u) >= c->cfg.nr_ns, 0))
		return nsid_status(nsid);
	/* Fused commands are not supported; PSDT 11b is reserved. */
	if (__builtin_expect((sqe->flags & 3) || (sqe->flags & PN_PSDT_MASK) == PN_PSDT_MASK, 0))
		return GEN(NVME_SC_INVALID_FIELD);
	ns = &c->ns[nsid - 1];
	if (opc == nvme_cmd_dsm)
		return cmd_dsm(c, ns, sqe);

	slba = sqe->cdw10 | (uint64_t)sqe->cdw11 << 32;
	nlb = (sqe->cdw12 & 0xffff) + 1u;
	if (__builtin_expect(slba + nlb > ns->blocks || slba + nlb < slba, 0))
		return GEN(NVME_SC_LBA_RANGE);
	bytes = nlb << ns->lba_shift;

	switch (opc) {
	case nvme_cmd_read:
		if (__builtin_expect(bytes > c->max_xfer, 0))
			return GEN(NVME_SC_INVALID_FIELD);
		if (c->cfg.null_mode)
			break;
		stored = ns->data + (slba << ns->lba_shift);
		if (ns->uncor_count && uncor_any(ns, slba, nlb)) {
			c->media_errors++;
			return sc_status(NVME_SCT_MEDIA, NVME_SC_READ_ERROR);
		}
		status = sc_copy_to_host(c, sqe, stored, bytes, bytes);
		if (status)
			return status;
		break;
	case nvme_cmd_write:
		if (__builtin_expect(bytes > c->max_xfer, 0))
			return GEN(NVME_SC_INVALID_FIELD);
		if (c->cfg.null_mode)
			break;
		status = sc_copy_from_host(c, sqe, ns->data + (slba << ns->lba_shift), bytes);
		if (status)
			return status;
		if (ns->uncor_count)
			uncor_set(ns, slba, nlb, false);
		break;
	case nvme_cmd_compare:
		if (bytes > c->max_xfer)
			return GEN(NVME_SC_INVALID_FIELD);
		if (c->cfg.null_mode)
			break;
		if (ns->uncor_count && uncor_any(ns, slba, nlb)) {
			c->media_errors++;
			return sc_status(NVME_SCT_MEDIA, NVME_SC_READ_ERROR);
		}
		status = compare_with_host(c, sqe, ns->data + (slba << ns->lba_shift), bytes);
		if (status)
			return status;
		break;
	case nvme_cmd_verify:
		/* reads the media without a transfer: only unreadable blocks fail */
		if (!c->cfg.null_mode && ns->uncor_count && uncor_any(ns, slba, nlb)) {
			c->media_errors++;
			return sc_status(NVME_SCT_MEDIA, NVME_SC_READ_ERROR);
		}
		return 0;
	case nvme_cmd_write_zeroes:
		if (!c->cfg.null_mode)
			store_zero(ns, slba, nlb);
		break;
	case nvme_cmd_write_uncor:
		if (!c->cfg.null_mode)
			uncor_set(ns, slba, nlb, true);
		break;
	}
	/* SMART counts commands and bytes the host moved. */
	if (opc == nvme_cmd_read || opc == nvme_cmd_compare) {
		c->host_reads++;
		if (opc == nvme_cmd_read)
			c->bytes_read += bytes;
	} else {
		c->host_writes++;
		if (opc == nvme_cmd_write)
			c->bytes_written += bytes;
	}
	return 0;
}
