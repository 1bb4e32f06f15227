/* nvme.Qpair: an IO submission queue and its completion queue. */
#include "module.h"
#include "args.h"

#include <errno.h>
#include <stdio.h>

#include "controller.h"
#include "error.h"

typedef struct {
	PyObject_HEAD
	PyObject *ctrl_obj;       /* the Controller (strong reference) */
	struct pn_qpair *qp;      /* NULL once deleted */
	struct pn_py_queue pq;
	PyObject *weakrefs;
} QpairObject;

static struct pn_qpair *live(QpairObject *self)
{
	if (!self->qp) {
		PyErr_Format(pn_py_arg_error, "%s is deleted", self->pq.name);
		return NULL;
	}
	return self->qp;
}

static PyObject *qpair_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"nvme", "depth", "prio", "ien", "iv", NULL};
	PyObject *ctrl_obj, *o_depth, *o_prio = NULL, *o_ien = Py_True, *o_iv = Py_None;
	unsigned long long depth, prio = 0, iv = 0;
	struct pn_ctrl *c;
	QpairObject *self;
	uint16_t status = 0;
	int ien, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOO:Qpair", kwlist, &ctrl_obj, &o_depth,
					 &o_prio, &o_ien, &o_iv))
		return NULL;
	c = pn_py_controller_ctrl(ctrl_obj);
	if (!c)
		return NULL;
	if (pn_py_uint_arg(o_depth, "depth", 0, 65536, &depth) < 0)
		return NULL;
	if (depth < 2)
		return PyErr_Format(pn_py_arg_error, "depth must be 2..65536, got %llu", depth);
	if (o_prio && pn_py_uint_arg(o_prio, "prio", 0, 3, &prio) < 0)
		return NULL;
	ien = PyObject_IsTrue(o_ien);
	if (ien < 0)
		return NULL;
	if (o_iv != Py_None) {
		if (pn_py_uint_arg(o_iv, "iv", 0, 0xffff, &iv) < 0)
			return NULL;
	}
	self = (QpairObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	Py_INCREF(ctrl_obj);
	self->ctrl_obj = ctrl_obj;
	self->pq.ctrl = c;
	snprintf(self->pq.name, sizeof(self->pq.name), "Qpair of %s", c->name);
	Py_BEGIN_ALLOW_THREADS
	rc = pn_qpair_create(c, (uint32_t)depth, (uint8_t)prio, ien,
			     o_iv == Py_None ? PN_IV_AUTO : (uint32_t)iv, &self->qp, &status);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		if (rc == -EIO && pn_status_is_error(status) && status != PN_STATUS_SYNTH) {
			char reason[320];

			snprintf(reason, sizeof(reason), "%s", pn_last_error());
			if (pn_py_warn_status(status, nvme_admin_create_sq, c->name) < 0) {
				Py_DECREF(self);
				return NULL;
			}
			pn_fail(EIO, "%s", reason);
		}
		pn_py_raise(rc == -EINVAL ? pn_py_arg_error : pn_py_qpair_creation_error, rc, "Qpair");
		Py_DECREF(self);
		return NULL;
	}
	self->pq.qp = self->qp;
	snprintf(self->pq.name, sizeof(self->pq.name), "Qpair %u of %s", self->qp->qid, c->name);
	if (pn_py_controller_add_qpair(ctrl_obj, (PyObject *)self) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

/* Deletes the C qpair; returns its result (0 or -errno). */
static int qpair_delete_c(QpairObject *self)
{
	struct pn_qpair *qp = self->qp;
	int rc;

	if (!qp)
		return 0;
	self->qp = NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_qpair_free(qp);
	Py_END_ALLOW_THREADS
	pn_py_queue_discard(&self->pq);
	self->pq.qp = NULL;
	self->pq.ctrl = NULL;
	return rc;
}

void pn_py_qpair_invalidate(PyObject *obj)
{
	qpair_delete_c((QpairObject *)obj);
	pn_clear_error();
}

static void qpair_dealloc(QpairObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	/* the controller may be closed already (it invalidated us then) */
	qpair_delete_c(self);
	pn_clear_error();
	Py_CLEAR(self->ctrl_obj);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *qpair_delete(QpairObject *self, PyObject *unused)
{
	int rc;

	if (self->pq.in_callback)
		return PyErr_Format(PyExc_RuntimeError, "delete() inside a completion callback");
	if (self->pq.polling)
		return PyErr_Format(PyExc_RuntimeError, "%s: delete() while another thread is inside "
				    "waitdone()", self->pq.name);
	rc = qpair_delete_c(self);
	if (rc < 0) {
		if (rc == -EIO) {
			if (PyErr_WarnFormat(PyExc_UserWarning, 1, "%s", pn_last_error()) < 0)
				return NULL;
			pn_clear_error();
			Py_RETURN_NONE;
		}
		return pn_py_raise(pn_py_qpair_deletion_error, rc, self->pq.name);
	}
	Py_RETURN_NONE;
}

static PyObject *qpair_waitdone(QpairObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"expected", NULL};
	PyObject *o = NULL;
	unsigned long long expected = 1;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:waitdone", kwlist, &o))
		return NULL;
	if (o && pn_py_uint_arg(o, "expected", 0, 0x7fffffffull, &expected) < 0)
		return NULL;
	if (!live(self))
		return NULL;
	return pn_py_waitdone(&self->pq, (long)expected);
}

/* Beyond the original API: a raw IO command on this queue (Namespace.send_cmd
 * is the usual way; this one needs no Namespace, for queue-level tests). */
static PyObject *qpair_send_cmd(QpairObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"opcode", "buf", "nsid", "cdw10", "cdw11", "cdw12", "cdw13",
				 "cdw14", "cdw15", "sgl", "cb", NULL};
	PyObject *o_opc, *buf = Py_None, *o_nsid = NULL, *o[6] = {NULL}, *cb = Py_None;
	unsigned long long opc, nsid = 1;
	int sgl = 0;
	uint32_t cdw[6] = {0};
	struct pn_sqe sqe = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOOOOOpO:send_cmd", kwlist, &o_opc, &buf,
					 &o_nsid, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &sgl, &cb))
		return NULL;
	if (pn_py_uint_arg(o_opc, "opcode", 0, 0xffff, &opc) < 0)
		return NULL;
	if (o_nsid && pn_py_uint_arg(o_nsid, "nsid", 0, 0xffffffffull, &nsid) < 0)
		return NULL;
	if (pn_py_cdw_args(o, 6, cdw) < 0)
		return NULL;
	if (!live(self))
		return NULL;
	sqe.opc = (uint8_t)opc;
	sqe.flags = (uint8_t)((opc >> 8) & 3); /* fuse bits in the opcode word */
	sqe.nsid = (uint32_t)nsid;
	sqe.cdw10 = cdw[0];
	sqe.cdw11 = cdw[1];
	sqe.cdw12 = cdw[2];
	sqe.cdw13 = cdw[3];
	sqe.cdw14 = cdw[4];
	sqe.cdw15 = cdw[5];
	if (pn_py_cmd_submit(&self->pq, &sqe, buf, buf != Py_None ? UINT64_MAX : 0, cb,
			     sgl ? PN_CMD_SGL : 0) < 0)
		return NULL;
	Py_INCREF(self);
	return (PyObject *)self;
}

static PyObject *qpair_cmdlog(QpairObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"count", NULL};
	PyObject *o = NULL;
	unsigned long long count = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:cmdlog", kwlist, &o))
		return NULL;
	if (o && pn_py_uint_arg(o, "count", 0, 0xffffffffull, &count) < 0)
		return NULL;
	if (!live(self))
		return NULL;
	return pn_py_cmdlog_list(&self->qp->q, count);
}

static PyObject *qpair_msix_clear(QpairObject *self, PyObject *unused)
{
	if (!live(self))
		return NULL;
	pn_ctrl_irq_clear(self->qp->ctrl, self->qp->iv);
	Py_RETURN_NONE;
}

static PyObject *qpair_msix_isset(QpairObject *self, PyObject *unused)
{
	if (!live(self))
		return NULL;
	if (pn_ctrl_vector_fd(self->qp->ctrl, self->qp->iv) < 0)
		return PyErr_Format(pn_py_error, "%s: interrupt vector %u has no eventfd (MSI-X not enabled)",
				    self->pq.name, self->qp->iv);
	return PyBool_FromLong(pn_ctrl_irq_isset(self->qp->ctrl, self->qp->iv));
}

static PyObject *msix_mask(QpairObject *self, bool mask)
{
	int rc;

	if (!live(self))
		return NULL;
	rc = pn_ctrl_msix_mask(self->qp->ctrl, self->qp->iv, mask);
	if (rc < 0)
		return pn_py_raise(pn_py_error, rc, self->pq.name);
	Py_RETURN_NONE;
}

static PyObject *qpair_msix_mask(QpairObject *self, PyObject *unused)
{
	return msix_mask(self, true);
}

static PyObject *qpair_msix_unmask(QpairObject *self, PyObject *unused)
{
	return msix_mask(self, false);
}

static PyObject *qpair_get_sqid(QpairObject *self, void *closure)
{
	if (!live(self))
		return NULL;
	return PyLong_FromUnsignedLong(self->qp->qid);
}

static PyObject *qpair_get_latest_cid(QpairObject *self, void *closure)
{
	return PyLong_FromUnsignedLong(self->pq.latest_cid);
}

static PyObject *qpair_get_latest_latency(QpairObject *self, void *closure)
{
	return PyLong_FromUnsignedLongLong(self->pq.latest_latency_us);
}

static PyObject *qpair_get_depth(QpairObject *self, void *closure)
{
	if (!live(self))
		return NULL;
	return PyLong_FromUnsignedLong(self->qp->depth);
}

static PyObject *qpair_get_iv(QpairObject *self, void *closure)
{
	if (!live(self))
		return NULL;
	return PyLong_FromUnsignedLong(self->qp->iv);
}

static PyObject *qpair_repr(QpairObject *self)
{
	return PyUnicode_FromFormat("<%s%s>", self->pq.name, self->qp ? "" : " deleted");
}

struct pn_qpair *pn_py_qpair_get(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &pn_py_qpair_type)) {
		PyErr_Format(PyExc_TypeError, "expected an nvme.Qpair, not %.100s", Py_TYPE(obj)->tp_name);
		return NULL;
	}
	return live((QpairObject *)obj);
}

struct pn_py_queue *pn_py_qpair_queue(PyObject *obj)
{
	return pn_py_qpair_get(obj) ? &((QpairObject *)obj)->pq : NULL;
}

#define M(name, fn, flags, doc) {name, (PyCFunction)(void (*)(void))fn, flags, doc}

static PyMethodDef qpair_methods[] = {
	M("waitdone", qpair_waitdone, METH_VARARGS | METH_KEYWORDS,
	  "waitdone(expected=1)\n\nReaps `expected` IO completions and returns dword0 of the last."),
	M("delete", qpair_delete, METH_NOARGS,
	  "delete()\n\nDeletes the SQ and CQ on the device; the object is unusable afterwards."),
	M("send_cmd", qpair_send_cmd, METH_VARARGS | METH_KEYWORDS,
	  "send_cmd(opcode, buf=None, nsid=1, cdw10=0, ..., cdw15=0, sgl=False, cb=None)\n\n"
	  "Beyond the original API: any IO command on this queue without a Namespace (the\n"
	  "whole buffer window is the data; sgl=True describes it with an SGL). Returns self."),
	M("cmdlog", qpair_cmdlog, METH_VARARGS | METH_KEYWORDS,
	  "cmdlog(count=0) -> recent commands of this queue, most recent first (see Controller.cmdlog)."),
	M("msix_clear", qpair_msix_clear, METH_NOARGS, "msix_clear()\n\nForgets interrupts seen on this queue's vector."),
	M("msix_isset", qpair_msix_isset, METH_NOARGS,
	  "msix_isset() -> whether this queue's MSI-X vector fired since msix_clear()."),
	M("msix_mask", qpair_msix_mask, METH_NOARGS, "msix_mask()\n\nMasks the vector in the MSI-X table."),
	M("msix_unmask", qpair_msix_unmask, METH_NOARGS, "msix_unmask()\n\nUnmasks the vector."),
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef qpair_getset[] = {
	{"sqid", (getter)qpair_get_sqid, NULL, "Submission queue id (= its CQ id).", NULL},
	{"depth", (getter)qpair_get_depth, NULL, "Entries of each ring.", NULL},
	{"iv", (getter)qpair_get_iv, NULL, "Interrupt vector of the CQ.", NULL},
	{"latest_cid", (getter)qpair_get_latest_cid, NULL, "CID of the latest reaped command.", NULL},
	{"latest_latency", (getter)qpair_get_latest_latency, NULL,
	 "Latency (us) of the latest reaped command.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pn_py_qpair_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nvme.Qpair",
	.tp_basicsize = sizeof(QpairObject),
	.tp_dealloc = (destructor)qpair_dealloc,
	.tp_repr = (reprfunc)qpair_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_weaklistoffset = offsetof(QpairObject, weakrefs),
	.tp_doc = "Qpair(nvme, depth, prio=0, ien=True, iv=None)\n\n"
		  "An IO submission queue and its completion queue of `depth` entries each, on\n"
		  "the lowest free queue id. iv None: the queue's own MSI-X vector where there is\n"
		  "one. Used by Namespace IO commands; one thread uses a Qpair at a time.",
	.tp_methods = qpair_methods,
	.tp_getset = qpair_getset,
	.tp_new = qpair_new,
};

int pn_py_register_qpair(PyObject *module)
{
	if (PyType_Ready(&pn_py_qpair_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "Qpair", (PyObject *)&pn_py_qpair_type);
}
