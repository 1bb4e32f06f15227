/* The seeded generator: reproducible per seed, different per stream, bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "rand.h"

static void same_seed_same_sequence(void **state)
{
	struct pn_rand a, b;

	pn_rand_seed(1234);
	pn_rand_init_stream(&a, 7);
	pn_rand_init_stream(&b, 7);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(pn_rand_next(&a), pn_rand_next(&b));
}

static void streams_differ(void **state)
{
	struct pn_rand a, b;

	pn_rand_seed(1234);
	pn_rand_init_stream(&a, 1);
	pn_rand_init_stream(&b, 2);
	assert_int_not_equal(pn_rand_next(&a), pn_rand_next(&b));
}

static void below_is_bounded_and_covers(void **state)
{
	struct pn_rand r;
	int seen[10] = {0};

	pn_rand_init(&r, 99);
	for (int i = 0; i < 10000; i++) {
		uint64_t v = pn_rand_below(&r, 10);

		assert_true(v < 10);
		seen[v]++;
	}
	for (int i = 0; i < 10; i++)
		assert_in_range(seen[i], 800, 1200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_seed_same_sequence),
		cmocka_unit_test(streams_differ),
		cmocka_unit_test(below_is_bounded_and_covers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
