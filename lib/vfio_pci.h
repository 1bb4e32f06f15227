/* A PCIe function opened through VFIO (the kernel's vfio-pci driver).
 *
 * The process shares one VFIO container (one IOMMU context, see dma.h) among
 * all opened functions; each function's IOMMU group is attached to it on
 * open. Config space goes through the VFIO config region (so the kernel's
 * virtualisation of a few fields applies, as for any VFIO user); BARs are
 * mmap()ed.
 *
 * Hot removal: the kernel cannot remove a function (an eject, `device_del`,
 * a slot's attention button, pciehp seeing the card go) while a process
 * holds it through VFIO; it asks the holder to let go through the device
 * request eventfd (VFIO_PCI_REQ_IRQ_INDEX), right away and again every 10 s.
 * Each open function has a watcher thread waiting on that eventfd and on the
 * error eventfd (VFIO_PCI_ERR_IRQ_INDEX: the kernel's AER handling reports an
 * uncorrectable error of the function). A thread, not a check at places the
 * driver passes anyway, because the request must be answered whatever the
 * process is doing: the script thread that asked the test bed to remove the
 * device waits for the removal to finish and is in no driver call, and a
 * removal left waiting blocks the kernel's hot-plug work. The thread sleeps in
 * poll() and costs the IO path nothing.
 *
 * On the request the watcher releases the function at once: the BAR
 * mappings are replaced (MAP_FIXED) by anonymous memory reading all ones, so
 * a doorbell store racing with the release lands there instead of faulting;
 * the device fd number is taken over (dup3) by a placeholder that fails
 * every access, so a racing read or ioctl gets an error, never another file;
 * the IOMMU group is released. The kernel's removal then completes. From then
 * on vfio_pci_removed() names the removal, every access fails with -ENODEV
 * saying so, and the function can be opened again once the kernel has it
 * back (re-insertion: a new vfio_pci_open()).
 */
#ifndef PYNVME_VFIO_PCI_H
#define PYNVME_VFIO_PCI_H

#include <pthread.h>
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
	uint32_t device_flags; /* VFIO_DEVICE_FLAGS_* */
	int msix_enabled;     /* vectors currently enabled through VFIO (0: none) */
	int intx_enabled;
	/* Incremented by every reset this layer performs (FLR, hot reset, and a
	 * D3hot->D0 transition that resets the function): users of the device
	 * (the controller) compare it to know their state is gone. */
	uint32_t reset_count;
	/* How the last reset was done, with why a preferred way was not used:
	 * for logs and test reports. */
	char last_reset[320];

	/* Hot removal and error reports (see the top of this file). */
	int req_fd;           /* device request eventfd, or -1 (kernel without it) */
	int err_fd;           /* error eventfd, or -1 */
	int wake_fd;          /* ends the watcher at close */
	pthread_t watcher;
	bool watching;
	pthread_mutex_t map_lock; /* BAR mappings against the release */
	int removed;          /* atomic: released after the kernel's request */
	uint32_t error_events; /* atomic: error eventfd signals so far */
	char removed_reason[160];
};

/* Checks and canonicalises a BDF: "bb:dd.f" or "dddd:bb:dd.f" (hex; device
 * <= 0x1f, function <= 7) becomes "dddd:bb:dd.f" in `out`. Returns 0, or
 * -EINVAL with pn_last_error() naming the text. */
int vfio_pci_parse_bdf(const char *text, char out[16]);

/* Opens the function `bdf` ("bb:dd.f" or "dddd:bb:dd.f"), attaches its IOMMU
 * group to the process container, enables memory decoding and bus mastering.
 * Refuses clearly (pn_last_error()) when the BDF is malformed or absent, not
 * bound to vfio-pci, has no IOMMU group, or the group is not viable (another
 * device of the group is bound to a host driver), or already open in this
 * process (-EBUSY: share the object instead). Returns 0 or -errno. */
int vfio_pci_open(const char *bdf, struct vfio_pci **out);

/* Releases the function (its BAR mappings, IRQs, device and group fds). */
void vfio_pci_close(struct vfio_pci *dev);

/* NULL while the function is present; after the kernel asked for it back
 * (hot removal) and the watcher released it, a text saying so ("hot-removed:
 * ..."). Safe from any thread at any time (one atomic load). */
const char *vfio_pci_removed(struct vfio_pci *dev);

/* How many times the kernel signalled an uncorrectable PCIe error of the
 * function (VFIO error eventfd: its AER driver's error_detected) since open.
 * 0 when the kernel offers no error eventfd. */
uint32_t vfio_pci_error_events(struct vfio_pci *dev);

/* Reads/writes `len` bytes of config space at `offset`. Offsets beyond the
 * config region give -EINVAL. Returns 0 or -errno. */
int vfio_pci_cfg_read(struct vfio_pci *dev, uint32_t offset, void *buf, size_t len);
int vfio_pci_cfg_write(struct vfio_pci *dev, uint32_t offset, const void *buf, size_t len);

/* Reads (`write` false) or writes `len` bytes of the config space of PCI
 * function `bdf` ("dddd:bb:dd.f") at `offset` through sysfs
 * (/sys/bus/pci/devices/<bdf>/config), without opening it through VFIO: for
 * bridges and ports we do not own, and for the hardware's own view of a
 * function whose VFIO config is virtualised. Needs root. Returns 0 or -errno
 * (reason names `bdf` and the offset). */
int vfio_pci_sysfs_cfg(const char *bdf, uint32_t offset, void *buf, size_t len, bool write);

/* Maps BAR `index` (if not yet) and returns its address and size. Returns 0
 * or -errno (-ENODEV: no such BAR or not memory-mappable).
 * Beware: while memory decoding is off or the function is in D3hot the
 * kernel revokes the mapping and touching it raises SIGBUS; code that cannot
 * know the state (a Python script's register access) uses vfio_pci_bar_read/
 * vfio_pci_bar_write instead. */
int vfio_pci_bar_map(struct vfio_pci *dev, int index, volatile void **addr, uint64_t *size);

/* Reads/writes `len` bytes (1, 2, 4 or 8, naturally aligned) of BAR `index`
 * at `offset` through the VFIO region (a system call, never a fault: -EIO
 * when the function does not decode memory). Returns 0 or -errno (-EINVAL:
 * outside the BAR, -ENODEV: no such BAR). */
int vfio_pci_bar_read(struct vfio_pci *dev, int index, uint64_t offset, void *buf, size_t len);
int vfio_pci_bar_write(struct vfio_pci *dev, int index, uint64_t offset, const void *buf, size_t len);

/* Sets Memory Space Enable and Bus Master Enable in the command register
 * (done by open and after every reset). Returns 0 or -errno. */
int vfio_pci_enable(struct vfio_pci *dev);

/* PCI power management D-state (PMCSR bits 1:0): 0 = D0 .. 3 = D3hot.
 * get returns the state (>= 0) or -errno; set returns 0 or -errno (-ENOTSUP:
 * no PM capability or D1/D2 not supported). Returning to D0 restores memory
 * decoding and bus mastering. */
int vfio_pci_power_state_get(struct vfio_pci *dev);
int vfio_pci_power_state_set(struct vfio_pci *dev, int state);

/* ASPM Control of the PCIe Link Control register (bits 1:0: 0 off, 1 L0s,
 * 2 L1, 3 both). VFIO does not pass Link Control writes to the device, so set
 * writes it through the function's sysfs config file (needs root) when the
 * VFIO write does not take. get returns the value or -errno; set returns 0 or
 * -errno (-ENOTSUP: no PCIe capability, -EIO: the device did not keep it). */
int vfio_pci_aspm_get(struct vfio_pci *dev);
int vfio_pci_aspm_set(struct vfio_pci *dev, int aspm);

/* Offset of capability `cap_id` in config space; `extended` selects the
 * PCIe extended capability list (offset >= 0x100). Returns the offset, or
 * -ENOENT when absent. */
int vfio_pci_cap_offset(struct vfio_pci *dev, int cap_id, bool extended);

/* Function level reset (VFIO_DEVICE_RESET, which the kernel performs as an
 * FLR when the function supports it), restoring memory decoding and bus
 * mastering afterwards. Returns 0 or -errno (-ENOTSUP: no FLR capability). */
int vfio_pci_flr(struct vfio_pci *dev);

/* Secondary bus reset through the upstream bridge: VFIO_DEVICE_PCI_HOT_RESET
 * (the kernel saves and restores config state; its ENOTTY after resetting,
 * when the bridge never reports link active, counts as done if the function
 * answers afterwards); when the kernel refuses and
 * the function is alone below its bridge, toggles the bridge's Secondary Bus
 * Reset bit through sysfs (needs root) and lets VFIO restore the BARs.
 * Restores memory decoding and bus mastering. Interrupt setup is lost: users
 * enable MSI-X/INTx again. Returns 0 or -errno. */
int vfio_pci_hot_reset(struct vfio_pci *dev);

/* A reset done by someone else (a script's own reset function: a GPIO, a
 * power module, a bridge it toggles itself): _begin turns interrupts off
 * before it; _end, after it, waits up to 1 s for the function to answer
 * config reads, records `how` as the last reset, and restores memory
 * decoding and bus mastering (VFIO restores the BARs). Interrupt setup is
 * lost as with the other resets. _end returns 0 or -errno (-EIO: the
 * function does not answer). */
void vfio_pci_external_reset_begin(struct vfio_pci *dev);
int vfio_pci_external_reset_end(struct vfio_pci *dev, const char *how);

/* Enables `count` MSI-X vectors (count 0: disables), each signalling the
 * eventfd in `eventfds[i]`. Returns 0 or -errno. */
int vfio_pci_msix_enable(struct vfio_pci *dev, int count, const int *eventfds);

/* Enables INTx signalling `eventfd` (-1 disables). Returns 0 or -errno. */
int vfio_pci_intx_enable(struct vfio_pci *dev, int eventfd);

/* VFIO masks INTx when it fires; this unmasks it after the interrupt has
 * been handled. Returns 0 or -errno. */
int vfio_pci_intx_unmask(struct vfio_pci *dev);

#endif
