/* TSC calibration: tick durations convert to CLOCK_MONOTONIC time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "tsc.h"

static void ticks_convert_to_wall_time(void **state)
{
	uint64_t t0, n0, t1, n1, ns;
	struct timespec nap = { 0, 50000000 };

	assert_true(pn_tsc_hz() > 1000000);
	t0 = pn_tsc();
	n0 = pn_monotonic_ns();
	nanosleep(&nap, NULL);
	t1 = pn_tsc();
	n1 = pn_monotonic_ns();
	ns = pn_tsc_to_ns(t1 - t0);
	/* 50 ms measured both ways agree within 1% (plus read skew). */
	assert_true(ns > (n1 - n0) * 99 / 100 - 20000);
	assert_true(ns < (n1 - n0) * 101 / 100 + 20000);
}

static void conversions_round_trip(void **state)
{
	uint64_t hz = pn_tsc_hz();

	assert_true(pn_tsc_to_ns(hz) > 999999000ull && pn_tsc_to_ns(hz) < 1000001000ull);
	assert_true(pn_ns_to_tsc(1000000000ull) == hz);
	/* 24 hours of ticks does not overflow. */
	assert_true(pn_tsc_to_ns(hz * 86400) / 1000000000ull == 86400 ||
		    pn_tsc_to_ns(hz * 86400) / 1000000000ull == 86399);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ticks_convert_to_wall_time),
		cmocka_unit_test(conversions_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
