/* The per-LBA data-verification table.
 *
 * For each LBA of a namespace (up to a bound: nlba_verify, or the region a
 * worker uses) the table holds what a read of it must return:
 *   unknown  - never written through us, or its content is undefined
 *              (deallocated where the namespace does not read zeroes,
 *              write uncorrectable, ...): reads are not checked;
 *   zeroes   - written zeroes, or deallocated on a namespace that reads
 *              zeroes after deallocate (DLFEAT): reads must be all zero;
 *   a CRC32C - of the data last written: reads must checksum the same.
 * Writes are recorded when they complete (successfully) and reads are
 * checked when they complete. Each written LBA carries its own LBA number in
 * its first 8 bytes and a token that changes with every write in its last 8
 * (pn_verify_stamp), so data landing on the wrong LBA and stale data are both
 * caught, not just corrupted bits.
 *
 * One entry is 4 bytes: the CRC, with two values reserved for the states
 * (0: unknown, 0xFFFFFFFF: zeroes); a data CRC equal to either is stored
 * with its low bit flipped, which weakens detection by 2^-31 for those two
 * values only. Memory is exactly 4 bytes per covered LBA, allocated lazily by
 * the OS (untouched pages cost nothing).
 *
 * The table is shared by the workers of a namespace and its Python
 * read()/write(): entries are 32-bit stores, so workers on disjoint LBAs
 * need no lock; in-flight IOs on the same LBAs inside one worker are kept
 * apart by the worker's pn_lba_lock (lba_lock.h).
 */
#ifndef PYNVME_VERIFY_TABLE_H
#define PYNVME_VERIFY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PN_VERIFY_UNKNOWN 0u
#define PN_VERIFY_ZEROES 0xFFFFFFFFu

enum pn_verify_state {
	PN_VERIFY_STATE_UNKNOWN,
	PN_VERIFY_STATE_ZEROES,
	PN_VERIFY_STATE_CRC,
};

struct pn_verify_table {
	uint64_t nlba;       /* LBAs 0..nlba-1 are covered */
	uint32_t lba_size;   /* data bytes per LBA (metadata is not checked) */
	uint32_t zero_crc;   /* CRC32C of one LBA of zeroes */
	uint32_t *entries;   /* nlba entries, see above */
};

/* What a failed check found: the first LBA that did not match. */
struct pn_verify_mismatch {
	uint64_t lba;
	enum pn_verify_state expected_state; /* unknown: a stamp of another LBA */
	uint32_t expected_crc;   /* CRC the table holds (zero_crc for zeroes) */
	uint32_t found_crc;      /* CRC of the data read */
	uint64_t found_lba_tag;  /* the first 8 bytes read (the LBA a write stamped) */
	uint8_t first_bytes[16]; /* the data read, for the report */
};

/* Sets up a table covering LBAs [0, nlba) of `lba_size`-byte blocks, all
 * unknown. nlba is the smaller of nlba_verify (when set) and the namespace
 * capacity. Returns 0, -EINVAL (nlba 0, lba_size not a multiple of 8 or
 * below 16) or -ENOMEM. */
int pn_verify_table_init(struct pn_verify_table *t, uint64_t nlba, uint32_t lba_size);

/* Frees the table's memory; the struct may be initialised again. */
void pn_verify_table_free(struct pn_verify_table *t);

/* Bytes of memory the table holds (for reporting the bound). */
static inline size_t pn_verify_table_bytes(const struct pn_verify_table *t)
{
	return (size_t)t->nlba * sizeof(uint32_t);
}

/* The entry stored for data whose CRC32C is `crc` (never a state value). */
static inline uint32_t pn_verify_entry_of_crc(uint32_t crc)
{
	return (crc == PN_VERIFY_UNKNOWN || crc == PN_VERIFY_ZEROES) ? crc ^ 1u : crc;
}

/* The state of one LBA (unknown for LBAs beyond the table). */
enum pn_verify_state pn_verify_state_of(const struct pn_verify_table *t, uint64_t lba);

/* Counts the states of LBAs [slba, slba + nlb) in counts[], indexed by enum
 * pn_verify_state; LBAs beyond the table count as unknown. What a test that
 * checks data after a fault reports as "LBAs checked": those whose last
 * write completed (a CRC) or that must read zeroes. */
void pn_verify_count_states(const struct pn_verify_table *t, uint64_t slba, uint64_t nlb,
			    uint64_t counts[3]);

/* Records a completed write of nlb LBAs from slba whose data is `data`
 * (nlb * lba_size bytes). LBAs beyond the table are ignored. */
void pn_verify_record_write(struct pn_verify_table *t, uint64_t slba, uint64_t nlb,
			    const void *data);

/* Records LBAs whose reads must now return zeroes (write zeroes; trim on a
 * namespace that reads zeroes after deallocate). */
void pn_verify_record_zeroes(struct pn_verify_table *t, uint64_t slba, uint64_t nlb);

/* Records LBAs whose content is now undefined (trim where deallocated data
 * is not guaranteed, write uncorrectable, a failed write, format...). */
void pn_verify_record_unknown(struct pn_verify_table *t, uint64_t slba, uint64_t nlb);

/* Checks a completed read of nlb LBAs from slba against the table:
 *   zeroes  - every byte must be zero;
 *   a CRC   - the first 8 bytes must be the LBA's own number (the stamp,
 *             checked first so that misplaced data is named as such), then
 *             the CRC32C must match;
 *   unknown - passes, unless the first 8 bytes are the stamp of another LBA
 *             the table covers (1..nlba-1, not this one): data of another
 *             LBA. 0 and all ones (unwritten, deallocated) pass as in the
 *             original pynvme, and so does any larger value (data written
 *             by others, which carries no stamp of ours);
 *   LBAs beyond the table pass.
 * Returns 0 when all match, else -EIO with *mismatch (if not NULL)
 * describing the first bad LBA and a pn_fail() reason like
 * "verify: LBA 0x1f: expected CRC 0x1234abcd, found 0x0badf00d (LBA tag
 * 0x1f), data: 1f 00 ..." or "verify: LBA 0x1f holds the data of LBA 0x2f
 * (its first 8 bytes), data: 2f 00 ...". */
int pn_verify_check_read(const struct pn_verify_table *t, uint64_t slba, uint64_t nlb,
			 const void *data, struct pn_verify_mismatch *mismatch);

/* Stamps a write buffer of nlb LBAs starting at slba: the LBA number in the
 * first 8 bytes and `token` in the last 8 bytes of every LBA (little
 * endian), leaving the rest of each LBA (the data pattern) as it is. The
 * worker passes a token that changes for every write (a counter, or the
 * TSC), so rewriting an LBA always changes its CRC. lba_size >= 16. */
void pn_verify_stamp(void *buf, uint64_t slba, uint64_t nlb, uint32_t lba_size, uint64_t token);

#endif
