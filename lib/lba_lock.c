#include "lba_lock.h"

#include <errno.h>
#include <stdlib.h>

#include "error.h"

int pn_lba_lock_init(struct pn_lba_lock *l, uint64_t base, uint64_t nlba)
{
	l->base = base;
	l->nlba = nlba;
	l->bits = NULL;
	if (nlba == 0)
		return 0;
	l->bits = calloc((nlba + 63) / 64, sizeof(uint64_t));
	if (!l->bits) {
		l->nlba = 0;
		return pn_fail(ENOMEM, "LBA lock: no memory for %llu LBAs",
			       (unsigned long long)nlba);
	}
	return 0;
}

void pn_lba_lock_free(struct pn_lba_lock *l)
{
	free(l->bits);
	l->bits = NULL;
	l->nlba = 0;
}

/* Clips [slba, slba+nlb) to the covered range as bit offsets [*first, *end).
 * Returns false when nothing is covered. */
static inline bool clip(const struct pn_lba_lock *l, uint64_t slba, uint64_t nlb,
			uint64_t *first, uint64_t *end)
{
	uint64_t lo = slba, hi = slba + nlb;

	if (hi < slba)   /* wrapped past 2^64: clamp */
		hi = UINT64_MAX;
	if (lo < l->base)
		lo = l->base;
	if (hi > l->base + l->nlba)
		hi = l->base + l->nlba;
	if (lo >= hi)
		return false;
	*first = lo - l->base;
	*end = hi - l->base;
	return true;
}

/* The mask of bits [from, to) inside word w (bits w*64 .. w*64+63). */
static inline uint64_t word_mask(uint64_t w, uint64_t from, uint64_t to)
{
	uint64_t lo = w * 64 > from ? 0 : from - w * 64;
	uint64_t hi = (w + 1) * 64 < to ? 64 : to - w * 64;
	uint64_t upper = hi == 64 ? ~0ull : (1ull << hi) - 1;

	return upper & ~((1ull << lo) - 1);
}

bool pn_lba_lock_try(struct pn_lba_lock *l, uint64_t slba, uint64_t nlb)
{
	uint64_t first, end;

	if (!l->nlba || !clip(l, slba, nlb, &first, &end))
		return true;
	for (uint64_t w = first / 64; w <= (end - 1) / 64; w++)
		if (l->bits[w] & word_mask(w, first, end))
			return false;
	for (uint64_t w = first / 64; w <= (end - 1) / 64; w++)
		l->bits[w] |= word_mask(w, first, end);
	return true;
}

void pn_lba_lock_release(struct pn_lba_lock *l, uint64_t slba, uint64_t nlb)
{
	uint64_t first, end;

	if (!l->nlba || !clip(l, slba, nlb, &first, &end))
		return;
	for (uint64_t w = first / 64; w <= (end - 1) / 64; w++)
		l->bits[w] &= ~word_mask(w, first, end);
}

bool pn_lba_lock_busy(const struct pn_lba_lock *l, uint64_t lba)
{
	uint64_t off;

	if (lba < l->base || lba - l->base >= l->nlba)
		return false;
	off = lba - l->base;
	return (l->bits[off / 64] >> (off % 64)) & 1;
}
