/* Time stamps from the CPU's time-stamp counter (TSC).
 *
 * Every IO is timed twice (sent, completed), so reading the clock must cost a
 * few nanoseconds and no system call: rdtsc does, clock_gettime through the
 * vDSO costs several times more and much more in the emulated test bed. The
 * TSC of the CPUs we run on is invariant (constant_tsc, nonstop_tsc), so one
 * calibration against CLOCK_MONOTONIC per process converts ticks to time.
 * On CPUs without a TSC the "ticks" are CLOCK_MONOTONIC nanoseconds.
 */
#ifndef PYNVME_TSC_H
#define PYNVME_TSC_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* The current TSC tick count (nanoseconds where there is no TSC). */
static inline uint64_t pn_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

/* TSC ticks per second, calibrated against CLOCK_MONOTONIC on the first call
 * (about 20 ms of busy waiting, once per process; thread-safe). */
uint64_t pn_tsc_hz(void);

/* Converts a tick count (a duration) to nanoseconds; exact to the
 * calibration, no overflow for any 64-bit duration shorter than ~500 years. */
uint64_t pn_tsc_to_ns(uint64_t ticks);

/* Converts nanoseconds (a duration) to ticks. */
uint64_t pn_ns_to_tsc(uint64_t ns);

/* CLOCK_MONOTONIC now, in nanoseconds (for code that must not depend on the
 * calibration, e.g. the calibration itself and tests). */
uint64_t pn_monotonic_ns(void);

#endif
