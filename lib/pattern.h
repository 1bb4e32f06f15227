/* Data patterns: fill memory with the contents a test asks a buffer to hold.
 *
 * The pattern types are those of the Python API's Buffer(ptype, pvalue):
 *   PATTERN_FILL  (0)      pvalue 0: all bytes 0x00; any other pvalue: all 0xff
 *                          (the API names pvalue 1; other non-zero values are
 *                          treated the same rather than refused).
 *   PATTERN_DWORD (32)     the 32-bit pvalue repeated, little-endian
 *                          (a length that is not a multiple of 4 ends with
 *                          the first bytes of the value).
 *   PATTERN_RANDOM(0xbeef) random data with a chosen compressibility:
 *                          pvalue = percentage of random bytes, 0..100. Each
 *                          4 KiB block (and the partial last one) gets its
 *                          first len * pvalue / 100 bytes random and the rest
 *                          zero, so pvalue 0 is all zero, 100 fully random and
 *                          50 compresses to about half.
 * Pure computation, no allocation: usable on any memory.
 */
#ifndef PYNVME_PATTERN_H
#define PYNVME_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include "rand.h"

#define PATTERN_FILL   0u
#define PATTERN_DWORD  32u
#define PATTERN_RANDOM 0xbeefu

#define PATTERN_RANDOM_BLOCK 4096u  /* the unit of compressibility of PATTERN_RANDOM */

/* Fills `len` bytes at `buf` with pattern (`ptype`, `pvalue`). `rng` is the
 * generator PATTERN_RANDOM draws from (it advances; the same generator state
 * gives the same data); other patterns ignore it and it may be NULL for
 * them. Returns 0, or -EINVAL for an unknown ptype, a PATTERN_RANDOM pvalue
 * above 100, or PATTERN_RANDOM without a generator (buf is left unchanged). */
int pattern_fill(void *buf, size_t len, uint32_t ptype, uint32_t pvalue, struct pn_rand *rng);

#endif
