/* The address of a software controller: "soft", or "soft:" and options
 * (the list is in transport_soft.h). The options name the device, so each
 * device has one canonical address: options in a fixed order, defaults left
 * out; pn_transport_soft_canonical() in transport_soft.h gives it. */
#ifndef PYNVME_SOFT_ADDRESS_H
#define PYNVME_SOFT_ADDRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "soft_ctrl.h"

#define SOFT_ADDRESS_MAX_VECTORS 2048

struct soft_options {
	bool null_mode, spin, no_slot_power;
	uint64_t size[SOFT_CTRL_MAX_NS];   /* per namespace; size= gives all, or A+B+... */
	uint32_t nsizes;                   /* sizes given (0: the default) */
	uint32_t lba, ns, queues, depth, mdts, vectors;
	int cpu;
};

/* Parses and checks `addr` into `o` (defaults where an option is absent).
 * Returns 0 or -EINVAL with pn_last_error() naming the option. */
int soft_address_parse(const char *addr, struct soft_options *o);

#endif
