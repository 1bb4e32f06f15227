/* The driver's queue engine (lib/queue.c, PRPs from lib/prp.c) against the
 * software controller, unchanged: the rings and doorbells of a pn_queue are
 * the controller's, as they will be once the controller is a transport. A
 * first look at the driver's answer to two faults (a dropped and a
 * duplicated completion). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue.h"
#include "soft_ctrl_host.h"

#define DEPTH 64

struct fixture {
	struct host h;
	struct host_queue hq;        /* created on the device by the host helper */
	struct pn_queue q;           /* the driver's view of the same rings */
};

struct done {
	int count;
	uint16_t status[DEPTH];
};

static void on_done(void *ctx, const struct pn_cqe *cqe)
{
	struct done *d = ctx;

	d->status[d->count % DEPTH] = cqe->status;
	d->count++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct soft_ctrl_config cfg;
	struct pn_queue_config qc = {0};
	void *lists;

	soft_ctrl_config_default(&cfg);
	cfg.ns[0].blocks = 16384;
	if (!f || host_open(&f->h, &cfg, 8u << 20) || !host_enable(&f->h) ||
	    host_create_io(&f->h, &f->hq, 1, DEPTH, false, 0))
		return -1;
	lists = host_alloc(&f->h, (DEPTH - 1) * 4096);
	qc.qid = 1;
	qc.depth = DEPTH;
	qc.sq_vaddr = f->hq.sq;
	qc.sq_iova = host_iova(&f->h, f->hq.sq);
	qc.cq_vaddr = (void *)f->hq.cq;
	qc.cq_iova = host_iova(&f->h, f->hq.cq);
	qc.sq_doorbell = host_sq_db(&f->h, 1);
	qc.cq_doorbell = host_cq_db(&f->h, 1);
	qc.list_vaddr = lists;
	qc.list_iova = host_iova(&f->h, lists);
	qc.list_bytes_per_slot = 4096;
	qc.page_size = 4096;
	if (pn_queue_init(&f->q, &qc))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pn_queue_fail_all(&f->q, true);
	pn_queue_fini(&f->q);
	host_close(&f->h);
	free(f);
	return 0;
}

/* Processes completions until `d` counts `want` (bounded). */
static bool wait_done(struct fixture *f, struct done *d, int want)
{
	uint64_t deadline = host_now_ns() + HOST_WAIT_NS;

	while (d->count < want) {
		if (host_now_ns() > deadline)
			return false;
		if (!pn_queue_process(&f->q, 0))
			sched_yield();
	}
	return true;
}

static void submit_rw(struct fixture *f, uint8_t opc, uint64_t slba, uint32_t nlb, void *buf,
		      struct done *d)
{
	struct pn_request *rq = pn_queue_alloc(&f->q);
	struct pn_sqe sqe = {.opc = opc, .nsid = 1};

	assert_non_null(rq);
	sqe.cdw10 = (uint32_t)slba;
	sqe.cdw12 = nlb - 1;
	assert_int_equal(pn_request_set_data(&f->q, rq, &sqe, host_iova(&f->h, buf), nlb * 512u, false), 0);
	pn_queue_submit(&f->q, rq, &sqe, on_done, d);
}

static void queue_engine_batches(void **state)
{
	struct fixture *f = *state;
	enum { CMDS = 48, NLB = 40 };  /* 20 KiB each: PRP lists */
	uint8_t *src = host_alloc(&f->h, CMDS * 6 * 4096);
	uint8_t *dst = host_alloc(&f->h, CMDS * 6 * 4096);
	struct done w = {0}, r = {0};

	for (size_t i = 0; i < CMDS * 6 * 4096; i++)
		src[i] = (uint8_t)(i * 13 + (i >> 12));
	/* Buffers start 0x300 into a page: PRP1 has an offset. */
	for (int i = 0; i < CMDS; i++)
		submit_rw(f, nvme_cmd_write, (uint64_t)i * NLB, NLB, src + i * 6 * 4096 + 0x300, &w);
	pn_queue_ring(&f->q);          /* one doorbell for the batch */
	assert_true(wait_done(f, &w, CMDS));
	for (int i = 0; i < CMDS; i++)
		submit_rw(f, nvme_cmd_read, (uint64_t)i * NLB, NLB, dst + i * 6 * 4096 + 0x300, &r);
	pn_queue_ring(&f->q);
	assert_true(wait_done(f, &r, CMDS));
	for (int i = 0; i < CMDS; i++) {
		assert_int_equal(w.status[i] & 0xfffe, 0);
		assert_int_equal(r.status[i] & 0xfffe, 0);
		assert_memory_equal(dst + i * 6 * 4096 + 0x300, src + i * 6 * 4096 + 0x300, NLB * 512);
	}
	assert_int_equal(f->q.spurious, 0);
}

static void dropped_completion_times_out(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = {.kind = SOFT_CTRL_FAULT_DROP, .sqid = 1, .opcode = -1, .count = 1};
	uint8_t *buf = host_alloc(&f->h, 4096);
	struct done d = {0};

	pn_queue_set_timeout(&f->q, 50);
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	submit_rw(f, nvme_cmd_read, 0, 8, buf, &d);
	pn_queue_ring(&f->q);
	/* The driver synthesizes the completion the device never posts. */
	assert_true(wait_done(f, &d, 1));
	assert_int_equal(d.status[0], PN_STATUS_SYNTH);
	assert_int_equal(f->q.timeouts, 1);
	/* The queue goes on working (no timeout now: on a loaded machine a
	 * healthy command may take longer than 50 ms). */
	pn_queue_set_timeout(&f->q, 0);
	submit_rw(f, nvme_cmd_read, 0, 8, buf, &d);
	pn_queue_ring(&f->q);
	assert_true(wait_done(f, &d, 2));
	assert_int_equal(d.status[1] & 0xfffe, 0);
}

static void duplicate_completion_ignored(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = {.kind = SOFT_CTRL_FAULT_DUPLICATE, .sqid = 1, .opcode = -1};
	uint8_t *buf = host_alloc(&f->h, 4096);
	struct done d = {0};

	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	submit_rw(f, nvme_cmd_read, 0, 8, buf, &d);
	submit_rw(f, nvme_cmd_read, 8, 8, buf, &d);
	pn_queue_ring(&f->q);
	assert_true(wait_done(f, &d, 2));
	/* Both commands completed once; the copy was counted, not delivered. */
	while (pn_queue_process(&f->q, 0))
		;
	assert_int_equal(d.count, 2);
	assert_int_equal(f->q.spurious, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(queue_engine_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(dropped_completion_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_completion_ignored, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
