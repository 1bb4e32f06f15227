/* IOPS throttle on a simulated clock: per-second counts within 1% of the
 * asked rate, bounded catch-up after a stall, unlimited mode, bad arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "throttle.h"
#include "rand.h"

#define HZ 2900000000ull   /* a plausible TSC rate */

/* Simulates a worker that polls every `poll_ticks` (+- jitter) and sends
 * whenever the throttle allows, up to qdepth at once; returns the count of
 * each simulated second in counts[0..seconds-1]. An optional stall of
 * `stall_ticks` happens at `stall_at`. */
static void simulate(uint64_t iops, unsigned seconds, uint64_t poll_ticks, uint64_t seed,
		     uint64_t stall_at, uint64_t stall_ticks, uint64_t *counts)
{
	struct pn_throttle t;
	struct pn_rand r;
	uint64_t now = 12345678901ull;   /* arbitrary start tick */
	uint64_t start = now, end = start + seconds * HZ;

	pn_rand_init(&r, seed);
	assert_int_equal(pn_throttle_init(&t, iops, HZ, 0), 0);
	pn_throttle_start(&t, now);
	for (unsigned s = 0; s < seconds; s++)
		counts[s] = 0;
	while (now < end) {
		int burst = 0;

		while (burst < 64 && pn_throttle_ready(&t, now)) {
			pn_throttle_sent(&t, now);
			counts[(now - start) / HZ]++;
			burst++;
		}
		now += poll_ticks / 2 + pn_rand_below(&r, poll_ticks);
		if (stall_ticks && now >= start + stall_at) {
			now += stall_ticks;
			stall_ticks = 0;
		}
	}
}

static void assert_within_1pct(uint64_t count, uint64_t iops, unsigned second)
{
	uint64_t tol = iops / 100;

	if (count + tol < iops || count > iops + tol)
		fail_msg("second %u: %llu IOs, asked %llu", second, (unsigned long long)count,
			 (unsigned long long)iops);
}

static void holds_rate_each_second(void **state)
{
	static const uint64_t rates[] = { 1234, 100, 50000, 1000000, 7 };
	uint64_t counts[7];

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		/* Polls every ~1 µs, and a coarse poller every ~200 µs. */
		simulate(rates[i], 7, HZ / 1000000, i, 0, 0, counts);
		for (unsigned s = 0; s < 7; s++)
			assert_within_1pct(counts[s], rates[i], s);
		if (rates[i] <= 50000) {
			simulate(rates[i], 7, HZ / 5000, i + 100, 0, 0, counts);
			for (unsigned s = 0; s < 7; s++)
				assert_within_1pct(counts[s], rates[i], s);
		}
	}
}

static void exact_spacing(void **state)
{
	/* With a perfect poller the n-th send happens at exactly n/iops s. */
	struct pn_throttle t;
	uint64_t now = 1000;
	unsigned sent = 0;

	assert_int_equal(pn_throttle_init(&t, 1000, 1000000, 0), 0); /* µs clock */
	pn_throttle_start(&t, now);
	for (; now < 1000 + 3000000; now++) {
		if (pn_throttle_ready(&t, now)) {
			assert_int_equal(now, 1000 + sent * 1000ull);
			pn_throttle_sent(&t, now);
			sent++;
		}
	}
	assert_int_equal(sent, 3000);
}

static void stall_does_not_burst(void **state)
{
	/* A 0.3 s stall inside second 2 loses IOs in that second, but the catch-up
	 * is bounded (1% of the rate) and the following seconds are on rate. */
	uint64_t counts[6];
	uint64_t iops = 10000;

	simulate(iops, 6, HZ / 100000, 9, 2 * HZ + HZ / 4, HZ * 3 / 10, counts);
	assert_within_1pct(counts[0], iops, 0);
	assert_within_1pct(counts[1], iops, 1);
	assert_true(counts[2] < iops * 8 / 10);
	for (unsigned s = 3; s < 6; s++)
		assert_within_1pct(counts[s], iops, s);
}

static void unlimited_is_always_ready(void **state)
{
	struct pn_throttle t;

	assert_int_equal(pn_throttle_init(&t, 0, HZ, 0), 0);
	pn_throttle_start(&t, 5);
	for (int i = 0; i < 1000; i++) {
		assert_true(pn_throttle_ready(&t, 5));
		pn_throttle_sent(&t, 5);
	}
	assert_int_equal(pn_throttle_next_due(&t), 0);
}

static void bad_arguments(void **state)
{
	struct pn_throttle t;

	assert_int_equal(pn_throttle_init(&t, 10, 0, 0), -22);
	assert_int_equal(pn_throttle_init(&t, 2000000, 1000000, 0), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(holds_rate_each_second),
		cmocka_unit_test(exact_spacing),
		cmocka_unit_test(stall_does_not_burst),
		cmocka_unit_test(unlimited_is_always_ready),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
