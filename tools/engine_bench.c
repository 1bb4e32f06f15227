/* engine_bench: the CPU cost per IO of the IOWorker engine's parts, so the
 * per-IO budget is known (not a test: it prints figures and always passes).
 *
 *   build/tools/engine_bench [iterations-scale]
 *
 * Each line: nanoseconds per operation, averaged over a timed loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "latency_histogram.h"
#include "lba_lock.h"
#include "rand.h"
#include "throttle.h"
#include "tsc.h"
#include "verify_table.h"
#include "workload.h"

static volatile uint64_t sink;

static void line(const char *what, uint64_t ns, uint64_t n)
{
	printf("%-44s %9.1f ns\n", what, (double)ns / (double)n);
}

static struct pn_workload_params base_params(void)
{
	struct pn_workload_params p;

	memset(&p, 0, sizeof(p));
	p.ns_capacity = 1ull << 31;   /* 1 TiB of 512 B LBAs */
	p.lba_size = 512;
	p.size_kind = PN_WL_SIZE_FIXED;
	p.size_min = 8;
	p.lba_random = 100;
	p.read_percentage = 100;
	p.qdepth = 32;
	p.io_count = UINT64_MAX;
	return p;
}

static void bench_workload(const char *what, const struct pn_workload_params *p, uint64_t n)
{
	struct pn_workload *w = malloc(sizeof(*w));
	struct pn_io io;
	uint64_t t0, acc = 0;

	if (!w || pn_workload_init(w, p)) {
		fprintf(stderr, "%s: %s\n", what, w ? "init failed" : "no memory");
		exit(1);
	}
	t0 = pn_monotonic_ns();
	for (uint64_t i = 0; i < n; i++) {
		pn_workload_next(w, &io);
		acc += io.slba + io.nlb;
	}
	line(what, pn_monotonic_ns() - t0, n);
	sink = acc;
	free(w);
}

int main(int argc, char **argv)
{
	uint64_t scale = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	uint64_t n = 2000000 * scale, t0, acc = 0;
	unsigned char *buf = aligned_alloc(4096, 64 * 1024);
	struct pn_hist *h = malloc(sizeof(*h));
	struct pn_rand r;

	if (!buf || !h || !scale)
		return 1;
	pn_rand_seed(1);
	pn_rand_init(&r, 1);
	for (int i = 0; i < 64 * 1024; i++)
		buf[i] = (unsigned char)pn_rand_next(&r);

	printf("engine_bench: TSC %.3f GHz, SSE4.2 crc32 %s, pn_crc32c() uses %s\n",
	       pn_tsc_hz() / 1e9, pn_crc32c_hw_available() ? "yes" : "no", pn_crc32c_impl());

	t0 = pn_monotonic_ns();
	for (uint64_t i = 0; i < n; i++)
		acc += pn_tsc();
	line("pn_tsc() (rdtsc)", pn_monotonic_ns() - t0, n);

	{
		struct pn_workload_params p = base_params();

		bench_workload("next_io: 4 KiB random read", &p, n);
		p.lba_random = 0;
		bench_workload("next_io: sequential read", &p, n);
		p = base_params();
		p.nalign = 1;
		p.align[0] = 8;
		p.size_kind = PN_WL_SIZE_LIST;
		p.nsizes = 4;
		for (int i = 0; i < 4; i++) {
			p.sizes[i] = 8u << i;
			p.size_weight[i] = 10 + i;
		}
		p.lba_random = 70;
		p.nops = 3;
		p.ops[0] = (struct pn_wl_op){ PN_OP_READ, 60 };
		p.ops[1] = (struct pn_wl_op){ PN_OP_WRITE, 30 };
		p.ops[2] = (struct pn_wl_op){ PN_OP_DSM, 10 };
		p.has_distribution = true;
		for (int b = 0; b < 100; b++)
			p.distribution[b] = 100;
		bench_workload("next_io: mixed sizes/ops/random, distribution", &p, n);
		p.size_kind = PN_WL_SIZE_RANGE;
		p.size_min = 1;
		p.size_max = 256;
		p.nalign = 0;
		bench_workload("next_io: mixed, io_size range 1..256", &p, n);
	}

	{
		uint64_t m = n / 8;

		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < m; i++)
			acc += pn_crc32c_hw((uint32_t)i, buf + (i & 7) * 4096, 4096);
		line("CRC32C 4 KiB, SSE4.2", pn_monotonic_ns() - t0, m);
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < m / 4; i++)
			acc += pn_crc32c_table((uint32_t)i, buf + (i & 7) * 4096, 4096);
		line("CRC32C 4 KiB, table (slicing-by-8)", pn_monotonic_ns() - t0, m / 4);
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < m; i++)
			acc += pn_crc32c_hw((uint32_t)i, buf + (i & 7) * 512, 512);
		line("CRC32C 512 B, SSE4.2", pn_monotonic_ns() - t0, m);
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < m / 4; i++)
			acc += pn_crc32c((uint32_t)i, buf + (i & 7) * 4096, 4096);
		line("CRC32C 4 KiB, pn_crc32c() (chosen)", pn_monotonic_ns() - t0, m / 4);
	}

	pn_hist_reset(h);
	t0 = pn_monotonic_ns();
	for (uint64_t i = 0; i < n; i++)
		pn_hist_record(h, 10000 + (i * 2654435761u & 0xfffff));
	line("histogram record", pn_monotonic_ns() - t0, n);
	t0 = pn_monotonic_ns();
	for (int i = 0; i < 1000; i++)
		acc += pn_hist_percentile(h, 99.9);
	line("histogram percentile (once per report)", pn_monotonic_ns() - t0, 1000);

	{
		struct pn_throttle t;
		uint64_t now = pn_tsc();

		pn_throttle_init(&t, 1000000, pn_tsc_hz(), 0);
		pn_throttle_start(&t, now);
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < n; i++) {
			now += 3000;   /* simulated: always due */
			if (pn_throttle_ready(&t, now))
				pn_throttle_sent(&t, now);
		}
		line("throttle ready + sent", pn_monotonic_ns() - t0, n);
		sink = t.next_due;
	}

	{
		struct pn_verify_table vt;
		struct pn_lba_lock l;
		uint64_t m = n / 8, nlba = 1 << 20;

		if (pn_verify_table_init(&vt, nlba, 4096) || pn_lba_lock_init(&l, 0, nlba))
			return 1;
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < m; i++) {
			uint64_t lba = (i * 2654435761u) & (nlba - 1);

			pn_verify_stamp(buf, lba, 1, 4096, i);
			pn_verify_record_write(&vt, lba, 1, buf);
		}
		line("verify: stamp + record write, 4 KiB LBA", pn_monotonic_ns() - t0, m);
		/* what every ioworker write costs now, verified or not: the
		 * stamp of 8 LBAs of 512 B in one of 128 pool buffers */
		{
			static unsigned char pool[128][4096];

			t0 = pn_monotonic_ns();
			for (uint64_t i = 0; i < n; i++)
				pn_verify_stamp(pool[i & 127], (i * 2654435761u) & (nlba - 1), 8, 512, i);
			line("stamp only: 4 KiB write of 8 x 512 B LBAs", pn_monotonic_ns() - t0, n);
			acc += pool[n & 127][0];
		}
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < m; i++) {
			uint64_t lba = (i * 2654435761u) & (nlba - 1);

			pn_verify_stamp(buf, lba, 1, 4096, 5);
			pn_verify_record_write(&vt, lba, 1, buf);
			acc += pn_verify_check_read(&vt, lba, 1, buf, NULL);
		}
		line("verify: (stamp + record) + check, 4 KiB", pn_monotonic_ns() - t0, m);
		memset(buf, 0, 4096);
		pn_verify_record_zeroes(&vt, 0, nlba);
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < m; i++) {
			uint64_t lba = (i * 2654435761u) & (nlba - 1);

			acc += pn_verify_check_read(&vt, lba, 1, buf, NULL);
		}
		line("verify: check of an LBA of zeroes, 4 KiB", pn_monotonic_ns() - t0, m);
		t0 = pn_monotonic_ns();
		for (uint64_t i = 0; i < n; i++) {
			uint64_t lba = (i * 2654435761u) & (nlba - 1) & ~7ull;

			acc += pn_lba_lock_try(&l, lba, 8);
			pn_lba_lock_release(&l, lba, 8);
		}
		line("LBA lock try + release, 8 LBAs", pn_monotonic_ns() - t0, n);
		pn_verify_table_free(&vt);
		pn_lba_lock_free(&l);
	}
	sink = acc;
	free(buf);
	free(h);
	return 0;
}
