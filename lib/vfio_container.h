/* The process-wide VFIO container: one IOMMU context shared by every opened
 * PCIe function, so a DMA buffer works with all of them (see dma.h).
 *
 * The container is opened when the first IOMMU group is attached and closed
 * when the last one is detached. Groups are reference counted: two functions
 * of one group (a multi-function device) share the group fd, since the kernel
 * lets a group be opened only once. All functions are thread-safe.
 */
#ifndef PYNVME_VFIO_CONTAINER_H
#define PYNVME_VFIO_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

/* Opens IOMMU group `group_id` (/dev/vfio/<id>) if this process has not yet,
 * checks it is viable (no device of the group bound to a host driver),
 * attaches it to the container (opening the container, checking the VFIO API
 * version and type1 support, setting VFIO_TYPE1v2_IOMMU and handing the
 * usable IOVA ranges to dma_iommu_attach() on the first group), and takes a
 * reference. `who` names the caller's device in error reasons. Stores the
 * group fd in *group_fd. Returns 0 or -errno with pn_last_error() set. */
int vfio_container_group_get(int group_id, const char *who, int *group_fd);

/* Drops a reference taken by vfio_container_group_get(); the last one
 * detaches and closes the group, and the last group closes the container
 * (calling dma_iommu_detach() first). */
void vfio_container_group_put(int group_id);

/* The fd of group `group_id` if this process holds it open, else -1. Used
 * to prove ownership of the groups a bus reset affects. */
int vfio_container_group_fd(int group_id);

/* The container fd, or -1 when no group is attached. */
int vfio_container_fd(void);

/* Finds the usable IOVA ranges (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) in the
 * capability chain of a VFIO_IOMMU_GET_INFO answer: `info`, of which `size`
 * bytes were allocated (its own argsz is believed only when smaller). Stores a
 * malloc()ed array of {first, last} pairs in *out and their number in *count;
 * NULL and 0 when there is no such capability or the chain is cut short.
 * Makes no assumption about the alignment of the capabilities. Returns 0 or
 * -ENOMEM. (Used when the container gets its IOMMU; public for the tests.) */
int vfio_iova_ranges_from_info(const void *info, size_t size, uint64_t (**out)[2], int *count);

#endif
