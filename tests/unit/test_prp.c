/* PRP and SGL layouts against hand-computed expectations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "nvme_spec.h"
#include "prp.h"

#define PS 4096u
#define LIST_IOVA 0x800000ull

static uint64_t list_pages[4][PS / 8] __attribute__((aligned(4096)));

static struct pn_list_mem list_of(size_t pages)
{
	struct pn_list_mem m = {list_pages, LIST_IOVA, pages * PS};

	memset(list_pages, 0xa5, sizeof(list_pages));
	return m;
}

static void prp_within_one_page(void **state)
{
	uint64_t p1 = 1, p2 = 1;

	assert_int_equal(pn_prp_build(0x10000, 512, PS, NULL, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000);
	assert_int_equal(p2, 0);
	assert_int_equal(pn_prp_build(0x10000, 4096, PS, NULL, &p1, &p2), 0);
	assert_int_equal(p2, 0);
	/* Ends exactly at the page boundary from an offset. */
	assert_int_equal(pn_prp_build(0x10200, 0xe00, PS, NULL, &p1, &p2), 0);
	assert_int_equal(p1, 0x10200);
	assert_int_equal(p2, 0);
	/* No data at all. */
	assert_int_equal(pn_prp_build(0x10000, 0, PS, NULL, &p1, &p2), 0);
	assert_int_equal(p2, 0);
}

static void prp_two_pages(void **state)
{
	uint64_t p1, p2;

	assert_int_equal(pn_prp_build(0x10000, 8192, PS, NULL, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000);
	assert_int_equal(p2, 0x11000);
	/* 4 KiB starting at offset 0x200 spills 0x200 bytes into the next page. */
	assert_int_equal(pn_prp_build(0x10200, 4096, PS, NULL, &p1, &p2), 0);
	assert_int_equal(p1, 0x10200);
	assert_int_equal(p2, 0x11000);
	/* 4 bytes at the very end of a page plus one byte. */
	assert_int_equal(pn_prp_build(0x10ffc, 5, PS, NULL, &p1, &p2), 0);
	assert_int_equal(p2, 0x11000);
}

static void prp_list_one_page(void **state)
{
	struct pn_list_mem m = list_of(1);
	uint64_t p1, p2;

	assert_int_equal(pn_prp_build(0x10000, 3 * PS, PS, &m, &p1, &p2), 16);
	assert_int_equal(p1, 0x10000);
	assert_int_equal(p2, LIST_IOVA);
	assert_int_equal(list_pages[0][0], 0x11000);
	assert_int_equal(list_pages[0][1], 0x12000);
	assert_int_equal(list_pages[0][2], 0xa5a5a5a5a5a5a5a5ull); /* untouched */

	/* Offset 0x800, three pages: 0x800 bytes in the first, then 3 entries. */
	m = list_of(1);
	assert_int_equal(pn_prp_build(0x10800, 3 * PS, PS, &m, &p1, &p2), 24);
	assert_int_equal(p1, 0x10800);
	assert_int_equal(list_pages[0][0], 0x11000);
	assert_int_equal(list_pages[0][1], 0x12000);
	assert_int_equal(list_pages[0][2], 0x13000);

	/* 513 pages aligned: 512 entries fill one list page exactly, no chain. */
	m = list_of(1);
	assert_int_equal(pn_prp_build(0x100000, 513ull * PS, PS, &m, &p1, &p2), PS);
	assert_int_equal(list_pages[0][511], 0x100000 + 512ull * PS);
}

static void prp_list_chained(void **state)
{
	struct pn_list_mem m = list_of(2);
	uint64_t p1, p2;

	/* 514 pages: 513 entries; page 0 holds 511 entries + the chain pointer,
	 * page 1 the last two entries. */
	assert_int_equal(pn_prp_build(0x100000, 514ull * PS, PS, &m, &p1, &p2), PS + 16);
	assert_int_equal(p2, LIST_IOVA);
	assert_int_equal(list_pages[0][0], 0x101000);
	assert_int_equal(list_pages[0][510], 0x100000 + 511ull * PS);
	assert_int_equal(list_pages[0][511], LIST_IOVA + PS);
	assert_int_equal(list_pages[1][0], 0x100000 + 512ull * PS);
	assert_int_equal(list_pages[1][1], 0x100000 + 513ull * PS);
	assert_int_equal(list_pages[1][2], 0xa5a5a5a5a5a5a5a5ull);

	/* Three list pages: 511 + 511 + 2 entries. */
	m = list_of(3);
	assert_int_equal(pn_prp_build(0x100000, (1 + 1024ull) * PS, PS, &m, &p1, &p2), 2 * PS + 16);
	assert_int_equal(list_pages[0][511], LIST_IOVA + PS);
	assert_int_equal(list_pages[1][511], LIST_IOVA + 2 * PS);
	assert_int_equal(list_pages[1][510], 0x100000 + 1022ull * PS);
	assert_int_equal(list_pages[2][0], 0x100000 + 1023ull * PS);
	assert_int_equal(list_pages[2][1], 0x100000 + 1024ull * PS);
}

static void prp_errors(void **state)
{
	struct pn_list_mem m = list_of(1);
	struct pn_list_mem unaligned = {list_pages, LIST_IOVA + 8, PS};
	uint64_t p1, p2;

	assert_int_equal(pn_prp_build(0x10002, 512, PS, NULL, &p1, &p2), -EINVAL);
	assert_int_equal(pn_prp_build(0x10000, 512, 2048, NULL, &p1, &p2), -EINVAL);
	assert_int_equal(pn_prp_build(0x10000, 512, 5000, NULL, &p1, &p2), -EINVAL);
	assert_int_equal(pn_prp_build(0x10000, 3 * PS, PS, NULL, &p1, &p2), -E2BIG);
	assert_int_equal(pn_prp_build(0x10000, 514ull * PS, PS, &m, &p1, &p2), -E2BIG);
	assert_int_equal(pn_prp_build(0x10000, 3 * PS, PS, &unaligned, &p1, &p2), -EINVAL);
}

static void prp_list_bytes_worst_case(void **state)
{
	assert_int_equal(pn_prp_list_bytes(4096, PS), 0);
	assert_int_equal(pn_prp_list_bytes(4097, PS), 0);   /* at most 2 pages */
	assert_int_equal(pn_prp_list_bytes(8192, PS), PS);  /* offset 4092: 3 pages */
	assert_int_equal(pn_prp_list_bytes(512 * 1024, PS), PS);
	assert_int_equal(pn_prp_list_bytes(2 * 1024 * 1024, PS), PS);       /* 512 entries */
	assert_int_equal(pn_prp_list_bytes(2 * 1024 * 1024 + 4096, PS), 2 * PS);
	/* Whatever pn_prp_list_bytes says is enough at every offset. */
	for (uint64_t len = 1; len <= 600 * PS; len = len * 3 + 7) {
		size_t bytes = pn_prp_list_bytes(len, PS);
		struct pn_list_mem m = {list_pages, LIST_IOVA, bytes};
		uint64_t p1, p2;

		if (bytes > sizeof(list_pages))
			break;
		for (uint64_t off = 0; off < PS; off += 4 * 97)
			assert_true(pn_prp_build(0x100000 + off, len, PS, &m, &p1, &p2) >= 0);
		assert_true(pn_prp_build(0x100000 + PS - 4, len, PS, &m, &p1, &p2) >= 0);
	}
}

static uint64_t sgl_dw1(uint32_t len, unsigned type)
{
	return (uint64_t)len | ((uint64_t)(type << 4) << 56);
}

static void sgl_single_data_block(void **state)
{
	struct pn_sgl_piece piece = {0x12345678, 12288};
	uint64_t dptr[2];

	assert_int_equal(pn_sgl_build(&piece, 1, 0, NULL, dptr), 0);
	assert_int_equal(dptr[0], 0x12345678);
	assert_int_equal(dptr[1], sgl_dw1(12288, PN_SGL_TYPE_DATA_BLOCK));
}

static void sgl_last_segment(void **state)
{
	struct pn_list_mem m = list_of(1);
	struct pn_sgl_piece pieces[3] = {{0x10000, 512}, {0x20000, 1024}, {0x30004, 4}};
	struct pn_sgl_desc *d = (struct pn_sgl_desc *)list_pages;
	uint64_t dptr[2];

	assert_int_equal(pn_sgl_build(pieces, 3, 0, &m, dptr), 48);
	assert_int_equal(dptr[0], LIST_IOVA);
	assert_int_equal(dptr[1], sgl_dw1(48, PN_SGL_TYPE_LAST_SEGMENT));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(d[i].addr, pieces[i].iova);
		assert_int_equal(d[i].length, pieces[i].len);
		assert_int_equal(d[i].id, PN_SGL_TYPE_DATA_BLOCK << 4);
		assert_int_equal(d[i].reserved[0] | d[i].reserved[1] | d[i].reserved[2], 0);
	}
}

static void sgl_chained_segments(void **state)
{
	struct pn_list_mem m = list_of(1);
	struct pn_sgl_piece pieces[6];
	struct pn_sgl_desc *d = (struct pn_sgl_desc *)list_pages;
	uint64_t dptr[2];

	assert_int_equal(pn_sgl_split(0x40000, 6 * 512 - 100, 512, pieces, 6), 6);
	assert_int_equal(pieces[5].len, 412);
	/* 5 pieces, 3 per segment: [d0 d1 ->last(48)] [d2 d3 d4]. */
	assert_int_equal(pn_sgl_build(pieces, 5, 3, &m, dptr), 96);
	assert_int_equal(dptr[0], LIST_IOVA);
	assert_int_equal(dptr[1], sgl_dw1(48, PN_SGL_TYPE_SEGMENT));
	assert_int_equal(d[0].addr, 0x40000);
	assert_int_equal(d[1].addr, 0x40200);
	assert_int_equal(d[2].addr, LIST_IOVA + 48);
	assert_int_equal(d[2].length, 48);
	assert_int_equal(d[2].id, PN_SGL_TYPE_LAST_SEGMENT << 4);
	assert_int_equal(d[3].addr, 0x40400);
	assert_int_equal(d[5].addr, 0x40800);
	assert_int_equal(d[5].id, PN_SGL_TYPE_DATA_BLOCK << 4);

	/* 6 pieces, 3 per segment: [d0 d1 ->seg(48)] [d2 d3 ->last(32)] [d4 d5]. */
	m = list_of(1);
	assert_int_equal(pn_sgl_build(pieces, 6, 3, &m, dptr), 128);
	assert_int_equal(dptr[1], sgl_dw1(48, PN_SGL_TYPE_SEGMENT));
	assert_int_equal(d[2].addr, LIST_IOVA + 48);
	assert_int_equal(d[2].id, PN_SGL_TYPE_SEGMENT << 4);
	assert_int_equal(d[2].length, 48);
	assert_int_equal(d[5].addr, LIST_IOVA + 96);
	assert_int_equal(d[5].id, PN_SGL_TYPE_LAST_SEGMENT << 4);
	assert_int_equal(d[5].length, 32);
	assert_int_equal(d[6].addr, 0x40800);
	assert_int_equal(d[7].addr, 0x40a00);
	assert_int_equal(d[7].length, 412);
}

static void sgl_errors(void **state)
{
	struct pn_list_mem small = {list_pages, LIST_IOVA, 32};
	struct pn_sgl_piece pieces[3] = {{0x10000, 512}, {0x20000, 0}, {0x30000, 4}};
	uint64_t dptr[2];

	assert_int_equal(pn_sgl_build(pieces, 0, 0, &small, dptr), -EINVAL);
	assert_int_equal(pn_sgl_build(pieces, 3, 0, &small, dptr), -EINVAL); /* zero length */
	pieces[1].len = 8;
	assert_int_equal(pn_sgl_build(pieces, 3, 0, &small, dptr), -E2BIG);
	assert_int_equal(pn_sgl_build(pieces, 3, 0, NULL, dptr), -E2BIG);
	assert_int_equal(pn_sgl_build(pieces, 3, 1, &small, dptr), -EINVAL);
	assert_int_equal(pn_sgl_split(0, 100, 0, pieces, 3), -EINVAL);
	assert_int_equal(pn_sgl_split(0, 4 * 512, 512, pieces, 3), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prp_within_one_page),
		cmocka_unit_test(prp_two_pages),
		cmocka_unit_test(prp_list_one_page),
		cmocka_unit_test(prp_list_chained),
		cmocka_unit_test(prp_errors),
		cmocka_unit_test(prp_list_bytes_worst_case),
		cmocka_unit_test(sgl_single_data_block),
		cmocka_unit_test(sgl_last_segment),
		cmocka_unit_test(sgl_chained_segments),
		cmocka_unit_test(sgl_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
