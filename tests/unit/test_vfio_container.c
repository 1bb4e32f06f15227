/* The IOVA ranges read from hand-made VFIO_IOMMU_GET_INFO answers: the range
 * capability at an offset that is a multiple of 4 but not of 8 (where the 6.1
 * kernel puts it: UBSan caught the struct access to it in the test bed), after
 * another capability, cut short, looping, or absent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <linux/vfio.h>

#include "vfio_container.h"

/* 8-byte aligned storage, so an offset of 4 mod 8 really is misaligned. */
struct answer {
	uint64_t words[64];
};

static void put16(struct answer *a, uint32_t off, uint16_t v)
{
	memcpy((char *)a->words + off, &v, sizeof(v));
}

static void put32(struct answer *a, uint32_t off, uint32_t v)
{
	memcpy((char *)a->words + off, &v, sizeof(v));
}

static void put64(struct answer *a, uint32_t off, uint64_t v)
{
	memcpy((char *)a->words + off, &v, sizeof(v));
}

/* The fixed part: argsz, flags (caps), cap_offset. */
static void head(struct answer *a, uint32_t argsz, uint32_t first_cap)
{
	memset(a, 0, sizeof(*a));
	put32(a, offsetof(struct vfio_iommu_type1_info, argsz), argsz);
	put32(a, offsetof(struct vfio_iommu_type1_info, flags),
	      first_cap ? VFIO_IOMMU_INFO_CAPS | VFIO_IOMMU_INFO_PGSIZES : VFIO_IOMMU_INFO_PGSIZES);
	put64(a, offsetof(struct vfio_iommu_type1_info, iova_pgsizes), 0x40201000);
	put32(a, offsetof(struct vfio_iommu_type1_info, cap_offset), first_cap);
}

static void cap_header(struct answer *a, uint32_t off, uint16_t id, uint32_t next)
{
	put16(a, off, id);
	put16(a, off + 2, 1);
	put32(a, off + 4, next);
}

/* An IOVA range capability at `off` with `n` ranges {i << 32 .. (i << 32) + 0xffff}. */
static uint32_t range_cap(struct answer *a, uint32_t off, uint32_t n)
{
	const uint32_t ranges_at = offsetof(struct vfio_iommu_type1_info_cap_iova_range, iova_ranges);

	cap_header(a, off, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 0);
	put32(a, off + 8, n);
	for (uint32_t i = 0; i < n; i++) {
		put64(a, off + ranges_at + i * 16, (uint64_t)(i + 1) << 32);
		put64(a, off + ranges_at + i * 16 + 8, ((uint64_t)(i + 1) << 32) + 0xffff);
	}
	return off + ranges_at + n * 16;
}

static void misaligned_capability(void **state)
{
	struct answer a;
	uint64_t (*ranges)[2];
	int count;
	uint32_t end;

	head(&a, 0, 28);
	end = range_cap(&a, 28, 2);
	put32(&a, 0, end);
	assert_int_equal(vfio_iova_ranges_from_info(&a, end, &ranges, &count), 0);
	assert_int_equal(count, 2);
	assert_non_null(ranges);
	assert_int_equal(ranges[0][0], 1ULL << 32);
	assert_int_equal(ranges[0][1], (1ULL << 32) + 0xffff);
	assert_int_equal(ranges[1][0], 2ULL << 32);
	assert_int_equal(ranges[1][1], (2ULL << 32) + 0xffff);
	free(ranges);
}

static void found_after_another_capability(void **state)
{
	struct answer a;
	uint64_t (*ranges)[2];
	int count;
	uint32_t end;

	head(&a, 0, 24);
	cap_header(&a, 24, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 60);
	end = range_cap(&a, 60, 1);
	put32(&a, 0, end);
	assert_int_equal(vfio_iova_ranges_from_info(&a, end, &ranges, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(ranges[0][0], 1ULL << 32);
	free(ranges);
}

static void cut_short_gives_nothing(void **state)
{
	struct answer a;
	uint64_t (*ranges)[2];
	int count;
	uint32_t end;

	head(&a, 0, 28);
	end = range_cap(&a, 28, 3);
	put32(&a, 0, end);
	/* one byte short of the last range, whether by the allocation or by argsz */
	assert_int_equal(vfio_iova_ranges_from_info(&a, end - 1, &ranges, &count), 0);
	assert_null(ranges);
	assert_int_equal(count, 0);
	put32(&a, 0, end - 1);
	assert_int_equal(vfio_iova_ranges_from_info(&a, end, &ranges, &count), 0);
	assert_null(ranges);
	assert_int_equal(count, 0);
	/* the capability header itself beyond the end */
	head(&a, 30, 28);
	assert_int_equal(vfio_iova_ranges_from_info(&a, 30, &ranges, &count), 0);
	assert_null(ranges);
}

static void loop_and_absent(void **state)
{
	struct answer a;
	uint64_t (*ranges)[2];
	int count;

	head(&a, 64, 36);
	cap_header(&a, 36, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 36);
	assert_int_equal(vfio_iova_ranges_from_info(&a, 64, &ranges, &count), 0);
	assert_null(ranges);
	assert_int_equal(count, 0);
	/* no capability chain at all, and an answer smaller than the fixed part */
	head(&a, 24, 0);
	assert_int_equal(vfio_iova_ranges_from_info(&a, 24, &ranges, &count), 0);
	assert_null(ranges);
	assert_int_equal(vfio_iova_ranges_from_info(&a, 8, &ranges, &count), 0);
	assert_null(ranges);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(misaligned_capability),
		cmocka_unit_test(found_after_another_capability),
		cmocka_unit_test(cut_short_gives_nothing),
		cmocka_unit_test(loop_and_absent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
