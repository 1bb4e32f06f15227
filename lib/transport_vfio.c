/* The PCIe transport: a function bound to vfio-pci (vfio_pci.h), with slot
 * power through the port above it (slot_power.h). Each op forwards to the
 * VFIO layer; this file only adapts the signatures. */
#include "transport_vfio.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "slot_power.h"
#include "vfio_pci.h"

struct vfio_transport {
	struct pn_transport t;       /* first: the ops see a pn_transport */
	struct vfio_pci *dev;
};

static struct vfio_pci *dev_of(struct pn_transport *t)
{
	return ((struct vfio_transport *)t)->dev;
}

static void vt_close(struct pn_transport *t)
{
	vfio_pci_close(dev_of(t));
	free(t);
}

static int vt_cfg_read(struct pn_transport *t, uint32_t offset, void *buf, size_t len)
{
	return vfio_pci_cfg_read(dev_of(t), offset, buf, len);
}

static int vt_cfg_write(struct pn_transport *t, uint32_t offset, const void *buf, size_t len)
{
	return vfio_pci_cfg_write(dev_of(t), offset, buf, len);
}

static int vt_cap_offset(struct pn_transport *t, int cap_id, bool extended)
{
	return vfio_pci_cap_offset(dev_of(t), cap_id, extended);
}

static int vt_bar_map(struct pn_transport *t, int index, volatile void **addr, uint64_t *size)
{
	return vfio_pci_bar_map(dev_of(t), index, addr, size);
}

static int vt_bar_read(struct pn_transport *t, int index, uint64_t offset, void *buf, size_t len)
{
	return vfio_pci_bar_read(dev_of(t), index, offset, buf, len);
}

static int vt_bar_write(struct pn_transport *t, int index, uint64_t offset, const void *buf,
			size_t len)
{
	return vfio_pci_bar_write(dev_of(t), index, offset, buf, len);
}

static int vt_enable(struct pn_transport *t)
{
	return vfio_pci_enable(dev_of(t));
}

static int vt_irq_count(struct pn_transport *t, enum pn_irq_kind kind)
{
	return dev_of(t)->irq_count[kind == PN_IRQ_MSIX ? VFIO_PCI_MSIX_IRQ_INDEX
							: VFIO_PCI_INTX_IRQ_INDEX];
}

static int vt_msix_enable(struct pn_transport *t, int count, const int *eventfds)
{
	return vfio_pci_msix_enable(dev_of(t), count, eventfds);
}

static int vt_intx_enable(struct pn_transport *t, int eventfd)
{
	return vfio_pci_intx_enable(dev_of(t), eventfd);
}

static int vt_intx_unmask(struct pn_transport *t)
{
	return vfio_pci_intx_unmask(dev_of(t));
}

static int vt_msix_mask(struct pn_transport *t, unsigned vector, bool mask)
{
	struct vfio_pci *dev = dev_of(t);
	int cap = vfio_pci_cap_offset(dev, PCI_CAP_ID_MSIX, false);
	uint32_t table;
	volatile void *bar;
	uint64_t bar_size, offset;
	volatile uint32_t *ctrl;

	if (cap < 0)
		return pn_fail(ENOTSUP, "%s: no MSI-X capability", t->addr);
	if (vfio_pci_cfg_read(dev, (uint32_t)cap + PCI_MSIX_TABLE, &table, 4) < 0)
		return -EIO;
	/* The table is not reachable through VFIO's region read/write (the
	 * kernel hides it); the mmap()ed BAR reaches it where the kernel allows
	 * mapping it (interrupt remapping present). */
	if (vfio_pci_bar_map(dev, (int)(table & PCI_MSIX_TABLE_BIR), &bar, &bar_size) < 0)
		return -ENODEV;
	offset = (table & PCI_MSIX_TABLE_OFFSET) + 16ull * vector + PCI_MSIX_ENTRY_VECTOR_CTRL;
	if (offset + 4 > bar_size)
		return pn_fail(EINVAL, "%s: MSI-X table outside its BAR", t->addr);
	ctrl = (volatile uint32_t *)((volatile char *)bar + offset);
	*ctrl = mask ? (*ctrl | 1u) : (*ctrl & ~1u);
	return 0;
}

static int vt_flr(struct pn_transport *t)
{
	return vfio_pci_flr(dev_of(t));
}

static int vt_hot_reset(struct pn_transport *t)
{
	return vfio_pci_hot_reset(dev_of(t));
}

static int vt_power_state_get(struct pn_transport *t)
{
	return vfio_pci_power_state_get(dev_of(t));
}

static int vt_power_state_set(struct pn_transport *t, int state)
{
	return vfio_pci_power_state_set(dev_of(t), state);
}

static int vt_aspm_get(struct pn_transport *t)
{
	return vfio_pci_aspm_get(dev_of(t));
}

static int vt_aspm_set(struct pn_transport *t, int aspm)
{
	return vfio_pci_aspm_set(dev_of(t), aspm);
}

static void vt_external_reset_begin(struct pn_transport *t)
{
	vfio_pci_external_reset_begin(dev_of(t));
}

static int vt_external_reset_end(struct pn_transport *t, const char *how)
{
	return vfio_pci_external_reset_end(dev_of(t), how);
}

static int vt_slot_power(struct pn_transport *t, bool on)
{
	char port[16];
	int rc = pn_slot_power_find(t->addr, port);

	if (rc < 0)
		return rc;
	rc = pn_slot_power_set(port, on);
	if (rc < 0 || !on)
		return rc;
	/* PCIe: 100 ms after power is good before config requests */
	nanosleep(&(struct timespec){0, 100000000}, NULL);
	return pn_slot_wait_function(t->addr, 2000);
}

static uint32_t vt_reset_count(struct pn_transport *t)
{
	return dev_of(t)->reset_count;
}

static const char *vt_last_reset(struct pn_transport *t)
{
	return dev_of(t)->last_reset;
}

static const char *vt_removed(struct pn_transport *t)
{
	return vfio_pci_removed(dev_of(t));
}

static uint32_t vt_error_events(struct pn_transport *t)
{
	return vfio_pci_error_events(dev_of(t));
}

static const struct pn_transport_ops vfio_ops = {
	.kind = "pcie",
	.close = vt_close,
	.cfg_read = vt_cfg_read,
	.cfg_write = vt_cfg_write,
	.cap_offset = vt_cap_offset,
	.bar_map = vt_bar_map,
	.bar_read = vt_bar_read,
	.bar_write = vt_bar_write,
	.enable = vt_enable,
	.irq_count = vt_irq_count,
	.msix_enable = vt_msix_enable,
	.intx_enable = vt_intx_enable,
	.intx_unmask = vt_intx_unmask,
	.msix_mask = vt_msix_mask,
	.flr = vt_flr,
	.hot_reset = vt_hot_reset,
	.power_state_get = vt_power_state_get,
	.power_state_set = vt_power_state_set,
	.aspm_get = vt_aspm_get,
	.aspm_set = vt_aspm_set,
	.external_reset_begin = vt_external_reset_begin,
	.external_reset_end = vt_external_reset_end,
	.slot_power = vt_slot_power,
	.reset_count = vt_reset_count,
	.last_reset = vt_last_reset,
	.removed = vt_removed,
	.error_events = vt_error_events,
};

int pn_transport_vfio_open(const char *bdf, struct pn_transport **out)
{
	struct vfio_transport *vt = calloc(1, sizeof(*vt));
	int rc;

	if (!vt)
		return pn_fail(ENOMEM, "%s: no memory", bdf);
	rc = vfio_pci_open(bdf, &vt->dev);
	if (rc < 0) {
		free(vt);
		return rc;
	}
	vt->t.ops = &vfio_ops;
	snprintf(vt->t.addr, sizeof(vt->t.addr), "%s", vt->dev->bdf);
	vt->t.config_size = (uint32_t)vt->dev->config_size;
	for (int i = 0; i < PN_TRANSPORT_BARS && i < VFIO_PCI_BARS; i++)
		vt->t.bar_size[i] = vt->dev->bar[i].size;
	*out = &vt->t;
	return 0;
}
