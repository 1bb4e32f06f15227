/* PRP and SGL building (see prp.h). */
#include "prp.h"

#include <errno.h>
#include <string.h>

#include "error.h"
#include "nvme_spec.h"

static int page_size_ok(uint32_t page_size)
{
	return page_size >= 4096 && (page_size & (page_size - 1)) == 0;
}

/* List pages needed for `entries` PRP entries: every page but the last gives
 * one slot to the chain pointer. */
static uint64_t prp_list_pages(uint64_t entries, uint64_t per_page)
{
	if (entries <= per_page)
		return entries ? 1 : 0;
	return (entries - 1 + (per_page - 1) - 1) / (per_page - 1);
}

long pn_prp_build(uint64_t iova, uint64_t len, uint32_t page_size,
		  const struct pn_list_mem *list, uint64_t *prp1, uint64_t *prp2)
{
	uint64_t first, rest, entries, per_page, pages, page_iova;
	uint64_t *slot;

	if (!page_size_ok(page_size))
		return pn_fail(EINVAL, "PRP: memory page size %u is not a power of two >= 4096",
			       page_size);
	if (iova & 3)
		return pn_fail(EINVAL, "PRP: address 0x%llx is not dword aligned",
			       (unsigned long long)iova);
	*prp1 = iova;
	*prp2 = 0;
	first = page_size - (iova & (page_size - 1));
	if (len <= first)
		return 0;
	rest = len - first;
	page_iova = iova + first; /* page aligned from here on */
	if (rest <= page_size) {
		*prp2 = page_iova;
		return 0;
	}
	entries = (rest + page_size - 1) / page_size;
	per_page = page_size / 8;
	pages = prp_list_pages(entries, per_page);
	if (!list || !list->vaddr || list->bytes < pages * page_size)
		return pn_fail(E2BIG, "PRP: a %llu-byte transfer needs %llu list pages, %zu bytes given",
			       (unsigned long long)len, (unsigned long long)pages,
			       list ? list->bytes : 0);
	if (list->iova & (page_size - 1))
		return pn_fail(EINVAL, "PRP: list memory at 0x%llx is not page aligned",
			       (unsigned long long)list->iova);
	*prp2 = list->iova;
	slot = list->vaddr;
	for (uint64_t page = 0, left = entries; left; page++) {
		uint64_t *entry = slot + page * per_page;
		uint64_t here = left <= per_page ? left : per_page - 1;

		for (uint64_t i = 0; i < here; i++, page_iova += page_size)
			entry[i] = page_iova;
		left -= here;
		if (left)
			entry[per_page - 1] = list->iova + (page + 1) * page_size;
		else
			return (long)(page * page_size + here * 8);
	}
	return 0; /* not reached: entries > 0 */
}

size_t pn_prp_list_bytes(uint64_t max_len, uint32_t page_size)
{
	uint64_t entries;

	if (!page_size_ok(page_size) || max_len <= page_size)
		return 0;
	/* Worst case: the transfer starts 4 bytes before a page boundary. */
	entries = (max_len - 4 + page_size - 1) / page_size;
	if (entries <= 1)
		return 0;
	return prp_list_pages(entries, page_size / 8) * page_size;
}

static void sgl_desc(struct pn_sgl_desc *d, uint64_t addr, uint32_t length, unsigned type)
{
	memset(d, 0, sizeof(*d));
	d->addr = addr;
	d->length = length;
	d->id = (uint8_t)(type << 4);
}

long pn_sgl_build(const struct pn_sgl_piece *pieces, int count, unsigned max_per_segment,
		  const struct pn_list_mem *list, uint64_t dptr[2])
{
	struct pn_sgl_desc sgl1, *desc;
	size_t capacity;
	int done = 0;
	unsigned seg_len;

	if (count < 1)
		return pn_fail(EINVAL, "SGL: no data pieces");
	for (int i = 0; i < count; i++)
		if (!pieces[i].len)
			return pn_fail(EINVAL, "SGL: piece %d has length 0", i);
	if (max_per_segment == 1)
		return pn_fail(EINVAL, "SGL: a chained segment needs room for 2 descriptors");
	if (count == 1) {
		sgl_desc(&sgl1, pieces[0].iova, pieces[0].len, PN_SGL_TYPE_DATA_BLOCK);
		memcpy(dptr, &sgl1, sizeof(sgl1));
		return 0;
	}
	capacity = list && list->vaddr ? list->bytes / sizeof(struct pn_sgl_desc) : 0;
	if (!max_per_segment)
		max_per_segment = capacity < 0xffffffffu / sizeof(struct pn_sgl_desc) ?
				  (unsigned)capacity : 0xffffffffu / sizeof(struct pn_sgl_desc);
	if (max_per_segment < 2)
		max_per_segment = 2;
	/* Descriptors needed: count data blocks plus one pointer per chained
	 * segment; every segment but the last holds max_per_segment - 1 data
	 * blocks. */
	{
		size_t segments = count <= (int)max_per_segment ? 1 :
			((size_t)count - 1 + (max_per_segment - 1) - 1) / (max_per_segment - 1);
		size_t needed = (size_t)count + segments - 1;

		if (needed > capacity)
			return pn_fail(E2BIG, "SGL: %d pieces need %zu descriptors, list holds %zu",
				       count, needed, capacity);
	}
	desc = list->vaddr;
	seg_len = (unsigned)(count - done) <= max_per_segment ? (unsigned)(count - done) : max_per_segment;
	sgl_desc(&sgl1, list->iova, seg_len * sizeof(struct pn_sgl_desc),
		 (unsigned)count <= max_per_segment ? PN_SGL_TYPE_LAST_SEGMENT : PN_SGL_TYPE_SEGMENT);
	memcpy(dptr, &sgl1, sizeof(sgl1));
	for (;;) {
		int left = count - done;

		if ((unsigned)left <= max_per_segment) {
			for (int i = 0; i < left; i++, desc++)
				sgl_desc(desc, pieces[done + i].iova, pieces[done + i].len,
					 PN_SGL_TYPE_DATA_BLOCK);
			return (long)((char *)desc - (char *)list->vaddr);
		}
		for (unsigned i = 0; i < max_per_segment - 1; i++, desc++)
			sgl_desc(desc, pieces[done + i].iova, pieces[done + i].len,
				 PN_SGL_TYPE_DATA_BLOCK);
		done += (int)max_per_segment - 1;
		left = count - done;
		seg_len = (unsigned)left <= max_per_segment ? (unsigned)left : max_per_segment;
		sgl_desc(desc, list->iova + (uint64_t)((char *)(desc + 1) - (char *)list->vaddr),
			 seg_len * sizeof(struct pn_sgl_desc),
			 (unsigned)left <= max_per_segment ? PN_SGL_TYPE_LAST_SEGMENT : PN_SGL_TYPE_SEGMENT);
		desc++;
	}
}

int pn_sgl_split(uint64_t iova, uint64_t len, uint64_t chunk, struct pn_sgl_piece *pieces, int max)
{
	uint64_t count;

	if (!len || !chunk || chunk > 0xffffffffull)
		return pn_fail(EINVAL, "SGL split: length %llu, chunk %llu",
			       (unsigned long long)len, (unsigned long long)chunk);
	count = (len + chunk - 1) / chunk;
	if (count > (uint64_t)max)
		return pn_fail(E2BIG, "SGL split: %llu pieces, room for %d",
			       (unsigned long long)count, max);
	for (uint64_t i = 0; i < count; i++) {
		pieces[i].iova = iova + i * chunk;
		pieces[i].len = (uint32_t)(len - i * chunk < chunk ? len - i * chunk : chunk);
	}
	return (int)count;
}
