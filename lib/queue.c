/* The queue engine (see queue.h). */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tsc.h"

/* SQE stores must reach memory before the doorbell write that hands them to
 * the device; CQE loads must not be reordered before the phase-tag load. */
#define write_barrier() __atomic_thread_fence(__ATOMIC_RELEASE)
#define read_barrier() __atomic_thread_fence(__ATOMIC_ACQUIRE)

int pn_queue_init(struct pn_queue *q, const struct pn_queue_config *cfg)
{
	memset(q, 0, sizeof(*q));
	if (cfg->depth < 2 || cfg->depth > 65536)
		return pn_fail(EINVAL, "queue %u: depth %u is outside 2..65536", cfg->qid, cfg->depth);
	if (!cfg->sq_vaddr || !cfg->cq_vaddr || !cfg->sq_doorbell || !cfg->cq_doorbell)
		return pn_fail(EINVAL, "queue %u: rings or doorbells missing", cfg->qid);
	q->qid = cfg->qid;
	q->depth = cfg->depth;
	q->sq = cfg->sq_vaddr;
	q->cq = cfg->cq_vaddr;
	q->sq_iova = cfg->sq_iova;
	q->cq_iova = cfg->cq_iova;
	q->sq_doorbell = cfg->sq_doorbell;
	q->cq_doorbell = cfg->cq_doorbell;
	q->page_size = cfg->page_size ? cfg->page_size : 4096;
	/* An SQ of N entries holds at most N - 1 commands (full is tail + 1 ==
	 * head), so N - 1 slots bound what can be outstanding. */
	q->nslots = cfg->depth - 1;
	q->slots = calloc(q->nslots, sizeof(*q->slots));
	if (!q->slots)
		return pn_fail(ENOMEM, "queue %u: no memory for %u request slots", cfg->qid, q->nslots);
	for (uint32_t i = 0; i < q->nslots; i++) {
		struct pn_request *rq = &q->slots[i];

		rq->cid = (uint16_t)i;
		rq->next_free = i + 1;
		if (cfg->list_vaddr && cfg->list_bytes_per_slot &&
		    (!cfg->list_slots || i < cfg->list_slots)) {
			rq->list.vaddr = (char *)cfg->list_vaddr + (size_t)i * cfg->list_bytes_per_slot;
			rq->list.iova = cfg->list_iova + (uint64_t)i * cfg->list_bytes_per_slot;
			rq->list.bytes = cfg->list_bytes_per_slot;
		}
	}
	q->free_head = 0;
	q->free_tail = q->nslots - 1;
	if (cfg->cmdlog_entries) {
		q->log = calloc(cfg->cmdlog_entries, sizeof(*q->log));
		if (!q->log) {
			free(q->slots);
			q->slots = NULL;
			return pn_fail(ENOMEM, "queue %u: no memory for the command log", cfg->qid);
		}
		q->log_entries = cfg->cmdlog_entries;
	}
	pn_queue_set_timeout(q, cfg->timeout_ms);
	pn_queue_reset_rings(q);
	return 0;
}

void pn_queue_fini(struct pn_queue *q)
{
	free(q->slots);
	free(q->log);
	q->slots = NULL;
	q->log = NULL;
	q->nslots = 0;
	q->dead = true;
}

void pn_queue_reset_rings(struct pn_queue *q)
{
	memset(q->cq, 0, (size_t)q->depth * sizeof(struct pn_cqe));
	memset(q->sq, 0, (size_t)q->depth * sizeof(struct pn_sqe));
	q->sq_tail = q->sq_tail_rung = q->sq_head = q->cq_head = 0;
	q->cq_phase = 1;
	q->dead = false;
}

void pn_queue_set_timeout(struct pn_queue *q, uint32_t timeout_ms)
{
	q->timeout_tsc = timeout_ms ? pn_ns_to_tsc((uint64_t)(timeout_ms) * 1000000u) : 0;
	q->next_timeout_check = 0;
}

struct pn_request *pn_queue_alloc(struct pn_queue *q)
{
	struct pn_request *rq;

	if (q->free_head >= q->nslots || q->dead)
		return NULL;
	rq = &q->slots[q->free_head];
	q->free_head = rq->next_free;
	rq->state = PN_SLOT_ALLOCATED;
	rq->no_timeout = 0;
	q->outstanding++;
	return rq;
}

/* Freed slots queue up behind the others (FIFO, not a stack): a command id
 * is used again only after every other free one was, so a completion a
 * device posts twice, or late, finds its slot free (and is counted as
 * spurious) instead of completing the next command that got the id. Only a
 * queue kept at full depth reuses an id at once. */
static void slot_free(struct pn_queue *q, struct pn_request *rq)
{
	rq->state = PN_SLOT_FREE;
	rq->cb = NULL;
	rq->ctx = NULL;
	rq->next_free = q->nslots;
	if (q->free_head >= q->nslots)
		q->free_head = rq->cid;
	else
		q->slots[q->free_tail].next_free = rq->cid;
	q->free_tail = rq->cid;
	q->outstanding--;
}

void pn_queue_release(struct pn_queue *q, struct pn_request *rq)
{
	if (rq->state == PN_SLOT_ALLOCATED)
		slot_free(q, rq);
}

int pn_request_set_data(struct pn_queue *q, struct pn_request *rq, struct pn_sqe *sqe,
			uint64_t iova, uint64_t len, bool sgl)
{
	sqe->flags &= (uint8_t)~PN_PSDT_MASK;
	if (sgl) {
		struct pn_sgl_piece piece = {iova, (uint32_t)len};
		uint64_t dptr[2];
		long rc;

		if (!len || len > 0xffffffffull)
			return pn_fail(EINVAL, "SGL: transfer length %llu", (unsigned long long)len);
		rc = pn_sgl_build(&piece, 1, 0, &rq->list, dptr);
		if (rc < 0)
			return (int)rc;
		sqe->prp1 = dptr[0];
		sqe->prp2 = dptr[1];
		sqe->flags |= PN_PSDT_SGL;
		return 0;
	}
	long rc = pn_prp_build(iova, len, q->page_size, &rq->list, &sqe->prp1, &sqe->prp2);

	return rc < 0 ? (int)rc : 0;
}

static struct pn_cmdlog_entry *log_entry(const struct pn_queue *q, uint64_t seq)
{
	struct pn_cmdlog_entry *e;

	if (!q->log_entries || !seq)
		return NULL;
	e = &q->log[seq % q->log_entries];
	return e->seq == seq ? e : NULL;
}

void pn_queue_submit(struct pn_queue *q, struct pn_request *rq, const struct pn_sqe *sqe,
		     pn_cpl_fn cb, void *ctx)
{
	pn_queue_submit_at(q, rq, sqe, cb, ctx, pn_tsc());
}

void pn_queue_submit_at(struct pn_queue *q, struct pn_request *rq, const struct pn_sqe *sqe,
			pn_cpl_fn cb, void *ctx, uint64_t now)
{
	struct pn_sqe *slot = &q->sq[q->sq_tail];

	*slot = *sqe;
	slot->cid = rq->cid;
	rq->cb = cb;
	rq->ctx = ctx;
	rq->opc = sqe->opc;
	rq->submit_tsc = now;
	rq->state = PN_SLOT_BUSY;
	if (++q->sq_tail == q->depth)
		q->sq_tail = 0;
	q->busy++;
	q->submitted++;
	if (q->log_entries) {
		struct pn_cmdlog_entry *e;

		rq->log_seq = ++q->log_seq;
		e = &q->log[rq->log_seq % q->log_entries];
		e->sqe = *slot;
		e->seq = rq->log_seq;
		e->submit_tsc = now;
		e->complete_tsc = 0;
		e->synthesized = 0;
	}
}

uint32_t pn_queue_ring_some(struct pn_queue *q, uint32_t n)
{
	uint32_t unrung = pn_queue_unrung(q), i = q->sq_tail_rung;
	uint64_t now;

	if (n > unrung)
		n = unrung;
	if (!n)
		return 0;
	/* Their time starts at the doorbell write: the device could not see
	 * them before. The clock is read right before the write (under an
	 * emulator the write itself may block for a long time, and that is
	 * the device's time) and stored after it, so the restamp is not
	 * between the end of the device's burst and the doorbell. */
	now = pn_tsc();
	q->sq_tail_rung = (i + n) % q->depth;
	write_barrier();
	*q->sq_doorbell = q->sq_tail_rung;
	for (uint32_t k = 0; k < n; k++) {
		struct pn_request *rq = &q->slots[q->sq[i].cid];
		struct pn_cmdlog_entry *e = log_entry(q, rq->log_seq);

		rq->submit_tsc = now;
		if (e)
			e->submit_tsc = now;
		if (++i == q->depth)
			i = 0;
	}
	return n;
}

void pn_queue_ring(struct pn_queue *q)
{
	pn_queue_ring_some(q, UINT32_MAX);
}

uint32_t pn_queue_unsubmit_unrung(struct pn_queue *q, void (*each)(void *ctx))
{
	uint32_t n = pn_queue_unrung(q), i = q->sq_tail_rung;

	for (uint32_t k = 0; k < n; k++) {
		struct pn_request *rq = &q->slots[q->sq[i].cid];
		struct pn_cmdlog_entry *e = log_entry(q, rq->log_seq);
		void *ctx = rq->ctx;

		/* the latest submissions: their log entries are the newest */
		if (e)
			e->seq = 0;
		rq->state = PN_SLOT_ALLOCATED;
		slot_free(q, rq);
		q->busy--;
		q->submitted--;
		if (each)
			each(ctx);
		if (++i == q->depth)
			i = 0;
	}
	if (q->log_entries)
		q->log_seq -= n;
	q->sq_tail = q->sq_tail_rung;
	return n;
}

static void log_completion(struct pn_queue *q, struct pn_request *rq, const struct pn_cqe *cqe,
			   uint64_t now, bool synthesized)
{
	struct pn_cmdlog_entry *e = log_entry(q, rq->log_seq);

	if (!e)
		return;
	e->cqe = *cqe;
	e->complete_tsc = now ? now : 1;
	e->synthesized = synthesized;
}

/* Runs the callback of a completed slot. The slot is freed first so the
 * callback can reuse it for a new command. */
static void complete(struct pn_queue *q, struct pn_request *rq, const struct pn_cqe *cqe,
		     uint64_t now, bool synthesized)
{
	pn_cpl_fn cb = rq->cb;
	void *ctx = rq->ctx;

	log_completion(q, rq, cqe, now, synthesized);
	q->latest_cid = rq->cid;
	q->latest_latency_tsc = now - rq->submit_tsc;
	q->busy--;
	q->completed++;
	if (synthesized) {
		/* keep the slot (and its CID) until the device answers */
		rq->state = PN_SLOT_TIMED_OUT;
		rq->cb = NULL;
		rq->ctx = NULL;
	} else {
		slot_free(q, rq);
	}
	if (cb)
		cb(ctx, cqe);
}

static void synth_cqe(const struct pn_queue *q, const struct pn_request *rq, struct pn_cqe *cqe)
{
	memset(cqe, 0xff, sizeof(*cqe));
	cqe->cid = rq->cid;
	(void)q;
}

uint32_t pn_queue_check_timeouts(struct pn_queue *q, uint64_t now)
{
	uint32_t count = 0;

	if (!q->timeout_tsc || !q->busy)
		return 0;
	for (uint32_t i = 0; i < q->nslots; i++) {
		struct pn_request *rq = &q->slots[i];
		struct pn_cqe cqe;

		if (rq->state != PN_SLOT_BUSY || rq->no_timeout ||
		    now - rq->submit_tsc < q->timeout_tsc)
			continue;
		synth_cqe(q, rq, &cqe);
		q->timeouts++;
		complete(q, rq, &cqe, now, true);
		count++;
	}
	return count;
}

/* Consumes up to `n` completions from the CQ head on, which the caller saw
 * posted (only those really posted: a caller's count is not trusted), and
 * runs their callbacks; `seen` is when they were seen (their latency ends
 * there). Returns the number of callbacks run. */
static uint32_t reap_seen(struct pn_queue *q, uint32_t n, uint64_t seen)
{
	uint32_t reaped = 0;

	for (uint32_t k = 0; k < n; k++) {
		volatile struct pn_cqe *slot = &q->cq[q->cq_head];
		struct pn_cqe cqe;
		struct pn_request *rq;

		if ((slot->status & 1) != q->cq_phase)
			break;
		read_barrier();
		cqe = *(struct pn_cqe *)slot;
		if (++q->cq_head == q->depth) {
			q->cq_head = 0;
			q->cq_phase ^= 1;
		}
		q->sq_head = cqe.sqhd;
		if (cqe.cid >= q->nslots) {
			q->spurious++;
			continue;
		}
		rq = &q->slots[cqe.cid];
		if (rq->state == PN_SLOT_TIMED_OUT) {
			/* late answer to a command the driver completed already */
			log_completion(q, rq, &cqe, seen, false);
			slot_free(q, rq);
			continue;
		}
		if (rq->state != PN_SLOT_BUSY) {
			q->spurious++;
			continue;
		}
		complete(q, rq, &cqe, seen, false);
		reaped++;
	}
	return reaped;
}

/* The timeout scan, due about once a ms; `now` 0: the clock was not read
 * this call. An empty poll reads the clock only every 64th time: a polling
 * loop calls this millions of times a second, and under an emulator each
 * rdtsc costs more than the poll itself. */
static uint32_t timeouts_due(struct pn_queue *q, uint64_t now)
{
	if (!q->timeout_tsc || !q->busy || (!now && (++q->empty_polls & 63) != 0))
		return 0;
	if (!now)
		now = pn_tsc();
	if (now < q->next_timeout_check)
		return 0;
	/* scanning every slot costs O(depth): do it about once a ms */
	q->next_timeout_check = now + pn_ns_to_tsc(1000000u);
	return pn_queue_check_timeouts(q, now);
}

uint32_t pn_queue_process(struct pn_queue *q, uint32_t max)
{
	uint32_t reaped = 0;
	uint64_t now = 0;

	if (!q->slots)
		return 0;
	/* Count what is posted first, then read the clock: every completion
	 * reaped with that stamp was posted before it, and the callbacks of
	 * the ones before do not delay the stamps of the ones after. */
	while (!max || reaped < max) {
		uint32_t want = max && max - reaped < q->depth - 1 ? max - reaped : q->depth - 1;
		uint32_t n = pn_queue_cqes_posted(q, want);

		if (!n)
			break;
		now = pn_tsc();
		reaped += reap_seen(q, n, now);
	}
	if (now) {
		q->reap_tsc = now;
		*q->cq_doorbell = q->cq_head;
	}
	if (!max || reaped < max)
		reaped += timeouts_due(q, now);
	return reaped;
}

uint32_t pn_queue_process_seen(struct pn_queue *q, uint32_t n, uint64_t seen)
{
	uint32_t head = q->cq_head, reaped;

	if (!q->slots)
		return 0;
	reaped = reap_seen(q, n, seen);
	if (q->cq_head != head) {
		q->reap_tsc = seen;
		*q->cq_doorbell = q->cq_head;
	}
	return reaped;
}

uint32_t pn_queue_fail_all(struct pn_queue *q, bool dead)
{
	uint32_t count = 0;
	uint64_t now = pn_tsc();

	/* callbacks must not queue new commands into rings being torn down */
	q->dead = true;
	for (uint32_t i = 0; i < q->nslots; i++) {
		struct pn_request *rq = &q->slots[i];
		struct pn_cqe cqe;

		if (rq->state == PN_SLOT_TIMED_OUT) {
			slot_free(q, rq);
		} else if (rq->state == PN_SLOT_BUSY) {
			synth_cqe(q, rq, &cqe);
			complete(q, rq, &cqe, now, true);
			/* the device will not answer any more: give the slot back */
			if (rq->state == PN_SLOT_TIMED_OUT)
				slot_free(q, rq);
			count++;
		}
	}
	q->dead = dead;
	return count;
}

uint32_t pn_queue_cmdlog(const struct pn_queue *q, struct pn_cmdlog_entry *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint64_t seq = q->log_seq; seq && n < max; seq--) {
		const struct pn_cmdlog_entry *e = log_entry(q, seq);

		if (!e)
			break;
		out[n++] = *e;
	}
	return n;
}
