/* IO virtual address (IOVA) allocator: which device addresses DMA regions get.
 *
 * A pure range allocator (no system calls): a sorted free list of address
 * ranges, first-fit allocation of page-aligned ranges (lowest address first,
 * so freed ranges are reused before fresh space is touched), and coalescing
 * of adjacent free ranges on free. The usable space is the set of ranges the
 * IOMMU reports (VFIO_IOMMU_GET_INFO's IOVA range capability), always minus
 * the first 1 MiB (so a zero or small bogus address never hits a buffer) and
 * minus the x86 MSI window 0xfee00000-0xfeefffff (DMA writes there are
 * interrupt messages, not memory writes). Not thread-safe: the caller (dma.c)
 * serialises access.
 */
#ifndef PYNVME_IOVA_H
#define PYNVME_IOVA_H

#include <stddef.h>
#include <stdint.h>

#define IOVA_PAGE_SIZE   4096ULL
#define IOVA_FLOOR       0x100000ULL      /* nothing below 1 MiB is handed out */
#define IOVA_MSI_START   0xfee00000ULL    /* MSI window, inclusive start */
#define IOVA_MSI_END     0xfeefffffULL    /* MSI window, inclusive end */
#define IOVA_DEFAULT_TOP (1ULL << 39)     /* default upper bound (exclusive): 39-bit IOMMUs */

/* A half-open address range [start, end). */
struct iova_range {
	uint64_t start;
	uint64_t end;
};

struct iova_space {
	struct iova_range *free;  /* sorted by start, disjoint, never adjacent */
	int nfree;
	int cap;
	struct iova_range *usable; /* the whole managed space (for free() checks) */
	int nusable;
};

/* Initialises `space` with the usable ranges `ranges` (`count` inclusive
 * [first, last] pairs, as VFIO reports them), minus the first 1 MiB and the
 * MSI window, trimmed to whole pages. count 0 (or ranges NULL) selects the
 * defaults used before any IOMMU is known: [1 MiB, 0xfee00000) and
 * [4 GiB, 2^39). Returns 0, -EINVAL (a range with first > last, or nothing
 * usable left) or -ENOMEM. */
int iova_init(struct iova_space *space, const uint64_t (*ranges)[2], int count);

/* Releases the allocator's own memory (allocated ranges are forgotten). */
void iova_fini(struct iova_space *space);

/* Allocates `size` bytes (rounded up to whole pages) aligned to `align` (a
 * power of two >= 4096; 0 means 4096). Stores the address in *iova.
 * Returns 0, -EINVAL (size 0, bad align) or -ENOMEM (no free range fits). */
int iova_alloc(struct iova_space *space, uint64_t size, uint64_t align, uint64_t *iova);

/* Claims the specific range [iova, iova + size) (size rounded up to pages),
 * for a region that already has an address and must keep it. Returns 0,
 * -EINVAL (unaligned) or -EBUSY (not entirely free). */
int iova_reserve(struct iova_space *space, uint64_t iova, uint64_t size);

/* Returns [iova, iova + size) (as given to iova_alloc/iova_reserve) to the
 * free list, merging it with its free neighbours. Returns 0, or -EINVAL when
 * the range is unaligned, outside the usable space or (partly) free already
 * (a double free: the list is left unchanged). */
int iova_free(struct iova_space *space, uint64_t iova, uint64_t size);

/* Total free bytes (for tests and diagnostics). */
uint64_t iova_free_bytes(const struct iova_space *space);

#endif
