/* The IO generator: regions, sizes, alignments, sequential stride and wrap,
 * random share, op mix, distribution, trace replay, reproducibility and
 * validation. Statistical checks use 5-sigma bounds (fixed seeds, so they
 * are deterministic, yet a biased generator fails them). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <cmocka.h>

#include "error.h"
#include "workload.h"

static struct pn_workload *w;

static int setup(void **state)
{
	w = malloc(sizeof(*w));
	pn_rand_seed(12345);
	return w ? 0 : -1;
}

static int teardown(void **state)
{
	free(w);
	return 0;
}

/* ioworker()'s defaults on a 1M-LBA namespace of 512 B, with io_count. */
static struct pn_workload_params defaults(void)
{
	struct pn_workload_params p;

	memset(&p, 0, sizeof(p));
	p.ns_capacity = 1000000;
	p.lba_size = 512;
	p.max_xfer_bytes = 128 * 1024;
	p.max_queue_entries = 1024;
	p.size_kind = PN_WL_SIZE_FIXED;
	p.size_min = 8;
	p.lba_random = 100;
	p.read_percentage = 100;
	p.region_end = UINT64_MAX;
	p.qdepth = 64;
	p.io_count = 10000;
	return p;
}

/* |count - n*share| within 5 sigma of a binomial. */
static void assert_share(uint64_t count, uint64_t n, double share, const char *what)
{
	double mean = n * share, sigma = sqrt(n * share * (1 - share));

	if (fabs((double)count - mean) > 5 * sigma + 1)
		fail_msg("%s: %llu of %llu, expected %.1f +- %.1f", what,
			 (unsigned long long)count, (unsigned long long)n, mean, 5 * sigma);
}

static void defaults_are_random_reads_in_the_namespace(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_io io;
	uint64_t n = 0, low_half = 0;

	assert_int_equal(pn_workload_init(w, &p), 0);
	assert_int_equal(w->p.region_end, 1000000);
	while (pn_workload_next(w, &io)) {
		assert_int_equal(io.opcode, PN_OP_READ);
		assert_int_equal(io.nlb, 8);
		assert_true(io.slba + io.nlb <= 1000000);
		assert_int_equal(io.time_us, 0);
		low_half += io.slba < 500000;
		n++;
	}
	assert_int_equal(n, 10000);
	assert_int_equal(w->issued, 10000);
	assert_int_equal(pn_workload_opcode_count(w, PN_OP_READ), 10000);
	assert_share(low_half, n, 0.5, "IOs in the lower half");
	assert_false(pn_workload_next(w, &io));   /* stays ended */
}

static void region_sizes_and_alignments(void **state)
{
	struct pn_workload_params p = defaults();
	static const uint32_t sizes[] = { 1, 8, 64 }, weights[] = { 1, 2, 1 }, aligns[] = { 1, 8, 64 };
	uint64_t seen[3] = {0}, n = 100000, odd_slba = 0;
	struct pn_io io;

	p.region_start = 1003;
	p.region_end = 50000;
	p.size_kind = PN_WL_SIZE_LIST;
	p.nsizes = p.nalign = 3;
	memcpy(p.sizes, sizes, sizeof(sizes));
	memcpy(p.size_weight, weights, sizeof(weights));
	memcpy(p.align, aligns, sizeof(aligns));
	p.io_count = n;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		int k = io.nlb == 1 ? 0 : io.nlb == 8 ? 1 : io.nlb == 64 ? 2 : -1;

		assert_true(k >= 0);
		seen[k]++;
		assert_true(io.slba >= 1003);
		assert_true(io.slba + io.nlb <= 50000);
		assert_int_equal(io.slba % aligns[k], 0);
		odd_slba += k == 0 && io.slba % 2;
	}
	assert_share(seen[0], n, 0.25, "io_size 1");
	assert_share(seen[1], n, 0.5, "io_size 8");
	assert_share(seen[2], n, 0.25, "io_size 64");
	/* Size 1 with alignment 1 really uses unaligned LBAs. */
	assert_share(odd_slba, seen[0], 0.5, "odd LBAs of io_size 1");
}

static void one_align_for_all_sizes_and_region_edges(void **state)
{
	/* The region's first and last aligned slots are both reachable. */
	struct pn_workload_params p = defaults();
	struct pn_io io;
	bool first = false, last = false;

	p.region_start = 10;
	p.region_end = 50;   /* aligned 8-LBA IOs at 16, 24, 32, 40 */
	p.nalign = 1;
	p.align[0] = 8;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		assert_true(io.slba == 16 || io.slba == 24 || io.slba == 32 || io.slba == 40);
		first |= io.slba == 16;
		last |= io.slba == 40;
	}
	assert_true(first && last);
}

static void size_range(void **state)
{
	struct pn_workload_params p = defaults();
	uint64_t seen[5] = {0}, n = 40000;
	struct pn_io io;

	p.size_kind = PN_WL_SIZE_RANGE;
	p.size_min = 4;
	p.size_max = 16;
	p.size_step = 4;
	p.nalign = 1;
	p.align[0] = 4;
	p.region_end = 1000;
	p.io_count = n;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		assert_int_equal(io.nlb % 4, 0);
		assert_in_range(io.nlb, 4, 16);
		assert_int_equal(io.slba % 4, 0);
		assert_true(io.slba + io.nlb <= 1000);
		seen[io.nlb / 4]++;
	}
	for (int k = 1; k <= 4; k++)
		assert_share(seen[k], n, 0.25, "range size");
}

static void sequential_stride_and_wrap(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_io io;

	/* Default stride = io_size; the last IO of a pass is cut at
	 * region_end (the original's truncation), then it wraps. */
	p.lba_random = 0;
	p.region_start = 100;
	p.region_end = 200;
	p.io_count = 30;
	assert_int_equal(pn_workload_init(w, &p), 0);
	for (int i = 0; i < 30; i++) {
		assert_true(pn_workload_next(w, &io));
		assert_int_equal(io.slba, 100 + 8 * (i % 13));   /* 100..196: 13 IOs */
		assert_int_equal(io.nlb, i % 13 == 12 ? 4 : 8);  /* 196+4 = 200 */
	}
	assert_false(pn_workload_next(w, &io));
	assert_int_equal(w->passes, 2);

	/* An explicit stride, larger than the IO, starting at lba_start. */
	p.has_lba_step = true;
	p.lba_step = 30;
	p.lba_start = 150;
	p.io_count = 6;
	assert_int_equal(pn_workload_init(w, &p), 0);
	{
		static const uint64_t want[] = { 150, 180, 100, 130, 160, 190 };

		for (int i = 0; i < 6; i++) {
			assert_true(pn_workload_next(w, &io));
			assert_int_equal(io.slba, want[i]);
		}
	}

	/* Backwards: from lba_start down to region_start, then from the top. */
	p.lba_step = -8;
	p.lba_start = 116;
	p.io_count = 5;
	assert_int_equal(pn_workload_init(w, &p), 0);
	{
		static const uint64_t want[] = { 116, 108, 100, 192, 184 };

		for (int i = 0; i < 5; i++) {
			assert_true(pn_workload_next(w, &io));
			assert_int_equal(io.slba, want[i]);
		}
	}

	/* Stride 0 hammers one LBA (allowed with io_count). */
	p.lba_step = 0;
	p.lba_start = 150;
	p.io_count = 4;
	assert_int_equal(pn_workload_init(w, &p), 0);
	for (int i = 0; i < 4; i++) {
		assert_true(pn_workload_next(w, &io));
		assert_int_equal(io.slba, 150);
	}
}

static void sequential_aligned(void **state)
{
	/* An unaligned lba_start rounds up to the alignment. */
	struct pn_workload_params p = defaults();
	struct pn_io io;

	p.lba_random = 0;
	p.region_start = 3;
	p.region_end = 64;
	p.nalign = 1;
	p.align[0] = 8;
	p.io_count = 0;
	assert_int_equal(pn_workload_init(w, &p), 0);
	for (uint64_t want = 8; want <= 56; want += 8) {
		assert_true(pn_workload_next(w, &io));
		assert_int_equal(io.slba, want);
	}
	assert_false(pn_workload_next(w, &io));
}

static void one_sequential_pass_ends(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_io io;
	uint64_t n = 0, expect = 0;

	p.lba_random = 0;
	p.io_count = 0;
	p.region_end = 1000;
	p.read_percentage = 0;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		assert_int_equal(io.slba, expect);
		assert_int_equal(io.opcode, PN_OP_WRITE);
		expect += 8;
		n++;
	}
	assert_int_equal(n, 125);
	assert_false(pn_workload_next(w, &io));

	/* Backwards pass from the top ends below region_start. */
	p.has_lba_step = true;
	p.lba_step = -100;
	p.lba_start = 992;
	assert_int_equal(pn_workload_init(w, &p), 0);
	n = 0;
	while (pn_workload_next(w, &io)) {
		assert_int_equal(io.slba, 992 - 100 * n);
		n++;
	}
	assert_int_equal(n, 10);
}

static void random_percentage(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_io io;
	uint64_t n = 100000, random = 0, next_seq = 0;

	p.lba_random = 30;
	p.io_count = n;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		/* Sequential IOs continue where the last sequential one ended. */
		if (io.slba == next_seq)
			next_seq += 8;
		else
			random++;
	}
	assert_int_equal(w->random_count + w->sequential_count, n);
	assert_share(w->random_count, n, 0.30, "random IOs");
	/* Counted by position (a random hit on the cursor is rare). */
	assert_true(random <= w->random_count && random + 10 >= w->random_count);
}

static void op_mix_and_real_counts(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_io io;
	uint64_t n = 100000, counted[256] = {0};

	p.nops = 5;
	p.ops[0] = (struct pn_wl_op){ PN_OP_READ, 40 };
	p.ops[1] = (struct pn_wl_op){ PN_OP_WRITE, 30 };
	p.ops[2] = (struct pn_wl_op){ PN_OP_DSM, 19 };
	p.ops[3] = (struct pn_wl_op){ PN_OP_FLUSH, 10 };
	p.ops[4] = (struct pn_wl_op){ 0xc1, 1 };   /* a vendor opcode */
	p.io_count = n;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		counted[io.opcode]++;
		if (io.opcode == PN_OP_FLUSH)
			assert_int_equal(io.nlb, 0);
		else
			assert_int_equal(io.nlb, 8);
	}
	assert_share(counted[PN_OP_READ], n, 0.40, "reads");
	assert_share(counted[PN_OP_WRITE], n, 0.30, "writes");
	assert_share(counted[PN_OP_DSM], n, 0.19, "trims");
	assert_share(counted[PN_OP_FLUSH], n, 0.10, "flushes");
	assert_share(counted[0xc1], n, 0.01, "vendor");
	for (int op = 0; op < 256; op++)
		assert_int_equal(pn_workload_opcode_count(w, (uint8_t)op), counted[op]);

	p.nops = 0;
	p.read_percentage = 70;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io))
		;
	assert_share(pn_workload_opcode_count(w, PN_OP_READ), n, 0.70, "read_percentage");
	assert_int_equal(pn_workload_opcode_count(w, PN_OP_READ) +
			 pn_workload_opcode_count(w, PN_OP_WRITE), n);
}

static void distribution_buckets(void **state)
{
	/* 90% of the IOs into the first half of the region, 10% into buckets
	 * 50..98, none into bucket 99. */
	struct pn_workload_params p = defaults();
	struct pn_io io;
	uint64_t n = 200000, hits[100] = {0};

	p.region_start = 10000;
	p.region_end = 110000;   /* 1000 LBAs per bucket */
	p.size_min = 1;
	p.has_distribution = true;
	for (int b = 0; b < 50; b++)
		p.distribution[b] = 180;
	for (int b = 50; b < 99; b++)
		p.distribution[b] = 20;
	p.distribution[98] += 20;
	p.distribution[99] = 0;
	p.io_count = n;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		assert_true(io.slba >= 10000 && io.slba < 110000);
		hits[(io.slba - 10000) / 1000]++;
	}
	for (int b = 0; b < 100; b++)
		assert_share(hits[b], n, p.distribution[b] / 10000.0, "distribution bucket");
	assert_int_equal(hits[99], 0);
}

/* Random IOs of a region list: every IO whole inside one region, the share of
 * each region as its weight says (the length when weight is 0). */
static void regions_random_by_weight(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_wl_region r[] = {
		{ 1000, 1064, 0, 0 },        /* 64 LBAs: weight 64 */
		{ 5000, 5128, 0, 0 },        /* 128 LBAs: weight 128 */
		{ 900000, 900200, 320, 0 },  /* weight given: 320 */
		{ 999900, 1000000, 0, 0 },   /* 100 LBAs at the namespace's end */
	};
	double total = 64 + 128 + 320 + 100;
	struct pn_io io;
	uint64_t n = 200000, hits[4] = {0};

	p.regions = r;
	p.nregions = 4;
	p.size_kind = PN_WL_SIZE_LIST;
	p.nsizes = 2;
	p.sizes[0] = 8;
	p.sizes[1] = 1;
	p.size_weight[0] = p.size_weight[1] = 1;
	p.nalign = 2;
	p.align[0] = 8;
	p.align[1] = 1;
	p.io_count = n;
	assert_int_equal(pn_workload_init(w, &p), 0);
	assert_int_equal(w->p.region_start, 1000);
	assert_int_equal(w->p.region_end, 1000000);
	assert_int_equal(r[3].cum_weight, 612);
	while (pn_workload_next(w, &io)) {
		int k = 0;

		while (k < 4 && !(io.slba >= r[k].start && io.slba + io.nlb <= r[k].end))
			k++;
		if (k == 4)
			fail_msg("IO [%llu, +%u) outside every region", (unsigned long long)io.slba,
				 io.nlb);
		if (io.nlb == 8)
			assert_int_equal(io.slba % 8, 0);
		hits[k]++;
	}
	assert_share(hits[0], n, 64 / total, "region 0 (64 LBAs)");
	assert_share(hits[1], n, 128 / total, "region 1 (128 LBAs)");
	assert_share(hits[2], n, 320 / total, "region 2 (weight 320)");
	assert_share(hits[3], n, 100 / total, "region 3 (100 LBAs)");
}

/* Sequential IOs walk the regions in order, each from its start, the last IO
 * of a region cut at its end; one pass ends after the last region. */
static void regions_sequential_pass(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_wl_region r[] = { { 10, 30, 0, 0 }, { 100, 108, 0, 0 }, { 500, 513, 0, 0 } };
	static const uint64_t want_slba[] = { 10, 18, 26, 100, 500, 508 };
	static const uint32_t want_nlb[] = { 8, 8, 4, 8, 8, 5 };
	struct pn_io io;
	int i = 0;

	p.regions = r;
	p.nregions = 3;
	p.lba_random = 0;
	p.io_count = 0;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		assert_true(i < 6);
		assert_int_equal(io.slba, want_slba[i]);
		assert_int_equal(io.nlb, want_nlb[i]);
		i++;
	}
	assert_int_equal(i, 6);
	/* with io_count, it wraps to the first region */
	p.io_count = 8;
	assert_int_equal(pn_workload_init(w, &p), 0);
	for (i = 0; i < 8 && pn_workload_next(w, &io); i++)
		;
	assert_int_equal(io.slba, 18);
	assert_int_equal(w->passes, 1);
}

static void trace_replay(void **state)
{
	static const struct pn_wl_trace_entry trace[] = {
		{ 100, 8, PN_OP_WRITE, 0 },
		{ 5, 1, PN_OP_READ, 10 },
		{ 0, 0, PN_OP_FLUSH, 10 },
		{ 999992, 8, PN_OP_DSM, 2500 },
		{ 7, 3, 0xc0, 1000000 },
	};
	struct pn_workload_params p = defaults();
	struct pn_io io;

	p.io_count = 0;
	p.trace = trace;
	p.ntrace = 5;
	assert_int_equal(pn_workload_init(w, &p), 0);
	for (int i = 0; i < 5; i++) {
		assert_true(pn_workload_next(w, &io));
		assert_int_equal(io.slba, trace[i].slba);
		assert_int_equal(io.nlb, trace[i].nlb);
		assert_int_equal(io.opcode, trace[i].opcode);
		assert_int_equal(io.time_us, trace[i].time_sent_us);
	}
	assert_false(pn_workload_next(w, &io));
	assert_int_equal(pn_workload_opcode_count(w, PN_OP_DSM), 1);

	/* io_count cuts a trace short. */
	p.io_count = 2;
	assert_int_equal(pn_workload_init(w, &p), 0);
	assert_true(pn_workload_next(w, &io));
	assert_true(pn_workload_next(w, &io));
	assert_false(pn_workload_next(w, &io));
}

static void reproducible_per_seed_and_stream(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_workload *other = malloc(sizeof(*other));
	struct pn_io a, b;
	int differ = 0;

	p.size_kind = PN_WL_SIZE_RANGE;
	p.size_min = 1;
	p.size_max = 64;
	p.lba_random = 50;
	p.read_percentage = 50;
	p.rand_stream = 3;
	pn_rand_seed(777);
	assert_int_equal(pn_workload_init(w, &p), 0);
	assert_int_equal(pn_workload_init(other, &p), 0);
	while (pn_workload_next(w, &a)) {
		assert_true(pn_workload_next(other, &b));
		assert_memory_equal(&a, &b, sizeof(a));
	}
	/* Another stream (another worker), or another seed, differs. */
	p.rand_stream = 4;
	assert_int_equal(pn_workload_init(w, &p), 0);
	p.rand_stream = 3;
	assert_int_equal(pn_workload_init(other, &p), 0);
	for (int i = 0; i < 100; i++) {
		pn_workload_next(w, &a);
		pn_workload_next(other, &b);
		differ += a.slba != b.slba;
	}
	assert_true(differ > 90);
	pn_rand_seed(778);
	assert_int_equal(pn_workload_init(w, &p), 0);
	pn_rand_seed(777);
	assert_int_equal(pn_workload_init(other, &p), 0);
	differ = 0;
	for (int i = 0; i < 100; i++) {
		pn_workload_next(w, &a);
		pn_workload_next(other, &b);
		differ += a.slba != b.slba;
	}
	assert_true(differ > 90);
	free(other);
}

/* Expects init to fail with `err` and a reason containing `text`. */
#define EXPECT_INVALID(p, err, text) do { \
	pn_clear_error(); \
	assert_int_equal(pn_workload_init(w, &(p)), -(err)); \
	if (!strstr(pn_last_error(), text)) \
		fail_msg("reason \"%s\" lacks \"%s\"", pn_last_error(), text); \
} while (0)

static void validation_errors(void **state)
{
	struct pn_workload_params p;

	p = defaults(); p.qdepth = 1;
	EXPECT_INVALID(p, EINVAL, "qdepth 1 out of range 2..1024");
	p = defaults(); p.qdepth = 1025;
	EXPECT_INVALID(p, EINVAL, "qdepth 1025 out of range 2..1024");
	p = defaults(); p.qdepth = 256; p.max_queue_entries = 128;
	EXPECT_INVALID(p, EINVAL, "qdepth 256 larger than the controller's queue size");
	p = defaults(); p.size_min = 512;
	EXPECT_INVALID(p, E2BIG, "io_size 512 larger than MDTS (256 LBAs, 128 KiB)");
	p = defaults(); p.size_min = 0;
	EXPECT_INVALID(p, EINVAL, "io_size 0");
	p = defaults(); p.max_xfer_bytes = 0; p.size_min = 70000;
	EXPECT_INVALID(p, EINVAL, "io_size 70000 above NVMe's limit");
	p = defaults(); p.size_kind = PN_WL_SIZE_RANGE; p.size_min = 9; p.size_max = 8;
	EXPECT_INVALID(p, EINVAL, "io_size range 9..8 is empty");
	p = defaults(); p.size_kind = PN_WL_SIZE_LIST; p.nsizes = 0;
	EXPECT_INVALID(p, EINVAL, "io_size list has 0 entries");
	p = defaults(); p.size_kind = PN_WL_SIZE_LIST; p.nsizes = 2; p.sizes[0] = 1;
	p.sizes[1] = 2;
	EXPECT_INVALID(p, EINVAL, "io_size weights sum to 0");
	p = defaults(); p.size_kind = PN_WL_SIZE_LIST; p.nsizes = 2; p.sizes[0] = 1;
	p.sizes[1] = 2; p.size_weight[0] = 1; p.nalign = 3; p.align[0] = p.align[1] = p.align[2] = 1;
	EXPECT_INVALID(p, EINVAL, "lba_align has 3 entries and io_size 2");
	p = defaults(); p.nalign = 1; p.align[0] = 0;
	EXPECT_INVALID(p, EINVAL, "lba_align 0");
	p = defaults(); p.region_start = 5; p.region_end = 14; p.nalign = 1; p.align[0] = 8;
	EXPECT_INVALID(p, EINVAL, "region [5, 14) holds no IO of io_size 8 aligned to lba_align 8");
	p = defaults(); p.region_start = 500; p.region_end = 100;
	EXPECT_INVALID(p, EINVAL, "region_start 500 not below region_end 100");
	p = defaults(); p.region_start = 2000000;
	EXPECT_INVALID(p, EINVAL, "region_start 2000000 beyond the namespace capacity 1000000");
	p = defaults(); p.region_start = 100; p.region_end = 200; p.lba_start = 300;
	EXPECT_INVALID(p, EINVAL, "lba_start 300 outside the region [100, 200)");
	p = defaults(); p.lba_random = 150;
	EXPECT_INVALID(p, EINVAL, "lba_random 150 out of range 0..100");
	p = defaults(); p.read_percentage = 101;
	EXPECT_INVALID(p, EINVAL, "read_percentage 101 out of range 0..100");
	p = defaults(); p.nops = 2; p.ops[0] = (struct pn_wl_op){ 2, 0 };
	p.ops[1] = (struct pn_wl_op){ 1, 0 };
	EXPECT_INVALID(p, EINVAL, "op_percentage weights sum to 0");
	p = defaults(); p.nops = 2; p.ops[0] = (struct pn_wl_op){ 2, 50 };
	p.ops[1] = (struct pn_wl_op){ 2, 50 };
	EXPECT_INVALID(p, EINVAL, "op_percentage names opcode 0x02 twice");
	p = defaults(); p.has_distribution = true; p.distribution[0] = 9000;
	EXPECT_INVALID(p, EINVAL, "distribution must have 100 entries summing to 10000");
	p = defaults(); p.io_count = 0;
	EXPECT_INVALID(p, EINVAL, "no stop condition");
	p = defaults(); p.io_count = 0; p.lba_random = 0; p.has_lba_step = true; p.lba_step = 0;
	EXPECT_INVALID(p, EINVAL, "lba_step 0 never ends");
	p = defaults(); p.ns_capacity = 0;
	EXPECT_INVALID(p, EINVAL, "namespace");
	{
		struct pn_wl_trace_entry bad[] = { { 0, 8, 2, 5 }, { 8, 8, 2, 5 } };

		p = defaults(); p.trace = bad; p.ntrace = 2;
		bad[1].slba = 999999;
		EXPECT_INVALID(p, EINVAL, "io_sequence[1]: LBAs [999999, 1000007) beyond");
		bad[1].slba = 0;
		bad[1].nlb = 0;
		EXPECT_INVALID(p, EINVAL, "io_sequence[1]: nlb 0 out of range");
	}
	/* Time alone is a stop condition (the worker enforces it). */
	p = defaults(); p.io_count = 0; p.time_s = 5;
	assert_int_equal(pn_workload_init(w, &p), 0);
}

static void regions_validation(void **state)
{
	struct pn_workload_params p;
	struct pn_wl_region r[2];

#define REGIONS(a, b, c, d_) (r[0] = (struct pn_wl_region){ a, b, 0, 0 }, \
			      r[1] = (struct pn_wl_region){ c, d_, 0, 0 }, p.regions = r, \
			      p.nregions = 2)
	p = defaults(); REGIONS(0, 100, 100, 100);
	EXPECT_INVALID(p, EINVAL, "regions[1] [100, 100) is empty");
	p = defaults(); REGIONS(0, 100, 50, 200);
	EXPECT_INVALID(p, EINVAL, "regions[1] [50, 200) overlaps or comes before regions[0] "
		       "[0, 100): sort them by LBA");
	p = defaults(); REGIONS(0, 100, 999990, 1000001);
	EXPECT_INVALID(p, EINVAL, "regions[1] [999990, 1000001) beyond the namespace capacity");
	p = defaults(); REGIONS(0, 100, 200, 204);
	EXPECT_INVALID(p, EINVAL, "regions[1] [200, 204) holds no IO of io_size 8");
	p = defaults(); REGIONS(0, 100, 200, 300); p.has_distribution = true;
	p.distribution[0] = 10000;
	EXPECT_INVALID(p, EINVAL, "regions and distribution cannot be combined");
	p = defaults(); REGIONS(0, 100, 200, 300); p.has_lba_step = true; p.lba_step = 8;
	EXPECT_INVALID(p, EINVAL, "regions and lba_step cannot be combined");
	p = defaults(); REGIONS(0, 100, 200, 300); p.lba_start = 50;
	EXPECT_INVALID(p, EINVAL, "regions and lba_start cannot be combined");
	p = defaults(); REGIONS(0, 100, 200, 300); r[1].weight = UINT64_C(1) << 63;
	EXPECT_INVALID(p, EINVAL, "regions: weights sum above 2^62");
	p = defaults(); p.nregions = 2; p.regions = NULL;
	EXPECT_INVALID(p, EINVAL, "regions: 2 entries but no data");
	p = defaults(); REGIONS(0, 100, 200, 300); p.nregions = PN_WL_MAX_REGIONS + 1;
	EXPECT_INVALID(p, EINVAL, "regions has 65537 entries, at most 65536");
#undef REGIONS
}

/* The original pynvme's inputs that it ran and we used to refuse: an
 * op_percentage that does not sum to 100 (weights), a region smaller than
 * io_size (clipped), io_sequence times out of order (list order). */
static void original_inputs_accepted(void **state)
{
	struct pn_workload_params p = defaults();
	struct pn_io io;
	uint64_t n = 90000, counted[256] = {0};

	/* {2: 50, 1: 40}: reads get 50/90, writes 40/90 */
	p.nops = 2;
	p.ops[0] = (struct pn_wl_op){ PN_OP_READ, 50 };
	p.ops[1] = (struct pn_wl_op){ PN_OP_WRITE, 40 };
	p.io_count = n;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io))
		counted[io.opcode]++;
	assert_share(counted[PN_OP_READ], n, 50.0 / 90, "reads of 50:40");
	assert_share(counted[PN_OP_WRITE], n, 40.0 / 90, "writes of 50:40");
	/* weights above 100, and one with all of it */
	memset(counted, 0, sizeof(counted));
	p.ops[0].percentage = 300;
	p.ops[1].percentage = 100;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io))
		counted[io.opcode]++;
	assert_share(counted[PN_OP_READ], n, 0.75, "reads of 300:100");
	p.ops[0].percentage = 0;
	p.io_count = 100;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io))
		assert_int_equal(io.opcode, PN_OP_WRITE);

	/* a region smaller than io_size: the size is clipped to the region */
	p = defaults();
	p.region_start = 10;
	p.region_end = 14;
	p.io_count = 50;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io)) {
		assert_int_equal(io.slba, 10);
		assert_int_equal(io.nlb, 4);
	}
	p.size_kind = PN_WL_SIZE_LIST;
	p.nsizes = 2;
	p.sizes[0] = 2;
	p.sizes[1] = 64;
	p.size_weight[0] = p.size_weight[1] = 1;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io))
		assert_true((io.nlb == 2 && io.slba >= 10 && io.slba <= 12) ||
			    (io.nlb == 4 && io.slba == 10));
	p.size_kind = PN_WL_SIZE_RANGE;
	p.size_min = 8;
	p.size_max = 16;
	p.size_step = 1;
	assert_int_equal(pn_workload_init(w, &p), 0);
	while (pn_workload_next(w, &io))
		assert_int_equal(io.nlb, 4);

	/* one sequential pass of a region that is not a multiple of io_size:
	 * the last IO is cut at region_end, as in the original */
	p = defaults();
	p.lba_random = 0;
	p.io_count = 0;
	p.region_start = 0;
	p.region_end = 21;
	assert_int_equal(pn_workload_init(w, &p), 0);
	{
		static const uint64_t want[][2] = { { 0, 8 }, { 8, 8 }, { 16, 5 } };

		for (int i = 0; i < 3; i++) {
			assert_true(pn_workload_next(w, &io));
			assert_int_equal(io.slba, want[i][0]);
			assert_int_equal(io.nlb, want[i][1]);
		}
		assert_false(pn_workload_next(w, &io));
	}

	/* io_sequence times out of order: sent in list order */
	{
		static const struct pn_wl_trace_entry trace[] = {
			{ 0, 8, PN_OP_WRITE, 500 }, { 8, 8, PN_OP_READ, 100 }, { 16, 1, PN_OP_READ, 0 },
		};

		p = defaults();
		p.io_count = 0;
		p.trace = trace;
		p.ntrace = 3;
		assert_int_equal(pn_workload_init(w, &p), 0);
		for (int i = 0; i < 3; i++) {
			assert_true(pn_workload_next(w, &io));
			assert_int_equal(io.slba, trace[i].slba);
			assert_int_equal(io.time_us, trace[i].time_sent_us);
		}
		assert_false(pn_workload_next(w, &io));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_random_reads_in_the_namespace),
		cmocka_unit_test(region_sizes_and_alignments),
		cmocka_unit_test(one_align_for_all_sizes_and_region_edges),
		cmocka_unit_test(size_range),
		cmocka_unit_test(sequential_stride_and_wrap),
		cmocka_unit_test(sequential_aligned),
		cmocka_unit_test(one_sequential_pass_ends),
		cmocka_unit_test(random_percentage),
		cmocka_unit_test(original_inputs_accepted),
		cmocka_unit_test(op_mix_and_real_counts),
		cmocka_unit_test(distribution_buckets),
		cmocka_unit_test(regions_random_by_weight),
		cmocka_unit_test(regions_sequential_pass),
		cmocka_unit_test(regions_validation),
		cmocka_unit_test(trace_replay),
		cmocka_unit_test(reproducible_per_seed_and_stream),
		cmocka_unit_test(validation_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
