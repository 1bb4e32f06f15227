/* The PCIe transport (transport.h) over VFIO. */
#ifndef PYNVME_TRANSPORT_VFIO_H
#define PYNVME_TRANSPORT_VFIO_H

#include "transport.h"

/* Opens the PCIe function `bdf` through vfio_pci_open() (its checks and
 * errors). Returns 0 or -errno. */
int pn_transport_vfio_open(const char *bdf, struct pn_transport **out);

#endif
