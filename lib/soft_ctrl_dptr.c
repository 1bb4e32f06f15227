/* Software NVMe controller: data pointers. Walks a command's PRPs (PRP1,
 * PRP2, PRP lists chained through their last entry) or SGL (Data Block,
 * Segment and Last Segment descriptors) into the controller's segment
 * table, translating every device address through the creator's
 * translator, and copies between the host and the controller.
 */
#include <stdbool.h>
#include <string.h>

#include "soft_ctrl_priv.h"

#define GEN(sc) sc_status(NVME_SCT_GENERIC, (sc))
#define XFER_ERROR sc_status_retry(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR)
/* Segment descriptors followed for one command: a bound, so an SGL whose
 * segments point at each other cannot hold the controller forever. */
#define SC_MAX_SGL_SEGMENTS 1024

static inline bool seg_add(struct soft_ctrl *c, uint32_t *n, uint8_t *vaddr, uint32_t len)
{
	/* Host pages that follow each other in our address space merge, so
	 * a contiguous buffer costs one memcpy. */
	if (*n && c->segs[*n - 1].vaddr + c->segs[*n - 1].len == vaddr) {
		c->segs[*n - 1].len += len;
		return true;
	}
	if (*n == c->max_segs)
		return false;
	c->segs[*n].vaddr = vaddr;
	c->segs[*n].len = len;
	(*n)++;
	return true;
}

long sc_prp_walk(struct soft_ctrl *c, uint64_t prp1, uint64_t prp2, uint64_t len)
{
	uint64_t mask = c->page_size - 1;
	uint64_t left, chunk;
	uint32_t n = 0;
	uint8_t *v;

	if (len == 0)
		return 0;
	if (prp1 & 3)
		return -(long)GEN(NVME_SC_PRP_INVALID_OFFSET);
	chunk = c->page_size - (prp1 & mask);
	chunk = chunk < len ? chunk : len;
	v = c->cfg.iova_to_vaddr(c->cfg.dma_ctx, prp1, chunk);
	if (!v)
		return -(long)XFER_ERROR;
	seg_add(c, &n, v, (uint32_t)chunk);
	left = len - chunk;
	if (!left)
		return n;
	if (left <= c->page_size) {
		/* PRP2 is the second data page */
		if (prp2 & mask)
			return -(long)GEN(NVME_SC_PRP_INVALID_OFFSET);
		v = c->cfg.iova_to_vaddr(c->cfg.dma_ctx, prp2, left);
		if (!v)
			return -(long)XFER_ERROR;
		seg_add(c, &n, v, (uint32_t)left);
		return n;
	}
	/* PRP2 points at a PRP list, which may start inside its page; the
	 * last entry of a list page chains to the next page when more
	 * entries are needed than fit. */
	uint64_t list_iova = prp2;

	if (list_iova & 7)
		return -(long)GEN(NVME_SC_PRP_INVALID_OFFSET);
	while (left) {
		uint32_t entries = (uint32_t)((c->page_size - (list_iova & mask)) / 8);
		const uint64_t *list = c->cfg.iova_to_vaddr(c->cfg.dma_ctx, list_iova, entries * 8u);

		if (!list)
			return -(long)XFER_ERROR;
		for (uint32_t i = 0; i < entries && left; i++) {
			uint64_t e = list[i];

			if (i == entries - 1 && left > c->page_size) {
				if (e & mask)
					return -(long)GEN(NVME_SC_PRP_INVALID_OFFSET);
				list_iova = e;
				break;
			}
			if (e & mask)
				return -(long)GEN(NVME_SC_PRP_INVALID_OFFSET);
			chunk = left < c->page_size ? left : c->page_size;
			v = c->cfg.iova_to_vaddr(c->cfg.dma_ctx, e, chunk);
			if (!v)
				return -(long)XFER_ERROR;
			if (!seg_add(c, &n, v, (uint32_t)chunk))
				return -(long)GEN(NVME_SC_INVALID_FIELD);
			left -= chunk;
		}
	}
	return n;
}

static void *translate(struct soft_ctrl *c, uint64_t iova, size_t len)
{
	return c->cfg.iova_to_vaddr(c->cfg.dma_ctx, iova, len);
}

/* One Data Block descriptor: takes what is still wanted of it. */
static long sgl_data_block(struct soft_ctrl *c, const struct pn_sgl_desc *d, uint32_t *n,
			   uint64_t *left)
{
	uint64_t take = d->length < *left ? d->length : *left;
	uint8_t *v;

	if ((d->id & 0xf) != 0)          /* only the Address sub type (no keys, no offsets) */
		return -(long)GEN(NVME_SC_SGL_INVALID_TYPE);
	if (!take)
		return 0;
	v = translate(c, d->addr, take);
	if (!v)
		return -(long)XFER_ERROR;
	if (!seg_add(c, n, v, (uint32_t)take))
		return -(long)GEN(NVME_SC_SGL_INVALID_COUNT);
	*left -= take;
	return 0;
}

long sc_sgl_walk(struct soft_ctrl *c, const struct pn_sgl_desc *sgl1, uint64_t len)
{
	struct pn_sgl_desc d = *sgl1;
	uint64_t left = len;
	uint32_t n = 0;
	long rc;

	for (unsigned seg = 0;; seg++) {
		unsigned type = d.id >> 4;
		const struct pn_sgl_desc *list;
		uint32_t count;

		if (type == PN_SGL_TYPE_DATA_BLOCK) {
			/* SGL1 itself (only there: in a list they are handled below) */
			rc = sgl_data_block(c, &d, &n, &left);
			if (rc)
				return rc;
			break;
		}
		if (type != PN_SGL_TYPE_SEGMENT && type != PN_SGL_TYPE_LAST_SEGMENT)
			return -(long)GEN(NVME_SC_SGL_INVALID_TYPE);
		if (d.length == 0 || d.length % sizeof(*list) || (d.id & 0xf) != 0)
			return -(long)GEN(NVME_SC_SGL_INVALID_LAST);
		if (seg == SC_MAX_SGL_SEGMENTS)
			return -(long)GEN(NVME_SC_SGL_INVALID_COUNT);
		list = translate(c, d.addr, d.length);
		if (!list)
			return -(long)XFER_ERROR;
		count = d.length / sizeof(*list);
		for (uint32_t i = 0; i < count; i++) {
			unsigned t = list[i].id >> 4;
			bool pointer = t == PN_SGL_TYPE_SEGMENT || t == PN_SGL_TYPE_LAST_SEGMENT;

			/* A Segment's last descriptor, and only that one, points
			 * at the next segment. */
			if (type == PN_SGL_TYPE_SEGMENT && i == count - 1) {
				if (!pointer)
					return -(long)GEN(NVME_SC_SGL_INVALID_LAST);
				break;
			}
			if (pointer)
				return -(long)GEN(NVME_SC_SGL_INVALID_LAST);
			if (t != PN_SGL_TYPE_DATA_BLOCK)
				return -(long)GEN(NVME_SC_SGL_INVALID_TYPE);
			rc = sgl_data_block(c, &list[i], &n, &left);
			if (rc)
				return rc;
		}
		if (type == PN_SGL_TYPE_LAST_SEGMENT)
			break;
		d = list[count - 1];
	}
	/* Descriptors describing less than the command moves. */
	if (left)
		return -(long)GEN(NVME_SC_SGL_INVALID_DATA);
	return n;
}

long sc_data_walk(struct soft_ctrl *c, const struct pn_sqe *sqe, uint64_t len)
{
	struct pn_sgl_desc sgl1;

	if ((sqe->flags & PN_PSDT_MASK) == PN_PSDT_PRP)
		return sc_prp_walk(c, sqe->prp1, sqe->prp2, len);
	if (len == 0)
		return 0;
	memcpy(&sgl1, &sqe->prp1, sizeof(sgl1));
	return sc_sgl_walk(c, &sgl1, len);
}

uint16_t sc_copy_to_host(struct soft_ctrl *c, const struct pn_sqe *sqe, const void *src,
			 uint64_t src_len, uint64_t len)
{
	long n = sc_data_walk(c, sqe, len);
	const uint8_t *p = src;

	if (n < 0)
		return (uint16_t)-n;
	for (long i = 0; i < n; i++) {
		uint64_t l = c->segs[i].len, from_src = l < src_len ? l : src_len;

		memcpy(c->segs[i].vaddr, p, from_src);
		memset(c->segs[i].vaddr + from_src, 0, l - from_src);
		p += from_src;
		src_len -= from_src;
	}
	return 0;
}

uint16_t sc_copy_from_host(struct soft_ctrl *c, const struct pn_sqe *sqe, void *dst, uint64_t len)
{
	long n = sc_data_walk(c, sqe, len);
	uint8_t *p = dst;

	if (n < 0)
		return (uint16_t)-n;
	for (long i = 0; i < n; i++) {
		memcpy(p, c->segs[i].vaddr, c->segs[i].len);
		p += c->segs[i].len;
	}
	return 0;
}

