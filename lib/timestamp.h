/* Cheap timestamps for the IO path: the CPU's time stamp counter, converted
 * to microseconds with a rate calibrated once against CLOCK_MONOTONIC.
 *
 * Submit and completion times of every command are taken with pn_tsc() (a
 * few cycles, no system call). On CPUs without an invariant TSC the
 * calibration still gives a usable average rate; on non-x86 builds the
 * counter is CLOCK_MONOTONIC in nanoseconds.
 */
#ifndef PYNVME_TIMESTAMP_H
#define PYNVME_TIMESTAMP_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
/* The current time stamp counter value. */
static inline uint64_t pn_tsc(void)
{
	return __rdtsc();
}
#else
static inline uint64_t pn_tsc(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif

/* Counter ticks per second, measured on first use (about 10 ms) and cached;
 * thread-safe. */
uint64_t pn_tsc_hz(void);

/* Converts a tick count to microseconds. */
static inline uint64_t pn_tsc_to_us(uint64_t ticks)
{
	return (uint64_t)((unsigned __int128)ticks * 1000000u / pn_tsc_hz());
}

/* Converts milliseconds to ticks (for deadlines). */
static inline uint64_t pn_ms_to_tsc(uint64_t ms)
{
	return (uint64_t)((unsigned __int128)ms * pn_tsc_hz() / 1000u);
}

#endif
