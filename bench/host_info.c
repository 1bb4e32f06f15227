/* Facts about this host that the cost-per-IO table (bench/cost_per_io.sh)
 * needs beside its rows, as one JSON object:
 *   tsc_hz        the library's TSC calibration: cycles per IO in the table
 *                 are TSC ticks, the only cycle counter every VM has
 *   core_hz       the core's own clock, estimated with a chain of dependent
 *                 adds (one per cycle on every x86 core we know): the TSC
 *                 runs at a fixed rate, the core may run faster (boost)
 *   crc32c_impl   what pn_crc32c() uses here ("sse42": the crc32 instruction)
 *   crc32c_4k_ns  ns per 4 KiB block, best of many, for each implementation
 * Best of several tries each: the machine is shared, a try can be preempted.
 */
#include <stdio.h>

#include "crc32c.h"
#include "tsc.h"

#define ADDS (1u << 24)

/* TSC ticks of ADDS dependent adds (the asm keeps the compiler from folding
 * them). */
static uint64_t time_adds(void)
{
	uint64_t x = 0, t0 = pn_tsc();

	for (uint32_t i = 0; i < ADDS; i += 8) {
		__asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
				 "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
				 : "+r"(x));
	}
	return pn_tsc() - t0;
}

static double crc_ns(uint32_t (*fn)(uint32_t, const void *, size_t), const void *block)
{
	uint64_t best = UINT64_MAX;
	volatile uint32_t sink = 0;

	for (int i = 0; i < 2000; i++) {
		uint64_t t0 = pn_tsc();

		sink += fn(0, block, 4096);
		uint64_t t = pn_tsc() - t0;

		if (t < best)
			best = t;
	}
	(void)sink;
	return (double)pn_tsc_to_ns(best * 1000) / 1000.0;
}

int main(void)
{
	static uint64_t block[512];
	uint64_t hz = pn_tsc_hz(), best = UINT64_MAX;

	for (int i = 0; i < 512; i++)
		block[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	for (int i = 0; i < 20; i++) {
		uint64_t t = time_adds();

		if (t < best)
			best = t;
	}
	printf("{\"tsc_hz\": %llu, \"core_hz\": %.0f, \"crc32c_impl\": \"%s\", "
	       "\"crc32c_hw_available\": %s, \"crc32c_4k_ns\": {\"sse42\": %.1f, \"table\": %.1f}}\n",
	       (unsigned long long)hz, (double)ADDS * (double)hz / (double)best, pn_crc32c_impl(),
	       pn_crc32c_hw_available() ? "true" : "false",
	       pn_crc32c_hw_available() ? crc_ns(pn_crc32c_hw, block) : 0.0,
	       crc_ns(pn_crc32c_table, block));
	return 0;
}
