#include "iova.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static uint64_t page_down(uint64_t x)
{
	return x & ~(IOVA_PAGE_SIZE - 1);
}

/* Rounds up to a page; returns 0 on overflow (callers treat 0 as invalid). */
static uint64_t page_up(uint64_t x)
{
	if (x > UINT64_MAX - (IOVA_PAGE_SIZE - 1))
		return 0;
	return page_down(x + IOVA_PAGE_SIZE - 1);
}

/* Inserts `r` at position `idx` of a range array, growing it as needed. */
static int array_insert(struct iova_range **arr, int *n, int *cap, int idx, struct iova_range r)
{
	if (*n == *cap) {
		int new_cap = *cap ? *cap * 2 : 16;
		struct iova_range *grown = realloc(*arr, (size_t)new_cap * sizeof(**arr));

		if (!grown)
			return pn_fail(ENOMEM, "iova: out of memory for the free list");
		*arr = grown;
		*cap = new_cap;
	}
	memmove(&(*arr)[idx + 1], &(*arr)[idx], (size_t)(*n - idx) * sizeof(**arr));
	(*arr)[idx] = r;
	(*n)++;
	return 0;
}

static void array_remove(struct iova_range *arr, int *n, int idx)
{
	memmove(&arr[idx], &arr[idx + 1], (size_t)(*n - idx - 1) * sizeof(*arr));
	(*n)--;
}

static int range_cmp(const void *a, const void *b)
{
	const struct iova_range *ra = a, *rb = b;

	return ra->start < rb->start ? -1 : ra->start > rb->start;
}

/* Adds [start, end) clipped to the floor and page-trimmed, if anything is left. */
static int add_usable(struct iova_range **arr, int *n, int *cap, uint64_t start, uint64_t end)
{
	if (start < IOVA_FLOOR)
		start = IOVA_FLOOR;
	start = page_up(start);
	end = page_down(end);
	if (!start || start >= end)
		return 0;
	return array_insert(arr, n, cap, *n, (struct iova_range){start, end});
}

int iova_init(struct iova_space *space, const uint64_t (*ranges)[2], int count)
{
	static const uint64_t defaults[][2] = {
		{IOVA_FLOOR, IOVA_MSI_START - 1},
		{1ULL << 32, IOVA_DEFAULT_TOP - 1},
	};
	struct iova_range *usable = NULL;
	int n = 0, cap = 0, rc;

	memset(space, 0, sizeof(*space));
	if (!ranges || count <= 0) {
		ranges = defaults;
		count = 2;
	}
	for (int i = 0; i < count; i++) {
		uint64_t first = ranges[i][0], last = ranges[i][1];
		/* Half-open end; the very last byte of the 64-bit space is dropped. */
		uint64_t end = last == UINT64_MAX ? UINT64_MAX : last + 1;

		if (first > last) {
			free(usable);
			return pn_fail(EINVAL, "iova: range %d is reversed (0x%llx > 0x%llx)", i,
				       (unsigned long long)first, (unsigned long long)last);
		}
		/* Everything but the MSI window: the part below it and the part above. */
		rc = add_usable(&usable, &n, &cap, first, end < IOVA_MSI_START ? end : IOVA_MSI_START);
		if (!rc)
			rc = add_usable(&usable, &n, &cap,
					first > IOVA_MSI_END + 1 ? first : IOVA_MSI_END + 1, end);
		if (rc) {
			free(usable);
			return rc;
		}
	}
	/* Reported ranges may come unsorted or overlapping: sort and merge.
	 * (Nothing usable leaves usable NULL, which qsort() must not get.) */
	if (n > 1)
		qsort(usable, (size_t)n, sizeof(*usable), range_cmp);
	for (int i = 1; i < n;) {
		if (usable[i].start <= usable[i - 1].end) {
			if (usable[i].end > usable[i - 1].end)
				usable[i - 1].end = usable[i].end;
			array_remove(usable, &n, i);
		} else {
			i++;
		}
	}
	if (!n) {
		free(usable);
		return pn_fail(EINVAL, "iova: no usable IOVA range (all below 1 MiB or in the MSI window)");
	}
	space->free = malloc((size_t)n * sizeof(*usable));
	if (!space->free) {
		free(usable);
		return pn_fail(ENOMEM, "iova: out of memory for the free list");
	}
	memcpy(space->free, usable, (size_t)n * sizeof(*usable));
	space->nfree = space->cap = n;
	space->usable = usable;
	space->nusable = n;
	return 0;
}

void iova_fini(struct iova_space *space)
{
	free(space->free);
	free(space->usable);
	memset(space, 0, sizeof(*space));
}

/* Takes [start, start + size) out of free range `idx`, which contains it. */
static int carve(struct iova_space *space, int idx, uint64_t start, uint64_t size)
{
	struct iova_range *r = &space->free[idx];
	uint64_t end = start + size;

	if (start == r->start && end == r->end) {
		array_remove(space->free, &space->nfree, idx);
	} else if (start == r->start) {
		r->start = end;
	} else if (end == r->end) {
		r->end = start;
	} else {
		struct iova_range tail = {end, r->end};
		int rc = array_insert(&space->free, &space->nfree, &space->cap, idx + 1, tail);

		if (rc)
			return rc;
		space->free[idx].end = start;
	}
	return 0;
}

int iova_alloc(struct iova_space *space, uint64_t size, uint64_t align, uint64_t *iova)
{
	uint64_t pages = page_up(size);

	if (!align)
		align = IOVA_PAGE_SIZE;
	if (!size || !pages)
		return pn_fail(EINVAL, "iova: invalid size %llu", (unsigned long long)size);
	if (align < IOVA_PAGE_SIZE || (align & (align - 1)))
		return pn_fail(EINVAL, "iova: alignment 0x%llx is not a power of two >= 4096",
			       (unsigned long long)align);
	for (int i = 0; i < space->nfree; i++) {
		const struct iova_range *r = &space->free[i];
		uint64_t start = (r->start + align - 1) & ~(align - 1);

		if (start < r->start || start >= r->end || r->end - start < pages)
			continue;
		int rc = carve(space, i, start, pages);

		if (rc)
			return rc;
		*iova = start;
		return 0;
	}
	return pn_fail(ENOMEM, "iova: no free IO virtual address range of %llu bytes (aligned to 0x%llx)",
		       (unsigned long long)pages, (unsigned long long)align);
}

int iova_reserve(struct iova_space *space, uint64_t iova, uint64_t size)
{
	uint64_t pages = page_up(size);

	if (!size || !pages || (iova & (IOVA_PAGE_SIZE - 1)) || iova + pages < iova)
		return pn_fail(EINVAL, "iova: cannot reserve [0x%llx, +0x%llx): unaligned or invalid",
			       (unsigned long long)iova, (unsigned long long)size);
	for (int i = 0; i < space->nfree; i++) {
		const struct iova_range *r = &space->free[i];

		if (r->start <= iova && iova + pages <= r->end)
			return carve(space, i, iova, pages);
	}
	return pn_fail(EBUSY, "iova: [0x%llx, +0x%llx) is not free",
		       (unsigned long long)iova, (unsigned long long)pages);
}

int iova_free(struct iova_space *space, uint64_t iova, uint64_t size)
{
	uint64_t pages = page_up(size);
	uint64_t end = iova + pages;
	int inside = 0, next;

	if (!size || !pages || (iova & (IOVA_PAGE_SIZE - 1)) || end < iova)
		return pn_fail(EINVAL, "iova: cannot free [0x%llx, +0x%llx): unaligned or invalid",
			       (unsigned long long)iova, (unsigned long long)size);
	for (int i = 0; i < space->nusable; i++)
		if (space->usable[i].start <= iova && end <= space->usable[i].end)
			inside = 1;
	if (!inside)
		return pn_fail(EINVAL, "iova: [0x%llx, 0x%llx) is outside the IOVA space",
			       (unsigned long long)iova, (unsigned long long)end);
	/* `next`: the first free range starting above iova; the previous one is next - 1. */
	for (next = 0; next < space->nfree && space->free[next].start <= iova; next++)
		;
	struct iova_range *prev = next > 0 ? &space->free[next - 1] : NULL;
	struct iova_range *after = next < space->nfree ? &space->free[next] : NULL;

	if ((prev && prev->end > iova) || (after && after->start < end))
		return pn_fail(EINVAL, "iova: [0x%llx, 0x%llx) is already (partly) free",
			       (unsigned long long)iova, (unsigned long long)end);
	int join_prev = prev && prev->end == iova;
	int join_next = after && after->start == end;

	if (join_prev && join_next) {
		prev->end = after->end;
		array_remove(space->free, &space->nfree, next);
	} else if (join_prev) {
		prev->end = end;
	} else if (join_next) {
		after->start = iova;
	} else {
		return array_insert(&space->free, &space->nfree, &space->cap, next,
				    (struct iova_range){iova, end});
	}
	return 0;
}

uint64_t iova_free_bytes(const struct iova_space *space)
{
	uint64_t total = 0;

	for (int i = 0; i < space->nfree; i++)
		total += space->free[i].end - space->free[i].start;
	return total;
}
