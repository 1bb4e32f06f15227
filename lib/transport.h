/* The transport: what the controller (controller.c), the queue engine and
 * the Python Pcie object need from the device below them, as one ops table.
 *
 * Two implementations:
 * - "pcie" (transport_vfio.c): a PCIe function bound to vfio-pci, by BDF.
 * - "soft" (transport_soft.c): the software NVMe controller (soft_ctrl.h)
 *   behind an emulated PCIe function (config space with PM, MSI-X and PCIe
 *   capabilities; resets and slot power act on the controller).
 *
 * Everything off the hot path goes through the ops. The hot path does not:
 * the queue engine rings doorbells with plain stores through pointers into
 * BAR0 taken once at queue creation (bar_map), and reads completions from
 * host memory, so it does not know which transport it runs on and pays
 * nothing for the indirection.
 *
 * DMA memory is process-wide (dma.h): the VFIO transport sees it through the
 * IOMMU container; the soft transport translates device addresses with
 * dma_translate() and hears of every region about to be freed
 * (dma_watch_free()), so the controller thread never touches freed memory.
 *
 * Error convention: every op returns 0 (or a value >= 0) or -errno with
 * pn_last_error() naming the device and what failed. An op a transport
 * cannot do returns -ENOTSUP with a reason saying so.
 */
#ifndef PYNVME_TRANSPORT_H
#define PYNVME_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pn_transport;

/* Interrupt kinds of irq_count(). */
enum pn_irq_kind {
	PN_IRQ_INTX,
	PN_IRQ_MSIX,
};

struct pn_transport_ops {
	const char *kind;   /* "pcie", "soft" */

	/* Releases the device (not a soft controller's store: see
	 * transport_soft.c). Called once, by pn_transport_close(). */
	void (*close)(struct pn_transport *t);

	/* Config space: `len` bytes at `offset`. */
	int (*cfg_read)(struct pn_transport *t, uint32_t offset, void *buf, size_t len);
	int (*cfg_write)(struct pn_transport *t, uint32_t offset, const void *buf, size_t len);
	/* Offset of capability `cap_id` (`extended`: PCIe extended list), or
	 * -ENOENT. */
	int (*cap_offset)(struct pn_transport *t, int cap_id, bool extended);

	/* BAR `index`: the CPU mapping (for doorbells) and its size. */
	int (*bar_map)(struct pn_transport *t, int index, volatile void **addr, uint64_t *size);
	/* BAR access that never faults (1, 2, 4 or 8 bytes, aligned): -EIO when
	 * the function does not decode memory. */
	int (*bar_read)(struct pn_transport *t, int index, uint64_t offset, void *buf, size_t len);
	int (*bar_write)(struct pn_transport *t, int index, uint64_t offset, const void *buf,
			 size_t len);
	/* Memory decoding and bus mastering on (after resets and power-on). */
	int (*enable)(struct pn_transport *t);

	/* Interrupts: vectors the function has of a kind; MSI-X vectors on
	 * (count 0: off), each signalling eventfds[i]; INTx on (fd -1: off);
	 * INTx unmask after it fired; MSI-X vector mask bit. */
	int (*irq_count)(struct pn_transport *t, enum pn_irq_kind kind);
	int (*msix_enable)(struct pn_transport *t, int count, const int *eventfds);
	int (*intx_enable)(struct pn_transport *t, int eventfd);
	int (*intx_unmask)(struct pn_transport *t);
	int (*msix_mask)(struct pn_transport *t, unsigned vector, bool mask);

	/* Resets and power of the function (see vfio_pci.h for what each means
	 * on PCIe). Interrupt setup is lost after each. */
	int (*flr)(struct pn_transport *t);
	int (*hot_reset)(struct pn_transport *t);
	int (*power_state_get)(struct pn_transport *t);
	int (*power_state_set)(struct pn_transport *t, int state);
	int (*aspm_get)(struct pn_transport *t);
	int (*aspm_set)(struct pn_transport *t, int aspm);
	void (*external_reset_begin)(struct pn_transport *t);
	int (*external_reset_end)(struct pn_transport *t, const char *how);
	/* Slot power off/on; `on` waits until the function answers again. */
	int (*slot_power)(struct pn_transport *t, bool on);

	/* Resets done so far (users compare it to know their state is gone),
	 * and how the last one was done. */
	uint32_t (*reset_count)(struct pn_transport *t);
	const char *(*last_reset)(struct pn_transport *t);

	/* Hot removal: NULL while the device is present; once the OS took it
	 * back (an orderly removal: VFIO's device request, see vfio_pci.h) and
	 * the transport released it, a text saying so, which the controller
	 * and the ioworkers report. A device that merely stopped answering (a
	 * surprise removal nobody was told of, a power loss) is not "removed"
	 * here: its registers read all ones. Safe from any thread. */
	const char *(*removed)(struct pn_transport *t);
	/* Uncorrectable PCIe errors the OS reported for the device so far. */
	uint32_t (*error_events)(struct pn_transport *t);
};

#define PN_TRANSPORT_BARS 6

struct pn_transport {
	const struct pn_transport_ops *ops;
	char addr[64];      /* canonical address: "0000:01:00.0", "soft", "soft:null" */
	uint32_t config_size;                 /* bytes of config space */
	/* The device runs on this machine's CPUs (a thread of the process):
	 * a polling loop must let it have the core now and then. */
	bool device_on_host_cpus;
	uint64_t bar_size[PN_TRANSPORT_BARS]; /* 0: no such BAR */
};

/* Opens the device at `addr`: "soft" or "soft:OPTIONS" (transport_soft.h)
 * for a software controller, else a BDF ("bb:dd.f" or "dddd:bb:dd.f") for
 * VFIO. Returns 0 or -errno (pn_last_error() says why). */
int pn_transport_open(const char *addr, struct pn_transport **out);

/* Canonical form of `addr` (what pn_transport_open() would call the
 * device) into `out` (64 bytes). Returns 0 or -EINVAL naming the text. */
int pn_transport_canonical(const char *addr, char out[64]);

/* Closes a device opened by pn_transport_open(). NULL is ignored. */
void pn_transport_close(struct pn_transport *t);

/* Whether `t` is the software controller. */
bool pn_transport_is_soft(const struct pn_transport *t);

/* Shorthands for the ops. */
static inline const char *pn_transport_removed(struct pn_transport *t)
{
	return t->ops->removed(t);
}

static inline int pn_cfg_read(struct pn_transport *t, uint32_t offset, void *buf, size_t len)
{
	return t->ops->cfg_read(t, offset, buf, len);
}

static inline int pn_cfg_write(struct pn_transport *t, uint32_t offset, const void *buf,
			       size_t len)
{
	return t->ops->cfg_write(t, offset, buf, len);
}

static inline int pn_bar_read(struct pn_transport *t, int index, uint64_t offset, void *buf,
			      size_t len)
{
	return t->ops->bar_read(t, index, offset, buf, len);
}

static inline int pn_bar_write(struct pn_transport *t, int index, uint64_t offset,
			       const void *buf, size_t len)
{
	return t->ops->bar_write(t, index, offset, buf, len);
}

#endif
