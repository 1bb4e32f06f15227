/* Fault injection in the software NVMe controller (issue 11 item 3): each
 * test names the fault it injects and checks the controller does exactly
 * that. How the driver answers each fault is tested with the driver. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <cmocka.h>

#include "soft_ctrl_host.h"

/* Long enough for a controller that wrongly answered to have answered; a
 * pass never depends on it being long enough. */
#define NO_ANSWER_NS (200ull * 1000000ull)

struct fixture {
	struct host h;
	struct host_queue q;
	uint8_t *buf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct soft_ctrl_config cfg;

	soft_ctrl_config_default(&cfg);
	cfg.ns[0].blocks = 4096;
	cfg.nr_io_queues = 4;
	if (!f || host_open(&f->h, &cfg, 4u << 20) || !host_enable(&f->h))
		return -1;
	if (host_create_io(&f->h, &f->q, 1, 32, false, 0))
		return -1;
	f->buf = host_alloc(&f->h, 4096);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	host_close(&f->h);
	free(f);
	return 0;
}

static struct pn_sqe read_cmd(struct fixture *f, uint64_t slba)
{
	struct pn_sqe cmd = {.opc = nvme_cmd_read, .nsid = 1, .prp1 = host_iova(&f->h, f->buf)};

	cmd.cdw10 = (uint32_t)slba;
	return cmd;
}

static const struct pn_sqe flush_cmd = {.opc = nvme_cmd_flush, .nsid = 1};

static struct soft_ctrl_fault fault(enum soft_ctrl_fault_kind kind, int32_t sqid, int32_t opcode)
{
	struct soft_ctrl_fault flt = {.kind = kind, .sqid = sqid, .opcode = opcode, .count = 1};

	return flt;
}

static uint64_t fired(struct fixture *f)
{
	struct soft_ctrl_stats s;

	soft_ctrl_get_stats(f->h.sc, &s);
	return s.faults_fired;
}

static void fault_delay_held_until_aborted(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = fault(SOFT_CTRL_FAULT_DELAY, 1, nvme_cmd_read);
	struct pn_sqe rd = read_cmd(f, 0), abort_cmd = {.opc = nvme_admin_abort_cmd};
	struct pn_cqe cqe = {0};
	uint16_t held, flushed;

	flt.delay_us = 60u * 1000000u;   /* far beyond the test */
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	held = host_submit(&f->h, &f->q, &rd);
	flushed = host_submit(&f->h, &f->q, &flush_cmd);
	/* The flush behind it completes; the read is held. */
	assert_true(host_reap(&f->h, &f->q, &cqe));
	assert_int_equal(cqe.cid, flushed);
	assert_int_equal(fired(f), 1);
	/* Abort releases it with Abort Requested. */
	abort_cmd.cdw10 = (uint32_t)held << 16 | 1;
	assert_int_equal(host_status(host_cmd(&f->h, &f->h.admin, &abort_cmd, &cqe)), 0);
	assert_int_equal(cqe.dw0 & 1, 0);
	assert_true(host_reap(&f->h, &f->q, &cqe));
	assert_int_equal(cqe.cid, held);
	assert_int_equal(host_status(cqe.status), st(0, NVME_SC_ABORT_REQ));
}

static void fault_delay_short_completes(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = fault(SOFT_CTRL_FAULT_DELAY, -1, -1);
	struct pn_sqe rd = read_cmd(f, 0);
	struct pn_cqe cqe = {0};
	uint16_t cid;

	flt.delay_us = 20000;
	flt.count = 2;
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	cid = host_submit(&f->h, &f->q, &rd);
	assert_true(host_reap(&f->h, &f->q, &cqe));
	assert_int_equal(cqe.cid, cid);
	assert_int_equal(cqe.status & 0xfffe, 0);
	assert_int_equal(host_status(host_cmd(&f->h, &f->q, &flush_cmd, NULL)), 0);
	assert_int_equal(fired(f), 2);
	/* Used up: the next one is not delayed (nor counted). */
	assert_int_equal(host_status(host_cmd(&f->h, &f->q, &flush_cmd, NULL)), 0);
	assert_int_equal(fired(f), 2);
}

static void fault_drop(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = fault(SOFT_CTRL_FAULT_DROP, 1, -1);
	struct pn_sqe rd = read_cmd(f, 0);
	struct pn_cqe cqe = {0};
	uint16_t next;

	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	host_submit(&f->h, &f->q, &rd);
	next = host_submit(&f->h, &f->q, &flush_cmd);
	/* Completions are posted in order: had the read been posted, it
	 * would be first. */
	assert_true(host_reap(&f->h, &f->q, &cqe));
	assert_int_equal(cqe.cid, next);
	assert_int_equal(cqe.sqhd, 2);   /* both SQEs were fetched */
	assert_false(host_reap_within(&f->h, &f->q, &cqe, NO_ANSWER_NS));
	assert_int_equal(fired(f), 1);
}

static void fault_duplicate(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = fault(SOFT_CTRL_FAULT_DUPLICATE, 1, nvme_cmd_read);
	struct pn_sqe rd = read_cmd(f, 0);
	struct pn_cqe a = {0}, b = {0}, c = {0};
	uint16_t cid, next;

	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	cid = host_submit(&f->h, &f->q, &rd);
	next = host_submit(&f->h, &f->q, &flush_cmd);
	assert_true(host_reap(&f->h, &f->q, &a));
	assert_true(host_reap(&f->h, &f->q, &b));
	assert_true(host_reap(&f->h, &f->q, &c));
	assert_int_equal(a.cid, cid);
	assert_int_equal(b.cid, cid);
	assert_memory_equal(&a, &b, 14);   /* the same entry, phase aside */
	assert_int_equal(c.cid, next);
}

static void fault_wrong_cid(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = fault(SOFT_CTRL_FAULT_WRONG_CID, 1, nvme_cmd_write);
	struct pn_sqe rd = read_cmd(f, 0), wr = read_cmd(f, 0);
	struct pn_cqe cqe = {0};
	uint16_t cid;

	wr.opc = nvme_cmd_write;
	flt.count = 2;
	flt.cid_xor = 0x0101;
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	/* A read does not match the fault's opcode. */
	cid = host_submit(&f->h, &f->q, &rd);
	assert_true(host_reap(&f->h, &f->q, &cqe));
	assert_int_equal(cqe.cid, cid);
	for (int i = 0; i < 2; i++) {
		cid = host_submit(&f->h, &f->q, &wr);
		assert_true(host_reap(&f->h, &f->q, &cqe));
		assert_int_equal(cqe.cid, cid ^ 0x0101);
	}
	cid = host_submit(&f->h, &f->q, &wr);
	assert_true(host_reap(&f->h, &f->q, &cqe));
	assert_int_equal(cqe.cid, cid);
	assert_int_equal(fired(f), 2);

	/* Default xor on the admin queue. */
	flt = fault(SOFT_CTRL_FAULT_WRONG_CID, 0, nvme_admin_keep_alive);
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	struct pn_sqe ka = {.opc = nvme_admin_keep_alive};

	cid = host_submit(&f->h, &f->h.admin, &ka);
	assert_true(host_reap(&f->h, &f->h.admin, &cqe));
	assert_int_equal(cqe.cid, cid ^ 0x8000);
}

static void fault_stale_phase(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = fault(SOFT_CTRL_FAULT_STALE_PHASE, 1, -1);
	struct pn_sqe rd = read_cmd(f, 0);
	uint32_t head = f->q.cq_head;
	uint16_t cid, next;
	uint64_t deadline;

	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	cid = host_submit(&f->h, &f->q, &rd);
	next = host_submit(&f->h, &f->q, &flush_cmd);
	/* The flush's entry (head + 1) shows the current phase ... */
	deadline = host_now_ns() + HOST_WAIT_NS;
	while ((__atomic_load_n(&f->q.cq[head + 1].status, __ATOMIC_ACQUIRE) & 1) != f->q.phase)
		assert_true(host_now_ns() < deadline);
	assert_int_equal(f->q.cq[head + 1].cid, next);
	/* ... while the read's entry is written with the previous one, so a
	 * host polling the head sees nothing. */
	assert_int_equal(f->q.cq[head].cid, cid);
	assert_int_not_equal(f->q.cq[head].status & 1, f->q.phase);
	assert_false(host_cqe_ready(&f->q));
}

static void fault_filters_and_clear(void **state)
{
	struct fixture *f = *state;
	struct soft_ctrl_fault flt = fault(SOFT_CTRL_FAULT_DROP, 2, -1);  /* another queue */
	struct pn_cqe cqe = {0};

	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	assert_int_equal(host_status(host_cmd(&f->h, &f->q, &flush_cmd, &cqe)), 0);
	flt.sqid = 1;
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), 0);
	assert_int_equal(soft_ctrl_inject_clear(f->h.sc), 0);
	assert_int_equal(host_status(host_cmd(&f->h, &f->q, &flush_cmd, &cqe)), 0);
	assert_int_equal(fired(f), 0);

	flt.kind = 0;
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), -EINVAL);
	flt.kind = 99;
	assert_int_equal(soft_ctrl_inject(f->h.sc, &flt), -EINVAL);
}

static void fault_fatal_status(void **state)
{
	struct fixture *f = *state;
	struct pn_cqe cqe = {0};
	uint8_t *id = host_alloc(&f->h, 4096);
	struct pn_sqe ident = {.opc = nvme_admin_identify, .cdw10 = 1, .prp1 = host_iova(&f->h, id)};

	assert_int_equal(soft_ctrl_fault_fatal(f->h.sc), 0);
	assert_int_equal(host_rd32(&f->h, NVME_REG_CSTS) & 3, 3);   /* RDY and CFS */
	/* Nothing is processed any more. */
	host_submit(&f->h, &f->q, &flush_cmd);
	assert_false(host_reap_within(&f->h, &f->q, &cqe, NO_ANSWER_NS));
	/* A controller reset clears it. */
	host_wr32(&f->h, NVME_REG_CC, 0);
	assert_true(host_wait_csts(&f->h, 3, 0));
	assert_true(host_enable(&f->h));
	assert_int_equal(host_status(host_cmd(&f->h, &f->h.admin, &ident, NULL)), 0);
}

static void fault_hang(void **state)
{
	struct fixture *f = *state;
	struct pn_cqe cqe = {0};
	uint16_t cid;

	assert_int_equal(soft_ctrl_fault_hang(f->h.sc, true), 0);
	cid = host_submit(&f->h, &f->q, &flush_cmd);
	assert_false(host_reap_within(&f->h, &f->q, &cqe, NO_ANSWER_NS));
	/* It does not even see a reset. */
	host_wr32(&f->h, NVME_REG_CC, 0);
	assert_false(host_wait_csts_within(&f->h, 1, 0, NO_ANSWER_NS));
	host_wr32(&f->h, NVME_REG_CC, 1 | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	/* Back: it carries on with the command it had not fetched. */
	assert_int_equal(soft_ctrl_fault_hang(f->h.sc, false), 0);
	assert_true(host_reap(&f->h, &f->q, &cqe));
	assert_int_equal(cqe.cid, cid);

	/* Hung while the host resets: the reset is seen once it is back. */
	assert_int_equal(soft_ctrl_fault_hang(f->h.sc, true), 0);
	host_wr32(&f->h, NVME_REG_CC, 0);
	assert_int_equal(soft_ctrl_fault_hang(f->h.sc, false), 0);
	assert_true(host_wait_csts(&f->h, 1, 0));
}

static void fault_all_ones(void **state)
{
	struct fixture *f = *state;
	struct pn_sqe del = {.opc = nvme_admin_delete_sq, .cdw10 = 1};
	struct soft_ctrl_stats s;

	assert_int_equal(soft_ctrl_fault_all_ones(f->h.sc, true), 0);
	assert_int_equal(host_rd64(&f->h, NVME_REG_CAP), ~0ull);
	assert_int_equal(host_rd32(&f->h, NVME_REG_CSTS), ~0u);
	assert_int_equal(host_rd32(&f->h, NVME_REG_VS), ~0u);
	assert_int_equal(host_rd32(&f->h, 0xffc), ~0u);
	/* Nothing is processed. */
	soft_ctrl_get_stats(f->h.sc, &s);
	host_submit(&f->h, &f->q, &flush_cmd);
	struct pn_cqe cqe = {0};

	assert_false(host_reap_within(&f->h, &f->q, &cqe, NO_ANSWER_NS));

	/* Back at power-on state. */
	assert_int_equal(soft_ctrl_fault_all_ones(f->h.sc, false), 0);
	assert_int_equal(NVME_CAP_MQES(host_rd64(&f->h, NVME_REG_CAP)), 1023);
	assert_int_equal(host_rd32(&f->h, NVME_REG_VS), 0x00010400);
	assert_int_equal(host_rd32(&f->h, NVME_REG_CC), 0);
	assert_int_equal(host_rd32(&f->h, NVME_REG_CSTS), 0);
	assert_true(host_enable(&f->h));
	/* Its queues are gone with it. */
	assert_int_equal(host_status(host_cmd(&f->h, &f->h.admin, &del, NULL)), st(1, NVME_SC_QID_INVALID));
	struct soft_ctrl_stats after;

	soft_ctrl_get_stats(f->h.sc, &after);
	assert_int_equal(after.io_commands, s.io_commands);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fault_delay_held_until_aborted, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_delay_short_completes, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_wrong_cid, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_stale_phase, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_filters_and_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_fatal_status, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_hang, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_all_ones, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
