#include "rand.h"

static uint64_t process_seed = 1;
static uint64_t seed_generation;

void pn_rand_seed(uint64_t seed)
{
	process_seed = seed;
	seed_generation++;
}

uint64_t pn_rand_generation(void)
{
	return seed_generation;
}

uint64_t pn_rand_get_seed(void)
{
	return process_seed;
}

/* splitmix64 spreads a seed over the 256-bit xoshiro state. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void pn_rand_init(struct pn_rand *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

void pn_rand_init_stream(struct pn_rand *r, uint64_t stream)
{
	pn_rand_init(r, process_seed ^ (stream * 0xd1342543de82ef95ULL));
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t pn_rand_next(struct pn_rand *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t pn_rand_below(struct pn_rand *r, uint64_t bound)
{
	/* Lemire's multiply-shift: unbiased enough for test workloads and fast. */
	return (uint64_t)(((unsigned __int128)pn_rand_next(r) * bound) >> 64);
}
