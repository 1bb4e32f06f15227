/* Opening a device by address: the software controller or a PCIe function
 * (transport.h). */
#include "transport.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "transport_soft.h"
#include "transport_vfio.h"
#include "vfio_pci.h"

int pn_transport_canonical(const char *addr, char out[64])
{
	char bdf[16];
	int rc;

	if (pn_transport_soft_addr(addr))
		return pn_transport_soft_canonical(addr, out);
	rc = vfio_pci_parse_bdf(addr, bdf);
	if (rc) {
		char reason[256];

		snprintf(reason, sizeof(reason), "%s", pn_last_error());
		return pn_fail(-rc, "%s, or 'soft[:options]' for the software controller", reason);
	}
	snprintf(out, 64, "%s", bdf);
	return 0;
}

int pn_transport_open(const char *addr, struct pn_transport **out)
{
	if (pn_transport_soft_addr(addr))
		return pn_transport_soft_open(addr, out);
	return pn_transport_vfio_open(addr, out);
}

void pn_transport_close(struct pn_transport *t)
{
	if (t)
		t->ops->close(t);
}

bool pn_transport_is_soft(const struct pn_transport *t)
{
	return !strcmp(t->ops->kind, "soft");
}
