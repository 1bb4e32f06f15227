/* A minimal NVMe host for driving the software controller in unit tests and
 * the bench: an arena of page-aligned memory with its own IOVAs (so the
 * controller can only reach it through the translator), register access,
 * and queues with phase-bit polling. Header-only; not part of lib/.
 */
#ifndef SOFT_CTRL_HOST_H
#define SOFT_CTRL_HOST_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_spec.h"
#include "soft_ctrl.h"

#define HOST_ARENA_IOVA 0x40000000ull
#define HOST_PAGE 4096u
#define HOST_WAIT_NS (20ull * 1000000000ull)  /* generous bound of every wait */

struct host_queue {
	struct pn_sqe *sq;
	volatile struct pn_cqe *cq;
	uint32_t size;
	uint32_t sq_tail;
	uint32_t cq_head;
	uint8_t phase;
	uint16_t qid;
	uint16_t next_cid;
};

struct host {
	struct soft_ctrl *sc;
	volatile uint8_t *bar;
	uint8_t *arena;
	size_t arena_size;
	size_t next;
	unsigned dstrd;
	struct host_queue admin;
	unsigned irq_count[64];
	unsigned irq_total;
};

static inline uint64_t host_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The translator: arena IOVAs only; anything else is an IOMMU fault. */
static inline void *host_iova_to_vaddr(void *ctx, uint64_t iova, size_t len)
{
	struct host *h = ctx;

	if (iova < HOST_ARENA_IOVA || iova - HOST_ARENA_IOVA > h->arena_size ||
	    len > h->arena_size - (iova - HOST_ARENA_IOVA))
		return NULL;
	return h->arena + (iova - HOST_ARENA_IOVA);
}

static inline void host_irq(void *ctx, unsigned vector)
{
	struct host *h = ctx;

	if (vector < 64)
		__atomic_add_fetch(&h->irq_count[vector], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->irq_total, 1, __ATOMIC_RELAXED);
}

static inline uint64_t host_iova(struct host *h, const volatile void *p)
{
	return HOST_ARENA_IOVA + (uint64_t)((const volatile uint8_t *)p - h->arena);
}

/* Zeroed, page-aligned memory from the arena (never freed: tests are short). */
static inline void *host_alloc(struct host *h, size_t bytes)
{
	size_t size = (bytes + HOST_PAGE - 1) & ~(size_t)(HOST_PAGE - 1);
	void *p;

	if (h->next + size > h->arena_size)
		abort();
	p = h->arena + h->next;
	h->next += size;
	memset(p, 0, size);
	return p;
}

static inline uint32_t host_rd32(struct host *h, uint32_t off)
{
	return *(volatile uint32_t *)(h->bar + off);
}

static inline void host_wr32(struct host *h, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(h->bar + off) = v;
}

static inline uint64_t host_rd64(struct host *h, uint32_t off)
{
	return host_rd32(h, off) | (uint64_t)host_rd32(h, off + 4) << 32;
}

static inline void host_wr64(struct host *h, uint32_t off, uint64_t v)
{
	host_wr32(h, off, (uint32_t)v);
	host_wr32(h, off + 4, (uint32_t)(v >> 32));
}

/* Creates the controller over a fresh arena; cfg's translator/irq are set
 * here. Returns 0 or the error of soft_ctrl_create(). */
static inline int host_open(struct host *h, struct soft_ctrl_config *cfg, size_t arena_size)
{
	int rc;

	memset(h, 0, sizeof(*h));
	h->arena_size = arena_size;
	h->arena = aligned_alloc(HOST_PAGE, arena_size);
	if (!h->arena)
		return -1;
	cfg->iova_to_vaddr = host_iova_to_vaddr;
	cfg->dma_ctx = h;
	cfg->irq = host_irq;
	cfg->irq_ctx = h;
	h->dstrd = cfg->dstrd;
	rc = soft_ctrl_create(cfg, &h->sc);
	if (rc) {
		free(h->arena);
		return rc;
	}
	h->bar = soft_ctrl_bar0(h->sc);
	return 0;
}

static inline void host_close(struct host *h)
{
	soft_ctrl_destroy(h->sc);
	free(h->arena);
}

/* Waits up to `timeout_ns` until (CSTS & mask) == want. Returns true when
 * it did. */
static inline bool host_wait_csts_within(struct host *h, uint32_t mask, uint32_t want,
					 uint64_t timeout_ns)
{
	uint64_t deadline = host_now_ns() + timeout_ns;

	while ((host_rd32(h, NVME_REG_CSTS) & mask) != want) {
		if (host_now_ns() > deadline)
			return false;
		sched_yield();
	}
	return true;
}

static inline bool host_wait_csts(struct host *h, uint32_t mask, uint32_t want)
{
	return host_wait_csts_within(h, mask, want, HOST_WAIT_NS);
}

static inline void host_queue_init(struct host *h, struct host_queue *q, uint16_t qid, uint32_t size)
{
	memset(q, 0, sizeof(*q));
	q->qid = qid;
	q->size = size;
	q->phase = 1;
	q->sq = host_alloc(h, size * 64u);
	q->cq = host_alloc(h, size * 16u);
}

/* Disables (waiting for RDY 0), programs a 32-entry admin queue, enables
 * with MPS 4 KiB and waits for RDY. Returns true when the controller is
 * ready. */
static inline bool host_enable(struct host *h)
{
	host_wr32(h, NVME_REG_CC, 0);
	if (!host_wait_csts(h, 1, 0))
		return false;
	host_queue_init(h, &h->admin, 0, 32);
	host_wr32(h, NVME_REG_AQA, 31u << 16 | 31u);
	host_wr64(h, NVME_REG_ASQ, host_iova(h, h->admin.sq));
	host_wr64(h, NVME_REG_ACQ, host_iova(h, h->admin.cq));
	host_wr32(h, NVME_REG_CC, 1 | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	return host_wait_csts(h, 1, 1);
}

static inline volatile uint32_t *host_sq_db(struct host *h, uint16_t qid)
{
	return (volatile uint32_t *)(h->bar + pn_sq_doorbell_offset(qid, h->dstrd));
}

static inline volatile uint32_t *host_cq_db(struct host *h, uint16_t qid)
{
	return (volatile uint32_t *)(h->bar + pn_cq_doorbell_offset(qid, h->dstrd));
}

/* Writes `sqe` at the SQ tail with a fresh CID (returned) and rings. */
static inline uint16_t host_submit(struct host *h, struct host_queue *q, const struct pn_sqe *sqe)
{
	struct pn_sqe e = *sqe;

	e.cid = q->next_cid++;
	q->sq[q->sq_tail] = e;
	q->sq_tail = (q->sq_tail + 1) % q->size;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*host_sq_db(h, q->qid) = q->sq_tail;
	return e.cid;
}

/* Whether a new completion sits at the CQ head. */
static inline bool host_cqe_ready(struct host_queue *q)
{
	return (__atomic_load_n(&q->cq[q->cq_head].status, __ATOMIC_ACQUIRE) & 1) == q->phase;
}

/* Waits up to `timeout_ns` for the next completion, consumes it. */
static inline bool host_reap_within(struct host *h, struct host_queue *q, struct pn_cqe *out,
				    uint64_t timeout_ns)
{
	uint64_t deadline = host_now_ns() + timeout_ns;

	while (!host_cqe_ready(q)) {
		if (host_now_ns() > deadline)
			return false;
		sched_yield();
	}
	*out = *(const struct pn_cqe *)&q->cq[q->cq_head];
	if (++q->cq_head == q->size) {
		q->cq_head = 0;
		q->phase ^= 1;
	}
	*host_cq_db(h, q->qid) = q->cq_head;
	return true;
}

static inline bool host_reap(struct host *h, struct host_queue *q, struct pn_cqe *out)
{
	return host_reap_within(h, q, out, HOST_WAIT_NS);
}

/* Status word without the phase tag; 0xffff when no completion came. */
static inline uint16_t host_cmd(struct host *h, struct host_queue *q, const struct pn_sqe *sqe,
				struct pn_cqe *out)
{
	struct pn_cqe cqe = {0};
	uint16_t cid = host_submit(h, q, sqe);

	if (!host_reap(h, q, &cqe) || cqe.cid != cid)
		return 0xffff;
	if (out)
		*out = cqe;
	return cqe.status & 0xfffe;
}

/* Status word (no phase, no DNR/More) for SCT/SC, to compare against. */
static inline uint16_t st(unsigned sct, unsigned sc)
{
	return (uint16_t)(sct << 9 | sc << 1);
}

static inline uint16_t host_status(uint16_t status_word)
{
	return status_word == 0xffff ? 0xffff : (uint16_t)(status_word & 0x0ffe);
}

/* Create I/O CQ + SQ with the same id. Returns the first error status. */
static inline uint16_t host_create_io(struct host *h, struct host_queue *q, uint16_t qid,
				      uint32_t size, bool ien, uint16_t iv)
{
	struct pn_sqe cmd = {0};
	uint16_t s;

	host_queue_init(h, q, qid, size);
	cmd.opc = nvme_admin_create_cq;
	cmd.prp1 = host_iova(h, (void *)q->cq);
	cmd.cdw10 = (size - 1) << 16 | qid;
	cmd.cdw11 = (uint32_t)iv << 16 | (ien ? 2u : 0) | 1;
	s = host_status(host_cmd(h, &h->admin, &cmd, NULL));
	if (s)
		return s;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_admin_create_sq;
	cmd.prp1 = host_iova(h, q->sq);
	cmd.cdw10 = (size - 1) << 16 | qid;
	cmd.cdw11 = (uint32_t)qid << 16 | 1;
	return host_status(host_cmd(h, &h->admin, &cmd, NULL));
}

#endif
