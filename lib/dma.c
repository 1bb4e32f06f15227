/* DMA regions: anonymous memory + an IOVA of ours + a VFIO type1 mapping.
 *
 * Every region lives on one global list (protected by a mutex: allocation is
 * not on the IO hot path) so the regions allocated before the container
 * exists can be mapped when it appears, and re-mapped after it is recreated.
 */
#include "dma.h"

#include <errno.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

#include "error.h"
#include "iova.h"

#define SMALL_PAGE (4096ULL)
#define HUGE_PAGE  (2ULL << 20)

static pthread_mutex_t dma_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dma_region *regions;   /* head of the doubly linked list */
static struct iova_space space;
static bool space_ready;
static int container_fd = -1;        /* -1: no usable IOMMU context yet */
static struct dma_region *last_hit;  /* dma_translate()'s cache */

/* dma_watch_free() watchers: called without dma_lock held (a watcher may
 * wait for a thread that is inside dma_translate()). */
#define MAX_FREE_WATCHERS 16
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	dma_free_watch_fn fn;
	void *ctx;
} watchers[MAX_FREE_WATCHERS];

static uint64_t round_up(uint64_t x, uint64_t unit)
{
	return (x + unit - 1) & ~(unit - 1);
}

/* Hugepage regions get 2 MiB aligned IOVAs so the IOMMU can use 2 MiB
 * page-table entries for them too. */
static uint64_t iova_align(const struct dma_region *r)
{
	return r->hugepage ? HUGE_PAGE : SMALL_PAGE;
}

static int ensure_space(void)
{
	int rc;

	if (space_ready)
		return 0;
	rc = iova_init(&space, NULL, 0);
	if (!rc)
		space_ready = true;
	return rc;
}

static int iommu_map(struct dma_region *r)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)r->vaddr,
		.iova = r->iova,
		.size = r->map_size,
	};

	if (ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &map) < 0)
		return pn_fail(errno, "dma: VFIO_IOMMU_MAP_DMA of %zu bytes at IOVA 0x%llx failed: %s",
			       r->map_size, (unsigned long long)r->iova, strerror(errno));
	r->mapped = 1;
	return 0;
}

static void iommu_unmap(struct dma_region *r)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = r->iova,
		.size = r->map_size,
	};

	if (!r->mapped)
		return;
	/* A failure here cannot be acted on (the container is going away or
	 * the kernel already dropped the mapping); the IOVA is still ours. */
	(void)ioctl(container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap);
	r->mapped = 0;
}

/* The anonymous memory of a region: 2 MiB hugepages for regions of 2 MiB and
 * more when the kernel has free ones, else 4 KiB pages. */
static int map_memory(struct dma_region *r, size_t size)
{
	void *p = MAP_FAILED;

	if (size >= HUGE_PAGE) {
		size_t huge_size = round_up(size, HUGE_PAGE);

		p = mmap(NULL, huge_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
		if (p != MAP_FAILED) {
			r->map_size = huge_size;
			r->hugepage = 1;
		}
	}
	if (p == MAP_FAILED) {
		size_t small_size = round_up(size, SMALL_PAGE);

		p = mmap(NULL, small_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return pn_fail(ENOMEM, "dma: cannot allocate %zu bytes of memory: %s",
				       size, strerror(errno));
		r->map_size = small_size;
		r->hugepage = 0;
	}
	/* Fault every page in now (not during a command) and keep it resident.
	 * Without CAP_IPC_LOCK the lock limit may refuse; VFIO pins mapped
	 * pages anyway, so that is not an error. */
	(void)mlock(p, r->map_size);
	r->vaddr = p;
	r->size = r->map_size;
	return 0;
}

int dma_alloc(size_t size, struct dma_region **out)
{
	struct dma_region *r;
	struct sysinfo si;
	int rc;

	if (!size)
		return pn_fail(EINVAL, "dma: size must be > 0");
	if (size > IOVA_DEFAULT_TOP)
		return pn_fail(EINVAL, "dma: size %zu is larger than the IO address space", size);
	/* A size beyond the machine's memory would only end in the OOM killer
	 * when its pages are locked: refuse it with a message instead. */
	if (!sysinfo(&si) && (unsigned long long)size > (unsigned long long)si.totalram * si.mem_unit)
		return pn_fail(ENOMEM, "dma: size %zu is larger than the machine's memory (%llu bytes)",
			       size, (unsigned long long)si.totalram * si.mem_unit);
	r = calloc(1, sizeof(*r));
	if (!r)
		return pn_fail(ENOMEM, "dma: out of memory");
	rc = map_memory(r, size);
	if (rc) {
		free(r);
		return rc;
	}

	pthread_mutex_lock(&dma_lock);
	rc = ensure_space();
	if (!rc)
		rc = iova_alloc(&space, r->map_size, iova_align(r), &r->iova);
	if (!rc && container_fd >= 0) {
		rc = iommu_map(r);
		if (rc)
			iova_free(&space, r->iova, r->map_size);
	}
	if (!rc) {
		r->prev = NULL;
		r->next = regions;
		if (regions)
			regions->prev = r;
		regions = r;
	}
	pthread_mutex_unlock(&dma_lock);

	if (rc) {
		munmap(r->vaddr, r->map_size);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void dma_free(struct dma_region *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&dma_lock);
	iommu_unmap(r);
	if (r->prev)
		r->prev->next = r->next;
	else
		regions = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (last_hit == r)
		last_hit = NULL;
	pthread_mutex_unlock(&dma_lock);
	/* No translation finds the region any more; the watchers make sure
	 * none found earlier is still in use before the memory goes. */
	pthread_mutex_lock(&watch_lock);
	for (int i = 0; i < MAX_FREE_WATCHERS; i++)
		if (watchers[i].fn)
			watchers[i].fn(watchers[i].ctx, r->vaddr, r->map_size);
	pthread_mutex_unlock(&watch_lock);
	pthread_mutex_lock(&dma_lock);
	iova_free(&space, r->iova, r->map_size);
	pthread_mutex_unlock(&dma_lock);
	munmap(r->vaddr, r->map_size);
	free(r);
}

void *dma_translate(uint64_t iova, size_t len)
{
	struct dma_region *r;
	void *vaddr = NULL;

	pthread_mutex_lock(&dma_lock);
	r = last_hit;
	if (!r || iova < r->iova || iova - r->iova >= r->map_size)
		for (r = regions; r; r = r->next)
			if (iova >= r->iova && iova - r->iova < r->map_size)
				break;
	if (r && len <= r->map_size - (iova - r->iova)) {
		vaddr = (char *)r->vaddr + (iova - r->iova);
		last_hit = r;
	}
	pthread_mutex_unlock(&dma_lock);
	return vaddr;
}

int dma_watch_free(dma_free_watch_fn fn, void *ctx)
{
	int rc = pn_fail(ENOSPC, "dma: %d free watchers already", MAX_FREE_WATCHERS);

	pthread_mutex_lock(&watch_lock);
	for (int i = 0; i < MAX_FREE_WATCHERS; i++) {
		if (!watchers[i].fn) {
			watchers[i].fn = fn;
			watchers[i].ctx = ctx;
			pn_clear_error();
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&watch_lock);
	return rc;
}

void dma_unwatch_free(dma_free_watch_fn fn, void *ctx)
{
	pthread_mutex_lock(&watch_lock);
	for (int i = 0; i < MAX_FREE_WATCHERS; i++)
		if (watchers[i].fn == fn && watchers[i].ctx == ctx)
			watchers[i].fn = NULL;
	pthread_mutex_unlock(&watch_lock);
}

int dma_iommu_attach(int fd, const uint64_t (*ranges)[2], int count)
{
	struct iova_space restricted;
	struct dma_region *r;
	uint64_t *new_iova = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (fd < 0)
		return pn_fail(EINVAL, "dma: invalid container fd %d", fd);
	pthread_mutex_lock(&dma_lock);
	if (container_fd >= 0) {
		rc = container_fd == fd ? 0 : pn_fail(EBUSY, "dma: already attached to another container");
		goto out;
	}
	rc = iova_init(&restricted, ranges, count);
	if (rc)
		goto out;
	for (r = regions; r; r = r->next)
		n++;
	new_iova = calloc(n ? n : 1, sizeof(*new_iova));
	if (!new_iova) {
		iova_fini(&restricted);
		rc = pn_fail(ENOMEM, "dma: out of memory");
		goto out;
	}
	/* Existing regions keep their IOVA (the address a script may already
	 * have read from phys_addr) when it is usable under this IOMMU; only
	 * a region outside the reported ranges moves. Nothing changes until
	 * every region has a place, so a failure leaves the old state. */
	for (r = regions, i = 0; r; r = r->next, i++)
		new_iova[i] = iova_reserve(&restricted, r->iova, r->map_size) ? UINT64_MAX : r->iova;
	pn_clear_error();
	for (r = regions, i = 0; r; r = r->next, i++) {
		if (new_iova[i] != UINT64_MAX)
			continue;
		rc = iova_alloc(&restricted, r->map_size, iova_align(r), &new_iova[i]);
		if (rc) {
			iova_fini(&restricted);
			rc = pn_fail(ENOMEM, "dma: the IOMMU's IOVA ranges cannot hold the existing buffers");
			goto out;
		}
	}
	for (r = regions, i = 0; r; r = r->next, i++)
		r->iova = new_iova[i];
	if (space_ready)
		iova_fini(&space);
	space = restricted;
	space_ready = true;
	container_fd = fd;
	for (r = regions; r; r = r->next) {
		rc = iommu_map(r);
		if (rc) {
			/* All or nothing, so the caller can fail the open cleanly. */
			for (struct dma_region *q = regions; q != r; q = q->next)
				iommu_unmap(q);
			container_fd = -1;
			goto out;
		}
	}
out:
	pthread_mutex_unlock(&dma_lock);
	free(new_iova);
	return rc;
}

void dma_iommu_detach(void)
{
	pthread_mutex_lock(&dma_lock);
	/* The kernel drops the container's mappings with it; unmapping
	 * explicitly keeps this correct even if the fd stays open longer. */
	for (struct dma_region *r = regions; r; r = r->next)
		iommu_unmap(r);
	container_fd = -1;
	pthread_mutex_unlock(&dma_lock);
}
