/* The driver's seeded random generator (xoshiro256**).
 *
 * One process-wide seed (srand() from Python) makes a test reproducible:
 * random data patterns and ioworker LBAs are drawn from generators derived
 * from it. Each thread that needs random numbers owns a struct pn_rand, so
 * the hot path takes no lock.
 */
#ifndef PYNVME_RAND_H
#define PYNVME_RAND_H

#include <stdint.h>

struct pn_rand {
	uint64_t s[4];
};

/* Sets the process-wide seed used by pn_rand_init_stream(). */
void pn_rand_seed(uint64_t seed);

/* How many times pn_rand_seed() was called: users that derive their own
 * streams (random buffers) restart their numbering when it changes, so
 * seeding again with the same value replays the same data. */
uint64_t pn_rand_generation(void);

/* The current process-wide seed. */
uint64_t pn_rand_get_seed(void);

/* Initialises `r` from the process-wide seed and a stream number, so
 * different users (workers, buffers) get different but reproducible
 * sequences. */
void pn_rand_init_stream(struct pn_rand *r, uint64_t stream);

/* Initialises `r` from an explicit seed. */
void pn_rand_init(struct pn_rand *r, uint64_t seed);

/* The next 64 random bits. */
uint64_t pn_rand_next(struct pn_rand *r);

/* A uniformly distributed integer in [0, bound); bound must be > 0. */
uint64_t pn_rand_below(struct pn_rand *r, uint64_t bound);

#endif
