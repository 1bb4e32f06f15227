/* Data patterns: the exact bytes of each type, the compressibility of random
 * data, reproducibility from the seed, refusal of unknown types. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pattern.h"

static uint8_t buf[64 * 1024 + 3];

static void fill_zero_and_ones(void **state)
{
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pattern_fill(buf, sizeof(buf), PATTERN_FILL, 0, NULL), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(pattern_fill(buf, sizeof(buf), PATTERN_FILL, 1, NULL), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xff);
	/* Only `len` bytes are touched. */
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pattern_fill(buf, 10, PATTERN_FILL, 0, NULL), 0);
	assert_int_equal(buf[9], 0);
	assert_int_equal(buf[10], 0x5a);
}

static void dword_little_endian(void **state)
{
	const uint8_t expect[] = {0x78, 0x56, 0x34, 0x12};

	assert_int_equal(pattern_fill(buf, sizeof(buf), PATTERN_DWORD, 0x12345678, NULL), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], expect[i % 4]);
	/* The odd tail (sizeof(buf) % 4 == 3) ends with the value's first bytes. */
	assert_int_equal(buf[sizeof(buf) - 1], 0x34);
}

static double entropy_bits_per_byte(const uint8_t *p, size_t len)
{
	double h = 0;
	size_t count[256] = {0};

	for (size_t i = 0; i < len; i++)
		count[p[i]]++;
	for (int v = 0; v < 256; v++)
		if (count[v]) {
			double f = (double)count[v] / (double)len;

			h -= f * log2(f);
		}
	return h;
}

static void random_compressibility(void **state)
{
	struct pn_rand rng;
	const size_t len = 64 * 1024;

	pn_rand_init(&rng, 7);
	for (uint32_t pct = 0; pct <= 100; pct += 10) {
		size_t nonzero = 0;

		assert_int_equal(pattern_fill(buf, len, PATTERN_RANDOM, pct, &rng), 0);
		for (size_t i = 0; i < len; i++)
			nonzero += buf[i] != 0;
		/* pct% of the bytes random (1/256 of those are zero by chance). */
		double expect = (double)len * pct / 100.0 * 255.0 / 256.0;

		assert_true(fabs((double)nonzero - expect) <= 0.01 * (double)len);
		/* Per 4 KiB block: the random part first, zeros after it. */
		size_t cut = 4096 * pct / 100;

		for (size_t i = cut; i < 4096; i++)
			assert_int_equal(buf[4096 + i], 0);
	}
	/* 100%: close to 8 bits of entropy per byte, i.e. incompressible. */
	assert_int_equal(pattern_fill(buf, len, PATTERN_RANDOM, 100, &rng), 0);
	assert_true(entropy_bits_per_byte(buf, len) > 7.99);
	assert_int_equal(pattern_fill(buf, len, PATTERN_RANDOM, 0, &rng), 0);
	assert_true(entropy_bits_per_byte(buf, len) == 0);
}

static void random_reproducible(void **state)
{
	static uint8_t other[sizeof(buf)];
	struct pn_rand a, b, c;

	pn_rand_init(&a, 1234);
	pn_rand_init(&b, 1234);
	pn_rand_init(&c, 1235);
	assert_int_equal(pattern_fill(buf, sizeof(buf), PATTERN_RANDOM, 100, &a), 0);
	assert_int_equal(pattern_fill(other, sizeof(other), PATTERN_RANDOM, 100, &b), 0);
	assert_memory_equal(buf, other, sizeof(buf));
	assert_int_equal(pattern_fill(other, sizeof(other), PATTERN_RANDOM, 100, &c), 0);
	assert_memory_not_equal(buf, other, sizeof(buf));
	/* The generator advances: a second fill from the same one differs. */
	assert_int_equal(pattern_fill(other, sizeof(other), PATTERN_RANDOM, 100, &a), 0);
	assert_memory_not_equal(buf, other, sizeof(buf));
}

static void bad_patterns_rejected(void **state)
{
	struct pn_rand rng;

	pn_rand_init(&rng, 1);
	memset(buf, 0x5a, 16);
	assert_int_equal(pattern_fill(buf, 16, 1, 0, NULL), -EINVAL);
	assert_int_equal(pattern_fill(buf, 16, 0xbeee, 0, &rng), -EINVAL);
	assert_int_equal(pattern_fill(buf, 16, PATTERN_RANDOM, 101, &rng), -EINVAL);
	assert_int_equal(pattern_fill(buf, 16, PATTERN_RANDOM, 50, NULL), -EINVAL);
	assert_int_equal(buf[0], 0x5a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fill_zero_and_ones),
		cmocka_unit_test(dword_little_endian),
		cmocka_unit_test(random_compressibility),
		cmocka_unit_test(random_reproducible),
		cmocka_unit_test(bad_patterns_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
