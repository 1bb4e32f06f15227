#include "pattern.h"

#include <errno.h>
#include <string.h>

#include "error.h"

/* Random bytes from `rng`, 8 at a time (the tail takes the low bytes of one
 * more draw, little-endian, so the output does not depend on the host). */
static void fill_random(uint8_t *p, size_t len, struct pn_rand *rng)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v = pn_rand_next(rng);

		for (int b = 0; b < 8; b++)
			p[i + b] = (uint8_t)(v >> (8 * b));
	}
	if (i < len) {
		uint64_t v = pn_rand_next(rng);

		for (int b = 0; i < len; i++, b++)
			p[i] = (uint8_t)(v >> (8 * b));
	}
}

int pattern_fill(void *buf, size_t len, uint32_t ptype, uint32_t pvalue, struct pn_rand *rng)
{
	uint8_t *p = buf;

	switch (ptype) {
	case PATTERN_FILL:
		memset(p, pvalue ? 0xff : 0x00, len);
		return 0;
	case PATTERN_DWORD: {
		uint8_t bytes[4] = {(uint8_t)pvalue, (uint8_t)(pvalue >> 8),
				    (uint8_t)(pvalue >> 16), (uint8_t)(pvalue >> 24)};

		for (size_t i = 0; i < len; i++)
			p[i] = bytes[i & 3];
		return 0;
	}
	case PATTERN_RANDOM:
		if (pvalue > 100)
			return pn_fail(EINVAL, "pattern: random data needs pvalue 0..100 "
				       "(percentage of random bytes), got %u", pvalue);
		if (!rng)
			return pn_fail(EINVAL, "pattern: random data needs a generator");
		for (size_t off = 0; off < len; off += PATTERN_RANDOM_BLOCK) {
			size_t block = len - off < PATTERN_RANDOM_BLOCK ? len - off : PATTERN_RANDOM_BLOCK;
			size_t random_bytes = block * pvalue / 100;

			fill_random(p + off, random_bytes, rng);
			memset(p + off + random_bytes, 0, block - random_bytes);
		}
		return 0;
	default:
		return pn_fail(EINVAL, "pattern: unknown ptype 0x%x (known: 0, 32, 0xbeef)", ptype);
	}
}
