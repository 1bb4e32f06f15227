/* TSC rate calibration (see timestamp.h). */
#include "timestamp.h"

#include <pthread.h>

static uint64_t tsc_hz;
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* 10 ms is long enough for ~0.1% accuracy even under an emulator's
	 * jittery clock, and short enough not to be noticed at import. */
	uint64_t ns0 = monotonic_ns(), tsc0 = pn_tsc(), ns1, tsc1;

	do {
		ns1 = monotonic_ns();
	} while (ns1 - ns0 < 10000000ull);
	tsc1 = pn_tsc();
	uint64_t hz = (uint64_t)((unsigned __int128)(tsc1 - tsc0) * 1000000000ull / (ns1 - ns0));

	__atomic_store_n(&tsc_hz, hz ? hz : 1, __ATOMIC_RELEASE);
#else
	__atomic_store_n(&tsc_hz, 1000000000ull, __ATOMIC_RELEASE);
#endif
}

uint64_t pn_tsc_hz(void)
{
	uint64_t hz = __atomic_load_n(&tsc_hz, __ATOMIC_ACQUIRE);

	if (__builtin_expect(hz != 0, 1))
		return hz;
	pthread_once(&tsc_once, calibrate);
	return __atomic_load_n(&tsc_hz, __ATOMIC_ACQUIRE);
}
