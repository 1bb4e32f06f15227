/* Data pointers of NVMe commands: PRP entries / PRP lists and SGLs.
 *
 * Pure functions (no device, no allocation): the caller hands in the
 * transfer's device address and length and a piece of DMA memory for the
 * lists (each request slot of a queue owns one, see queue.h), and gets the
 * two data pointer quadwords of the SQE. Our DMA regions are contiguous in
 * IOVA space, so a transfer is one IOVA range; SGLs also take a list of
 * pieces so tests can build any segment shape.
 */
#ifndef PYNVME_PRP_H
#define PYNVME_PRP_H

#include <stddef.h>
#include <stdint.h>

/* Memory for PRP lists or SGL segments: `bytes` bytes at CPU address
 * `vaddr`, device address `iova`. For PRP lists `iova` must be aligned to
 * the memory page size and `bytes` a multiple of it. */
struct pn_list_mem {
	void *vaddr;
	uint64_t iova;
	size_t bytes;
};

/* Builds PRP1/PRP2 for `len` bytes at device address `iova` with memory
 * page size `page_size` (CC.MPS, a power of two >= 4096):
 * - PRP1 is `iova` itself (its offset inside the page is honoured);
 * - PRP2 is 0 when the transfer ends in PRP1's page, the next page's address
 *   when it ends in the second page, else the address of a PRP list written
 *   into `list`, whose pages are chained (the last entry of a full list page
 *   points to the next list page) when one page is not enough.
 * `len` 0 gives PRP1 = iova, PRP2 = 0. `list` may be NULL when no list is
 * needed. Returns the bytes of `list` used (0 without a list), -EINVAL for a
 * bad page size or an iova that is not dword aligned, -E2BIG when `list` is
 * missing or too small. */
long pn_prp_build(uint64_t iova, uint64_t len, uint32_t page_size,
		  const struct pn_list_mem *list, uint64_t *prp1, uint64_t *prp2);

/* Bytes of list memory pn_prp_build() needs at most for a transfer of up to
 * `max_len` bytes at any start offset (a multiple of `page_size`; 0 when no
 * transfer of that size needs a list). */
size_t pn_prp_list_bytes(uint64_t max_len, uint32_t page_size);

/* One contiguous piece of a scattered transfer. */
struct pn_sgl_piece {
	uint64_t iova;
	uint32_t len;
};

/* Builds the SGL of a transfer made of `count` pieces (count >= 1) into the
 * 16-byte SGL1 (`dptr[0]` = bytes 0..7 = PRP1 field, `dptr[1]` = PRP2
 * field):
 * - one piece: SGL1 is a Data Block descriptor;
 * - more: SGL1 is a Last Segment descriptor (or a Segment descriptor when
 *   chaining) pointing at the descriptors written into `list`, at most
 *   `max_per_segment` per segment (0: as many as fit in `list`); a full
 *   segment's last descriptor points at the next segment, typed Last Segment
 *   when that one ends the list.
 * The caller sets PSDT (PN_PSDT_SGL) in the SQE. Returns the bytes of
 * `list` used, -EINVAL for count < 1, a zero-length piece or
 * max_per_segment == 1, -E2BIG when `list` is too small. */
long pn_sgl_build(const struct pn_sgl_piece *pieces, int count, unsigned max_per_segment,
		  const struct pn_list_mem *list, uint64_t dptr[2]);

/* Splits `len` bytes at `iova` into pieces of `chunk` bytes (the last one
 * shorter), for SGL shapes with many descriptors. Returns the number of
 * pieces written, or -E2BIG when more than `max` would be needed, -EINVAL
 * for chunk or len 0 or chunk >= 4 GiB. */
int pn_sgl_split(uint64_t iova, uint64_t len, uint64_t chunk, struct pn_sgl_piece *pieces, int max);

#endif
