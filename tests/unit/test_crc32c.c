/* CRC32C: standard vectors, hardware == table for every length and alignment,
 * and chaining. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "crc32c.h"
#include "rand.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static const crc_fn impls[] = { pn_crc32c, pn_crc32c_table, pn_crc32c_hw };

static void known_vectors(void **state)
{
	unsigned char zeros[32] = {0}, ones[32], inc[32], dec[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++) {
		inc[i] = (unsigned char)i;
		dec[i] = (unsigned char)(31 - i);
	}
	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		assert_int_equal(impls[i](0, "123456789", 9), 0xE3069283u);
		assert_int_equal(impls[i](0, NULL, 0), 0);
		assert_int_equal(impls[i](0, "a", 1), 0xC1D04330u);
		/* RFC 3720 (iSCSI) B.4 test patterns. */
		assert_int_equal(impls[i](0, zeros, 32), 0x8A9136AAu);
		assert_int_equal(impls[i](0, ones, 32), 0x62A8AB43u);
		assert_int_equal(impls[i](0, inc, 32), 0x46DD794Eu);
		assert_int_equal(impls[i](0, dec, 32), 0x113FDB5Cu);
	}
}

static void hw_matches_table(void **state)
{
	static unsigned char data[9000];
	struct pn_rand r;

	if (!pn_crc32c_hw_available())
		print_message("no SSE4.2 here: pn_crc32c_hw is the table\n");
	pn_rand_init(&r, 42);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)pn_rand_next(&r);
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 300; len++)
			assert_int_equal(pn_crc32c_hw(0, data + off, len),
					 pn_crc32c_table(0, data + off, len));
	for (int i = 0; i < 2000; i++) {
		size_t off = pn_rand_below(&r, 64);
		size_t len = pn_rand_below(&r, sizeof(data) - 64);
		uint32_t seed = (uint32_t)pn_rand_next(&r);

		assert_int_equal(pn_crc32c_hw(seed, data + off, len),
				 pn_crc32c_table(seed, data + off, len));
	}
	assert_int_equal(pn_crc32c(0, data, 4096), pn_crc32c_table(0, data, 4096));
	/* The chosen implementation is one of the two, and SSE4.2 only if present. */
	assert_true(strcmp(pn_crc32c_impl(), "table") == 0 ||
		    (strcmp(pn_crc32c_impl(), "sse42") == 0 && pn_crc32c_hw_available()));
}

static void chaining_equals_whole(void **state)
{
	static unsigned char data[4096];
	struct pn_rand r;

	pn_rand_init(&r, 7);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)pn_rand_next(&r);
	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		uint32_t whole = impls[i](0, data, sizeof(data));

		for (size_t cut = 0; cut <= sizeof(data); cut += 333)
			assert_int_equal(impls[i](impls[i](0, data, cut), data + cut,
						  sizeof(data) - cut), whole);
	}
}

static void detects_single_bit_flips(void **state)
{
	unsigned char block[512] = {0};
	uint32_t good = pn_crc32c(0, block, sizeof(block));

	for (size_t bit = 0; bit < sizeof(block) * 8; bit += 7) {
		block[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_int_not_equal(pn_crc32c(0, block, sizeof(block)), good);
		block[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	assert_int_equal(pn_crc32c(0, block, sizeof(block)), good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_vectors),
		cmocka_unit_test(hw_matches_table),
		cmocka_unit_test(chaining_equals_whole),
		cmocka_unit_test(detects_single_bit_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
