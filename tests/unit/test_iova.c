/* The IOVA allocator: alignment, exhaustion, reuse, coalescing, no overlap,
 * the MSI window and the floor never handed out, restriction to the ranges
 * the IOMMU reports. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "iova.h"
#include "rand.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int hits_msi(uint64_t a, uint64_t len)
{
	return overlaps(a, len, IOVA_MSI_START, IOVA_MSI_END + 1 - IOVA_MSI_START);
}

static void defaults_start_at_floor_and_align(void **state)
{
	struct iova_space s;
	uint64_t a, b, c;

	assert_int_equal(iova_init(&s, NULL, 0), 0);
	assert_int_equal(iova_free_bytes(&s),
			 (IOVA_MSI_START - IOVA_FLOOR) + (IOVA_DEFAULT_TOP - 4 * GiB));
	assert_int_equal(iova_alloc(&s, 1, 0, &a), 0);
	assert_int_equal(a, IOVA_FLOOR);
	/* A 1-byte request takes one whole page: the next starts a page later. */
	assert_int_equal(iova_alloc(&s, 4096, 0, &b), 0);
	assert_int_equal(b, IOVA_FLOOR + 4096);
	assert_int_equal(iova_alloc(&s, 3 * MiB, 2 * MiB, &c), 0);
	assert_int_equal(c % (2 * MiB), 0);
	assert_true(c >= b + 4096);
	iova_fini(&s);
}

static void bad_arguments(void **state)
{
	struct iova_space s;
	uint64_t a;
	const uint64_t reversed[][2] = {{0x200000, 0x1fffff}};
	const uint64_t below_floor[][2] = {{0, 0xfffff}};

	assert_int_equal(iova_init(&s, reversed, 1), -EINVAL);
	assert_int_equal(iova_init(&s, below_floor, 1), -EINVAL);
	assert_int_equal(iova_init(&s, NULL, 0), 0);
	assert_int_equal(iova_alloc(&s, 0, 0, &a), -EINVAL);
	assert_int_equal(iova_alloc(&s, 4096, 3 * 4096, &a), -EINVAL);
	assert_int_equal(iova_alloc(&s, 4096, 2048, &a), -EINVAL);
	assert_int_equal(iova_alloc(&s, UINT64_MAX, 0, &a), -EINVAL);
	/* Freeing what was never allocated, outside the space, or unaligned. */
	assert_int_equal(iova_free(&s, IOVA_FLOOR, 4096), -EINVAL);
	assert_int_equal(iova_free(&s, 0, 4096), -EINVAL);
	assert_int_equal(iova_free(&s, IOVA_FLOOR + 1, 4096), -EINVAL);
	iova_fini(&s);
}

static void exhaustion_then_reuse(void **state)
{
	struct iova_space s;
	const uint64_t one[][2] = {{16 * MiB, 17 * MiB - 1}};
	uint64_t a[256], x;

	assert_int_equal(iova_init(&s, one, 1), 0);
	for (int i = 0; i < 256; i++) {
		assert_int_equal(iova_alloc(&s, 4096, 0, &a[i]), 0);
		assert_int_equal(a[i], 16 * MiB + (uint64_t)i * 4096);
	}
	assert_int_equal(iova_alloc(&s, 4096, 0, &x), -ENOMEM);
	assert_int_equal(iova_free_bytes(&s), 0);
	/* The freed page is the one handed out next. */
	assert_int_equal(iova_free(&s, a[100], 4096), 0);
	assert_int_equal(iova_free(&s, a[100], 4096), -EINVAL);  /* double free */
	assert_int_equal(iova_alloc(&s, 8192, 0, &x), -ENOMEM);  /* a hole of one page */
	assert_int_equal(iova_alloc(&s, 4096, 0, &x), 0);
	assert_int_equal(x, a[100]);
	iova_fini(&s);
}

static void coalescing(void **state)
{
	struct iova_space s;
	const uint64_t one[][2] = {{16 * MiB, 17 * MiB - 1}};
	uint64_t a[4], big;

	assert_int_equal(iova_init(&s, one, 1), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(iova_alloc(&s, 256 * 1024, 0, &a[i]), 0);
	assert_int_equal(s.nfree, 0);
	/* Free out of order: 1, 3 (two holes), then 2 joins both, then 0. */
	assert_int_equal(iova_free(&s, a[1], 256 * 1024), 0);
	assert_int_equal(iova_free(&s, a[3], 256 * 1024), 0);
	assert_int_equal(s.nfree, 2);
	assert_int_equal(iova_alloc(&s, 512 * 1024, 0, &big), -ENOMEM);
	assert_int_equal(iova_free(&s, a[2], 256 * 1024), 0);
	assert_int_equal(s.nfree, 1);
	assert_int_equal(iova_alloc(&s, 768 * 1024, 0, &big), 0);
	assert_int_equal(big, a[1]);
	assert_int_equal(iova_free(&s, big, 768 * 1024), 0);
	assert_int_equal(iova_free(&s, a[0], 256 * 1024), 0);
	assert_int_equal(s.nfree, 1);
	assert_int_equal(s.free[0].start, 16 * MiB);
	assert_int_equal(s.free[0].end, 17 * MiB);
	assert_int_equal(iova_alloc(&s, MiB, 0, &big), 0);
	iova_fini(&s);
}

/* Random allocations and frees: no two live ranges overlap, none touches the
 * MSI window or goes below the floor, every byte comes back in the end. */
static void random_never_overlaps(void **state)
{
	struct iova_space s;
	struct pn_rand rng;
	enum { SLOTS = 64 };
	uint64_t addr[SLOTS], len[SLOTS];
	int live[SLOTS] = {0};
	/* A small space straddling the MSI window, so the window matters. */
	const uint64_t around_msi[][2] = {{0xfe000000ULL, 0xffffffffULL}};
	uint64_t total;

	assert_int_equal(iova_init(&s, around_msi, 1), 0);
	total = iova_free_bytes(&s);
	assert_int_equal(total, (0xffffffffULL + 1 - 0xfe000000ULL) - MiB);
	pn_rand_init(&rng, 42);
	for (int step = 0; step < 20000; step++) {
		int i = (int)pn_rand_below(&rng, SLOTS);

		if (live[i]) {
			assert_int_equal(iova_free(&s, addr[i], len[i]), 0);
			live[i] = 0;
			continue;
		}
		len[i] = (1 + pn_rand_below(&rng, 300)) * 4096;
		uint64_t align = pn_rand_below(&rng, 4) ? 4096 : 2 * MiB;
		int rc = iova_alloc(&s, len[i], align, &addr[i]);

		if (rc) {
			assert_int_equal(rc, -ENOMEM);
			continue;
		}
		live[i] = 1;
		assert_int_equal(addr[i] % align, 0);
		assert_true(addr[i] >= 0xfe000000ULL);
		assert_true(addr[i] + len[i] <= 0x100000000ULL);
		assert_false(hits_msi(addr[i], len[i]));
		for (int j = 0; j < SLOTS; j++)
			if (j != i && live[j])
				assert_false(overlaps(addr[i], len[i], addr[j], len[j]));
	}
	for (int i = 0; i < SLOTS; i++)
		if (live[i])
			assert_int_equal(iova_free(&s, addr[i], len[i]), 0);
	assert_int_equal(iova_free_bytes(&s), total);
	iova_fini(&s);
}

/* What VFIO reports on x86 (everything but the MSI window, 39 bits) gives
 * the same space as the defaults minus nothing below 1 MiB. */
static void restricted_to_reported_ranges(void **state)
{
	struct iova_space s;
	/* Unsorted, overlapping, with a range that lies in the MSI window. */
	const uint64_t reported[][2] = {
		{0x40000000ULL, 0x7fffffffULL},
		{0x10000000ULL, 0x4fffffffULL},
		{0xfee00000ULL, 0xfeefffffULL},
	};
	uint64_t a;

	assert_int_equal(iova_init(&s, reported, 3), 0);
	assert_int_equal(s.nfree, 1);
	assert_int_equal(iova_free_bytes(&s), 0x80000000ULL - 0x10000000ULL);
	assert_int_equal(iova_alloc(&s, 4096, 0, &a), 0);
	assert_int_equal(a, 0x10000000ULL);
	assert_int_equal(iova_alloc(&s, 0x70000000ULL, 0, &a), -ENOMEM);
	assert_int_equal(iova_alloc(&s, 0x70000000ULL - 4096, 0, &a), 0);
	assert_int_equal(a + 0x70000000ULL - 4096, 0x80000000ULL);
	iova_fini(&s);

	/* Only the MSI window: nothing usable. */
	assert_int_equal(iova_init(&s, &reported[2], 1), -EINVAL);

	/* The x86 report: [0, 0xfedfffff], [0xfef00000, 2^39 - 1]. */
	const uint64_t x86[][2] = {{0, 0xfedfffffULL}, {0xfef00000ULL, (1ULL << 39) - 1}};

	assert_int_equal(iova_init(&s, x86, 2), 0);
	assert_int_equal(s.nfree, 2);
	assert_int_equal(s.free[0].start, IOVA_FLOOR);
	assert_int_equal(s.free[0].end, IOVA_MSI_START);
	assert_int_equal(s.free[1].start, IOVA_MSI_END + 1);
	assert_int_equal(s.free[1].end, 1ULL << 39);
	/* A page-unaligned report is trimmed inwards. */
	iova_fini(&s);
	const uint64_t ragged[][2] = {{0x200001ULL, 0x300ffeULL}};

	assert_int_equal(iova_init(&s, ragged, 1), 0);
	assert_int_equal(s.free[0].start, 0x201000ULL);
	assert_int_equal(s.free[0].end, 0x300000ULL);
	iova_fini(&s);
}

static void msi_window_never_handed_out(void **state)
{
	struct iova_space s;
	uint64_t a, last = 0;

	/* Fill the whole 32-bit part of the default space with 1 MiB chunks:
	 * the one after the last below the window comes from above 4 GiB. */
	assert_int_equal(iova_init(&s, NULL, 0), 0);
	for (;;) {
		assert_int_equal(iova_alloc(&s, MiB, 0, &a), 0);
		assert_false(hits_msi(a, MiB));
		if (a >= 4 * GiB)
			break;
		last = a;
	}
	assert_int_equal(last + MiB, IOVA_MSI_START);
	assert_int_equal(a, 4 * GiB);
	/* Reserving inside the window is refused. */
	assert_int_equal(iova_reserve(&s, IOVA_MSI_START, 4096), -EBUSY);
	iova_fini(&s);
}

static void reserve_specific_ranges(void **state)
{
	struct iova_space s;
	uint64_t a;

	assert_int_equal(iova_init(&s, NULL, 0), 0);
	assert_int_equal(iova_reserve(&s, 2 * MiB, MiB), 0);
	assert_int_equal(iova_reserve(&s, 2 * MiB + 4096, 4096), -EBUSY);
	assert_int_equal(iova_reserve(&s, 2 * MiB + 1, 4096), -EINVAL);
	assert_int_equal(iova_alloc(&s, MiB, 0, &a), 0);
	assert_int_equal(a, MiB);                      /* the hole below */
	assert_int_equal(iova_alloc(&s, 4096, 0, &a), 0);
	assert_int_equal(a, 3 * MiB);                  /* after the reserved one */
	assert_int_equal(iova_free(&s, 2 * MiB, MiB), 0);
	assert_int_equal(iova_alloc(&s, MiB, 0, &a), 0);
	assert_int_equal(a, 2 * MiB);
	iova_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_start_at_floor_and_align),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(exhaustion_then_reuse),
		cmocka_unit_test(coalescing),
		cmocka_unit_test(random_never_overlaps),
		cmocka_unit_test(restricted_to_reported_ranges),
		cmocka_unit_test(msi_window_never_handed_out),
		cmocka_unit_test(reserve_specific_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
