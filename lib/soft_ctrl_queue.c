/* Software NVMe controller: IO and admin queues on the device side, and
 * completion posting (with the hook for injected faults).
 */
#include <errno.h>
#include <string.h>

#include "soft_ctrl_priv.h"

static void active_sqs_rebuild(struct soft_ctrl *c)
{
	uint32_t n = 0;

	for (uint32_t q = 0; q <= c->cfg.nr_io_queues; q++)
		if (c->sqs[q].active && !c->sqs[q].lost)
			c->active_sqs[n++] = &c->sqs[q];
	c->nr_active_sqs = n;
}

struct sc_cq *sc_cq_get(struct soft_ctrl *c, uint32_t qid)
{
	if (qid > c->cfg.nr_io_queues || !c->cqs[qid].active)
		return NULL;
	return &c->cqs[qid];
}

int sc_cq_create(struct soft_ctrl *c, uint16_t qid, uint64_t iova, uint32_t size, bool ien,
		 uint16_t iv)
{
	struct sc_cq *cq = &c->cqs[qid];
	void *ring = c->cfg.iova_to_vaddr(c->cfg.dma_ctx, iova, (size_t)size * 16);

	if (!ring)
		return -EFAULT;
	memset(cq, 0, sizeof(*cq));
	cq->ring = ring;
	cq->size = size;
	cq->free = size - 1;
	cq->phase = 1;
	cq->active = true;
	cq->ien = ien;
	cq->iv = iv;
	cq->qid = qid;
	cq->iova = iova;
	cq->head_db = sc_doorbell(c, qid, true);
	*cq->head_db = 0;
	return 0;
}

int sc_sq_create(struct soft_ctrl *c, uint16_t qid, uint64_t iova, uint32_t size,
		 struct sc_cq *cq, uint8_t prio)
{
	struct sc_sq *sq = &c->sqs[qid];
	void *ring = c->cfg.iova_to_vaddr(c->cfg.dma_ctx, iova, (size_t)size * 64);

	if (!ring)
		return -EFAULT;
	memset(sq, 0, sizeof(*sq));
	sq->ring = ring;
	sq->size = size;
	sq->active = true;
	sq->prio = prio;
	sq->qid = qid;
	sq->cq = cq;
	sq->lost = cq->lost;     /* nowhere to complete to */
	sq->iova = iova;
	sq->tail_db = sc_doorbell(c, qid, false);
	*sq->tail_db = 0;
	cq->sq_refs++;
	active_sqs_rebuild(c);
	return 0;
}

void sc_sq_delete(struct soft_ctrl *c, struct sc_sq *sq)
{
	/* Completions still delayed for this SQ die with it, as commands a
	 * device aborts at SQ deletion would (we do not post them). */
	for (uint32_t i = 0; i < c->nr_delayed;)
		if (c->delayed[i].cqe.sqid == sq->qid)
			sc_delayed_drop(c, i);
		else
			i++;
	sq->cq->sq_refs--;
	sq->active = false;
	active_sqs_rebuild(c);
}

void sc_cq_delete(struct soft_ctrl *c, struct sc_cq *cq)
{
	cq->active = false;
}

void sc_drop_all_queues(struct soft_ctrl *c)
{
	for (uint32_t q = 0; q <= c->cfg.nr_io_queues; q++) {
		c->sqs[q].active = false;
		c->cqs[q].active = false;
	}
	c->nr_active_sqs = 0;
	c->nr_delayed = 0;
	c->aer_count = 0;
	c->event_count = 0;
	c->error_events_masked = false;
}

static bool ring_inside(const void *ring, size_t bytes, const char *lo, size_t len)
{
	const char *r = ring;

	return r < lo + len && lo < r + bytes;
}

void sc_forget_memory(struct soft_ctrl *c, const void *vaddr, size_t len)
{
	for (uint32_t q = 0; q <= c->cfg.nr_io_queues; q++) {
		struct sc_cq *cq = &c->cqs[q];

		if (cq->active && !cq->lost &&
		    ring_inside(cq->ring, (size_t)cq->size * 16, vaddr, len)) {
			for (uint32_t i = 0; i < c->nr_delayed;)
				if (c->delayed[i].cq == cq)
					sc_delayed_drop(c, i);
				else
					i++;
			cq->lost = true;
		}
	}
	for (uint32_t q = 0; q <= c->cfg.nr_io_queues; q++) {
		struct sc_sq *sq = &c->sqs[q];

		if (sq->active && (ring_inside(sq->ring, (size_t)sq->size * 64, vaddr, len) ||
				   sq->cq->lost))
			sq->lost = true;
	}
	active_sqs_rebuild(c);
}

bool sc_cq_room(struct sc_cq *cq, uint32_t n)
{
	if (cq->free >= cq->reserved + n)
		return true;
	/* Only now look at the host's head doorbell: reading it per CQE would
	 * pull the host's cache line over for nothing. */
	uint32_t head = __atomic_load_n(cq->head_db, __ATOMIC_ACQUIRE);

	if (head < cq->size) {
		uint32_t used = cq->tail >= head ? cq->tail - head : cq->tail + cq->size - head;

		cq->free = cq->size - 1 - used;
	}
	return cq->free >= cq->reserved + n;
}

static void error_log_add(struct soft_ctrl *c, uint16_t sqid, const struct pn_sqe *sqe,
			  uint16_t status)
{
	struct sc_error_entry *e = &c->errors[c->error_count % SC_ERROR_LOG_ENTRIES];
	bool has_lba = sqid != SC_ADMIN_QID &&
		       (sqe->opc == nvme_cmd_read || sqe->opc == nvme_cmd_write ||
			sqe->opc == nvme_cmd_compare || sqe->opc == nvme_cmd_write_zeroes ||
			sqe->opc == nvme_cmd_write_uncor);

	c->error_count++;
	e->count = c->error_count;
	e->sqid = sqid;
	e->cid = sqe->cid;
	e->status = status;
	e->lba = has_lba ? (sqe->cdw10 | (uint64_t)sqe->cdw11 << 32) : 0;
	e->nsid = sqe->nsid;
}

void sc_complete(struct soft_ctrl *c, struct sc_sq *sq, const struct pn_sqe *sqe,
		 uint16_t status, uint32_t dw0)
{
	struct sc_cq *cq = sq->cq;
	struct pn_cqe e = {
		.dw0 = dw0, .sqhd = (uint16_t)sq->head, .sqid = sq->qid, .cid = sqe->cid, .status = status,
	};

	if (__builtin_expect(status != 0, 0))
		error_log_add(c, sq->qid, sqe, status);
	if (__builtin_expect(c->nr_faults != 0, 0))
		sc_complete_faulty(c, cq, &e, sqe->opc);
	else
		sc_cq_post(c, cq, &e, false);
}

void sc_post_admin(struct soft_ctrl *c, uint16_t cid, uint16_t status, uint32_t dw0)
{
	struct sc_cq *cq = &c->cqs[0];
	struct pn_cqe e = {
		.dw0 = dw0, .sqhd = (uint16_t)c->sqs[0].head, .sqid = 0, .cid = cid, .status = status,
	};

	/* The caller checked the admin CQ has room. */
	sc_cq_post(c, cq, &e, false);
	if (cq->irq_pending)
		sc_irq_flush(c, cq);
}

/* Completes outstanding AERs with waiting events. */
void sc_events_flush(struct soft_ctrl *c)
{
	while (c->aer_count && c->event_count && c->cqs[0].active && !c->cqs[0].lost &&
	       sc_cq_has_room(&c->cqs[0])) {
		uint32_t dw0 = c->events[0];

		memmove(c->events, c->events + 1, --c->event_count * sizeof(c->events[0]));
		sc_post_admin(c, c->aer_cids[--c->aer_count], 0, dw0);
	}
}

void sc_event_error(struct soft_ctrl *c, uint8_t info)
{
	/* Event type Error (000b), the Error Information log (01h) to read.
	 * Once one is reported the type is masked until the host reads that
	 * log with RAE = 0 (NVMe 1.4 §5.2). */
	if (c->error_events_masked)
		return;
	if (c->event_count < SC_MAX_EVENTS) {
		c->events[c->event_count++] = NVME_AER_ERROR | (uint32_t)info << 8 |
					      (uint32_t)NVME_LOG_LID_ERROR << 16;
		c->error_events_masked = true;
	}
	sc_events_flush(c);
}
