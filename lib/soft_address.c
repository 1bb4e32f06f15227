/* The address of a software controller, "soft[:options]" (soft_address.h,
 * the options documented in transport_soft.h): parsing, checking, and the
 * one canonical name each device has. */
#include "soft_address.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "transport_soft.h"

static const struct soft_options defaults = {
	.size = {1ull << 30}, .lba = 512, .ns = 1, .queues = 64, .depth = 4096, .mdts = 5,
	.vectors = 65, .cpu = -1,
};

bool pn_transport_soft_addr(const char *addr)
{
	return !strcmp(addr, "soft") || !strncmp(addr, "soft:", 5);
}

static int parse_number(const char *addr, const char *name, const char *text, uint64_t min,
			uint64_t max, bool suffix, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (suffix && *end && !end[1]) {
		const char *units = "KMGT";
		const char *u = strchr(units, *end);

		if (u) {
			for (long i = 0; i <= u - units; i++)
				v = v > (~0ull >> 10) ? ~0ull : v << 10;
			end++;
		}
	}
	if (errno || end == text || *end || *text == '-' || v < min || v > max)
		return pn_fail(EINVAL, "%s: option %s=%s is not a number in %llu..%llu%s", addr, name,
			       text, (unsigned long long)min, (unsigned long long)max,
			       suffix ? " (K, M, G, T suffixes allowed)" : "");
	*out = v;
	return 0;
}

/* size=N or size=A+B+...: one size per namespace. */
static int parse_sizes(const char *addr, char *value, struct soft_options *o)
{
	char *save = NULL;
	int rc = 0;

	o->nsizes = 0;
	for (char *v = strtok_r(value, "+", &save); v && !rc; v = strtok_r(NULL, "+", &save)) {
		if (o->nsizes == SOFT_CTRL_MAX_NS)
			return pn_fail(EINVAL, "%s: more than %d sizes", addr, SOFT_CTRL_MAX_NS);
		rc = parse_number(addr, "size", v, 4096, 1ull << 44, true, &o->size[o->nsizes++]);
	}
	return rc;
}

int soft_address_parse(const char *addr, struct soft_options *o)
{
	char buf[256], *save = NULL;
	bool ns_given = false;
	uint64_t v;
	int rc = 0;

	*o = defaults;
	if (!pn_transport_soft_addr(addr))
		return pn_fail(EINVAL, "'%s' is not a software controller address (soft[:options])", addr);
	if (strlen(addr) >= sizeof(buf))
		return pn_fail(EINVAL, "software controller address too long: '%s'", addr);
	snprintf(buf, sizeof(buf), "%s", addr[4] ? addr + 5 : "");
	for (char *opt = strtok_r(buf, ",", &save); opt && !rc; opt = strtok_r(NULL, ",", &save)) {
		char *value = strchr(opt, '=');

		if (value)
			*value++ = 0;
		if (!strcmp(opt, "null") && !value) {
			o->null_mode = true;
		} else if (!strcmp(opt, "spin") && !value) {
			o->spin = true;
		} else if (!strcmp(opt, "noslot") && !value) {
			o->no_slot_power = true;
		} else if (!value) {
			rc = pn_fail(EINVAL, "%s: unknown option '%s' (null, spin, noslot, size=, lba=, ns=, "
				     "queues=, depth=, mdts=, vectors=, cpu=)", addr, opt);
		} else if (!strcmp(opt, "size")) {
			rc = parse_sizes(addr, value, o);
		} else if (!strcmp(opt, "lba")) {
			rc = parse_number(addr, opt, value, 512, 4096, false, &v);
			if (!rc && (v & (v - 1)))
				rc = pn_fail(EINVAL, "%s: lba=%s is not 512, 1024, 2048 or 4096", addr, value);
			o->lba = (uint32_t)v;
		} else if (!strcmp(opt, "ns")) {
			rc = parse_number(addr, opt, value, 1, SOFT_CTRL_MAX_NS, false, &v);
			o->ns = (uint32_t)v;
			ns_given = true;
		} else if (!strcmp(opt, "queues")) {
			rc = parse_number(addr, opt, value, 1, SOFT_CTRL_MAX_IO_QUEUES, false, &v);
			o->queues = (uint32_t)v;
		} else if (!strcmp(opt, "depth")) {
			rc = parse_number(addr, opt, value, 2, 65536, false, &v);
			o->depth = (uint32_t)v;
		} else if (!strcmp(opt, "mdts")) {
			rc = parse_number(addr, opt, value, 0, 16, false, &v);
			o->mdts = (uint32_t)v;
		} else if (!strcmp(opt, "vectors")) {
			rc = parse_number(addr, opt, value, 1, SOFT_ADDRESS_MAX_VECTORS, false, &v);
			o->vectors = (uint32_t)v;
		} else if (!strcmp(opt, "cpu")) {
			rc = parse_number(addr, opt, value, 0, 1023, false, &v);
			o->cpu = (int)v;
		} else {
			rc = pn_fail(EINVAL, "%s: unknown option '%s'", addr, opt);
		}
	}
	if (rc)
		return rc;
	/* several sizes give the number of namespaces (ns= must agree); one
	 * size is every namespace's */
	if (o->nsizes > 1 && ns_given && o->ns != o->nsizes)
		return pn_fail(EINVAL, "%s: ns=%u but %u sizes", addr, o->ns, o->nsizes);
	if (o->nsizes > 1)
		o->ns = o->nsizes;
	for (uint32_t i = o->nsizes ? o->nsizes : 1; i < o->ns; i++)
		o->size[i] = o->size[0];
	o->nsizes = o->nsizes > 1 ? o->nsizes : 0;
	for (uint32_t i = 0; i < o->ns; i++)
		if (o->size[i] % o->lba)
			return pn_fail(EINVAL, "%s: size %llu is not a multiple of the LBA size %u", addr,
				       (unsigned long long)o->size[i], o->lba);
	return 0;
}

static void append(char *out, size_t n, const char *fmt, unsigned long long v)
{
	size_t len = strlen(out);

	snprintf(out + len, n - len, fmt, v);
}

/* "512M": the largest unit that divides the size. */
static void append_size(char *out, size_t n, uint64_t size)
{
	const char *units = "KMGT";
	int unit = -1;

	while (unit < 3 && size % 1024 == 0) {
		size /= 1024;
		unit++;
	}
	append(out, n, "%llu", size);
	if (unit >= 0)
		append(out, n, "%c", (unsigned long long)units[unit]);
}

int pn_transport_soft_canonical(const char *addr, char out[64])
{
	struct soft_options o;
	char buf[128] = "soft";
	int rc = soft_address_parse(addr, &o);

	if (rc)
		return rc;
	/* A fixed order, defaults left out: one device has one name. */
	if (o.null_mode)
		strcat(buf, ",null");
	if (o.nsizes) {
		for (uint32_t i = 0; i < o.nsizes; i++) {
			strcat(buf, i ? "+" : ",size=");
			append_size(buf, sizeof(buf), o.size[i]);
		}
	} else if (o.size[0] != defaults.size[0]) {
		strcat(buf, ",size=");
		append_size(buf, sizeof(buf), o.size[0]);
	}
	if (o.lba != defaults.lba)
		append(buf, sizeof(buf), ",lba=%llu", o.lba);
	if (o.ns != defaults.ns && !o.nsizes)
		append(buf, sizeof(buf), ",ns=%llu", o.ns);
	if (o.queues != defaults.queues)
		append(buf, sizeof(buf), ",queues=%llu", o.queues);
	if (o.depth != defaults.depth)
		append(buf, sizeof(buf), ",depth=%llu", o.depth);
	if (o.mdts != defaults.mdts)
		append(buf, sizeof(buf), ",mdts=%llu", o.mdts);
	if (o.vectors != defaults.vectors)
		append(buf, sizeof(buf), ",vectors=%llu", o.vectors);
	if (o.cpu != defaults.cpu)
		append(buf, sizeof(buf), ",cpu=%llu", (unsigned long long)o.cpu);
	if (o.spin)
		strcat(buf, ",spin");
	if (o.no_slot_power)
		strcat(buf, ",noslot");
	if (buf[4])
		buf[4] = ':';
	if (strlen(buf) >= 64)
		return pn_fail(EINVAL, "%s: too many options", addr);
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}
