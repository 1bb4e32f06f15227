/* CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of the
 * per-LBA data verification.
 *
 * Every verified read and write checksums its whole data, so this is on the
 * IO hot path: SSE4.2's crc32 instruction when the CPU has it (detected once
 * at load time) and it is faster, else a slicing-by-8 table. Both give
 * identical results.
 *
 * All functions take the CRC of the bytes before `buf` (0 to start) and
 * return the CRC including `buf`, so a checksum can be built in pieces:
 * pn_crc32c(pn_crc32c(0, a, n), b, m) == CRC of a followed by b.
 * The pre- and post-inversion of the standard are done inside, so
 * pn_crc32c(0, "123456789", 9) == 0xE3069283.
 */
#ifndef PYNVME_CRC32C_H
#define PYNVME_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC32C of len bytes at buf, continuing from crc, by the implementation
 * found fastest when the library loaded (see pn_crc32c_impl()). buf may be
 * NULL when len is 0. */
uint32_t pn_crc32c(uint32_t crc, const void *buf, size_t len);

/* Which implementation pn_crc32c() uses: "sse42" or "table". Having SSE4.2
 * is not enough: under an emulator the instruction can be slower than the
 * table, so both are timed once at load; the environment variable
 * PYNVME_CRC32C=table|sse42 forces one. */
const char *pn_crc32c_impl(void);

/* The table implementation (any CPU). Same arguments and result. */
uint32_t pn_crc32c_table(uint32_t crc, const void *buf, size_t len);

/* The SSE4.2 implementation. Same arguments and result; call it only when
 * pn_crc32c_hw_available() is true (else it falls back to the table). */
uint32_t pn_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* Whether this CPU has the SSE4.2 crc32 instruction. */
bool pn_crc32c_hw_available(void);

#endif
