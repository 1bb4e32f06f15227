/* Per-worker LBA busy bits: keeps in-flight IOs of one worker off each
 * other's LBAs, so a verified read never races a write of the same LBA.
 *
 * Only LBAs inside the verify table matter (elsewhere nothing is checked,
 * and the device orders overlapping IOs as it likes), so the bitmap covers
 * [base, base + nlba), the intersection of the worker's region with the
 * table: memory is one bit per covered LBA, owned by one worker, no atomics.
 * Workers on disjoint regions have separate bitmaps and never share a word.
 *
 * Use: before sending an IO, pn_lba_lock_try(); if it fails keep the IO and
 * retry after reaping completions (delay, not skip, so the generated
 * sequence stays reproducible); at completion pn_lba_lock_release().
 */
#ifndef PYNVME_LBA_LOCK_H
#define PYNVME_LBA_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct pn_lba_lock {
	uint64_t base;   /* first covered LBA */
	uint64_t nlba;   /* covered LBAs (0: lock nothing, always succeed) */
	uint64_t *bits;  /* one bit per covered LBA, 1 = an IO is in flight */
};

/* Sets up busy bits for LBAs [base, base + nlba), all free; nlba 0 makes a
 * lock that tracks nothing. Returns 0 or -ENOMEM. */
int pn_lba_lock_init(struct pn_lba_lock *l, uint64_t base, uint64_t nlba);

/* Frees the bits. */
void pn_lba_lock_free(struct pn_lba_lock *l);

/* Marks [slba, slba + nlb) busy if none of its covered LBAs is, and returns
 * true; returns false and changes nothing when any is busy. LBAs outside the
 * covered range are not tracked. Cost: O(nlb / 64). */
bool pn_lba_lock_try(struct pn_lba_lock *l, uint64_t slba, uint64_t nlb);

/* Marks [slba, slba + nlb) free again (it must have been locked). */
void pn_lba_lock_release(struct pn_lba_lock *l, uint64_t slba, uint64_t nlb);

/* Whether one LBA is busy (false outside the covered range). */
bool pn_lba_lock_busy(const struct pn_lba_lock *l, uint64_t lba);

#endif
