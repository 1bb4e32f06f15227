#include "crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* Slicing-by-8: table[k][b] is the CRC of byte b followed by k zero bytes,
 * so eight bytes fold in with eight independent lookups. */
static uint32_t table[8][256];
static bool hw_available;

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
#if defined(__x86_64__)
	__builtin_cpu_init();
	hw_available = __builtin_cpu_supports("sse4.2");
#endif
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
	/* Four words per iteration: fewer loop branches; the instruction's
	 * 3-cycle latency is the limit either way. */
	while (len >= 32) {
		uint64_t w[4];

		memcpy(w, p, 32);
		crc64 = _mm_crc32_u64(crc64, w[0]);
		crc64 = _mm_crc32_u64(crc64, w[1]);
		crc64 = _mm_crc32_u64(crc64, w[2]);
		crc64 = _mm_crc32_u64(crc64, w[3]);
		p += 32;
		len -= 32;
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

uint32_t pn_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return pn_crc32c_hw(crc, buf, len);
}
