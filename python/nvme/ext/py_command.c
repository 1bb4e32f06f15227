/* Commands submitted from Python and reaped by waitdone() (see module.h,
 * struct pn_py_queue). Shared by Controller (admin queue), Qpair and
 * Namespace. */
#include "module.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>

#include "controller.h"
#include "dma.h"
#include "error.h"
#include "tsc.h"

struct pn_py_cmd {
	struct pn_py_cmd *next;
	struct pn_py_queue *pq;
	PyObject *cb;          /* owned, or NULL */
	PyObject *buf;         /* owned, or NULL: kept alive while the device may use it */
	struct pn_cqe cqe;
	uint64_t latency_tsc;
	/* what a command kept in the overflow slot is sent with */
	struct pn_sqe sqe;
	uint64_t iova, xfer;
	unsigned flags;
	uint8_t opc;
	uint8_t arity;         /* 1: cb(cpl), 2: cb(cdw0, status1) */
	uint8_t is_aer;
};

#define SLICE_NS 10000000ull   /* back to the interpreter (Ctrl-C) every 10 ms */

static struct pn_queue *c_queue(struct pn_py_queue *pq)
{
	return pq->qp ? &pq->qp->q : &pq->ctrl->adminq;
}

/* C completion callback: runs in the C core without the GIL (for the admin
 * queue under the admin lock), so it only records. */
static void py_cmd_done(void *ctx, const struct pn_cqe *cqe)
{
	struct pn_py_cmd *cmd = ctx;
	struct pn_py_queue *pq = cmd->pq;

	cmd->cqe = *cqe;
	cmd->latency_tsc = c_queue(pq)->latest_latency_tsc;
	cmd->next = NULL;
	if (pq->done_tail)
		pq->done_tail->next = cmd;
	else
		pq->done_head = cmd;
	pq->done_tail = cmd;
}

static void lock_q(struct pn_py_queue *pq)
{
	if (!pq->qp && pq->ctrl)
		pthread_mutex_lock(&pq->ctrl->admin_lock);
}

static void unlock_q(struct pn_py_queue *pq)
{
	if (!pq->qp && pq->ctrl)
		pthread_mutex_unlock(&pq->ctrl->admin_lock);
}

static struct pn_py_cmd *pop_done(struct pn_py_queue *pq)
{
	struct pn_py_cmd *cmd;

	lock_q(pq);
	cmd = pq->done_head;
	if (cmd) {
		pq->done_head = cmd->next;
		if (!pq->done_head)
			pq->done_tail = NULL;
	}
	unlock_q(pq);
	return cmd;
}

static int has_done(struct pn_py_queue *pq)
{
	int has;

	lock_q(pq);
	has = pq->done_head != NULL;
	unlock_q(pq);
	return has;
}

static void cmd_free(struct pn_py_cmd *cmd)
{
	Py_XDECREF(cmd->cb);
	Py_XDECREF(cmd->buf);
	PyMem_RawFree(cmd);
}

/* The arity of a callback: 2 for cb(cdw0, status1), else 1 for cb(cpl). */
int pn_py_callback_arity(PyObject *cb)
{
	PyObject *func = cb, *code, *argc;
	long n = 1, bound = 0;

	if (PyMethod_Check(cb)) {
		func = PyMethod_GET_FUNCTION(cb);
		bound = 1;
	}
	code = PyObject_GetAttrString(func, "__code__");
	if (!code) {
		/* a callable object: look at its __call__ */
		PyErr_Clear();
		PyObject *call = PyObject_GetAttrString(cb, "__call__");

		if (call && PyMethod_Check(call)) {
			code = PyObject_GetAttrString(PyMethod_GET_FUNCTION(call), "__code__");
			bound = 1;
		}
		Py_XDECREF(call);
		if (!code) {
			PyErr_Clear();
			return 1;
		}
	}
	argc = PyObject_GetAttrString(code, "co_argcount");
	if (argc && PyLong_Check(argc))
		n = PyLong_AsLong(argc) - bound;
	Py_XDECREF(argc);
	Py_DECREF(code);
	PyErr_Clear();
	return n >= 2 ? 2 : 1;
}

/* Sends the command waiting in the overflow slot if the ring has room now.
 * Runs without the GIL too (the queue's owner thread). Returns 0, or a
 * negative errno other than -EBUSY: the command then completes with a
 * synthesized status. */
static int send_overflow(struct pn_py_queue *pq)
{
	struct pn_py_cmd *cmd = pq->overflow;
	int rc;

	if (!cmd)
		return 0;
	rc = pn_qpair_submit(pq->qp, &cmd->sqe, cmd->iova, cmd->xfer, cmd->flags, py_cmd_done, cmd,
			     true);
	if (rc == -EBUSY) {
		pn_clear_error();
		return 0;
	}
	pq->overflow = NULL;
	if (rc < 0) {
		/* refused (e.g. the device failed meanwhile): waitdone reaps it as
		 * a command that got no completion; the reason is handled here, not
		 * left for a later, unrelated error message */
		struct pn_cqe cqe = {.cid = 0xffff, .status = PN_STATUS_SYNTH};

		py_cmd_done(cmd, &cqe);
		pn_clear_error();
	}
	return rc;
}

/* Submits on an IO queue; a full ring keeps one command in the overflow
 * slot, the next raises AssertionError (INT_MIN, cmd freed). Else 0 or a
 * negative errno. */
static int submit_io(struct pn_py_queue *pq, struct pn_py_cmd *cmd, const struct pn_sqe *sqe,
		     uint64_t iova, uint64_t xfer, unsigned flags)
{
	int rc;

	send_overflow(pq);
	if (pq->overflow)
		rc = -EBUSY;
	else
		rc = pn_qpair_submit(pq->qp, sqe, iova, xfer, flags, py_cmd_done, cmd, true);
	if (rc != -EBUSY)
		return rc;
	pn_clear_error();
	if (pq->overflow) {
		cmd_free(cmd);
		PyErr_Format(PyExc_AssertionError, "%s is full: %u commands are outstanding; reap "
			     "some with waitdone() before sending more", pq->name, pq->qp->depth);
		return INT_MIN;
	}
	cmd->sqe = *sqe;
	cmd->iova = iova;
	cmd->xfer = xfer;
	cmd->flags = flags;
	pq->overflow = cmd;
	return 0;
}

/* Submits on the admin queue, processing completions (kept for waitdone)
 * while it is full. 0, a negative errno, or INT_MIN (Ctrl-C, cmd freed). */
static int submit_admin(struct pn_py_queue *pq, struct pn_py_cmd *cmd, const struct pn_sqe *sqe,
			uint64_t iova, uint64_t xfer, unsigned flags)
{
	for (int tries = 0;; tries++) {
		int rc = pn_ctrl_admin_submit(pq->ctrl, sqe, iova, xfer, flags, py_cmd_done, cmd);

		if (rc != -EBUSY)
			return rc;
		pn_clear_error();
		if ((tries & 1023) == 1023 && PyErr_CheckSignals() < 0) {
			cmd_free(cmd);
			return INT_MIN;
		}
		Py_BEGIN_ALLOW_THREADS
		pn_ctrl_admin_process(pq->ctrl, 0);
		sched_yield();
		Py_END_ALLOW_THREADS
	}
}

int pn_py_cmd_submit(struct pn_py_queue *pq, const struct pn_sqe *sqe, PyObject *buf, uint64_t len,
		     PyObject *cb, unsigned flags)
{
	struct pn_py_cmd *cmd;
	uint64_t iova = 0, xfer = 0;
	int rc;

	if (!pq->ctrl) {
		PyErr_Format(pn_py_arg_error, "%s is closed", pq->name);
		return -1;
	}
	if (pq->qp && pq->polling) {
		/* an IO queue has one owner: another thread is inside waitdone() */
		PyErr_Format(PyExc_RuntimeError,
			     "%s is being polled by another thread's waitdone(); one thread per Qpair",
			     pq->name);
		return -1;
	}
	if (cb == Py_None)
		cb = NULL;
	if (buf == Py_None)
		buf = NULL;
	if (cb && !PyCallable_Check(cb)) {
		PyErr_Format(PyExc_TypeError, "cb must be callable or None, not %.100s",
			     Py_TYPE(cb)->tp_name);
		return -1;
	}
	if (buf) {
		struct dma_region *region;
		uint64_t offset, size;

		if (pn_py_buffer_get(buf, &region, &offset, &size) < 0) {
			PyErr_Clear();
			PyErr_Format(PyExc_TypeError, "buf must be an nvme.Buffer or None, not %.100s",
				     Py_TYPE(buf)->tp_name);
			return -1;
		}
		xfer = len == UINT64_MAX ? size : len;
		/* a shorter buffer is fine (the original sent such commands), a
		 * transfer past its memory would hand the device someone else's */
		if (pn_py_buffer_check_transfer(region, offset, xfer, "buf") < 0)
			return -1;
		iova = region->iova + offset;
	} else if (len != UINT64_MAX && len) {
		PyErr_SetString(pn_py_arg_error, "buf: this command needs a data buffer");
		return -1;
	}
	cmd = PyMem_RawCalloc(1, sizeof(*cmd));
	if (!cmd) {
		PyErr_NoMemory();
		return -1;
	}
	cmd->pq = pq;
	cmd->opc = sqe->opc;
	cmd->is_aer = !pq->qp && sqe->opc == nvme_admin_async_event;
	if (cb) {
		cmd->arity = (uint8_t)pn_py_callback_arity(cb);
		Py_INCREF(cb);
		cmd->cb = cb;
	}
	if (buf) {
		Py_INCREF(buf);
		cmd->buf = buf;
	}
	if (cmd->is_aer)
		flags |= PN_CMD_NO_TIMEOUT;
	if (pq->qp) {
		/* a doorbell write to a function in D3hot / not decoding would be
		 * SIGBUS (the admin path checks in C) */
		rc = pn_ctrl_mmio_ok(pq->ctrl);
		if (rc < 0) {
			cmd_free(cmd);
			pn_py_raise(pn_py_error, rc, pq->name);
			return -1;
		}
	}
	if (pq->qp)
		rc = submit_io(pq, cmd, sqe, iova, xfer, flags);
	else
		rc = submit_admin(pq, cmd, sqe, iova, xfer, flags);
	if (rc == INT_MIN)
		return -1;
	if (rc < 0) {
		cmd_free(cmd);
		pn_py_raise(rc == -EINVAL || rc == -E2BIG ? pn_py_arg_error : pn_py_error, rc, pq->name);
		return -1;
	}
	pq->pending++;
	return 0;
}

int pn_py_warn_status(uint16_t status, uint8_t opc, const char *what)
{
	char st[8];

	if (status == PN_STATUS_SYNTH)
		return PyErr_WarnFormat(PyExc_UserWarning, 1,
					"ERROR status: 07/ff: %s: command (opcode 0x%02x) got no completion "
					"(timeout or device failure); the driver completed it with all ones",
					what, opc);
	return PyErr_WarnFormat(PyExc_UserWarning, 1, "ERROR status: %s: %s: opcode 0x%02x",
				pn_status_text(status, st), what, opc);
}

/* Reaps one record: latest facts, warnings, the callback. */
static int reap(struct pn_py_queue *pq, struct pn_py_cmd *cmd)
{
	const struct pn_cqe *cqe = &cmd->cqe;
	PyObject *res = NULL;
	int rc = 0;

	pq->pending--;
	pq->latest_dw0 = cqe->dw0;
	pq->latest_cid = cqe->cid;
	pq->latest_latency_us = pn_tsc_to_ns(cmd->latency_tsc) / 1000;
	if (cqe->status == PN_STATUS_SYNTH && pq->ctrl &&
	    __atomic_load_n(&pq->ctrl->failed, __ATOMIC_ACQUIRE)) {
		/* the device failed or was removed: say which, with the command */
		rc = PyErr_WarnFormat(PyExc_UserWarning, 1,
				      "ERROR status: 07/ff: %s: command (opcode 0x%02x) got no "
				      "completion: %s; the driver completed it with all ones",
				      pq->name, cmd->opc, pq->ctrl->fail_reason);
	} else if (pn_status_is_error(cqe->status)) {
		rc = pn_py_warn_status(cqe->status, cmd->opc, pq->name);
	} else if (cmd->is_aer) {
		rc = PyErr_WarnFormat(PyExc_UserWarning, 1, "AER triggered, dword0: 0x%x", cqe->dw0);
	}
	if (rc == 0 && cmd->cb) {
		pq->in_callback++;
		if (cmd->arity == 2)
			res = PyObject_CallFunction(cmd->cb, "kk", (unsigned long)cqe->dw0,
						    (unsigned long)cqe->status);
		else {
			const uint32_t *dw = (const uint32_t *)cqe;

			res = PyObject_CallFunction(cmd->cb, "((kkkk))", (unsigned long)dw[0],
						    (unsigned long)dw[1], (unsigned long)dw[2],
						    (unsigned long)dw[3]);
		}
		pq->in_callback--;
		if (!res)
			rc = -1;
		Py_XDECREF(res);
	}
	cmd_free(cmd);
	return rc;
}

static int warn_aer_events(struct pn_py_queue *pq)
{
	uint32_t dw0;

	if (pq->qp || !pq->ctrl)
		return 0;
	while (pn_ctrl_aer_pop(pq->ctrl, &dw0))
		if (PyErr_WarnFormat(PyExc_UserWarning, 1, "AER triggered, dword0: 0x%x", dw0) < 0)
			return -1;
	return 0;
}

/* A device that posts completions for no outstanding command (a duplicate,
 * a wrong command id) misbehaves: the driver ignored them; the script
 * hears of it once per waitdone that saw new ones. */
static int warn_spurious(struct pn_py_queue *pq)
{
	const struct pn_queue *q = c_queue(pq);
	uint64_t n = q->spurious - pq->spurious_reported;

	if (!n)
		return 0;
	pq->spurious_reported = q->spurious;
	return PyErr_WarnFormat(PyExc_UserWarning, 1,
				"ERROR: %s: %llu completion(s) for no outstanding command (a duplicate "
				"or a wrong command id from the device), ignored", pq->name,
				(unsigned long long)n);
}

/* Polls for completions for up to one slice with the GIL released. */
static void wait_slice(struct pn_py_queue *pq, uint32_t want)
{
	/* the TSC, not clock_gettime(): a guest whose clocksource is the
	 * HPET (an emulated CPU) pays an MMIO exit for every clock read */
	uint64_t start = pn_tsc(), slice = pn_ns_to_tsc(SLICE_NS);
	unsigned idle = 0;
	int vector = -1;

	if (pq->qp) {
		if (pq->qp->ien)
			vector = pq->qp->iv;
	} else {
		vector = 0;
	}
	for (;;) {
		uint32_t n = pq->qp ? pn_qpair_process(pq->qp, want) : pn_ctrl_admin_process(pq->ctrl, want);

		if (n && has_done(pq))
			return;
		if (!n && has_done(pq))
			return;
		if (pn_tsc() - start > slice)
			return;
		if (pq->qp && pn_tsc() - pq->ctrl->last_health_tsc > pn_ns_to_tsc(50000000ull)) {
			/* IO waits also notice a device that failed or vanished */
			pn_ctrl_check_health(pq->ctrl);
			pn_clear_error();
		}
		if (++idle < 200) {
			sched_yield();
			continue;
		}
		/* the interrupt wakes us early; completions are still polled */
		if (vector < 0 || pn_ctrl_irq_wait(pq->ctrl, (unsigned)vector, 1000) < 0) {
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
		}
	}
}

PyObject *pn_py_waitdone(struct pn_py_queue *pq, long expected)
{
	uint32_t dw0 = 0;
	long reaped = 0;

	if (!pq->ctrl)
		return PyErr_Format(pn_py_arg_error, "%s is closed", pq->name);
	if (pq->in_callback)
		return PyErr_Format(PyExc_RuntimeError,
				    "waitdone() called inside a completion callback of %s", pq->name);
	if (pq->polling)
		return PyErr_Format(PyExc_RuntimeError,
				    "%s: another thread is inside waitdone() already", pq->name);
	if (expected < 0)
		return PyErr_Format(pn_py_arg_error, "expected must be >= 0, got %ld", expected);
	if (expected == 0)
		return PyLong_FromUnsignedLong(pq->latest_dw0);
	while (reaped < expected) {
		struct pn_py_cmd *cmd;

		if (pq->qp)
			send_overflow(pq);
		cmd = pop_done(pq);

		if (cmd) {
			dw0 = cmd->cqe.dw0;
			reaped++;
			if (reap(pq, cmd) < 0)
				return NULL;
			continue;
		}
		if (pq->pending == 0)
			/* nothing left that could complete: waiting would never end */
			return PyErr_Format(pn_py_arg_error,
					    "waitdone(%ld): %ld completions reaped, and no command is "
					    "outstanding on %s", expected, reaped, pq->name);
		if (warn_aer_events(pq) < 0 || warn_spurious(pq) < 0)
			return NULL;
		pq->polling = 1;
		Py_BEGIN_ALLOW_THREADS
		wait_slice(pq, (uint32_t)(expected - reaped));
		Py_END_ALLOW_THREADS
		pq->polling = 0;
		if (PyErr_CheckSignals() < 0)
			return NULL;
		if (!pq->ctrl)
			return PyErr_Format(pn_py_arg_error, "%s was closed while waiting", pq->name);
	}
	if (warn_aer_events(pq) < 0 || warn_spurious(pq) < 0)
		return NULL;
	return PyLong_FromUnsignedLong(dw0);
}

long pn_py_queue_discard(struct pn_py_queue *pq)
{
	struct pn_py_cmd *cmd;
	long n = 0;

	if (pq->overflow) {
		cmd_free(pq->overflow);
		pq->overflow = NULL;
		pq->pending--;
		n++;
	}
	while ((cmd = pop_done(pq))) {
		cmd_free(cmd);
		pq->pending--;
		n++;
	}
	return n;
}
