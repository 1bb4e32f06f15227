/* The soft transport: a software NVMe controller behind an emulated PCIe
 * function (transport_soft.h). Config space is an array with a write mask
 * per byte; the few registers with side effects (command, PMCSR, Device
 * Control's Initiate FLR) act on the controller when written.
 */
#include "transport_soft.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"
#include "error.h"
#include "nvme_spec.h"
#include "pci_cap.h"
#include "soft_address.h"

#define SOFT_VENDOR_ID 0xfffe
#define SOFT_DEVICE_ID 0x0001
#define MAX_SOFT_DEVICES 16
#define MAX_VECTORS SOFT_ADDRESS_MAX_VECTORS

/* Where the emulated capabilities sit. */
#define CAP_PM 0x40
#define CAP_MSIX 0x50
#define CAP_EXP 0x60

struct soft_device {
	struct pn_transport t;       /* first: the ops see a pn_transport */
	struct soft_ctrl *ctrl;
	bool open;

	/* Everything below but the interrupt state. Held while waiting for the
	 * controller thread (mailbox), so the thread never takes it. */
	pthread_mutex_t lock;
	uint8_t cfg[4096];
	uint8_t wmask[4096];
	bool gone;                   /* slot power off, or removed (pn_transport_soft_remove) */
	bool released;               /* atomic: orderly removal (pn_transport_soft_hot_remove) */
	bool user_hang;              /* pn_transport_soft_hang() */
	bool hung;                   /* what the controller was last told */
	int nvec_max;                /* MSI-X table size */
	pthread_mutex_t irq_lock;    /* the interrupt state: taken by the irq hook */
	int nvec;                    /* MSI-X vectors enabled (0: off) */
	int fds[MAX_VECTORS];
	uint8_t masked[MAX_VECTORS];
	uint8_t pending[MAX_VECTORS];
	int intx_fd;
	bool no_slot_power;          /* "noslot": the slot has no power controller */
	uint32_t reset_count;
	char last_reset[160];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct soft_device *registry[MAX_SOFT_DEVICES];

static struct soft_device *dev_of(struct pn_transport *t)
{
	return (struct soft_device *)t;
}

/* ---- config space ---- */

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static void mask16(struct soft_device *d, uint32_t off, uint16_t m)
{
	put16(d->wmask + off, m);
}

/* Config space at power-on: the header, then PM -> MSI-X -> PCIe. */
static void cfg_power_on(struct soft_device *d)
{
	uint8_t *c = d->cfg;
	uint64_t bar_size = soft_ctrl_bar0_size(d->ctrl);
	uint32_t bar_mask = (uint32_t)~(bar_size - 1) & ~0xfu;

	memset(c, 0, sizeof(d->cfg));
	memset(d->wmask, 0, sizeof(d->wmask));
	put16(c + PCI_VENDOR_ID, SOFT_VENDOR_ID);
	put16(c + PCI_DEVICE_ID, SOFT_DEVICE_ID);
	mask16(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	put16(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
	c[PCI_CLASS_PROG] = 0x02;        /* NVM Express */
	c[PCI_CLASS_DEVICE] = 0x08;      /* non-volatile memory controller */
	c[PCI_CLASS_DEVICE + 1] = 0x01;  /* mass storage */
	put32(c + PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_TYPE_64);
	put32(d->wmask + PCI_BASE_ADDRESS_0, bar_mask);
	put32(d->wmask + PCI_BASE_ADDRESS_1, 0xffffffff);
	put16(c + PCI_SUBSYSTEM_VENDOR_ID, SOFT_VENDOR_ID);
	put16(c + PCI_SUBSYSTEM_ID, SOFT_DEVICE_ID);
	c[PCI_CAPABILITY_LIST] = CAP_PM;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;  /* scratch for the OS, as on hardware */
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	c[PCI_INTERRUPT_PIN] = 1;

	c[CAP_PM] = PCI_CAP_ID_PM;
	c[CAP_PM + 1] = CAP_MSIX;
	put16(c + CAP_PM + PCI_PM_PMC, 3);   /* version 1.2, no D1/D2 */
	mask16(d, CAP_PM + PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK);

	c[CAP_MSIX] = PCI_CAP_ID_MSIX;
	c[CAP_MSIX + 1] = CAP_EXP;
	put16(c + CAP_MSIX + PCI_MSIX_FLAGS, (uint16_t)(d->nvec_max - 1));
	mask16(d, CAP_MSIX + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	put32(c + CAP_MSIX + PCI_MSIX_TABLE, 4);          /* BAR4, not mappable */
	put32(c + CAP_MSIX + PCI_MSIX_PBA, 4 | 0x8000);

	c[CAP_EXP] = PCI_CAP_ID_EXP;
	c[CAP_EXP + 1] = 0;
	put16(c + CAP_EXP + PCI_EXP_FLAGS, 2 | PCI_EXP_TYPE_ENDPOINT << 4);
	put32(c + CAP_EXP + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_FLR);
	mask16(d, CAP_EXP + PCI_EXP_DEVCTL, 0x7fff);
	put32(c + CAP_EXP + PCI_EXP_LNKCAP, 3 | 4 << 4 | 3 << 10);  /* 8 GT/s x4, L0s+L1 */
	mask16(d, CAP_EXP + PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_ASPMC);
	put16(c + CAP_EXP + PCI_EXP_LNKSTA, 3 | 4 << 4);
}

/* Memory decoding on and in D0: what the BAR needs to answer. Lock held. */
static bool decoding(struct soft_device *d)
{
	return !d->gone && (get16(d->cfg + PCI_COMMAND) & PCI_COMMAND_MEMORY) &&
	       !(get16(d->cfg + CAP_PM + PCI_PM_CTRL) & PCI_PM_CTRL_STATE_MASK);
}

/* A function that does not decode memory never sees the doorbells, and one
 * in D3hot executes nothing: the controller is held still meanwhile (the
 * stores to its BAR0 memory cannot be refused here, as on the bus). Lock
 * held. Returns 0 or -errno. */
static int update_hang(struct soft_device *d)
{
	bool hang = d->user_hang || !decoding(d);
	int rc = 0;

	if (hang != d->hung) {
		rc = soft_ctrl_fault_hang(d->ctrl, hang);
		if (!rc)
			d->hung = hang;
	}
	return rc ? pn_fail(-rc, "%s: the software controller did not take the %s", d->t.addr,
			    hang ? "hang" : "release") : 0;
}

/* ---- resets ---- */

/* Interrupt setup is lost with every reset, as on VFIO. */
static void irqs_off(struct soft_device *d)
{
	pthread_mutex_lock(&d->irq_lock);
	d->nvec = 0;
	d->intx_fd = -1;
	memset(d->masked, 0, sizeof(d->masked));
	memset(d->pending, 0, sizeof(d->pending));
	pthread_mutex_unlock(&d->irq_lock);
}

/* A reset of the function: the controller back at power-on state, its
 * store kept. Config space stays (VFIO restores it after a reset). Lock
 * held. */
static int function_reset(struct soft_device *d, const char *how)
{
	int rc = soft_ctrl_fault_all_ones(d->ctrl, true);

	if (!rc)
		rc = soft_ctrl_fault_all_ones(d->ctrl, false);
	irqs_off(d);
	d->reset_count++;
	snprintf(d->last_reset, sizeof(d->last_reset), "%s", how);
	if (rc)
		return pn_fail(-rc, "%s: the software controller did not take the reset", d->t.addr);
	return 0;
}

/* ---- config space access ---- */

static const char *st_removed(struct pn_transport *t);

/* After an orderly removal this handle is done with the device, as a VFIO
 * one is: every access fails naming the removal (also once the device is
 * back, until a new open). */
static int check_present(struct soft_device *d)
{
	const char *why = st_removed(&d->t);

	return why ? pn_fail(ENODEV, "%s: %s", d->t.addr, why) : 0;
}

static int cfg_check(struct soft_device *d, uint32_t offset, size_t len)
{
	if (check_present(d))
		return -ENODEV;
	if (offset >= sizeof(d->cfg) || len > sizeof(d->cfg) - offset)
		return pn_fail(EINVAL, "%s: config access of %zu bytes at 0x%x is outside 0..0xfff",
			       d->t.addr, len, offset);
	return 0;
}

static int st_cfg_read(struct pn_transport *t, uint32_t offset, void *buf, size_t len)
{
	struct soft_device *d = dev_of(t);
	int rc = cfg_check(d, offset, len);

	if (rc)
		return rc;
	pthread_mutex_lock(&d->lock);
	if (d->gone)
		memset(buf, 0xff, len);
	else
		memcpy(buf, d->cfg + offset, len);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Side effects of a write that touched [offset, offset + len). Lock held. */
static int cfg_written(struct soft_device *d, uint32_t offset, size_t len, uint16_t old_pmcsr)
{
	uint32_t pmcsr_off = CAP_PM + PCI_PM_CTRL, devctl_off = CAP_EXP + PCI_EXP_DEVCTL;
	uint16_t pmcsr = get16(d->cfg + pmcsr_off);

	if (offset <= pmcsr_off && pmcsr_off < offset + len && (old_pmcsr & 3) == 3 &&
	    !(pmcsr & 3))
		return function_reset(d, "D3hot to D0 transition (No_Soft_Reset clear)");
	if (offset <= devctl_off + 1 && devctl_off + 1 < offset + len &&
	    (d->cfg[devctl_off + 1] & (PCI_EXP_DEVCTL_BCR_FLR >> 8)))
		return function_reset(d, "function level reset (Device Control, Initiate FLR)");
	return 0;
}

static int st_cfg_write(struct pn_transport *t, uint32_t offset, const void *buf, size_t len)
{
	struct soft_device *d = dev_of(t);
	const uint8_t *src = buf;
	uint16_t old_pmcsr;
	int rc = cfg_check(d, offset, len);

	if (rc)
		return rc;
	pthread_mutex_lock(&d->lock);
	if (d->gone) {
		pthread_mutex_unlock(&d->lock);
		return 0;  /* nobody answers: the write goes nowhere, as on the bus */
	}
	old_pmcsr = get16(d->cfg + CAP_PM + PCI_PM_CTRL);
	for (size_t i = 0; i < len; i++) {
		uint8_t m = d->wmask[offset + i];

		d->cfg[offset + i] = (uint8_t)((d->cfg[offset + i] & ~m) | (src[i] & m));
	}
	{
		/* D1 and D2 are not supported (PMC): such a write leaves the state */
		uint16_t pmcsr = get16(d->cfg + CAP_PM + PCI_PM_CTRL);
		uint16_t state = pmcsr & PCI_PM_CTRL_STATE_MASK;

		if (state == 1 || state == 2)
			put16(d->cfg + CAP_PM + PCI_PM_CTRL,
			      (uint16_t)((pmcsr & ~PCI_PM_CTRL_STATE_MASK) |
					 (old_pmcsr & PCI_PM_CTRL_STATE_MASK)));
	}
	rc = cfg_written(d, offset, len, old_pmcsr);
	/* Initiate FLR reads back as 0 */
	d->cfg[CAP_EXP + PCI_EXP_DEVCTL + 1] &= (uint8_t)~(PCI_EXP_DEVCTL_BCR_FLR >> 8);
	if (!rc)
		rc = update_hang(d);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int cfg_read_cb(void *ctx, uint32_t offset, void *buf, size_t len)
{
	return st_cfg_read(ctx, offset, buf, len);
}

static int st_cap_offset(struct pn_transport *t, int cap_id, bool extended)
{
	return pci_cap_find(cfg_read_cb, t, 4096, extended, cap_id);
}

/* ---- BAR0 ---- */

static int st_bar_map(struct pn_transport *t, int index, volatile void **addr, uint64_t *size)
{
	struct soft_device *d = dev_of(t);

	if (index != 0)
		return pn_fail(ENODEV, "%s: BAR%d is not implemented (only BAR0)", t->addr, index);
	*addr = soft_ctrl_bar0(d->ctrl);
	*size = soft_ctrl_bar0_size(d->ctrl);
	return 0;
}

static int bar_check(struct soft_device *d, int index, uint64_t offset, size_t len,
		     const char *what)
{
	if (index != 0)
		return pn_fail(ENODEV, "%s: BAR%d is not implemented (only BAR0)", d->t.addr, index);
	if ((len != 1 && len != 2 && len != 4 && len != 8) || offset % len ||
	    offset + len > soft_ctrl_bar0_size(d->ctrl))
		return pn_fail(EINVAL, "%s: BAR0 access of %zu bytes at 0x%llx is not aligned or "
			       "outside its %zu bytes", d->t.addr, len, (unsigned long long)offset,
			       soft_ctrl_bar0_size(d->ctrl));
	if (!decoding(d))
		return pn_fail(EIO, "%s: BAR0 %s at 0x%llx: the function does not answer (memory "
			       "decoding off, not in D0, or without power)", d->t.addr, what,
			       (unsigned long long)offset);
	return 0;
}

static int st_bar_read(struct pn_transport *t, int index, uint64_t offset, void *buf, size_t len)
{
	struct soft_device *d = dev_of(t);
	volatile uint8_t *p = (volatile uint8_t *)soft_ctrl_bar0(d->ctrl) + offset;
	bool gone;
	int rc;

	pthread_mutex_lock(&d->lock);
	gone = d->gone;
	rc = check_present(d) ? -ENODEV : gone ? 0 : bar_check(d, index, offset, len, "read");
	pthread_mutex_unlock(&d->lock);
	if (rc)
		return rc;
	if (gone) {
		/* nobody answers on the bus: the read completes with all ones */
		memset(buf, 0xff, len);
		return 0;
	}
	switch (len) {
	case 1: *(uint8_t *)buf = __atomic_load_n(p, __ATOMIC_ACQUIRE); break;
	case 2: *(uint16_t *)buf = __atomic_load_n((volatile uint16_t *)p, __ATOMIC_ACQUIRE); break;
	case 4: *(uint32_t *)buf = __atomic_load_n((volatile uint32_t *)p, __ATOMIC_ACQUIRE); break;
	default: *(uint64_t *)buf = __atomic_load_n((volatile uint64_t *)p, __ATOMIC_ACQUIRE); break;
	}
	return 0;
}

static int st_bar_write(struct pn_transport *t, int index, uint64_t offset, const void *buf,
			size_t len)
{
	struct soft_device *d = dev_of(t);
	bool gone;
	int rc;

	pthread_mutex_lock(&d->lock);
	gone = d->gone;
	rc = check_present(d) ? -ENODEV : gone ? 0 : bar_check(d, index, offset, len, "write");
	pthread_mutex_unlock(&d->lock);
	if (rc || gone)
		return rc;  /* a write to a removed function goes nowhere */
	/* registers keep their spec behaviour (read-only, reserved, RW1S/RW1C);
	 * a doorbell of a missing queue raises its Error event */
	soft_ctrl_bar0_write(d->ctrl, offset, buf, len);
	/* A register write reaches a device in order; the controller thread
	 * polls CC, so wait until it has acted on this one. */
	if (offset <= NVME_REG_CC && NVME_REG_CC < offset + len &&
	    soft_ctrl_cc_sync(d->ctrl) < 0)
		return pn_fail(ETIMEDOUT, "%s: the software controller did not act on CC within 5 s",
			       t->addr);
	return 0;
}

static int st_enable(struct pn_transport *t)
{
	uint16_t cmd;
	int rc = st_cfg_read(t, PCI_COMMAND, &cmd, 2);

	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	return rc ? rc : st_cfg_write(t, PCI_COMMAND, &cmd, 2);
}

/* ---- interrupts ---- */

/* The controller thread's interrupt hook: signal the vector's eventfd, or
 * remember it while the vector is masked. */
static void soft_irq(void *ctx, unsigned vector)
{
	struct soft_device *d = ctx;
	uint64_t one = 1;

	pthread_mutex_lock(&d->irq_lock);
	if (d->nvec && vector < (unsigned)d->nvec) {
		if (d->masked[vector])
			d->pending[vector] = 1;
		else if (write(d->fds[vector], &one, sizeof(one)) < 0)
			d->pending[vector] = 1;  /* eventfd full: cannot happen below 2^64 */
	}
	pthread_mutex_unlock(&d->irq_lock);
}

static int st_irq_count(struct pn_transport *t, enum pn_irq_kind kind)
{
	return kind == PN_IRQ_MSIX ? dev_of(t)->nvec_max : 0;
}

static int st_msix_enable(struct pn_transport *t, int count, const int *eventfds)
{
	struct soft_device *d = dev_of(t);

	if (count < 0 || count > d->nvec_max)
		return pn_fail(EINVAL, "%s: %d MSI-X vectors asked, the function has %d", t->addr,
			       count, d->nvec_max);
	irqs_off(d);
	pthread_mutex_lock(&d->irq_lock);
	for (int i = 0; i < count; i++)
		d->fds[i] = eventfds[i];
	d->nvec = count;
	pthread_mutex_unlock(&d->irq_lock);
	return 0;
}

static int st_intx_enable(struct pn_transport *t, int eventfd)
{
	return eventfd < 0 ? 0 : pn_fail(ENOTSUP, "%s: the software controller has no INTx", t->addr);
}

static int st_intx_unmask(struct pn_transport *t)
{
	return pn_fail(ENOTSUP, "%s: the software controller has no INTx", t->addr);
}

static int st_msix_mask(struct pn_transport *t, unsigned vector, bool mask)
{
	struct soft_device *d = dev_of(t);
	uint64_t one = 1;
	int rc = 0;

	pthread_mutex_lock(&d->irq_lock);
	if (vector >= (unsigned)d->nvec_max) {
		rc = pn_fail(EINVAL, "%s: MSI-X vector %u outside 0..%d", t->addr, vector,
			     d->nvec_max - 1);
	} else {
		d->masked[vector] = mask;
		/* an interrupt that came while masked is delivered on unmask */
		if (!mask && d->pending[vector] && vector < (unsigned)d->nvec &&
		    write(d->fds[vector], &one, sizeof(one)) == sizeof(one))
			d->pending[vector] = 0;
	}
	pthread_mutex_unlock(&d->irq_lock);
	return rc;
}

/* ---- resets and power ---- */

static int locked_reset(struct pn_transport *t, const char *how)
{
	struct soft_device *d = dev_of(t);
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = function_reset(d, how);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int st_flr(struct pn_transport *t)
{
	return locked_reset(t, "FLR, function level reset (software controller)");
}

static int st_hot_reset(struct pn_transport *t)
{
	return locked_reset(t, "hot reset (software controller: a secondary bus reset)");
}

/* A field of a 16-bit config register: its value, or -errno. */
static int cfg_field_get(struct pn_transport *t, uint32_t offset, uint16_t mask)
{
	uint16_t reg;
	int rc = st_cfg_read(t, offset, &reg, 2);

	return rc ? rc : reg & mask;
}

/* Writes a field of a 16-bit config register, the other bits as read. */
static int cfg_field_set(struct pn_transport *t, uint32_t offset, uint16_t mask, uint16_t value)
{
	uint16_t reg;
	int rc = st_cfg_read(t, offset, &reg, 2);

	reg = (uint16_t)((reg & ~mask) | (value & mask));
	return rc ? rc : st_cfg_write(t, offset, &reg, 2);
}

static int st_power_state_get(struct pn_transport *t)
{
	return cfg_field_get(t, CAP_PM + PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK);
}

static int st_power_state_set(struct pn_transport *t, int state)
{
	if (state != 0 && state != 3)
		return pn_fail(state == 1 || state == 2 ? ENOTSUP : EINVAL,
			       "%s: power state %d: the function has D0 and D3hot (0 and 3)", t->addr,
			       state);
	return cfg_field_set(t, CAP_PM + PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK, (uint16_t)state);
}

static int st_aspm_get(struct pn_transport *t)
{
	return cfg_field_get(t, CAP_EXP + PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_ASPMC);
}

static int st_aspm_set(struct pn_transport *t, int aspm)
{
	if (aspm < 0 || aspm > 3)
		return pn_fail(EINVAL, "%s: ASPM %d is not 0..3", t->addr, aspm);
	return cfg_field_set(t, CAP_EXP + PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_ASPMC, (uint16_t)aspm);
}

static void st_external_reset_begin(struct pn_transport *t)
{
	struct soft_device *d = dev_of(t);

	irqs_off(d);
}

static int st_external_reset_end(struct pn_transport *t, const char *how)
{
	struct soft_device *d = dev_of(t);

	pthread_mutex_lock(&d->lock);
	d->reset_count++;
	snprintf(d->last_reset, sizeof(d->last_reset), "%s", how);
	pthread_mutex_unlock(&d->lock);
	return st_enable(t);
}

static int locked_fault(struct pn_transport *t, int (*apply)(struct soft_device *d, bool on),
			bool on);

/* Slot power (lock held): off reads all ones; on comes back from reset
 * (command register 0, BARs cleared). */
static int apply_slot_power(struct soft_device *d, bool on)
{
	int rc = soft_ctrl_fault_all_ones(d->ctrl, !on);

	if (rc)
		return pn_fail(-rc, "%s: the software controller did not take slot power %s",
			       d->t.addr, on ? "on" : "off");
	if (on && d->gone) {
		cfg_power_on(d);
		irqs_off(d);
		d->reset_count++;
		snprintf(d->last_reset, sizeof(d->last_reset), "slot power on (software controller)");
	}
	d->gone = !on;
	return 0;
}

static int st_slot_power(struct pn_transport *t, bool on)
{
	if (dev_of(t)->no_slot_power)
		return pn_fail(ENOTSUP, "%s: the slot has no power controller (noslot)", t->addr);
	return locked_fault(t, apply_slot_power, on);
}

static uint32_t st_reset_count(struct pn_transport *t)
{
	return __atomic_load_n(&dev_of(t)->reset_count, __ATOMIC_ACQUIRE);
}

static const char *st_last_reset(struct pn_transport *t)
{
	return dev_of(t)->last_reset;
}

static void st_close(struct pn_transport *t)
{
	struct soft_device *d = dev_of(t);

	/* Injected faults live while the Pcie that injected them is open: a
	 * test that ends with one armed does not leave it to the next. The
	 * state they left (CFS, lost queues) is the device's, as on a drive. */
	soft_ctrl_inject_clear(d->ctrl);
	pn_transport_soft_hang(t, false);
	pn_transport_soft_hot_remove(t, false);
	pn_clear_error();
	irqs_off(d);
	pthread_mutex_lock(&registry_lock);
	d->open = false;  /* the controller and its store stay for the next open */
	pthread_mutex_unlock(&registry_lock);
}

static const char *st_removed(struct pn_transport *t)
{
	if (!__atomic_load_n(&dev_of(t)->released, __ATOMIC_ACQUIRE))
		return NULL;
	return "hot-removed: an orderly removal of the software controller (this handle stays "
	       "removed; open the device again once it is re-inserted)";
}

static uint32_t st_error_events(struct pn_transport *t)
{
	return 0;  /* no PCIe link to report errors on */
}

static const struct pn_transport_ops soft_ops = {
	.kind = "soft",
	.close = st_close,
	.cfg_read = st_cfg_read,
	.cfg_write = st_cfg_write,
	.cap_offset = st_cap_offset,
	.bar_map = st_bar_map,
	.bar_read = st_bar_read,
	.bar_write = st_bar_write,
	.enable = st_enable,
	.irq_count = st_irq_count,
	.msix_enable = st_msix_enable,
	.intx_enable = st_intx_enable,
	.intx_unmask = st_intx_unmask,
	.msix_mask = st_msix_mask,
	.flr = st_flr,
	.hot_reset = st_hot_reset,
	.power_state_get = st_power_state_get,
	.power_state_set = st_power_state_set,
	.aspm_get = st_aspm_get,
	.aspm_set = st_aspm_set,
	.external_reset_begin = st_external_reset_begin,
	.external_reset_end = st_external_reset_end,
	.slot_power = st_slot_power,
	.reset_count = st_reset_count,
	.last_reset = st_last_reset,
	.removed = st_removed,
	.error_events = st_error_events,
};

/* ---- open ---- */

static void *translate(void *ctx, uint64_t iova, size_t len)
{
	return dma_translate(iova, len);
}

static void forget(void *ctx, void *vaddr, size_t len)
{
	struct soft_device *d = ctx;

	soft_ctrl_forget_memory(d->ctrl, vaddr, len);
}

static int create_device(const char *addr, const struct soft_options *o, struct soft_device **out)
{
	struct soft_ctrl_config cfg;
	struct soft_device *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return pn_fail(ENOMEM, "%s: no memory", addr);
	soft_ctrl_config_default(&cfg);
	cfg.nr_ns = o->ns;
	for (unsigned i = 0; i < o->ns; i++) {
		cfg.ns[i].blocks = o->size[i] / o->lba;
		cfg.ns[i].lba_size = o->lba;
	}
	cfg.mdts = (uint8_t)o->mdts;
	cfg.max_queue_entries = o->depth;
	cfg.nr_io_queues = (uint16_t)o->queues;
	cfg.nr_vectors = (uint16_t)o->vectors;
	cfg.null_mode = o->null_mode;
	cfg.never_sleep = o->spin;
	cfg.pin_cpu = o->cpu >= 0;
	cfg.cpu = o->cpu >= 0 ? (unsigned)o->cpu : 0;
	cfg.vid = cfg.ssvid = SOFT_VENDOR_ID;
	cfg.iova_to_vaddr = translate;
	cfg.irq = soft_irq;
	cfg.irq_ctx = d;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->irq_lock, NULL);
	d->t.ops = &soft_ops;
	snprintf(d->t.addr, sizeof(d->t.addr), "%s", addr);
	d->nvec_max = (int)o->vectors;
	d->t.config_size = sizeof(d->cfg);
	d->t.device_on_host_cpus = true;
	d->intx_fd = -1;
	d->no_slot_power = o->no_slot_power;
	rc = soft_ctrl_create(&cfg, &d->ctrl);
	if (rc) {
		free(d);
		return pn_fail(-rc, "%s: the software controller could not be created: %s", addr,
			       strerror(-rc));
	}
	rc = dma_watch_free(forget, d);
	if (rc) {
		soft_ctrl_destroy(d->ctrl);
		free(d);
		return rc;
	}
	d->t.bar_size[0] = soft_ctrl_bar0_size(d->ctrl);
	cfg_power_on(d);
	*out = d;
	return 0;
}

int pn_transport_soft_open(const char *addr, struct pn_transport **out)
{
	struct soft_options o;
	struct soft_device *d = NULL;
	char name[64];
	int rc = pn_transport_soft_canonical(addr, name), slot = -1;

	if (rc)
		return rc;
	soft_address_parse(addr, &o);
	pthread_mutex_lock(&registry_lock);
	for (int i = 0; i < MAX_SOFT_DEVICES; i++) {
		if (registry[i] && !strcmp(registry[i]->t.addr, name))
			d = registry[i];
		else if (!registry[i] && slot < 0)
			slot = i;
	}
	if (d && d->open) {
		rc = pn_fail(EBUSY, "%s is already open in this process", name);
	} else if (!d && slot < 0) {
		rc = pn_fail(ENOSPC, "%s: %d software controllers exist already", name,
			     MAX_SOFT_DEVICES);
	} else if (!d) {
		rc = create_device(name, &o, &d);
		if (!rc)
			registry[slot] = d;
	}
	if (!rc) {
		d->open = true;
		*out = &d->t;
	}
	pthread_mutex_unlock(&registry_lock);
	if (!rc)
		st_enable(&d->t);
	return rc;
}

struct soft_ctrl *pn_transport_soft_ctrl(struct pn_transport *t)
{
	return t && t->ops == &soft_ops ? dev_of(t)->ctrl : NULL;
}

/* ---- faults of the device as a whole ---- */

static struct soft_device *soft_dev(struct pn_transport *t)
{
	if (!pn_transport_soft_ctrl(t)) {
		pn_fail(ENOTSUP, "%s is not a software controller", t->addr);
		return NULL;
	}
	return dev_of(t);
}

/* The frame of every fault of the device as a whole: under the lock,
 * `apply` changes the state (returning 0 or -errno with the reason set),
 * then the controller's hold follows it (update_hang). */
static int locked_fault(struct pn_transport *t, int (*apply)(struct soft_device *d, bool on),
			bool on)
{
	struct soft_device *d = soft_dev(t);
	int rc;

	if (!d)
		return -ENOTSUP;
	pthread_mutex_lock(&d->lock);
	rc = apply(d, on);
	if (!rc)
		rc = update_hang(d);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int apply_hang(struct soft_device *d, bool hang)
{
	d->user_hang = hang;
	return 0;
}

static int apply_removal(struct soft_device *d, bool removed)
{
	int rc = soft_ctrl_fault_all_ones(d->ctrl, removed);

	if (rc)
		return pn_fail(-rc, "%s: the software controller did not take the removal", d->t.addr);
	if (d->gone != removed) {
		d->gone = removed;
		if (!removed) {
			/* back as after a slot power cycle whose config state the
			 * OS restored: same BAR and command register */
			irqs_off(d);
			d->reset_count++;
			snprintf(d->last_reset, sizeof(d->last_reset),
				 "re-inserted after a removal (software controller)");
		}
	}
	return 0;
}

/* An orderly removal is a removal the transport reports (st_removed). */
static int apply_hot_removal(struct soft_device *d, bool removed)
{
	int rc = apply_removal(d, removed);

	if (!rc)
		__atomic_store_n(&d->released, removed, __ATOMIC_RELEASE);
	return rc;
}

int pn_transport_soft_hang(struct pn_transport *t, bool hang)
{
	return locked_fault(t, apply_hang, hang);
}

int pn_transport_soft_remove(struct pn_transport *t, bool removed)
{
	return locked_fault(t, apply_removal, removed);
}

int pn_transport_soft_hot_remove(struct pn_transport *t, bool removed)
{
	return locked_fault(t, apply_hot_removal, removed);
}
