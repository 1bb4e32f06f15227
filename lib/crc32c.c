#include "crc32c.h"

#include <stdlib.h>
#include <string.h>

#include "tsc.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* Slicing-by-8: table[k][b] is the CRC of byte b followed by k zero bytes,
 * so eight bytes fold in with eight independent lookups. */
static uint32_t table[8][256];

/* Joining parallel CRC streams. With R(s, M) the raw CRC state after message
 * M from state s, R is linear: R(s, A||B) = Z(R(s, A)) ^ R(0, B), where Z(x)
 * = R(x, STRIPE zero bytes) is a linear map of 32 bits, kept as four byte
 * tables. */
#define STRIPE 128
static uint32_t zero_shift[4][256];

static inline uint32_t shift_stripe(uint32_t x)
{
	return zero_shift[0][x & 0xff] ^ zero_shift[1][(x >> 8) & 0xff] ^
	       zero_shift[2][(x >> 16) & 0xff] ^ zero_shift[3][x >> 24];
}
static bool hw_available;
static bool use_hw;

static void choose_impl(void);

__attribute__((constructor)) static void crc32c_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t crc = b;

		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (CRC32C_POLY_REFLECTED & (0u - (crc & 1)));
		table[0][b] = crc;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
	/* Z of each single bit, then of every byte value by linearity. */
	{
		uint32_t bit_shift[32];

		for (int b = 0; b < 32; b++) {
			uint32_t state = 1u << b;

			for (int i = 0; i < STRIPE; i++)
				state = (state >> 8) ^ table[0][state & 0xff];
			bit_shift[b] = state;
		}
		for (int k = 0; k < 4; k++)
			for (uint32_t v = 0; v < 256; v++) {
				uint32_t z = 0;

				for (int b = 0; b < 8; b++)
					if (v & (1u << b))
						z ^= bit_shift[8 * k + b];
				zero_shift[k][v] = z;
			}
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	hw_available = __builtin_cpu_supports("sse4.2");
#endif
	choose_impl();
}

bool pn_crc32c_hw_available(void)
{
	return hw_available;
}

uint32_t pn_crc32c_table(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t word;

		memcpy(&word, p, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		word = __builtin_bswap64(word);
#endif
		word ^= crc;
		crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^
		      table[5][(word >> 16) & 0xff] ^ table[4][(word >> 24) & 0xff] ^
		      table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff] ^
		      table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
								 size_t len)
{
	const unsigned char *p = buf;
	uint64_t crc64;

	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = _mm_crc32_u8(crc, *p++);
		len--;
	}
	crc64 = crc;
	/* The instruction has a 3-cycle latency and a 1-cycle throughput: run
	 * three independent streams over consecutive STRIPE-byte pieces and
	 * join them with the zero-shift table (see shift_stripe). */
	while (len >= 3 * STRIPE) {
		uint64_t c1 = 0, c2 = 0;

		for (size_t i = 0; i < STRIPE; i += 8) {
			uint64_t w0, w1, w2;

			memcpy(&w0, p + i, 8);
			memcpy(&w1, p + STRIPE + i, 8);
			memcpy(&w2, p + 2 * STRIPE + i, 8);
			crc64 = _mm_crc32_u64(crc64, w0);
			c1 = _mm_crc32_u64(c1, w1);
			c2 = _mm_crc32_u64(c2, w2);
		}
		crc64 = shift_stripe(shift_stripe((uint32_t)crc64) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * STRIPE;
		len -= 3 * STRIPE;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		crc64 = _mm_crc32_u64(crc64, w);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)crc64;
	while (len--)
		crc = _mm_crc32_u8(crc, *p++);
	return ~crc;
}
#endif

uint32_t pn_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (hw_available)
		return crc32c_sse42(crc, buf, len);
#endif
	return pn_crc32c_table(crc, buf, len);
}

/* Best of a few runs of one 4 KiB block, in TSC ticks. */
static uint64_t time_4k(uint32_t (*fn)(uint32_t, const void *, size_t), const void *block)
{
	uint64_t best = UINT64_MAX;
	volatile uint32_t sink = 0;

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = pn_tsc();

		sink += fn(0, block, 4096);
		if (pn_tsc() - t0 < best)
			best = pn_tsc() - t0;
	}
	(void)sink;
	return best;
}

/* Having the instruction is not enough: under an emulator (QEMU TCG, our
 * test bed) crc32 runs as a slow helper, bit by bit, and the table is many
 * times faster. So time both once at load and keep the faster.
 * PYNVME_CRC32C=table|sse42 overrides (for benchmarks). */
static void choose_impl(void)
{
	static uint64_t block[512];
	const char *force = getenv("PYNVME_CRC32C");

	use_hw = false;
	if (!hw_available)
		return;
	if (force && strcmp(force, "table") == 0)
		return;
	if (force && strcmp(force, "sse42") == 0) {
		use_hw = true;
		return;
	}
	for (int i = 0; i < 512; i++)
		block[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	use_hw = time_4k(pn_crc32c_hw, block) <= time_4k(pn_crc32c_table, block);
}

const char *pn_crc32c_impl(void)
{
	return use_hw ? "sse42" : "table";
}

uint32_t pn_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (use_hw)
		return crc32c_sse42(crc, buf, len);
#endif
	return pn_crc32c_table(crc, buf, len);
}
