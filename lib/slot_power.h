/* PCIe slot power control: the Power Controller of the downstream port (root
 * port or switch port) above a function, driven through the port's sysfs
 * config file (the port is owned by the kernel's pcieport driver, not by
 * VFIO; needs root).
 *
 * Cutting slot power makes the function read all ones; restoring it brings
 * the function back from reset (command register 0, BARs cleared), so the
 * VFIO user enables it again (vfio_pci_enable(), which makes the kernel
 * restore the BARs) and re-initialises its interrupts and the controller.
 * Only Power Controller Control is touched, never the Power Indicator:
 * "power off with the indicator off" would tell a hot-plug aware platform
 * (QEMU does) to detach the device for good.
 */
#ifndef PYNVME_SLOT_POWER_H
#define PYNVME_SLOT_POWER_H

#include <stdbool.h>

/* Finds the port above function `bdf` ("dddd:bb:dd.f") and checks that it
 * implements a slot with a power controller. Writes the port's BDF to
 * `port` (16 bytes). Returns 0, -ENODEV (no upstream port, or on a root
 * bus), -ENOTSUP (no slot or no power controller: the reason says which) or
 * another -errno. */
int pn_slot_power_find(const char *bdf, char port[16]);

/* Switches slot power of `port` on or off (Slot Control, Power Controller
 * Control). Returns 0 or -errno. */
int pn_slot_power_set(const char *port, bool on);

/* Waits up to `timeout_ms` for function `bdf` to answer config reads again
 * (Vendor ID not all ones, read through sysfs). Returns 0 or -ETIMEDOUT. */
int pn_slot_wait_function(const char *bdf, unsigned timeout_ms);

#endif
