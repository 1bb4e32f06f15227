#include "verify_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "crc32c.h"
#include "error.h"

int pn_verify_table_init(struct pn_verify_table *t, uint64_t nlba, uint32_t lba_size)
{
	void *mem;
	unsigned char *zero;

	memset(t, 0, sizeof(*t));
	if (nlba == 0)
		return pn_fail(EINVAL, "verify table: no LBAs to cover");
	if (lba_size < 16 || lba_size % 8)
		return pn_fail(EINVAL, "verify table: LBA size %u not a multiple of 8 >= 16",
			       lba_size);
	if (nlba > SIZE_MAX / sizeof(uint32_t))
		return pn_fail(ENOMEM, "verify table: %llu LBAs do not fit in memory",
			       (unsigned long long)nlba);
	/* mmap, not calloc: the table of a large namespace is mostly untouched
	 * and anonymous pages cost nothing until written. */
	mem = mmap(NULL, nlba * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return pn_fail(ENOMEM, "verify table: cannot map %llu bytes for %llu LBAs "
			       "(set nlba_verify lower)",
			       (unsigned long long)(nlba * sizeof(uint32_t)), (unsigned long long)nlba);
	zero = calloc(1, lba_size);
	if (!zero) {
		munmap(mem, nlba * sizeof(uint32_t));
		return pn_fail(ENOMEM, "verify table: no memory");
	}
	t->zero_crc = pn_crc32c(0, zero, lba_size);
	free(zero);
	t->entries = mem;
	t->nlba = nlba;
	t->lba_size = lba_size;
	return 0;
}

void pn_verify_table_free(struct pn_verify_table *t)
{
	if (t->entries)
		munmap(t->entries, t->nlba * sizeof(uint32_t));
	memset(t, 0, sizeof(*t));
}

/* Clips [slba, slba+nlb) to the table; returns the count of covered LBAs. */
static inline uint64_t covered(const struct pn_verify_table *t, uint64_t slba, uint64_t nlb)
{
	if (slba >= t->nlba)
		return 0;
	return nlb < t->nlba - slba ? nlb : t->nlba - slba;
}

enum pn_verify_state pn_verify_state_of(const struct pn_verify_table *t, uint64_t lba)
{
	uint32_t e;

	if (lba >= t->nlba)
		return PN_VERIFY_STATE_UNKNOWN;
	e = t->entries[lba];
	if (e == PN_VERIFY_UNKNOWN)
		return PN_VERIFY_STATE_UNKNOWN;
	return e == PN_VERIFY_ZEROES ? PN_VERIFY_STATE_ZEROES : PN_VERIFY_STATE_CRC;
}

void pn_verify_count_states(const struct pn_verify_table *t, uint64_t slba, uint64_t nlb,
			    uint64_t counts[3])
{
	uint64_t n = covered(t, slba, nlb);

	counts[PN_VERIFY_STATE_UNKNOWN] = nlb - n;
	counts[PN_VERIFY_STATE_ZEROES] = 0;
	counts[PN_VERIFY_STATE_CRC] = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t e = t->entries[slba + i];

		counts[e == PN_VERIFY_UNKNOWN ? PN_VERIFY_STATE_UNKNOWN :
		       e == PN_VERIFY_ZEROES ? PN_VERIFY_STATE_ZEROES : PN_VERIFY_STATE_CRC]++;
	}
}

void pn_verify_record_write(struct pn_verify_table *t, uint64_t slba, uint64_t nlb,
			    const void *data)
{
	const unsigned char *p = data;
	uint64_t n = covered(t, slba, nlb);

	for (uint64_t i = 0; i < n; i++, p += t->lba_size)
		t->entries[slba + i] = pn_verify_entry_of_crc(pn_crc32c(0, p, t->lba_size));
}

static void fill(struct pn_verify_table *t, uint64_t slba, uint64_t nlb, uint32_t value)
{
	uint64_t n = covered(t, slba, nlb);

	for (uint64_t i = 0; i < n; i++)
		t->entries[slba + i] = value;
}

void pn_verify_record_zeroes(struct pn_verify_table *t, uint64_t slba, uint64_t nlb)
{
	fill(t, slba, nlb, PN_VERIFY_ZEROES);
}

void pn_verify_record_unknown(struct pn_verify_table *t, uint64_t slba, uint64_t nlb)
{
	fill(t, slba, nlb, PN_VERIFY_UNKNOWN);
}

static uint64_t lba_tag(const unsigned char *p)
{
	uint64_t tag;

	memcpy(&tag, p, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	tag = __builtin_bswap64(tag);
#endif
	return tag;
}

static int report(const struct pn_verify_table *t, uint64_t lba, uint32_t entry, uint32_t found,
		  const unsigned char *p, struct pn_verify_mismatch *m)
{
	struct pn_verify_mismatch local;
	char hex[16 * 3 + 1];

	if (!m)
		m = &local;
	m->lba = lba;
	m->expected_state = entry == PN_VERIFY_ZEROES ? PN_VERIFY_STATE_ZEROES :
			    entry == PN_VERIFY_UNKNOWN ? PN_VERIFY_STATE_UNKNOWN : PN_VERIFY_STATE_CRC;
	m->expected_crc = entry == PN_VERIFY_ZEROES ? t->zero_crc : entry;
	m->found_crc = found;
	m->found_lba_tag = lba_tag(p);
	memcpy(m->first_bytes, p, sizeof(m->first_bytes));
	for (int i = 0; i < 16; i++)
		snprintf(hex + 3 * i, 4, "%02x ", m->first_bytes[i]);
	hex[sizeof(hex) - 2] = '\0';
	/* named as another LBA's data only when it carries one of our stamps */
	if (m->expected_state != PN_VERIFY_STATE_ZEROES && m->found_lba_tag != lba &&
	    m->found_lba_tag < t->nlba)
		return pn_fail(EIO, "verify: LBA 0x%llx holds the data of LBA 0x%llx (its first 8 "
			       "bytes), data: %s", (unsigned long long)lba,
			       (unsigned long long)m->found_lba_tag, hex);
	return pn_fail(EIO, "verify: LBA 0x%llx: expected %s CRC 0x%08x, found 0x%08x "
		       "(LBA tag 0x%llx), data: %s",
		       (unsigned long long)lba,
		       m->expected_state == PN_VERIFY_STATE_ZEROES ? "zeroes," : "data",
		       m->expected_crc, found, (unsigned long long)m->found_lba_tag, hex);
}

/* Whether `n` bytes are all zero: the exact check for an LBA that must read
 * zeroes, and much cheaper than its CRC (one OR per 8 bytes against eight
 * table lookups; 7x in the test bed's emulated CPU). `n` is a multiple of 8 (the
 * table's LBA sizes are). */
static bool all_zero(const unsigned char *p, size_t n)
{
	/* scalar 8-byte loads: vector code would run through helpers under
	 * an emulated CPU */
	typedef uint64_t __attribute__((may_alias, aligned(1))) word;
	const word *w = (const word *)(const void *)p;
	size_t i = 0, nw = n / 8;

	for (; i + 4 <= nw; i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return false;
	for (; i < nw; i++)
		if (w[i])
			return false;
	return true;
}

int pn_verify_check_read(const struct pn_verify_table *t, uint64_t slba, uint64_t nlb,
			 const void *data, struct pn_verify_mismatch *mismatch)
{
	const unsigned char *p = data;
	uint64_t n = covered(t, slba, nlb);

	for (uint64_t i = 0; i < n; i++, p += t->lba_size) {
		uint64_t lba = slba + i, tag;
		uint32_t entry = t->entries[lba];
		uint32_t crc;

		if (entry == PN_VERIFY_ZEROES) {
			if (all_zero(p, t->lba_size))
				continue;
			crc = pn_crc32c(0, p, t->lba_size);
			if (crc != t->zero_crc)
				return report(t, lba, entry, crc, p, mismatch);
			continue;
		}
		/* The stamp first: data that landed on the wrong LBA is named as
		 * such. An LBA of unknown content passes unless it holds the
		 * stamp of another LBA of the table (0 and all ones pass, as in
		 * the original; so does foreign data, whose first 8 bytes are no
		 * LBA of ours). */
		tag = lba_tag(p);
		if (entry == PN_VERIFY_UNKNOWN) {
			if (tag != lba && tag != 0 && tag < t->nlba)
				return report(t, lba, entry, pn_crc32c(0, p, t->lba_size), p,
					      mismatch);
			continue;
		}
		if (tag != lba)
			return report(t, lba, entry, pn_crc32c(0, p, t->lba_size), p, mismatch);
		crc = pn_crc32c(0, p, t->lba_size);
		if (pn_verify_entry_of_crc(crc) != entry)
			return report(t, lba, entry, crc, p, mismatch);
	}
	return 0;
}

void pn_verify_stamp(void *buf, uint64_t slba, uint64_t nlb, uint32_t lba_size, uint64_t token)
{
	unsigned char *p = buf;

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	token = __builtin_bswap64(token);
#endif
	for (uint64_t i = 0; i < nlb; i++, p += lba_size) {
		uint64_t lba = slba + i;

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		lba = __builtin_bswap64(lba);
#endif
		memcpy(p, &lba, 8);
		memcpy(p + lba_size - 8, &token, 8);
	}
}
