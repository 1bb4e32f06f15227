/* Data-verification table and LBA busy bits: write/read/mismatch, zeroes,
 * unknown, boundary LBAs, stamping, memory bound, locking. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "crc32c.h"
#include "error.h"
#include "lba_lock.h"
#include "rand.h"
#include "verify_table.h"

#define LBA 512

static void fill_random(void *buf, size_t len, uint64_t seed)
{
	struct pn_rand r;
	unsigned char *p = buf;

	pn_rand_init(&r, seed);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)pn_rand_next(&r);
}

static void write_then_read_matches(void **state)
{
	struct pn_verify_table t;
	unsigned char *buf = malloc(8 * LBA);

	assert_int_equal(pn_verify_table_init(&t, 1000, LBA), 0);
	fill_random(buf, 8 * LBA, 1);
	pn_verify_stamp(buf, 100, 8, LBA, 77);
	pn_verify_record_write(&t, 100, 8, buf);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pn_verify_state_of(&t, 100 + i), PN_VERIFY_STATE_CRC);
	assert_int_equal(pn_verify_state_of(&t, 99), PN_VERIFY_STATE_UNKNOWN);
	assert_int_equal(pn_verify_state_of(&t, 108), PN_VERIFY_STATE_UNKNOWN);
	assert_int_equal(pn_verify_check_read(&t, 100, 8, buf, NULL), 0);
	/* A sub-range read checks against the same entries. */
	assert_int_equal(pn_verify_check_read(&t, 103, 2, buf + 3 * LBA, NULL), 0);
	pn_verify_table_free(&t);
	free(buf);
}

static void corruption_is_reported(void **state)
{
	struct pn_verify_table t;
	struct pn_verify_mismatch m;
	unsigned char *buf = malloc(4 * LBA);
	uint32_t good;

	assert_int_equal(pn_verify_table_init(&t, 64, LBA), 0);
	fill_random(buf, 4 * LBA, 2);
	pn_verify_stamp(buf, 10, 4, LBA, 5);
	pn_verify_record_write(&t, 10, 4, buf);
	good = pn_crc32c(0, buf + 2 * LBA, LBA);
	buf[2 * LBA + 100] ^= 0x10;   /* one bit of LBA 12 */
	memset(&m, 0, sizeof(m));
	assert_int_equal(pn_verify_check_read(&t, 10, 4, buf, &m), -EIO);
	assert_int_equal(m.lba, 12);
	assert_int_equal(m.expected_state, PN_VERIFY_STATE_CRC);
	assert_int_equal(m.expected_crc, pn_verify_entry_of_crc(good));
	assert_int_equal(m.found_crc, pn_crc32c(0, buf + 2 * LBA, LBA));
	assert_int_equal(m.found_lba_tag, 12);
	assert_memory_equal(m.first_bytes, buf + 2 * LBA, 16);
	assert_non_null(strstr(pn_last_error(), "LBA 0xc"));
	assert_non_null(strstr(pn_last_error(), "expected data CRC"));
	assert_non_null(strstr(pn_last_error(), "0c 00 00 00 00 00 00 00"));
	pn_verify_table_free(&t);
	free(buf);
}

static void stale_and_misplaced_data_is_caught(void **state)
{
	/* Same pattern, new token: the old data no longer verifies. Data of
	 * LBA 21 read back for LBA 20 fails on the LBA stamp. */
	struct pn_verify_table t;
	struct pn_verify_mismatch m;
	unsigned char *old = malloc(2 * LBA), *new = malloc(2 * LBA);

	assert_int_equal(pn_verify_table_init(&t, 64, LBA), 0);
	memset(old, 0xa5, 2 * LBA);
	memset(new, 0xa5, 2 * LBA);
	pn_verify_stamp(old, 20, 2, LBA, 1);
	pn_verify_stamp(new, 20, 2, LBA, 2);
	pn_verify_record_write(&t, 20, 2, old);
	pn_verify_record_write(&t, 20, 2, new);
	assert_int_equal(pn_verify_check_read(&t, 20, 2, old, &m), -EIO);
	assert_int_equal(m.lba, 20);
	assert_int_equal(pn_verify_check_read(&t, 20, 1, new + LBA, &m), -EIO);
	assert_int_equal(m.found_lba_tag, 21);
	pn_verify_table_free(&t);
	free(old);
	free(new);
}

static void zeroes_and_unknown(void **state)
{
	struct pn_verify_table t;
	struct pn_verify_mismatch m;
	unsigned char *zero = calloc(4, LBA), *data = malloc(4 * LBA);

	assert_int_equal(pn_verify_table_init(&t, 64, LBA), 0);
	fill_random(data, 4 * LBA, 3);
	/* Never written: anything reads fine. */
	assert_int_equal(pn_verify_check_read(&t, 0, 4, data, NULL), 0);
	pn_verify_record_write(&t, 0, 4, data);
	pn_verify_record_zeroes(&t, 1, 2);   /* write zeroes / trim that reads 0 */
	assert_int_equal(pn_verify_state_of(&t, 0), PN_VERIFY_STATE_CRC);
	assert_int_equal(pn_verify_state_of(&t, 1), PN_VERIFY_STATE_ZEROES);
	assert_int_equal(pn_verify_state_of(&t, 2), PN_VERIFY_STATE_ZEROES);
	assert_int_equal(pn_verify_state_of(&t, 3), PN_VERIFY_STATE_CRC);
	assert_int_equal(pn_verify_check_read(&t, 1, 2, zero, NULL), 0);
	/* The old data where zeroes are expected is a mismatch. */
	assert_int_equal(pn_verify_check_read(&t, 1, 2, data + LBA, &m), -EIO);
	assert_int_equal(m.lba, 1);
	assert_int_equal(m.expected_state, PN_VERIFY_STATE_ZEROES);
	assert_int_equal(m.expected_crc, t.zero_crc);
	assert_non_null(strstr(pn_last_error(), "zeroes"));
	/* Trim without a zero guarantee: anything goes again. */
	pn_verify_record_unknown(&t, 1, 2);
	assert_int_equal(pn_verify_check_read(&t, 1, 2, data, NULL), 0);
	/* Zeroes written as ordinary (stamped) data verify too. */
	pn_verify_stamp(zero, 5, 1, LBA, 0);
	pn_verify_record_write(&t, 5, 1, zero);
	assert_int_equal(pn_verify_check_read(&t, 5, 1, zero, NULL), 0);
	pn_verify_table_free(&t);
	free(zero);
	free(data);
}

/* Zeroes are checked without a CRC: one stray bit anywhere in the LBA, in
 * the 32-byte blocks or the tail of an LBA size that is not a multiple of
 * 32, is a mismatch that reports the data's CRC. */
static void one_bit_where_zeroes_are_expected(void **state)
{
	static const uint32_t sizes[] = {24, 40, 512, 4096};

	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint32_t n = sizes[k];
		struct pn_verify_table t;
		struct pn_verify_mismatch m;
		unsigned char *buf = calloc(2, n);

		assert_int_equal(pn_verify_table_init(&t, 8, n), 0);
		pn_verify_record_zeroes(&t, 0, 2);
		assert_int_equal(pn_verify_check_read(&t, 0, 2, buf, NULL), 0);
		for (uint32_t byte = 0; byte < n; byte += n / 8 + 1) {
			buf[n + byte] = 0x10;
			assert_int_equal(pn_verify_check_read(&t, 0, 2, buf, &m), -EIO);
			assert_int_equal(m.lba, 1);
			assert_int_equal(m.found_crc, pn_crc32c(0, buf + n, n));
			assert_int_not_equal(m.found_crc, t.zero_crc);
			buf[n + byte] = 0;
		}
		buf[2 * n - 1] = 1;   /* the very last byte */
		assert_int_equal(pn_verify_check_read(&t, 0, 2, buf, NULL), -EIO);
		pn_verify_table_free(&t);
		free(buf);
	}
}

static void boundary_lbas(void **state)
{
	struct pn_verify_table t;
	unsigned char *buf = malloc(4 * LBA);

	assert_int_equal(pn_verify_table_init(&t, 100, LBA), 0);
	fill_random(buf, 4 * LBA, 4);
	pn_verify_stamp(buf, 0, 1, LBA, 9);
	/* LBA 0 and the last LBA work. */
	pn_verify_record_write(&t, 0, 1, buf);
	assert_int_equal(pn_verify_check_read(&t, 0, 1, buf, NULL), 0);
	pn_verify_stamp(buf, 98, 4, LBA, 9);
	assert_int_equal(pn_verify_state_of(&t, 0), PN_VERIFY_STATE_CRC);
	/* A write straddling the end records only the covered part. */
	pn_verify_record_write(&t, 98, 4, buf);
	assert_int_equal(pn_verify_state_of(&t, 98), PN_VERIFY_STATE_CRC);
	assert_int_equal(pn_verify_state_of(&t, 99), PN_VERIFY_STATE_CRC);
	assert_int_equal(pn_verify_state_of(&t, 100), PN_VERIFY_STATE_UNKNOWN);
	assert_int_equal(pn_verify_check_read(&t, 98, 4, buf, NULL), 0);
	/* Beyond the table: ignored, never out of bounds. */
	pn_verify_record_write(&t, 1000, 4, buf);
	pn_verify_record_zeroes(&t, UINT64_MAX - 1, 2);
	assert_int_equal(pn_verify_check_read(&t, 5000, 4, buf, NULL), 0);
	assert_int_equal(pn_verify_state_of(&t, UINT64_MAX), PN_VERIFY_STATE_UNKNOWN);
	/* A corrupt last LBA is caught. */
	buf[LBA + 17] ^= 1;
	assert_int_equal(pn_verify_check_read(&t, 98, 2, buf, NULL), -EIO);
	pn_verify_table_free(&t);
	free(buf);
}

/* The stamp is checked on its own: data of another LBA is named as such
 * (a CRC entry), and an LBA of unknown content holding another covered
 * LBA's stamp is a mismatch, while 0, all ones and foreign data (no LBA of
 * the table) pass, as unwritten or deallocated LBAs read in the original. */
static void stamp_is_checked(void **state)
{
	struct pn_verify_table t;
	struct pn_verify_mismatch m;
	unsigned char *buf = malloc(2 * LBA);

	assert_int_equal(pn_verify_table_init(&t, 1000, LBA), 0);
	fill_random(buf, 2 * LBA, 7);
	pn_verify_stamp(buf, 40, 2, LBA, 3);
	pn_verify_record_write(&t, 40, 2, buf);
	/* LBA 41's data returned for LBA 40 */
	memset(&m, 0, sizeof(m));
	assert_int_equal(pn_verify_check_read(&t, 40, 1, buf + LBA, &m), -EIO);
	assert_int_equal(m.lba, 40);
	assert_int_equal(m.found_lba_tag, 41);
	assert_non_null(strstr(pn_last_error(), "LBA 0x28 holds the data of LBA 0x29"));
	/* the stamp alone: same CRC would not help, a wrong tag fails */
	buf[0] = 39;
	assert_int_equal(pn_verify_check_read(&t, 40, 1, buf, &m), -EIO);
	assert_int_equal(m.found_lba_tag, 39);
	/* foreign first bytes where a CRC is expected: a CRC mismatch */
	memcpy(buf, "foreign!", 8);
	assert_int_equal(pn_verify_check_read(&t, 40, 1, buf, &m), -EIO);
	assert_non_null(strstr(pn_last_error(), "expected data CRC"));
	pn_verify_stamp(buf, 40, 1, LBA, 3);
	assert_int_equal(pn_verify_check_read(&t, 40, 2, buf, NULL), 0);

	/* unknown LBAs: another covered LBA's stamp fails */
	assert_int_equal(pn_verify_check_read(&t, 500, 1, buf, &m), -EIO);
	assert_int_equal(m.lba, 500);
	assert_int_equal(m.expected_state, PN_VERIFY_STATE_UNKNOWN);
	assert_int_equal(m.found_lba_tag, 40);
	/* its own stamp, 0, all ones, a value beyond the table: pass */
	pn_verify_stamp(buf, 500, 1, LBA, 1);
	assert_int_equal(pn_verify_check_read(&t, 500, 1, buf, NULL), 0);
	memset(buf, 0, 8);
	assert_int_equal(pn_verify_check_read(&t, 500, 1, buf, NULL), 0);
	memset(buf, 0xff, 8);
	assert_int_equal(pn_verify_check_read(&t, 500, 1, buf, NULL), 0);
	pn_verify_stamp(buf, 1000, 1, LBA, 1);
	assert_int_equal(pn_verify_check_read(&t, 500, 1, buf, NULL), 0);
	memcpy(buf, "ext4 fs!", 8);
	assert_int_equal(pn_verify_check_read(&t, 500, 1, buf, NULL), 0);
	pn_verify_table_free(&t);
	free(buf);
}

static void crc_colliding_with_states(void **state)
{
	/* Data whose CRC is one of the reserved values still verifies. */
	assert_int_equal(pn_verify_entry_of_crc(0), 1);
	assert_int_equal(pn_verify_entry_of_crc(0xFFFFFFFFu), 0xFFFFFFFEu);
	assert_int_equal(pn_verify_entry_of_crc(0x12345678), 0x12345678);
}

static void memory_is_bounded(void **state)
{
	struct pn_verify_table t;

	assert_int_equal(pn_verify_table_init(&t, 1000, 4096), 0);
	assert_int_equal(pn_verify_table_bytes(&t), 4000);
	pn_verify_table_free(&t);
	/* A 4 TiB namespace of 512 B LBAs: 32 GiB of entries reserved lazily,
	 * nothing touched, so it costs (almost) nothing until written. */
	if (pn_verify_table_init(&t, 8ull << 30, 512) == 0) {
		assert_int_equal(pn_verify_table_bytes(&t), 32ull << 30);
		pn_verify_table_free(&t);
	}
	assert_null(t.entries);
}

/* What the stress suites report as "LBAs checked" after a fault: the
 * states of a range, the part beyond the table counted as unknown. */
static void states_are_counted(void **state)
{
	struct pn_verify_table t;
	unsigned char *buf = calloc(4, LBA);
	uint64_t n[3];

	assert_int_equal(pn_verify_table_init(&t, 100, LBA), 0);
	pn_verify_stamp(buf, 10, 4, LBA, 1);
	pn_verify_record_write(&t, 10, 4, buf);
	pn_verify_record_zeroes(&t, 20, 3);
	pn_verify_record_unknown(&t, 11, 1);   /* a write that failed */
	pn_verify_count_states(&t, 0, 100, n);
	assert_int_equal(n[PN_VERIFY_STATE_CRC], 3);
	assert_int_equal(n[PN_VERIFY_STATE_ZEROES], 3);
	assert_int_equal(n[PN_VERIFY_STATE_UNKNOWN], 94);
	pn_verify_count_states(&t, 12, 200, n);   /* runs past the table */
	assert_int_equal(n[PN_VERIFY_STATE_CRC], 2);
	assert_int_equal(n[PN_VERIFY_STATE_ZEROES], 3);
	assert_int_equal(n[PN_VERIFY_STATE_UNKNOWN], 195);
	pn_verify_count_states(&t, 500, 7, n);    /* all beyond */
	assert_int_equal(n[PN_VERIFY_STATE_UNKNOWN], 7);
	assert_int_equal(n[PN_VERIFY_STATE_CRC] + n[PN_VERIFY_STATE_ZEROES], 0);
	pn_verify_table_free(&t);
	free(buf);
}

static void bad_arguments(void **state)
{
	struct pn_verify_table t;

	assert_int_equal(pn_verify_table_init(&t, 0, 512), -EINVAL);
	assert_int_equal(pn_verify_table_init(&t, 10, 8), -EINVAL);
	assert_int_equal(pn_verify_table_init(&t, 10, 513), -EINVAL);
}

static void stamp_layout(void **state)
{
	unsigned char buf[3 * 4096];
	uint64_t v;

	memset(buf, 0x5a, sizeof(buf));
	pn_verify_stamp(buf, 0x1122334455ull, 3, 4096, 0xdeadbeefcafef00dull);
	for (int i = 0; i < 3; i++) {
		memcpy(&v, buf + i * 4096, 8);
		assert_int_equal(v, 0x1122334455ull + i);
		memcpy(&v, buf + i * 4096 + 4088, 8);
		assert_int_equal(v, 0xdeadbeefcafef00dull);
		assert_int_equal(buf[i * 4096 + 8], 0x5a);
		assert_int_equal(buf[i * 4096 + 4087], 0x5a);
	}
	assert_int_equal(buf[0], 0x55);   /* little endian */
}

static void lock_excludes_overlaps(void **state)
{
	struct pn_lba_lock l;

	assert_int_equal(pn_lba_lock_init(&l, 1000, 500), 0);
	assert_true(pn_lba_lock_try(&l, 1060, 10));    /* spans words */
	assert_true(pn_lba_lock_busy(&l, 1060));
	assert_true(pn_lba_lock_busy(&l, 1069));
	assert_false(pn_lba_lock_busy(&l, 1070));
	assert_false(pn_lba_lock_try(&l, 1069, 1));
	assert_false(pn_lba_lock_try(&l, 1050, 11));
	assert_false(pn_lba_lock_try(&l, 1000, 500));
	assert_true(pn_lba_lock_try(&l, 1050, 10));    /* adjacent is fine */
	assert_true(pn_lba_lock_try(&l, 1070, 200));
	/* A failed try changed nothing. */
	assert_false(pn_lba_lock_busy(&l, 1049));
	pn_lba_lock_release(&l, 1060, 10);
	assert_false(pn_lba_lock_busy(&l, 1065));
	assert_true(pn_lba_lock_busy(&l, 1059));
	assert_true(pn_lba_lock_try(&l, 1065, 2));
	/* Outside the covered range nothing is tracked; straddling is clipped. */
	assert_true(pn_lba_lock_try(&l, 10, 100));
	assert_true(pn_lba_lock_try(&l, 10, 100));
	assert_true(pn_lba_lock_try(&l, 1495, 100));
	assert_false(pn_lba_lock_try(&l, 1499, 1));
	assert_true(pn_lba_lock_try(&l, 1500, 1));
	assert_true(pn_lba_lock_try(&l, UINT64_MAX - 5, 100));
	pn_lba_lock_free(&l);
}

static void lock_random_against_model(void **state)
{
	/* Random lock/release against a byte-per-LBA model. */
	struct pn_lba_lock l;
	unsigned char model[700] = {0};
	struct { uint64_t slba, nlb; } held[64];
	int nheld = 0;
	struct pn_rand r;

	pn_rand_init(&r, 11);
	assert_int_equal(pn_lba_lock_init(&l, 0, sizeof(model)), 0);
	for (int i = 0; i < 20000; i++) {
		if (nheld < 64 && pn_rand_below(&r, 2)) {
			uint64_t nlb = 1 + pn_rand_below(&r, 130);
			uint64_t slba = pn_rand_below(&r, sizeof(model) - nlb + 1);
			bool free_in_model = true;

			for (uint64_t b = slba; b < slba + nlb; b++)
				free_in_model &= !model[b];
			assert_int_equal(pn_lba_lock_try(&l, slba, nlb), free_in_model);
			if (free_in_model) {
				memset(model + slba, 1, nlb);
				held[nheld].slba = slba;
				held[nheld++].nlb = nlb;
			}
		} else if (nheld) {
			int k = (int)pn_rand_below(&r, nheld);

			pn_lba_lock_release(&l, held[k].slba, held[k].nlb);
			memset(model + held[k].slba, 0, held[k].nlb);
			held[k] = held[--nheld];
		}
		for (uint64_t b = 0; b < sizeof(model); b += 37)
			assert_int_equal(pn_lba_lock_busy(&l, b), model[b]);
	}
	pn_lba_lock_free(&l);
}

static void lock_of_nothing(void **state)
{
	struct pn_lba_lock l;

	assert_int_equal(pn_lba_lock_init(&l, 0, 0), 0);
	assert_true(pn_lba_lock_try(&l, 0, 8));
	assert_true(pn_lba_lock_try(&l, 0, 8));
	pn_lba_lock_release(&l, 0, 8);
	pn_lba_lock_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_then_read_matches),
		cmocka_unit_test(corruption_is_reported),
		cmocka_unit_test(stale_and_misplaced_data_is_caught),
		cmocka_unit_test(zeroes_and_unknown),
		cmocka_unit_test(one_bit_where_zeroes_are_expected),
		cmocka_unit_test(boundary_lbas),
		cmocka_unit_test(stamp_is_checked),
		cmocka_unit_test(crc_colliding_with_states),
		cmocka_unit_test(memory_is_bounded),
		cmocka_unit_test(states_are_counted),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(stamp_layout),
		cmocka_unit_test(lock_excludes_overlaps),
		cmocka_unit_test(lock_random_against_model),
		cmocka_unit_test(lock_of_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
