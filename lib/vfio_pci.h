/* A PCIe function opened through VFIO (the kernel's vfio-pci driver).
 *
 * The process shares one VFIO container (one IOMMU context, see dma.h) among
 * all opened functions; each function's IOMMU group is attached to it on
 * open. Config space goes through the VFIO config region (so the kernel's
 * virtualisation of a few fields applies, as for any VFIO user); BARs are
 * mmap()ed.
 */
#ifndef PYNVME_VFIO_PCI_H
#define PYNVME_VFIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VFIO_PCI_BARS 6

struct vfio_pci_bar {
	volatile void *map;   /* mmap()ed BAR, or NULL if not mapped / not mappable */
	uint64_t size;
	uint64_t region_offset; /* offset of the region in the device fd */
	uint32_t flags;       /* VFIO_REGION_INFO_FLAG_* */
};

struct vfio_pci {
	char bdf[16];         /* canonical "dddd:bb:dd.f" */
	int group_id;
	int group_fd;
	int device_fd;
	uint64_t config_offset; /* offset of the config region in the device fd */
	uint64_t config_size;
	struct vfio_pci_bar bar[VFIO_PCI_BARS];
	int irq_count[8];     /* number of vectors per VFIO_PCI_*_IRQ_INDEX */
};

/* Opens the function `bdf` ("bb:dd.f" or "dddd:bb:dd.f"), attaches its IOMMU
 * group to the process container, enables memory decoding and bus mastering.
 * Refuses clearly (pn_last_error()) when the BDF is malformed or absent, not
 * bound to vfio-pci, has no IOMMU group, or the group is not viable (another
 * device of the group is bound to a host driver). Returns 0 or -errno. */
int vfio_pci_open(const char *bdf, struct vfio_pci **out);

/* Releases the function (its BAR mappings, IRQs, device and group fds). */
void vfio_pci_close(struct vfio_pci *dev);

/* Reads/writes `len` bytes of config space at `offset`. Offsets beyond the
 * config region give -EINVAL. Returns 0 or -errno. */
int vfio_pci_cfg_read(struct vfio_pci *dev, uint32_t offset, void *buf, size_t len);
int vfio_pci_cfg_write(struct vfio_pci *dev, uint32_t offset, const void *buf, size_t len);

/* Maps BAR `index` (if not yet) and returns its address and size. Returns 0
 * or -errno (-ENODEV: no such BAR or not memory-mappable). */
int vfio_pci_bar_map(struct vfio_pci *dev, int index, volatile void **addr, uint64_t *size);

/* Offset of capability `cap_id` in config space; `extended` selects the
 * PCIe extended capability list (offset >= 0x100). Returns the offset, or
 * -ENOENT when absent. */
int vfio_pci_cap_offset(struct vfio_pci *dev, int cap_id, bool extended);

/* Function level reset (VFIO_DEVICE_RESET or the PCIe FLR bit), restoring
 * bus mastering afterwards. Returns 0 or -errno. */
int vfio_pci_flr(struct vfio_pci *dev);

/* Secondary bus reset through the upstream bridge (VFIO_DEVICE_PCI_HOT_RESET
 * when the kernel allows it). Returns 0 or -errno. */
int vfio_pci_hot_reset(struct vfio_pci *dev);

/* Enables `count` MSI-X vectors (count 0: disables), each signalling the
 * eventfd in `eventfds[i]`. Returns 0 or -errno. */
int vfio_pci_msix_enable(struct vfio_pci *dev, int count, const int *eventfds);

/* Enables INTx signalling `eventfd` (-1 disables). Returns 0 or -errno. */
int vfio_pci_intx_enable(struct vfio_pci *dev, int eventfd);

#endif
