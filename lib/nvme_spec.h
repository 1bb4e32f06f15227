/* NVMe wire formats the driver builds and parses itself.
 *
 * Opcodes, register offsets, CAP/CC/CSTS fields, identify structures and
 * status codes come from libnvme's <nvme/types.h> (the spec as code). That
 * header has no submission/completion entry or SGL descriptor layout, so
 * those three are defined here, with their sizes asserted.
 */
#ifndef PYNVME_NVME_SPEC_H
#define PYNVME_NVME_SPEC_H

#include <assert.h>
#include <stdint.h>

#include <nvme/types.h>

/* Submission queue entry (NVMe base spec, "Common Command Format"). */
struct pn_sqe {
	uint8_t opc;      /* opcode */
	uint8_t flags;    /* FUSE bits 1:0, PSDT bits 7:6 */
	uint16_t cid;     /* command identifier, set by the queue engine */
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;    /* metadata pointer */
	uint64_t prp1;    /* data pointer: PRP entry 1, or SGL1 bytes 0..7 */
	uint64_t prp2;    /* data pointer: PRP entry 2, or SGL1 bytes 8..15 */
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
static_assert(sizeof(struct pn_sqe) == 64, "SQE is 64 bytes");

/* Completion queue entry (NVMe base spec, "Common Completion Queue Entry"). */
struct pn_cqe {
	uint32_t dw0;     /* command specific */
	uint32_t dw1;     /* command specific */
	uint16_t sqhd;    /* SQ head pointer */
	uint16_t sqid;    /* SQ identifier */
	uint16_t cid;     /* command identifier */
	uint16_t status;  /* bit 0 phase tag, bits 15:1 status field */
};
static_assert(sizeof(struct pn_cqe) == 16, "CQE is 16 bytes");

/* SGL descriptor (NVMe base spec, "Scatter Gather List"). The identifier
 * byte holds the descriptor type in bits 7:4 and the sub type in 3:0. */
struct pn_sgl_desc {
	uint64_t addr;
	uint32_t length;
	uint8_t reserved[3];
	uint8_t id;
};
static_assert(sizeof(struct pn_sgl_desc) == 16, "SGL descriptor is 16 bytes");

enum {
	PN_SGL_TYPE_DATA_BLOCK = 0x0,
	PN_SGL_TYPE_SEGMENT = 0x2,
	PN_SGL_TYPE_LAST_SEGMENT = 0x3,
};

/* PSDT values in SQE flags bits 7:6: PRPs, or SGLs with MPTR holding the
 * address of a contiguous metadata buffer. */
enum {
	PN_PSDT_PRP = 0x0 << 6,
	PN_PSDT_SGL = 0x1 << 6,
	PN_PSDT_MASK = 0x3 << 6,
};

static_assert(sizeof(struct nvme_id_ctrl) == 4096, "identify controller is 4 KiB");
static_assert(sizeof(struct nvme_id_ns) == 4096, "identify namespace is 4 KiB");

/* The status value every synthesized completion carries (timeout, device
 * gone, queue torn down): all ones, as a device that stopped answering
 * reads on the bus. */
#define PN_STATUS_SYNTH 0xffffu

/* Status code (SC) of a CQE status word (phase tag included). */
static inline unsigned pn_status_sc(uint16_t status)
{
	return (status >> 1) & 0xff;
}

/* Status code type (SCT) of a CQE status word. */
static inline unsigned pn_status_sct(uint16_t status)
{
	return (status >> 9) & 0x7;
}

/* Non-zero when the status word reports an error (SCT or SC non-zero). */
static inline int pn_status_is_error(uint16_t status)
{
	return (status & 0xfffe) != 0;
}

/* Doorbell register offsets in BAR0 for queue `qid`, given CAP.DSTRD. */
static inline uint32_t pn_sq_doorbell_offset(uint16_t qid, unsigned dstrd)
{
	return 0x1000 + (2u * qid) * (4u << dstrd);
}

static inline uint32_t pn_cq_doorbell_offset(uint16_t qid, unsigned dstrd)
{
	return 0x1000 + (2u * qid + 1) * (4u << dstrd);
}

#endif
