/* What the live monitor (python/nvme/monitor/) reads of the driver: a
 * registry of the open controllers, and snapshots of their queues, command
 * logs and running ioworkers, as private functions of nvme._nvme.
 *
 * Why it is safe without locks on the IO path: every function here runs in
 * the monitor's thread holding the GIL, and every object it touches is
 * freed only by a thread holding the GIL *after* it was made unreachable
 * from here (a Controller leaves the registry at the start of its close(),
 * a Qpair drops its pointer before delete() lets the GIL go, an ioworker's
 * queue is hidden before its wait frees it). What it reads of a queue that
 * another thread drives at that moment (an ioworker's, or a waitdone()
 * polling with the GIL released) are aligned words, loaded relaxed: a
 * snapshot that may be a command behind, never a fault, and the IO path
 * neither knows nor pays for it. The admin queue is re-created under the
 * controller's admin lock, so its command log is copied under a trylock
 * (a busy lock answers "busy" rather than blocking the monitor).
 */
#include "module.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "dma.h"
#include "error.h"
#include "ioworker.h"
#include "nvme_names.h"
#include "queue.h"
#include "tsc.h"

/* Open controllers, borrowed: pn_py_monitor_forget() runs before any of
 * them goes. 64 is far more than a test opens; extra ones are not shown. */
#define MAX_TRACKED 64
static struct {
	PyObject *obj;
	struct pn_ctrl *ctrl;
} tracked[MAX_TRACKED];

/* The controller an admin command of the monitor (smart) is using with the
 * GIL released: its close() waits for that command first. */
static struct pn_ctrl *pinned;   /* atomic */

void pn_py_monitor_track(PyObject *ctrl_obj, struct pn_ctrl *ctrl)
{
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (!tracked[i].obj) {
			tracked[i].obj = ctrl_obj;
			tracked[i].ctrl = ctrl;
			return;
		}
	}
}

void pn_py_monitor_forget(PyObject *ctrl_obj)
{
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (tracked[i].obj == ctrl_obj) {
			struct pn_ctrl *c = tracked[i].ctrl;

			tracked[i].obj = NULL;
			tracked[i].ctrl = NULL;
			/* bounded by the admin command timeout of that command */
			while (__atomic_load_n(&pinned, __ATOMIC_ACQUIRE) == c) {
				Py_BEGIN_ALLOW_THREADS
				nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
				Py_END_ALLOW_THREADS
			}
		}
	}
}

static struct pn_ctrl *tracked_ctrl(PyObject *obj)
{
	for (int i = 0; i < MAX_TRACKED; i++)
		if (tracked[i].obj && tracked[i].obj == obj)
			return tracked[i].ctrl;
	PyErr_SetString(pn_py_arg_error, "controller is not open (closed, or never opened)");
	return NULL;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* _monitor_controllers() -> [Controller, ...], in the order they opened. */
static PyObject *mon_controllers(PyObject *mod, PyObject *unused)
{
	PyObject *list = PyList_New(0);

	for (int i = 0; list && i < MAX_TRACKED; i++) {
		if (tracked[i].obj && PyList_Append(list, tracked[i].obj) < 0)
			Py_CLEAR(list);
	}
	return list;
}

static PyObject *id_text(const char *s, size_t n)
{
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	return PyUnicode_DecodeLatin1(s, (Py_ssize_t)n, "replace");
}

/* _monitor_ctrl_info(ctrl) -> dict: identity and registers. */
static PyObject *mon_ctrl_info(PyObject *mod, PyObject *obj)
{
	struct pn_ctrl *c = tracked_ctrl(obj);
	uint64_t cap = 0;
	uint32_t vs = 0, cc = 0, csts = 0;
	PyObject *d;

	if (!c)
		return NULL;
	/* register reads go through the transport: they never fault, and read
	 * all ones from a device that is gone */
	pn_ctrl_read64(c, 0x00, &cap);
	pn_ctrl_read32(c, 0x08, &vs);
	pn_ctrl_read32(c, 0x14, &cc);
	pn_ctrl_read32(c, 0x1c, &csts);
	pn_clear_error();
	d = Py_BuildValue("{s:s,s:K,s:k,s:k,s:k,s:i,s:i,s:k,s:k,s:K}",
			  "addr", c->name, "cap", (unsigned long long)cap, "vs", (unsigned long)vs,
			  "cc", (unsigned long)cc, "csts", (unsigned long)csts,
			  "failed", LOAD(c->failed) != 0, "identified", (int)c->id_valid,
			  "generation", (unsigned long)LOAD(c->generation),
			  "timeout_ms", (unsigned long)c->timeout_ms,
			  "mdts", (unsigned long long)c->mdts_bytes);
	if (!d)
		return NULL;
	{
		PyObject *mn = c->id_valid ? id_text(c->id.mn, sizeof(c->id.mn)) : PyUnicode_FromString("");
		PyObject *sn = c->id_valid ? id_text(c->id.sn, sizeof(c->id.sn)) : PyUnicode_FromString("");
		PyObject *fr = c->id_valid ? id_text(c->id.fr, sizeof(c->id.fr)) : PyUnicode_FromString("");
		int rc = mn && sn && fr ? 0 : -1;

		if (!rc)
			rc = PyDict_SetItemString(d, "model", mn) | PyDict_SetItemString(d, "serial", sn) |
			     PyDict_SetItemString(d, "firmware", fr);
		Py_XDECREF(mn);
		Py_XDECREF(sn);
		Py_XDECREF(fr);
		if (rc) {
			Py_DECREF(d);
			return NULL;
		}
	}
	return d;
}

static PyObject *queue_dict(const char *kind, const struct pn_queue *q, unsigned vector, int ien,
			    int prio)
{
	return Py_BuildValue("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:K,s:K,s:K}",
			     "kind", kind, "qid", (unsigned)q->qid, "depth", (unsigned)q->depth,
			     "outstanding", (unsigned)LOAD(q->busy),
			     "sq_tail", (unsigned)LOAD(q->sq_tail), "sq_head", (unsigned)LOAD(q->sq_head),
			     "cq_head", (unsigned)LOAD(q->cq_head), "vector", vector, "ien", ien,
			     "prio", prio, "submitted", (unsigned long long)LOAD(q->submitted),
			     "completed", (unsigned long long)LOAD(q->completed),
			     "timeouts", (unsigned long long)LOAD(q->timeouts));
}

static int append_new(PyObject *list, PyObject *item)
{
	int rc = item ? PyList_Append(list, item) : -1;

	Py_XDECREF(item);
	return rc;
}

/* The admin queue of `c` under its lock, or NULL (queue not set up, or
 * the lock busy: *busy set). Unlock with pthread_mutex_unlock. */
static struct pn_queue *admin_locked(struct pn_ctrl *c, int *busy)
{
	*busy = 0;
	if (pthread_mutex_trylock(&c->admin_lock) != 0) {
		*busy = 1;
		return NULL;
	}
	if (!c->adminq_ready || !c->adminq.slots) {
		pthread_mutex_unlock(&c->admin_lock);
		return NULL;
	}
	return &c->adminq;
}

/* _monitor_queues(ctrl) -> [dict per queue]: the admin queue (qid 0),
 * the script's Qpairs, the ioworkers' queues. */
static PyObject *mon_queues(PyObject *mod, PyObject *obj)
{
	struct pn_ctrl *c = tracked_ctrl(obj);
	PyObject *list, *children;
	struct pn_queue *aq;
	int busy;

	if (!c)
		return NULL;
	list = PyList_New(0);
	if (!list)
		return NULL;
	aq = admin_locked(c, &busy);
	if (aq) {
		int rc = append_new(list, queue_dict("admin", aq, 0, 1, 0));

		pthread_mutex_unlock(&c->admin_lock);
		if (rc < 0)
			goto fail;
	}
	children = pn_py_controller_children(obj);
	if (!children)
		goto fail;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(children); i++) {
		PyObject *child = PyList_GET_ITEM(children, i);
		PyObject *d = NULL;

		if (Py_IS_TYPE(child, &pn_py_ioworker_type)) {
			const struct pn_queue *q = pn_py_ioworker_queue(child);

			if (q)
				d = queue_dict("ioworker", q, 0, 0, 0);
		} else {
			struct pn_qpair *qp = pn_py_qpair_get(child);

			if (!qp) {
				PyErr_Clear();   /* deleted */
				continue;
			}
			d = queue_dict("qpair", &qp->q, qp->iv, qp->ien, qp->prio);
		}
		if (!d) {
			if (PyErr_Occurred())
				break;
			continue;
		}
		if (append_new(list, d) < 0)
			break;
	}
	Py_DECREF(children);
	if (PyErr_Occurred())
		goto fail;
	return list;
fail:
	Py_DECREF(list);
	return NULL;
}

/* _monitor_cmdlog(ctrl, qid, count) -> [entry dict, most recent first]
 * (Controller.cmdlog's form), or None when the admin queue is busy
 * being re-created; ArgumentError for a qid with no queue. */
static PyObject *mon_cmdlog(PyObject *mod, PyObject *args)
{
	PyObject *obj, *children, *res = NULL;
	unsigned int qid;
	unsigned long long count;
	struct pn_ctrl *c;

	if (!PyArg_ParseTuple(args, "OIK:_monitor_cmdlog", &obj, &qid, &count))
		return NULL;
	c = tracked_ctrl(obj);
	if (!c)
		return NULL;
	if (qid == 0) {
		int busy;
		struct pn_queue *aq = admin_locked(c, &busy);

		if (!aq) {
			if (busy)
				Py_RETURN_NONE;
			return PyList_New(0);
		}
		res = pn_py_cmdlog_list(aq, count);
		pthread_mutex_unlock(&c->admin_lock);
		return res;
	}
	children = pn_py_controller_children(obj);
	if (!children)
		return NULL;
	for (Py_ssize_t i = 0; !res && i < PyList_GET_SIZE(children); i++) {
		PyObject *child = PyList_GET_ITEM(children, i);
		const struct pn_queue *q;

		if (Py_IS_TYPE(child, &pn_py_ioworker_type)) {
			q = pn_py_ioworker_queue(child);
		} else {
			struct pn_qpair *qp = pn_py_qpair_get(child);

			if (!qp)
				PyErr_Clear();
			q = qp ? &qp->q : NULL;
		}
		if (q && q->qid == qid) {
			res = pn_py_cmdlog_list((struct pn_queue *)q, count);
			break;
		}
	}
	Py_DECREF(children);
	if (!res && !PyErr_Occurred())
		PyErr_Format(pn_py_arg_error, "no queue %u on %s", qid, c->name);
	return res;
}

/* _monitor_ioworkers(ctrl) -> [dict per ioworker started on it]. */
static PyObject *mon_ioworkers(PyObject *mod, PyObject *obj)
{
	struct pn_ctrl *c = tracked_ctrl(obj);
	PyObject *list, *children;

	if (!c)
		return NULL;
	children = pn_py_controller_children(obj);
	if (!children)
		return NULL;
	list = PyList_New(0);
	for (Py_ssize_t i = 0; list && i < PyList_GET_SIZE(children); i++) {
		PyObject *child = PyList_GET_ITEM(children, i);
		const struct pn_ioworker *w;
		struct pn_ioworker_progress p;
		PyObject *secs, *hist, *d;
		uint32_t first;

		if (!Py_IS_TYPE(child, &pn_py_ioworker_type))
			continue;
		w = pn_py_ioworker_peek(child);
		if (!w)
			continue;
		pn_ioworker_progress(w, &p);
		/* the last minute of per-second counts is plenty for a live view */
		first = p.nseconds > 60 ? p.nseconds - 60 : 0;
		secs = PyList_New(0);
		for (uint32_t s = first; secs && s < p.nseconds; s++)
			if (append_new(secs, PyLong_FromUnsignedLong(LOAD(p.io_per_second[s]))) < 0)
				Py_CLEAR(secs);
		/* the latency histogram's counts (ticks), for the percentiles of
		 * the IOs between two looks (_monitor_latency_percentiles) */
		hist = secs ? PyBytes_FromStringAndSize(NULL, PN_HIST_BUCKETS * sizeof(uint64_t)) : NULL;
		if (hist)
			pn_ioworker_latency_snapshot(w, (uint64_t *)PyBytes_AS_STRING(hist));
		else
			Py_CLEAR(secs);
		if (!secs) {
			Py_CLEAR(list);
			break;
		}
		d = Py_BuildValue("{s:I,s:I,s:I,s:O,s:K,s:K,s:K,s:K,s:i,s:I,s:d,s:N,s:I,s:N}",
				  "qid", (unsigned)p.qid, "qdepth", (unsigned)p.qdepth,
				  "nsid", (unsigned)p.nsid, "running", p.running ? Py_True : Py_False,
				  "completed", (unsigned long long)p.completed,
				  "submitted", (unsigned long long)p.submitted,
				  "latency_sum_ns", (unsigned long long)p.latency_sum_ns,
				  "elapsed_ns", (unsigned long long)p.elapsed_ns,
				  "error", p.error_code, "error_status", (unsigned)p.error_status,
				  "io_bytes_mean", p.io_bytes_mean, "io_per_second", secs,
				  "first_second", (unsigned)first, "latency_hist", hist);
		if (append_new(list, d) < 0)
			Py_CLEAR(list);
	}
	Py_DECREF(children);
	return list;
}

/* _monitor_latency_percentiles(new, old, (p, ...)) -> (count, [ns, ...]):
 * the percentiles (0..100) of the IOs recorded between two histogram
 * snapshots of _monitor_ioworkers ("latency_hist"; old None: since the
 * start), each the middle of its bucket in nanoseconds (within 0.4%),
 * the top one clamped to its bucket's upper end. count 0: all zeros. */
static PyObject *mon_latency_percentiles(PyObject *mod, PyObject *args)
{
	const Py_ssize_t size = PN_HIST_BUCKETS * sizeof(uint64_t);
	PyObject *new_obj, *old_obj, *ps, *values, *res = NULL;
	const uint64_t *now, *before = NULL;
	struct pn_hist *h;
	int lowest = -1, highest = -1;

	if (!PyArg_ParseTuple(args, "SOO:_monitor_latency_percentiles", &new_obj, &old_obj, &ps))
		return NULL;
	if (old_obj != Py_None && !PyBytes_Check(old_obj)) {
		PyErr_SetString(PyExc_TypeError, "old: bytes or None");
		return NULL;
	}
	if (PyBytes_GET_SIZE(new_obj) != size ||
	    (old_obj != Py_None && PyBytes_GET_SIZE(old_obj) != size)) {
		PyErr_Format(PyExc_ValueError, "a latency histogram is %zd bytes", size);
		return NULL;
	}
	ps = PySequence_Fast(ps, "percentiles: a sequence of numbers");
	if (!ps)
		return NULL;
	now = (const uint64_t *)PyBytes_AS_STRING(new_obj);
	if (old_obj != Py_None)
		before = (const uint64_t *)PyBytes_AS_STRING(old_obj);
	h = PyMem_Malloc(sizeof(*h));
	if (!h) {
		Py_DECREF(ps);
		return PyErr_NoMemory();
	}
	pn_hist_reset(h);
	for (unsigned i = 0; i < PN_HIST_BUCKETS; i++) {
		/* a bucket only grows; a smaller one means another worker since */
		uint64_t n = before && now[i] >= before[i] ? now[i] - before[i] : now[i];

		h->buckets[i] = n;
		h->count += n;
		if (n) {
			if (lowest < 0)
				lowest = (int)i;
			highest = (int)i;
		}
	}
	if (h->count) {
		h->min = pn_hist_bucket_low((unsigned)lowest);
		h->max = pn_hist_bucket_high((unsigned)highest);
	}
	values = PyList_New(0);
	for (Py_ssize_t i = 0; values && i < PySequence_Fast_GET_SIZE(ps); i++) {
		double p = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(ps, i));

		if (p == -1.0 && PyErr_Occurred())
			Py_CLEAR(values);
		else if (append_new(values, PyLong_FromUnsignedLongLong(
				h->count ? pn_tsc_to_ns(pn_hist_percentile(h, p)) : 0)) < 0)
			Py_CLEAR(values);
	}
	if (values)
		res = Py_BuildValue("(KN)", (unsigned long long)h->count, values);
	PyMem_Free(h);
	Py_DECREF(ps);
	return res;
}

/* _monitor_opname(opcode, admin) -> the command's name. */
static PyObject *mon_opname(PyObject *mod, PyObject *args)
{
	unsigned int opc;
	int admin;

	if (!PyArg_ParseTuple(args, "Ip:_monitor_opname", &opc, &admin))
		return NULL;
	return PyUnicode_FromString(admin ? pn_nvme_admin_name(opc & 0xff) : pn_nvme_io_name(opc & 0xff));
}

/* _monitor_smart(ctrl) -> bytes: the 512-byte SMART / Health log, read by
 * a Get Log Page of the monitor's own (it shows in the admin command log).
 * The GIL is released while it waits; the controller's close() waits for
 * it (bounded by the command timeout). */
static PyObject *mon_smart(PyObject *mod, PyObject *obj)
{
	struct pn_ctrl *c = tracked_ctrl(obj);
	struct dma_region *mem = NULL;
	struct pn_sqe sqe = {.opc = nvme_admin_get_log_page, .nsid = 0xffffffff};
	struct pn_cqe cqe;
	PyObject *res;
	int rc;

	if (!c)
		return NULL;
	if (__atomic_load_n(&pinned, __ATOMIC_ACQUIRE))
		return PyErr_Format(PyExc_RuntimeError, "another SMART read is running");
	/* An admin command of our own must not land in the script's
	 * initialisation or reset: its completion wait checks the controller's
	 * health, and a controller caught between CC.EN=0 and RDY=1 would be
	 * marked failed under the script. So only a settled controller (ready,
	 * enabled, identified), checked and used under the admin lock, which
	 * the script's disable/re-creation steps take too. */
	if (pthread_mutex_trylock(&c->admin_lock) != 0)
		return PyErr_Format(PyExc_RuntimeError, "the admin queue is busy; ask again");
	{
		uint32_t cc = 0, csts = 0;

		pn_ctrl_read32(c, 0x14, &cc);
		pn_ctrl_read32(c, 0x1c, &csts);
		pn_clear_error();
		if (!c->adminq_ready || !c->id_valid || LOAD(c->failed) || cc == 0xffffffff ||
		    !(cc & 1) || (csts & 3) != 1) {
			pthread_mutex_unlock(&c->admin_lock);
			return PyErr_Format(PyExc_RuntimeError, "%s is not ready (being initialised, "
					    "reset, or failed): no SMART read now", c->name);
		}
	}
	rc = dma_alloc(4096, &mem);
	if (rc < 0) {
		pthread_mutex_unlock(&c->admin_lock);
		return pn_py_raise(pn_py_error, rc, "monitor SMART buffer");
	}
	/* Get Log Page, LID 02h, NUMDL = 512/4 - 1 */
	sqe.cdw10 = 0x02 | (127u << 16);
	__atomic_store_n(&pinned, c, __ATOMIC_RELEASE);
	Py_BEGIN_ALLOW_THREADS
	/* the admin lock is recursive: admin_sync takes it again inside; a
	 * script thread wanting it waits for this one command, no longer */
	rc = pn_ctrl_admin_sync(c, &sqe, mem->iova, 512, &cqe);
	pthread_mutex_unlock(&c->admin_lock);
	/* before taking the GIL back: a close() waiting in forget() holds it
	 * between its naps, and need not wait for us to get it */
	__atomic_store_n(&pinned, NULL, __ATOMIC_RELEASE);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		dma_free(mem);
		return pn_py_raise(pn_py_error, rc, "SMART log");
	}
	res = PyBytes_FromStringAndSize(mem->vaddr, 512);
	dma_free(mem);
	return res;
}

static PyMethodDef monitor_functions[] = {
	{"_monitor_controllers", mon_controllers, METH_NOARGS, "Open controllers (for nvme.monitor)."},
	{"_monitor_ctrl_info", mon_ctrl_info, METH_O, "Identity and registers (for nvme.monitor)."},
	{"_monitor_queues", mon_queues, METH_O, "Queues of a controller (for nvme.monitor)."},
	{"_monitor_cmdlog", mon_cmdlog, METH_VARARGS, "Command log of a queue (for nvme.monitor)."},
	{"_monitor_ioworkers", mon_ioworkers, METH_O, "Ioworkers of a controller (for nvme.monitor)."},
	{"_monitor_latency_percentiles", mon_latency_percentiles, METH_VARARGS,
	 "Latency percentiles between two histogram snapshots (for nvme.monitor)."},
	{"_monitor_opname", mon_opname, METH_VARARGS, "Opcode name (for nvme.monitor)."},
	{"_monitor_smart", mon_smart, METH_O, "SMART / Health log bytes (for nvme.monitor)."},
	{NULL, NULL, 0, NULL},
};

int pn_py_register_monitor(PyObject *module)
{
	return PyModule_AddFunctions(module, monitor_functions);
}
