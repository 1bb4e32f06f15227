/* Latency histogram: percentiles within 1% of the exact sorted values,
 * monotonic, exact min/max/mean/count, merge, bucket geometry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <cmocka.h>

#include "latency_histogram.h"
#include "rand.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile of sorted values, the definition the
 * histogram promises. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceill((long double)p / 100.0L * n);

	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static const double percentiles[] = { 0, 0.001, 1, 10, 25, 50, 75, 90, 95, 99, 99.9,
				      99.99, 99.999, 100 };

static void check_against_exact(uint64_t *values, size_t n)
{
	struct pn_hist *h = malloc(sizeof(*h));
	long double sum = 0;
	uint64_t prev = 0;

	pn_hist_reset(h);
	for (size_t i = 0; i < n; i++) {
		pn_hist_record(h, values[i]);
		sum += values[i];
	}
	qsort(values, n, sizeof(values[0]), cmp_u64);
	assert_int_equal(h->count, n);
	assert_int_equal(h->min, values[0]);
	assert_int_equal(h->max, values[n - 1]);
	assert_true(fabs(pn_hist_mean(h) - (double)(sum / n)) <= 1e-9 * (double)(sum / n) + 1e-9);
	for (size_t i = 0; i < sizeof(percentiles) / sizeof(percentiles[0]); i++) {
		uint64_t want = exact_percentile(values, n, percentiles[i]);
		uint64_t got = pn_hist_percentile(h, percentiles[i]);
		double err = fabs((double)got - (double)want) / (double)want;

		if (err >= 0.01)
			fail_msg("p%g: got %llu want %llu (%.3f%%)", percentiles[i],
				 (unsigned long long)got, (unsigned long long)want, err * 100);
		/* The promise is tighter than the 1%: half a bucket. */
		assert_true(err <= 1.0 / 256 + 1e-12);
	}
	/* Monotonic over a fine sweep. */
	for (double p = 0; p <= 100.0; p += 0.01) {
		uint64_t v = pn_hist_percentile(h, p);

		assert_true(v >= prev);
		prev = v;
	}
	free(h);
}

static void percentiles_uniform(void **state)
{
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof(*v));
	struct pn_rand r;

	pn_rand_init(&r, 1);
	for (size_t i = 0; i < n; i++)
		v[i] = 1000 + pn_rand_below(&r, 1000000);
	check_against_exact(v, n);
	free(v);
}

static void percentiles_long_tail(void **state)
{
	/* Log-uniform over 1 ns .. ~1000 s: every octave is exercised. */
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof(*v));
	struct pn_rand r;

	pn_rand_init(&r, 2);
	for (size_t i = 0; i < n; i++) {
		unsigned shift = (unsigned)pn_rand_below(&r, 40);

		v[i] = (1ull << shift) + pn_rand_below(&r, 1ull << shift);
	}
	check_against_exact(v, n);
	free(v);
}

static void percentiles_small_and_few(void **state)
{
	uint64_t one[] = { 12345 };
	uint64_t few[] = { 3, 1, 2, 250, 1000, 7 };
	uint64_t huge[] = { UINT64_MAX, UINT64_MAX - 1, 1ull << 63, 5 };

	check_against_exact(one, 1);
	check_against_exact(few, 6);
	check_against_exact(huge, 4);
}

static void empty_histogram(void **state)
{
	struct pn_hist *h = malloc(sizeof(*h));

	pn_hist_reset(h);
	assert_int_equal(h->count, 0);
	assert_int_equal(pn_hist_percentile(h, 50), 0);
	assert_true(pn_hist_mean(h) == 0.0);
	free(h);
}

static void merge_equals_single(void **state)
{
	struct pn_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *all = malloc(sizeof(*all));
	struct pn_rand r;

	pn_hist_reset(a);
	pn_hist_reset(b);
	pn_hist_reset(all);
	pn_rand_init(&r, 3);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = pn_rand_below(&r, 10000000);

		pn_hist_record(i % 3 ? a : b, v);
		pn_hist_record(all, v);
	}
	pn_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_true(a->sum == all->sum);
	assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
	for (size_t i = 0; i < sizeof(percentiles) / sizeof(percentiles[0]); i++)
		assert_int_equal(pn_hist_percentile(a, percentiles[i]),
				 pn_hist_percentile(all, percentiles[i]));
	/* Merging an empty one changes nothing (min stays). */
	pn_hist_reset(b);
	pn_hist_merge(a, b);
	assert_int_equal(a->min, all->min);
	free(a);
	free(b);
	free(all);
}

static void bucket_geometry(void **state)
{
	/* Buckets tile 0..2^64-1 without gaps, and each is at most 1/128 wide. */
	assert_int_equal(pn_hist_bucket_low(0), 0);
	for (unsigned i = 1; i < PN_HIST_BUCKETS; i++) {
		uint64_t low = pn_hist_bucket_low(i), high = pn_hist_bucket_high(i);

		assert_int_equal(low, pn_hist_bucket_high(i - 1) + 1);
		assert_int_equal(pn_hist_index(low), i);
		assert_int_equal(pn_hist_index(high), i);
		assert_true((high - low) <= low / 128);
	}
	assert_int_equal(pn_hist_bucket_high(PN_HIST_BUCKETS - 1), UINT64_MAX);
	assert_true(sizeof(struct pn_hist) < 64 * 1024);
}

static void count_at_or_below(void **state)
{
	struct pn_hist *h = malloc(sizeof(*h));

	pn_hist_reset(h);
	for (uint64_t v = 1; v <= 100; v++)
		pn_hist_record(h, v);
	assert_int_equal(pn_hist_count_at_or_below(h, 0), 0);
	assert_int_equal(pn_hist_count_at_or_below(h, 50), 50);
	assert_int_equal(pn_hist_count_at_or_below(h, 1000), 100);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(percentiles_uniform),
		cmocka_unit_test(percentiles_long_tail),
		cmocka_unit_test(percentiles_small_and_few),
		cmocka_unit_test(empty_histogram),
		cmocka_unit_test(merge_equals_single),
		cmocka_unit_test(bucket_geometry),
		cmocka_unit_test(count_at_or_below),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
