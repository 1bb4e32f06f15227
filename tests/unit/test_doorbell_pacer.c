/* Doorbell pacer on a simulated device whose completion rate depends on the
 * hold: it keeps the best hold, keeps none when holding gains nothing or
 * hurts, follows a device that changes, and a fixed hold stays fixed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "doorbell_pacer.h"
#include "rand.h"

#define HZ 1000000000ull   /* ticks are nanoseconds */

/* IOs per second the simulated device completes with a hold of `ns`. */
typedef double (*rate_fn)(uint32_t ns);

static double peak_at_1000(uint32_t ns)   /* the test bed's shape */
{
	return ns == 1000 ? 50000 : ns == 750 || ns == 1500 ? 40000 : 15000;
}

static double flat(uint32_t ns)           /* a drive that does not care */
{
	return 100000 - ns * 0.001;       /* 3 us costs 0.003% */
}

static double falling(uint32_t ns)        /* a real drive: holding only adds latency */
{
	return 1e9 / (10000.0 + ns);
}

static double peak_at_500(uint32_t ns)
{
	return ns == 500 ? 80000 : 20000;
}

/* Runs the loop for `seconds` of simulated time: every 10 us the device
 * completes rate(hold) * 10 us IOs, +-5% noise. Returns the last hold. */
static uint64_t run(struct pn_pacer *p, rate_fn rate, double seconds, uint64_t *now,
		    double *completed, struct pn_rand *r)
{
	uint64_t end = *now + (uint64_t)(seconds * HZ);

	while (*now < end) {
		uint32_t ns = (uint32_t)p->hold_ticks;   /* ticks are ns here */
		double noise = 0.95 + 0.1 * (double)pn_rand_below(r, 1000) / 1000.0;

		*completed += rate(ns) * 10e-6 * noise;
		*now += 10000;
		pn_pacer_update(p, *now, (uint64_t)*completed);
	}
	return p->hold_ticks;
}

static void test_keeps_the_best_hold(void **state)
{
	struct pn_pacer p;
	struct pn_rand r;
	uint64_t now = 5;
	double done = 0;

	pn_rand_init(&r, 1);
	pn_pacer_init_auto(&p, HZ, now, 0);
	assert_int_equal(p.hold_ticks, 0);   /* starts with no hold */
	run(&p, peak_at_1000, 0.5, &now, &done, &r);
	assert_int_equal(pn_pacer_kept_ns(&p), 1000);
	assert_int_equal(p.hold_ticks, 1000);
	assert_int_equal(p.exploring, 0);
}

static void test_no_hold_when_it_gains_nothing(void **state)
{
	struct pn_pacer p;
	struct pn_rand r;
	uint64_t now = 0;
	double done = 0;

	pn_rand_init(&r, 2);
	pn_pacer_init_auto(&p, HZ, now, 0);
	run(&p, flat, 0.5, &now, &done, &r);
	assert_int_equal(pn_pacer_kept_ns(&p), 0);
	assert_int_equal(p.hold_ticks, 0);

	pn_rand_init(&r, 3);
	pn_pacer_init_auto(&p, HZ, now, (uint64_t)done);
	run(&p, falling, 0.5, &now, &done, &r);
	assert_int_equal(pn_pacer_kept_ns(&p), 0);
}

static void test_follows_a_changing_device(void **state)
{
	struct pn_pacer p;
	struct pn_rand r;
	uint64_t now = 0;
	double done = 0;

	pn_rand_init(&r, 4);
	pn_pacer_init_auto(&p, HZ, now, 0);
	run(&p, peak_at_1000, 0.5, &now, &done, &r);
	assert_int_equal(pn_pacer_kept_ns(&p), 1000);
	/* the exploitation phase lasts EXPLOIT epochs; a few rounds later the
	 * averages have moved to the new peak */
	run(&p, peak_at_500, 4 * (PN_PACER_EXPLOIT_EPOCHS + PN_PACER_NCAND) * PN_PACER_EPOCH_MS / 1000.0,
	    &now, &done, &r);
	assert_int_equal(pn_pacer_kept_ns(&p), 500);
	assert_true(p.switches >= 1);
}

static void test_explores_rarely(void **state)
{
	struct pn_pacer p;
	struct pn_rand r;
	uint64_t now = 0, held = 0, loops = 0;
	double done = 0;

	pn_rand_init(&r, 5);
	pn_pacer_init_auto(&p, HZ, now, 0);
	run(&p, peak_at_1000, 0.5, &now, &done, &r);
	/* over the next 10 s the kept hold is in use at least 90% of the time */
	for (uint64_t end = now + 10 * HZ; now < end; now += 10000, loops++) {
		done += peak_at_1000((uint32_t)p.hold_ticks) * 10e-6;
		pn_pacer_update(&p, now, (uint64_t)done);
		held += p.hold_ticks == 1000;
	}
	assert_true(held * 10 >= loops * 9);
}

static void test_fixed_hold(void **state)
{
	struct pn_pacer p;

	pn_pacer_init_fixed(&p, 2000000000ull, 1500);
	assert_int_equal(p.hold_ticks, 3000);
	for (uint64_t t = 0; t < 10000000000ull; t += 1000000)
		pn_pacer_update(&p, t, t / 1000);
	assert_int_equal(p.hold_ticks, 3000);
	assert_int_equal(pn_pacer_kept_ns(&p), 1500);
	pn_pacer_init_fixed(&p, 2000000000ull, 0);
	assert_int_equal(p.hold_ticks, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keeps_the_best_hold),
		cmocka_unit_test(test_no_hold_when_it_gains_nothing),
		cmocka_unit_test(test_follows_a_changing_device),
		cmocka_unit_test(test_explores_rarely),
		cmocka_unit_test(test_fixed_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
