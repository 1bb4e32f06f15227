/* DMA memory: host memory the device can read and write.
 *
 * Regions are page-aligned (2 MiB hugepages when the system has them free,
 * else 4 KiB pages), zero-filled, and get an IO virtual address (IOVA) from
 * our own allocator (iova.h). There is one IOMMU context per process (the
 * VFIO container, see vfio_container.h): every opened device shares it, so a
 * buffer can be used with any device. Regions may be allocated before any
 * device is opened (a Python Buffer made at the top of a script); they are
 * mapped into the IOMMU as soon as the container becomes usable, and new
 * regions are mapped at allocation from then on.
 */
#ifndef PYNVME_DMA_H
#define PYNVME_DMA_H

#include <stddef.h>
#include <stdint.h>

struct dma_region {
	void *vaddr;      /* CPU address of the first byte */
	uint64_t iova;    /* the device's address of the first byte */
	size_t size;      /* bytes, a multiple of the page size used */
	/* private to dma.c */
	size_t map_size;
	int hugepage;
	int mapped;
	struct dma_region *prev, *next;
};

/* Allocates a zero-filled region of at least `size` bytes (size > 0) and
 * stores it in *out. Maps it into the IOMMU if the container is usable.
 * Returns 0 or a negative errno (-ENOMEM: no memory or no IOVA space left;
 * -EINVAL: size 0 or too large; errors of VFIO_IOMMU_MAP_DMA). */
int dma_alloc(size_t size, struct dma_region **out);

/* Unmaps (if mapped) and frees a region; its IOVA range is reused later.
 * NULL is ignored. */
void dma_free(struct dma_region *region);

/* The IOVA of a CPU address inside `region` (no range check: the caller
 * keeps addresses inside the region). */
static inline uint64_t dma_iova(const struct dma_region *region, const void *addr)
{
	return region->iova + (uint64_t)((const char *)addr - (const char *)region->vaddr);
}

/* The CPU address of `len` bytes at device address `iova`, or NULL when
 * they are not all inside one allocated region: the IOMMU's answer, for a
 * device that is not behind one (the software controller). Takes a mutex;
 * remembers the last region found, so a run of lookups in one buffer
 * does not walk the list. */
void *dma_translate(uint64_t iova, size_t len);

/* Called by dma_free() for every region, after it can no longer be found by
 * dma_translate() and before its memory is unmapped: a software device
 * makes sure it is done with addresses it translated earlier. May block;
 * must not call dma_*(). */
typedef void (*dma_free_watch_fn)(void *ctx, void *vaddr, size_t len);

/* Adds / removes a watcher (up to 16). add returns 0 or -ENOSPC. */
int dma_watch_free(dma_free_watch_fn fn, void *ctx);
void dma_unwatch_free(dma_free_watch_fn fn, void *ctx);

/* Called by the VFIO layer once the process container has an IOMMU type set
 * (its first group attached): records the container and the usable IOVA
 * ranges, and maps every region allocated so far. `ranges` holds `count`
 * inclusive [start, end] pairs as reported by VFIO_IOMMU_GET_INFO (count 0:
 * unknown, keep the defaults). Regions allocated before keep their IOVA
 * when it lies in the reported ranges (always the case for the defaults of
 * iova.h under the 39-bit emulated IOMMU and typical x86 IOMMUs) and are
 * moved otherwise. All or nothing: on failure no region is mapped and the
 * container is not recorded. Calling it again with the same fd is a no-op;
 * another fd while attached gives -EBUSY. Returns 0 or a negative errno. */
int dma_iommu_attach(int container_fd, const uint64_t (*ranges)[2], int count);

/* Called by the VFIO layer before it closes the container (last device
 * closed): forgets the mappings (the kernel drops them with the container);
 * regions stay allocated and are mapped again on the next attach. */
void dma_iommu_detach(void);

#endif
