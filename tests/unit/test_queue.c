/* Queue engine logic without a device: the test plays the controller by
 * reading SQEs and posting CQEs with the right phase tag. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "queue.h"
#include "tsc.h"

#define DEPTH 4

struct fake {
	struct pn_sqe sq[DEPTH];
	struct pn_cqe cq[DEPTH];
	uint32_t sq_db, cq_db;
	uint64_t list[DEPTH][512] __attribute__((aligned(4096)));
	/* device side */
	uint32_t dev_sq_head, dev_cq_tail;
	uint8_t dev_phase;
};

static struct fake *fake_new(struct pn_queue *q, uint32_t timeout_ms)
{
	struct fake *f = aligned_alloc(4096, sizeof(struct fake));
	struct pn_queue_config cfg = {
		.qid = 1, .depth = DEPTH,
		.sq_vaddr = f->sq, .sq_iova = 0x1000,
		.cq_vaddr = f->cq, .cq_iova = 0x2000,
		.sq_doorbell = &f->sq_db, .cq_doorbell = &f->cq_db,
		.list_vaddr = f->list, .list_iova = 0x100000, .list_bytes_per_slot = 4096,
		.page_size = 4096, .cmdlog_entries = 8, .timeout_ms = timeout_ms,
	};

	memset(f, 0, sizeof(*f));
	memset(f->cq, 0x5a & 0xfe, sizeof(f->cq)); /* stale data, phase 0 */
	f->dev_phase = 1;
	f->sq_db = f->cq_db = 0xdead;
	assert_int_equal(pn_queue_init(q, &cfg), 0);
	return f;
}

/* The device consumes one SQE up to the doorbell and posts its completion
 * with `status` (phase added). Returns 0 when the SQ is empty. */
static int device_complete_one(struct fake *f, uint16_t status, uint32_t dw0)
{
	struct pn_sqe *sqe;
	struct pn_cqe *cqe;

	if (f->dev_sq_head == f->sq_db)
		return 0;
	sqe = &f->sq[f->dev_sq_head];
	f->dev_sq_head = (f->dev_sq_head + 1) % DEPTH;
	cqe = &f->cq[f->dev_cq_tail];
	cqe->dw0 = dw0 ? dw0 : sqe->cdw10;
	cqe->dw1 = 0;
	cqe->sqhd = (uint16_t)f->dev_sq_head;
	cqe->sqid = 1;
	cqe->cid = sqe->cid;
	cqe->status = (uint16_t)(status | f->dev_phase);
	if (++f->dev_cq_tail == DEPTH) {
		f->dev_cq_tail = 0;
		f->dev_phase ^= 1;
	}
	return 1;
}

struct seen {
	int count;
	uint32_t dw0[64];
	uint16_t status[64];
	uint16_t cid[64];
};

static void record_cb(void *ctx, const struct pn_cqe *cqe)
{
	struct seen *s = ctx;

	if (s->count < 64) {
		s->dw0[s->count] = cqe->dw0;
		s->status[s->count] = cqe->status;
		s->cid[s->count] = cqe->cid;
	}
	s->count++;
}

static void submit_tagged(struct pn_queue *q, uint32_t tag, pn_cpl_fn cb, void *ctx)
{
	struct pn_request *rq = pn_queue_alloc(q);
	struct pn_sqe sqe = {.opc = 0x02, .cdw10 = tag};

	assert_non_null(rq);
	pn_queue_submit(q, rq, &sqe, cb, ctx);
}

static void slot_pool_limits(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct pn_request *a, *b, *c;

	/* depth 4 holds 3 commands */
	a = pn_queue_alloc(&q);
	b = pn_queue_alloc(&q);
	c = pn_queue_alloc(&q);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_null(pn_queue_alloc(&q));
	assert_int_not_equal(a->cid, b->cid);
	assert_int_not_equal(b->cid, c->cid);
	pn_queue_release(&q, b);
	assert_ptr_equal(pn_queue_alloc(&q), b);
	assert_int_equal(q.outstanding, 3);
	pn_queue_release(&q, a);
	pn_queue_release(&q, b);
	pn_queue_release(&q, c);
	assert_int_equal(q.outstanding, 0);
	pn_queue_fini(&q);
	free(f);
}

static void one_doorbell_per_batch(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct seen s = {0};

	submit_tagged(&q, 1, record_cb, &s);
	submit_tagged(&q, 2, record_cb, &s);
	assert_int_equal(f->sq_db, 0xdead); /* submit alone does not ring */
	pn_queue_ring(&q);
	assert_int_equal(f->sq_db, 2);
	f->sq_db = 0xbeef;
	pn_queue_ring(&q); /* nothing new: no write */
	assert_int_equal(f->sq_db, 0xbeef);
	f->sq_db = 2;
	assert_int_equal(pn_queue_process(&q, 0), 0);
	assert_int_equal(f->cq_db, 0xdead); /* nothing reaped: no CQ doorbell */
	device_complete_one(f, 0, 0);
	device_complete_one(f, 0, 0);
	assert_int_equal(pn_queue_process(&q, 0), 2);
	assert_int_equal(f->cq_db, 2);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.dw0[0], 1);
	assert_int_equal(s.dw0[1], 2);
	assert_int_equal(q.sq_head, 2);
	pn_queue_fini(&q);
	free(f);
}

static void phase_wraps_over_thousands(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct seen s = {0};
	uint32_t next_tag = 0, expect = 0;

	for (int round = 0; round < 2000; round++) {
		int batch = 1 + round % 3;

		for (int i = 0; i < batch; i++)
			submit_tagged(&q, next_tag++, NULL, NULL);
		pn_queue_ring(&q);
		assert_int_equal(f->sq_db, next_tag % DEPTH);
		while (device_complete_one(f, 0, 0))
			;
		/* reap one at a time sometimes, all at once otherwise */
		if (round % 2) {
			for (int i = 0; i < batch; i++)
				assert_int_equal(pn_queue_process(&q, 1), 1);
		} else {
			assert_int_equal(pn_queue_process(&q, 0), (uint32_t)batch);
		}
		assert_int_equal(pn_queue_process(&q, 0), 0);
		assert_int_equal(f->cq_db, q.cq_head);
		expect += batch;
		assert_int_equal(q.completed, expect);
		assert_int_equal(q.outstanding, 0);
	}
	assert_int_equal(q.submitted, next_tag);
	(void)s;
	pn_queue_fini(&q);
	free(f);
}

static void error_status_passes_through(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct seen s = {0};

	submit_tagged(&q, 7, record_cb, &s);
	pn_queue_ring(&q);
	device_complete_one(f, (0x0 << 9 | 0x01 << 1), 0); /* invalid opcode */
	assert_int_equal(pn_queue_process(&q, 0), 1);
	assert_int_equal(pn_status_sct(s.status[0]), 0);
	assert_int_equal(pn_status_sc(s.status[0]), 1);
	assert_true(pn_status_is_error(s.status[0]));
	assert_false(pn_status_is_error(1)); /* phase bit alone */
	pn_queue_fini(&q);
	free(f);
}

static void timeout_synthesizes_and_holds_cid(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 1);
	struct seen s = {0};
	struct timespec ts = {0, 3000000};
	uint16_t cid;

	submit_tagged(&q, 9, record_cb, &s);
	cid = q.slots[0].state == PN_SLOT_BUSY ? 0 : 0xffff;
	assert_int_equal(cid, 0);
	pn_queue_ring(&q);
	assert_int_equal(pn_queue_process(&q, 0), 0);
	nanosleep(&ts, NULL);
	/* an empty poll scans for timeouts every 64th call */
	{
		uint32_t got = 0;

		for (int i = 0; i < 64 && !got; i++)
			got = pn_queue_process(&q, 0);
		assert_int_equal(got, 1);
	}
	assert_int_equal(s.count, 1);
	assert_int_equal(s.status[0], PN_STATUS_SYNTH);
	assert_int_equal(s.dw0[0], 0xffffffff);
	assert_int_equal(s.cid[0], cid);
	assert_int_equal(q.timeouts, 1);
	assert_int_equal(q.busy, 0);
	assert_int_equal(q.outstanding, 1);      /* slot held for the late answer */
	assert_int_equal(q.slots[cid].state, PN_SLOT_TIMED_OUT);
	/* the late completion frees the slot and runs no callback again */
	device_complete_one(f, 0, 0);
	assert_int_equal(pn_queue_process(&q, 0), 0);
	assert_int_equal(s.count, 1);
	assert_int_equal(q.outstanding, 0);
	assert_int_equal(q.slots[cid].state, PN_SLOT_FREE);
	pn_queue_fini(&q);
	free(f);
}

static void no_timeout_flag_exempts(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 1);
	struct seen s = {0};
	struct timespec ts = {0, 3000000};
	struct pn_request *rq = pn_queue_alloc(&q);
	struct pn_sqe sqe = {.opc = 0x0c};

	rq->no_timeout = 1;
	pn_queue_submit(&q, rq, &sqe, record_cb, &s);
	pn_queue_ring(&q);
	nanosleep(&ts, NULL);
	assert_int_equal(pn_queue_process(&q, 0), 0);
	assert_int_equal(pn_queue_check_timeouts(&q, UINT64_MAX / 2), 0);
	assert_int_equal(s.count, 0);
	pn_queue_fini(&q);
	free(f);
}

static void fail_all_completes_everything(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct seen s = {0};

	submit_tagged(&q, 1, record_cb, &s);
	submit_tagged(&q, 2, record_cb, &s);
	pn_queue_ring(&q);
	assert_int_equal(pn_queue_fail_all(&q, true), 2);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.status[0], PN_STATUS_SYNTH);
	assert_int_equal(s.status[1], PN_STATUS_SYNTH);
	assert_int_equal(q.outstanding, 0);
	assert_null(pn_queue_alloc(&q)); /* dead */
	/* after a reset re-created it on the device, the queue works again */
	pn_queue_reset_rings(&q);
	f->dev_sq_head = f->dev_cq_tail = 0;
	f->dev_phase = 1;
	submit_tagged(&q, 3, record_cb, &s);
	pn_queue_ring(&q);
	device_complete_one(f, 0, 0);
	assert_int_equal(pn_queue_process(&q, 0), 1);
	assert_int_equal(s.dw0[2], 3);
	pn_queue_fini(&q);
	free(f);
}

struct resubmit {
	struct pn_queue *q;
	int left;
	int done;
};

static void resubmit_cb(void *ctx, const struct pn_cqe *cqe)
{
	struct resubmit *r = ctx;

	r->done++;
	if (r->left-- > 0) {
		struct pn_request *rq = pn_queue_alloc(r->q);
		struct pn_sqe sqe = {.opc = 0x00};

		assert_non_null(rq); /* the completed slot is free already */
		pn_queue_submit(r->q, rq, &sqe, resubmit_cb, r);
		pn_queue_ring(r->q);
	}
}

static void callback_may_submit(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct resubmit r = {&q, 100, 0};

	/* fill the queue so resubmission relies on the freed slot */
	for (int i = 0; i < DEPTH - 1; i++) {
		struct pn_request *rq = pn_queue_alloc(&q);
		struct pn_sqe sqe = {0};

		pn_queue_submit(&q, rq, &sqe, resubmit_cb, &r);
	}
	pn_queue_ring(&q);
	while (r.done < 100 + DEPTH - 1) {
		while (device_complete_one(f, 0, 0))
			;
		pn_queue_process(&q, 0);
	}
	assert_int_equal(r.done, 100 + DEPTH - 1);
	assert_int_equal(q.outstanding, 0);
	pn_queue_fini(&q);
	free(f);
}

static void spurious_completion_ignored(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);

	f->cq[0].cid = 2; /* a free slot */
	f->cq[0].status = 1;
	f->cq[1].cid = 999; /* out of range */
	f->cq[1].status = 1;
	assert_int_equal(pn_queue_process(&q, 0), 0);
	assert_int_equal(q.spurious, 2);
	assert_int_equal(f->cq_db, 2);
	pn_queue_fini(&q);
	free(f);
}

static void cmdlog_most_recent_first(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct pn_cmdlog_entry log[16];

	for (uint32_t i = 0; i < 10; i++) {
		submit_tagged(&q, 100 + i, NULL, NULL);
		pn_queue_ring(&q);
		device_complete_one(f, i == 9 ? (0x2 << 1) : 0, 0);
		pn_queue_process(&q, 0);
	}
	submit_tagged(&q, 200, NULL, NULL); /* outstanding */
	assert_int_equal(pn_queue_cmdlog(&q, log, 16), 8); /* ring of 8 */
	assert_int_equal(log[0].sqe.cdw10, 200);
	assert_int_equal(log[0].complete_tsc, 0);
	assert_int_equal(log[1].sqe.cdw10, 109);
	assert_int_equal(log[1].cqe.dw0, 109);
	assert_int_equal(pn_status_sc(log[1].cqe.status), 2);
	assert_true(log[1].complete_tsc >= log[1].submit_tsc);
	assert_int_equal(log[7].sqe.cdw10, 103);
	assert_int_equal(pn_queue_cmdlog(&q, log, 3), 3);
	pn_queue_fini(&q);
	free(f);
}

/* Commands built ahead: the device sees only what was rung, the rung ones
 * are restamped at the ring (their latency starts at the doorbell), and
 * the posted-completion count wraps with the ring. */
static void ring_some_rings_and_restamps(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct pn_cmdlog_entry log[8];
	struct pn_request *first;
	struct seen s = {0};

	submit_tagged(&q, 1, record_cb, &s);
	submit_tagged(&q, 2, record_cb, &s);
	submit_tagged(&q, 3, record_cb, &s);
	assert_int_equal(pn_queue_unrung(&q), 3);
	first = &q.slots[q.sq[0].cid];
	first->submit_tsc = 1;   /* built long ago */
	assert_int_equal(pn_queue_ring_some(&q, 2), 2);
	assert_int_equal(f->sq_db, 2);
	assert_int_equal(pn_queue_unrung(&q), 1);
	assert_true(first->submit_tsc > 1);
	assert_int_equal(pn_queue_cmdlog(&q, log, 8), 3);
	assert_int_equal(log[2].sqe.cdw10, 1);
	assert_int_equal(log[2].submit_tsc, first->submit_tsc);
	/* the device cannot take the third one yet */
	assert_int_equal(pn_queue_cqes_posted(&q, 8), 0);
	assert_int_equal(device_complete_one(f, 0, 0), 1);
	assert_int_equal(device_complete_one(f, 0, 0), 1);
	assert_int_equal(device_complete_one(f, 0, 0), 0);
	assert_int_equal(pn_queue_cqes_posted(&q, 8), 2);
	assert_int_equal(pn_queue_cqes_posted(&q, 1), 1);
	assert_int_equal(pn_queue_process(&q, 1), 1);   /* reaps only what it is told */
	assert_int_equal(pn_queue_cqes_posted(&q, 8), 1);
	assert_int_equal(pn_queue_ring_some(&q, 100), 1);   /* at most what is built */
	assert_int_equal(f->sq_db, 3);
	assert_int_equal(pn_queue_ring_some(&q, 1), 0);
	assert_int_equal(device_complete_one(f, 0, 0), 1);
	assert_int_equal(pn_queue_process(&q, 0), 2);
	assert_int_equal(s.count, 3);
	/* past the end of the ring: the phase flips */
	submit_tagged(&q, 4, record_cb, &s);
	submit_tagged(&q, 5, record_cb, &s);
	assert_int_equal(pn_queue_ring_some(&q, 2), 2);
	assert_int_equal(f->sq_db, 1);
	device_complete_one(f, 0, 0);
	device_complete_one(f, 0, 0);
	assert_int_equal(pn_queue_cqes_posted(&q, 8), 2);
	assert_int_equal(pn_queue_process(&q, 0), 2);
	assert_int_equal(pn_queue_cqes_posted(&q, 8), 0);
	assert_int_equal(s.dw0[4], 5);
	pn_queue_fini(&q);
	free(f);
}

static void spin_ticks(uint64_t ticks)
{
	uint64_t t0 = pn_tsc();

	while (pn_tsc() - t0 < ticks)
		;
}

/* A command's latency runs from its doorbell write to when its completion
 * was seen: pn_queue_ring() restamps what it rings, and a completion reaped
 * late with pn_queue_process_seen() ends at the time given, not at the
 * reap. */
static void latency_from_doorbell_to_seen(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct pn_cmdlog_entry log[8];
	struct pn_request *rq;
	struct seen s = {0};
	uint64_t before, seen;

	submit_tagged(&q, 7, record_cb, &s);
	rq = &q.slots[q.sq[0].cid];
	rq->submit_tsc = 1;   /* submitted long before the doorbell */
	before = pn_tsc();
	pn_queue_ring(&q);
	assert_int_equal(f->sq_db, 1);
	assert_true(rq->submit_tsc >= before);
	assert_int_equal(pn_queue_cmdlog(&q, log, 8), 1);
	assert_int_equal(log[0].submit_tsc, rq->submit_tsc);
	pn_queue_ring(&q);   /* nothing new: no write, no restamp */
	assert_int_equal(log[0].submit_tsc, rq->submit_tsc);
	assert_int_equal(device_complete_one(f, 0, 0), 1);
	seen = pn_tsc();
	spin_ticks(pn_ns_to_tsc(2000000));   /* e.g. the next doorbell write */
	/* only what is really posted is reaped, however many were asked */
	assert_int_equal(pn_queue_process_seen(&q, 3, seen), 1);
	assert_int_equal(s.count, 1);
	assert_int_equal(q.latest_latency_tsc, seen - log[0].submit_tsc);
	assert_int_equal(pn_queue_cmdlog(&q, log, 8), 1);
	assert_int_equal(log[0].complete_tsc, seen);
	assert_int_equal(q.reap_tsc, seen);
	assert_int_equal(f->cq_db, 1);
	assert_int_equal(pn_queue_process_seen(&q, 3, pn_tsc()), 0);
	pn_queue_fini(&q);
	free(f);
}

struct slow_cb {
	struct fake *f;
	struct pn_queue *q;
	int calls;
	uint64_t latency[4];
};

/* The first completion's callback is slow, and the device posts another
 * meanwhile. */
static void slow_cb(void *ctx, const struct pn_cqe *cqe)
{
	struct slow_cb *c = ctx;

	c->latency[c->calls] = c->q->latest_latency_tsc;
	if (c->calls++ == 0) {
		assert_int_equal(device_complete_one(c->f, 0, 0), 1);
		spin_ticks(pn_ns_to_tsc(2000000));
	}
}

/* pn_queue_process() stamps the completions it found posted before it read
 * the clock: one found after a slow callback gets a later stamp, and the
 * slow callback does not lengthen the latency of the ones found with it. */
static void process_stamps_what_it_found(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct pn_cmdlog_entry log[8];
	struct slow_cb c = {.f = f, .q = &q};

	submit_tagged(&q, 1, slow_cb, &c);
	submit_tagged(&q, 2, slow_cb, &c);
	submit_tagged(&q, 3, slow_cb, &c);
	pn_queue_ring(&q);
	assert_int_equal(device_complete_one(f, 0, 0), 1);
	assert_int_equal(device_complete_one(f, 0, 0), 1);
	assert_int_equal(pn_queue_process(&q, 0), 3);
	assert_int_equal(c.calls, 3);
	assert_int_equal(pn_queue_cmdlog(&q, log, 8), 3);
	/* log[0] is the third command, posted during the first callback */
	assert_int_equal(log[2].complete_tsc, log[1].complete_tsc);
	assert_true(log[0].complete_tsc - log[1].complete_tsc >= pn_ns_to_tsc(2000000));
	assert_int_equal(c.latency[0], c.latency[1]);
	assert_true(c.latency[2] >= c.latency[1] + pn_ns_to_tsc(2000000));
	pn_queue_fini(&q);
	free(f);
}

static void count_ctx(void *ctx)
{
	(*(int *)ctx)++;
}

/* Commands built ahead and never rung are taken back: slots, SQ tail, the
 * command log and the counts are as if they had not been submitted. */
static void unsubmit_unrung_takes_back(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct pn_cmdlog_entry log[8];
	struct seen s = {0};
	int taken = 0;

	submit_tagged(&q, 1, record_cb, &s);
	assert_int_equal(pn_queue_ring_some(&q, 1), 1);
	submit_tagged(&q, 2, NULL, &taken);
	submit_tagged(&q, 3, NULL, &taken);
	assert_int_equal(q.busy, 3);
	assert_int_equal(pn_queue_unsubmit_unrung(&q, count_ctx), 2);
	assert_int_equal(taken, 2);
	assert_int_equal(q.busy, 1);
	assert_int_equal(q.outstanding, 1);
	assert_int_equal(q.submitted, 1);
	assert_int_equal(q.sq_tail, 1);
	assert_int_equal(pn_queue_unrung(&q), 0);
	assert_int_equal(pn_queue_cmdlog(&q, log, 8), 1);
	assert_int_equal(log[0].sqe.cdw10, 1);
	assert_int_equal(pn_queue_unsubmit_unrung(&q, count_ctx), 0);
	/* the queue goes on: the rung one completes, new ones take the places */
	assert_int_equal(device_complete_one(f, 0, 0), 1);
	assert_int_equal(device_complete_one(f, 0, 0), 0);
	assert_int_equal(pn_queue_process(&q, 0), 1);
	assert_int_equal(s.count, 1);
	submit_tagged(&q, 4, record_cb, &s);
	submit_tagged(&q, 5, record_cb, &s);
	submit_tagged(&q, 6, record_cb, &s);
	pn_queue_ring(&q);
	assert_int_equal(f->sq_db, 0);   /* 1 + 3 on a ring of 4 */
	while (device_complete_one(f, 0, 0))
		;
	assert_int_equal(pn_queue_process(&q, 0), 3);
	assert_int_equal(s.count, 4);
	assert_int_equal(s.dw0[3], 6);
	assert_int_equal(pn_queue_cmdlog(&q, log, 8), 4);
	assert_int_equal(log[0].sqe.cdw10, 6);
	assert_int_equal(log[3].sqe.cdw10, 1);
	pn_queue_fini(&q);
	free(f);
}

static void data_pointer_from_slot_list(void **state)
{
	struct pn_queue q;
	struct fake *f = fake_new(&q, 0);
	struct pn_request *rq;
	struct pn_sqe sqe = {0};

	pn_queue_alloc(&q);
	rq = pn_queue_alloc(&q); /* slot 1: list at 0x101000 */
	assert_int_equal(pn_request_set_data(&q, rq, &sqe, 0x200000, 4 * 4096, false), 0);
	assert_int_equal(sqe.prp1, 0x200000);
	assert_int_equal(sqe.prp2, 0x101000);
	assert_int_equal(f->list[1][0], 0x201000);
	assert_int_equal(f->list[1][2], 0x203000);
	assert_int_equal(sqe.flags & PN_PSDT_MASK, PN_PSDT_PRP);
	assert_int_equal(pn_request_set_data(&q, rq, &sqe, 0x200000, 4 * 4096, true), 0);
	assert_int_equal(sqe.flags & PN_PSDT_MASK, PN_PSDT_SGL);
	assert_int_equal(sqe.prp1, 0x200000);
	assert_int_equal(sqe.prp2, 4 * 4096);
	/* too long for the slot's one list page */
	assert_true(pn_request_set_data(&q, rq, &sqe, 0x200000, 600 * 4096, false) < 0);
	pn_queue_fini(&q);
	free(f);
}

static void bad_config_refused(void **state)
{
	struct pn_queue q;
	uint32_t db;
	struct pn_queue_config cfg = {.depth = 1, .sq_vaddr = &db, .cq_vaddr = &db,
				      .sq_doorbell = &db, .cq_doorbell = &db};

	assert_true(pn_queue_init(&q, &cfg) < 0);
	cfg.depth = 65537;
	assert_true(pn_queue_init(&q, &cfg) < 0);
	cfg.depth = 2;
	cfg.cq_doorbell = NULL;
	assert_true(pn_queue_init(&q, &cfg) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(slot_pool_limits),
		cmocka_unit_test(one_doorbell_per_batch),
		cmocka_unit_test(phase_wraps_over_thousands),
		cmocka_unit_test(error_status_passes_through),
		cmocka_unit_test(timeout_synthesizes_and_holds_cid),
		cmocka_unit_test(no_timeout_flag_exempts),
		cmocka_unit_test(fail_all_completes_everything),
		cmocka_unit_test(callback_may_submit),
		cmocka_unit_test(spurious_completion_ignored),
		cmocka_unit_test(cmdlog_most_recent_first),
		cmocka_unit_test(ring_some_rings_and_restamps),
		cmocka_unit_test(latency_from_doorbell_to_seen),
		cmocka_unit_test(process_stamps_what_it_found),
		cmocka_unit_test(unsubmit_unrung_takes_back),
		cmocka_unit_test(data_pointer_from_slot_list),
		cmocka_unit_test(bad_config_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
