/* PCI capability lists: walking the standard list (config offsets 0x40..0xff,
 * reached through the Capabilities Pointer at 0x34) and the PCIe extended
 * list (0x100..0xfff, starting at 0x100).
 *
 * The walker is pure: it reads config space only through a callback, so it
 * works on a VFIO device, a sysfs config file or a hand-made image in a unit
 * test. Malformed lists (pointers into the header, past the end, or looping)
 * end the walk instead of hanging it.
 */
#ifndef PYNVME_PCI_CAP_H
#define PYNVME_PCI_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCI_CAP_STD_START   0x40   /* first offset a standard capability may have */
#define PCI_CAP_STD_END     0x100  /* end of the standard config header area */
#define PCI_CAP_EXT_START   0x100  /* the extended list starts here, always */
#define PCI_CAP_EXT_END     0x1000 /* end of PCIe extended config space */

/* Reads `len` bytes of config space at `offset` into `buf`; returns 0 or a
 * negative errno. `ctx` is the caller's. */
typedef int (*pci_cfg_read_fn)(void *ctx, uint32_t offset, void *buf, size_t len);

/* Called for each capability found: its id (8-bit for standard, 16-bit for
 * extended) and offset. Returning non-zero stops the walk and makes
 * pci_cap_walk() return that value. */
typedef int (*pci_cap_visit_fn)(void *arg, int cap_id, uint32_t offset);

/* Walks one capability list of a function whose config space is `cfg_size`
 * bytes (256 for conventional PCI, 4096 for PCIe). `extended` selects the
 * PCIe extended list (nothing is visited when cfg_size <= 0x100). The
 * standard list is walked only when the Status register's Capabilities List
 * bit is set. Returns 0 after the last capability, the visitor's non-zero
 * value if it stopped the walk, or a negative errno of the read callback. */
int pci_cap_walk(pci_cfg_read_fn read, void *ctx, uint32_t cfg_size, bool extended,
		 pci_cap_visit_fn visit, void *arg);

/* Offset of the first capability `cap_id` in the selected list. Returns the
 * offset (> 0), -ENOENT when absent, or a negative errno of the read callback. */
int pci_cap_find(pci_cfg_read_fn read, void *ctx, uint32_t cfg_size, bool extended, int cap_id);

#endif
