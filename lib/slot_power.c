/* PCIe slot power control through the port's sysfs config (slot_power.h). */
#include "slot_power.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "error.h"
#include "tsc.h"
#include "pci_cap.h"
#include "vfio_pci.h"

#define SYSFS_PCI "/sys/bus/pci/devices"

static int cfg_read_cb(void *ctx, uint32_t offset, void *buf, size_t len)
{
	return vfio_pci_sysfs_cfg(ctx, offset, buf, len, false);
}

static int pcie_cap(const char *port)
{
	int off = pci_cap_find(cfg_read_cb, (void *)port, 256, false, PCI_CAP_ID_EXP);

	if (off == -ENOENT)
		return pn_fail(ENOTSUP, "%s: the port has no PCI Express capability", port);
	return off;
}

int pn_slot_power_find(const char *bdf, char port[16])
{
	char path[128], real[PATH_MAX], *parent;
	uint16_t flags;
	uint32_t sltcap;
	int cap, rc;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s", bdf);
	if (!realpath(path, real))
		return pn_fail(errno == ENOENT ? ENODEV : errno, "%s: no such function in sysfs", bdf);
	parent = basename(dirname(real));
	if (strlen(parent) != 12 || parent[4] != ':' || parent[7] != ':' || parent[10] != '.')
		return pn_fail(ENODEV, "%s: on a root bus, no port above it to cut power", bdf);
	snprintf(port, 16, "%s", parent);
	cap = pcie_cap(port);
	if (cap < 0)
		return cap;
	rc = vfio_pci_sysfs_cfg(port, (uint32_t)cap + PCI_EXP_FLAGS, &flags, 2, false);
	if (!rc)
		rc = vfio_pci_sysfs_cfg(port, (uint32_t)cap + PCI_EXP_SLTCAP, &sltcap, 4, false);
	if (rc < 0)
		return rc;
	if (!(flags & PCI_EXP_FLAGS_SLOT))
		return pn_fail(ENOTSUP, "%s: port %s implements no slot", bdf, port);
	if (!(sltcap & PCI_EXP_SLTCAP_PCP))
		return pn_fail(ENOTSUP, "%s: the slot of port %s has no power controller "
			       "(Slot Capabilities 0x%x)", bdf, port, sltcap);
	return 0;
}

int pn_slot_power_set(const char *port, bool on)
{
	uint16_t ctl;
	int cap = pcie_cap(port), rc;

	if (cap < 0)
		return cap;
	rc = vfio_pci_sysfs_cfg(port, (uint32_t)cap + PCI_EXP_SLTCTL, &ctl, 2, false);
	if (rc < 0)
		return rc;
	if (on)
		ctl &= (uint16_t)~PCI_EXP_SLTCTL_PCC;
	else
		ctl |= PCI_EXP_SLTCTL_PCC;
	return vfio_pci_sysfs_cfg(port, (uint32_t)cap + PCI_EXP_SLTCTL, &ctl, 2, true);
}

int pn_slot_wait_function(const char *bdf, unsigned timeout_ms)
{
	struct timespec ts = {0, 10000000};
	/* by the clock: on a loaded machine each sleep and sysfs read takes
	 * longer than asked, and counting sleeps would wait far past the limit */
	uint64_t deadline = pn_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		uint16_t vendor = 0xffff;

		if (vfio_pci_sysfs_cfg(bdf, PCI_VENDOR_ID, &vendor, 2, false) == 0 && vendor != 0xffff) {
			pn_clear_error();
			return 0;
		}
		if (pn_monotonic_ns() > deadline)
			break;
		nanosleep(&ts, NULL);
	}
	pn_clear_error();
	return pn_fail(ETIMEDOUT, "%s: no answer %u ms after slot power on", bdf, timeout_ms);
}
