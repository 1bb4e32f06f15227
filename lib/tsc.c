#include "tsc.h"

#include <pthread.h>

static uint64_t tsc_hz;
/* ns = ticks * ns_mult >> 32: one multiply on the reporting path. */
static uint64_t ns_mult;
static pthread_once_t calibrate_once = PTHREAD_ONCE_INIT;

uint64_t pn_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads both clocks back to back, keeping the pair with the shortest gap so
 * an interrupt or preemption between the two reads does not skew the rate. */
static __attribute__((unused)) void clock_pair(uint64_t *ns, uint64_t *ticks)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = pn_tsc();
		uint64_t n = pn_monotonic_ns();
		uint64_t t1 = pn_tsc();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*ns = n;
			*ticks = t0 + (t1 - t0) / 2;
		}
	}
}

static void calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t ns0 = 0, t0 = 0, ns1 = 0, t1 = 0;

	clock_pair(&ns0, &t0);
	/* 20 ms: the pair-reading error (< 1 µs) stays below 0.01%. */
	do
		clock_pair(&ns1, &t1);
	while (ns1 - ns0 < 20000000ull);
	tsc_hz = (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000ull / (ns1 - ns0));
	if (tsc_hz == 0)
		tsc_hz = 1;
#else
	tsc_hz = 1000000000ull;
#endif
	ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / tsc_hz);
}

uint64_t pn_tsc_hz(void)
{
	pthread_once(&calibrate_once, calibrate);
	return tsc_hz;
}

uint64_t pn_tsc_to_ns(uint64_t ticks)
{
	pthread_once(&calibrate_once, calibrate);
	return (uint64_t)(((unsigned __int128)ticks * ns_mult) >> 32);
}

uint64_t pn_ns_to_tsc(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * pn_tsc_hz() / 1000000000ull);
}
