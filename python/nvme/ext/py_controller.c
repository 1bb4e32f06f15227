/* nvme.Controller: an NVMe controller on a Pcie function (registers,
 * initialisation, admin commands, reset, command log). */
#include "module.h"
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "dma.h"
#include "error.h"
#include "nvme_names.h"
#include "tsc.h"
#include "transport.h"

typedef struct {
	PyObject_HEAD
	PyObject *pcie;          /* attached with pn_py_pcie_attach, NULL once closed */
	struct pn_ctrl *ctrl;    /* NULL once closed */
	struct pn_py_queue aq;   /* the admin queue seen from Python */
	PyObject *init_func;     /* None, True or a callable: reset() repeats it */
	PyObject *qpairs;        /* list of weakrefs to this controller's Qpairs */
	uint8_t effects[4096];   /* Commands Supported and Effects log, cached */
	int effects_valid;
	PyObject *weakrefs;
	char addr[64];           /* the device's address, also after close */
} ControllerObject;

/* ---- argument helpers ------------------------------------------------ */

/* An int argument in 0..max, named in the error (args.h). */
#define U32(obj, name, var) PN_ARG_REQ(obj, name, 0, 0xffffffffull, var)
#define UMAX(obj, name, max, var) PN_ARG_REQ(obj, name, 0, max, var)

static struct pn_ctrl *open_ctrl(ControllerObject *self)
{
	if (!self->ctrl) {
		PyErr_Format(pn_py_arg_error, "%s is closed", self->aq.name);
		return NULL;
	}
	return self->ctrl;
}

static PyObject *raise_ctrl(ControllerObject *self, int rc)
{
	return pn_py_raise(rc == -EINVAL ? pn_py_arg_error : pn_py_error, rc, self->aq.name);
}

/* Opening or initialising the controller failed: the original's
 * NvmeEnumerateError. */
static PyObject *raise_enumerate(ControllerObject *self, int rc)
{
	return pn_py_raise(pn_py_enumerate_error, rc, self->aq.name);
}

/* Submits an admin command built from the arguments and returns self. */
static PyObject *admin_cmd(ControllerObject *self, uint8_t opc, uint32_t nsid, const uint32_t cdw[6],
			   PyObject *buf, uint64_t len, PyObject *cb)
{
	struct pn_sqe sqe = {.opc = opc, .nsid = nsid};

	if (!open_ctrl(self))
		return NULL;
	sqe.cdw10 = cdw[0];
	sqe.cdw11 = cdw[1];
	sqe.cdw12 = cdw[2];
	sqe.cdw13 = cdw[3];
	sqe.cdw14 = cdw[4];
	sqe.cdw15 = cdw[5];
	if (pn_py_cmd_submit(&self->aq, &sqe, buf, buf && buf != Py_None ? len : 0, cb, 0) < 0)
		return NULL;
	Py_INCREF(self);
	return (PyObject *)self;
}

/* ---- life cycle ------------------------------------------------------ */

static int run_init(ControllerObject *self)
{
	int rc;

	if (self->init_func == Py_True)
		return 0;
	if (self->init_func != Py_None) {
		PyObject *res = PyObject_CallOneArg(self->init_func, (PyObject *)self);

		Py_XDECREF(res);
		return res ? 0 : -1;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_init(self->ctrl);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		raise_enumerate(self, rc);
		return -1;
	}
	return 0;
}

static void invalidate_qpairs(ControllerObject *self)
{
	if (!self->qpairs)
		return;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->qpairs); i++) {
		PyObject *qp = PyWeakref_GetObject(PyList_GET_ITEM(self->qpairs, i));

		if (qp && qp != Py_None) {
			Py_INCREF(qp);
			if (Py_IS_TYPE(qp, &pn_py_ioworker_type))
				pn_py_ioworker_invalidate(qp);
			else
				pn_py_qpair_invalidate(qp);
			Py_DECREF(qp);
		}
	}
	PyList_SetSlice(self->qpairs, 0, PyList_GET_SIZE(self->qpairs), NULL);
}

static void ctrl_close(ControllerObject *self)
{
	struct pn_ctrl *c = self->ctrl;

	if (c) {
		/* before the GIL goes: the monitor thread must not see it closing */
		pn_py_monitor_forget((PyObject *)self);
		/* disabling the controller drops every queue: no Delete commands first */
		pn_ctrl_begin_close(c);
		invalidate_qpairs(self);
		Py_BEGIN_ALLOW_THREADS
		pn_ctrl_close(c);
		Py_END_ALLOW_THREADS
		/* the synthesized completions of what was outstanding */
		pn_py_queue_discard(&self->aq);
		self->ctrl = NULL;
		self->aq.ctrl = NULL;
	}
	if (self->pcie) {
		PyObject *pcie = self->pcie;

		self->pcie = NULL;
		pn_py_pcie_detach(pcie, (PyObject *)self);
	}
}

static PyObject *ctrl_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"pcie", "nvme_init_func", NULL};
	PyObject *pcie, *init = Py_None;
	ControllerObject *self;
	struct pn_transport *dev;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:Controller", kwlist, &pcie, &init))
		return NULL;
	if (init != Py_None && init != Py_True && !PyCallable_Check(init))
		return PyErr_Format(PyExc_TypeError,
				    "nvme_init_func must be None, True or a callable, not %.100s",
				    Py_TYPE(init)->tp_name);
	self = (ControllerObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->qpairs = PyList_New(0);
	if (!self->qpairs)
		goto fail;
	dev = pn_py_pcie_attach(pcie, (PyObject *)self);
	if (!dev)
		goto fail;
	self->pcie = pcie;
	snprintf(self->aq.name, sizeof(self->aq.name), "Controller('%s')", dev->addr);
	snprintf(self->addr, sizeof(self->addr), "%s", dev->addr);
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_open(dev, &self->ctrl);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		raise_enumerate(self, rc);
		goto fail;
	}
	self->aq.ctrl = self->ctrl;
	Py_INCREF(init);
	self->init_func = init;
	/* from now on close() runs (and forgets it), also when init fails */
	pn_py_monitor_track((PyObject *)self, self->ctrl);
	if (run_init(self) < 0)
		goto fail;
	return (PyObject *)self;
fail:
	Py_DECREF(self);
	return NULL;
}

static void ctrl_dealloc(ControllerObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	ctrl_close(self);
	Py_CLEAR(self->init_func);
	Py_CLEAR(self->qpairs);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Teardown while another thread polls this controller's queues (with the
 * GIL released) would free memory under it. */
static int refuse_while_polled(ControllerObject *self, const char *what)
{
	if (self->aq.polling) {
		PyErr_Format(PyExc_RuntimeError, "%s: %s while another thread is inside waitdone()",
			     self->aq.name, what);
		return -1;
	}
	return 0;
}

int pn_py_controller_close(PyObject *obj)
{
	ControllerObject *self = (ControllerObject *)obj;

	if (refuse_while_polled(self, "close()") < 0)
		return -1;
	ctrl_close(self);
	return 0;
}

static PyObject *ctrl_close_method(ControllerObject *self, PyObject *unused)
{
	if (pn_py_controller_close((PyObject *)self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *ctrl_enter(ControllerObject *self, PyObject *unused)
{
	if (!open_ctrl(self))
		return NULL;
	Py_INCREF(self);
	return (PyObject *)self;
}

static PyObject *ctrl_exit(ControllerObject *self, PyObject *args)
{
	if (pn_py_controller_close((PyObject *)self) < 0)
		return NULL;
	Py_RETURN_FALSE;
}

/* ---- registers ------------------------------------------------------- */

static int reg_offset(ControllerObject *self, PyObject *key, uint32_t *offset)
{
	unsigned long long v;

	if (!PyLong_Check(key)) {
		PyErr_Format(PyExc_TypeError, "register offset must be an int, not %.100s",
			     Py_TYPE(key)->tp_name);
		return -1;
	}
	v = PyLong_AsUnsignedLongLong(key);
	if (PyErr_Occurred() || v + 4 > self->ctrl->bar0_size || (v & 3)) {
		PyErr_Clear();
		PyErr_Format(PyExc_IndexError,
			     "register offset must be a multiple of 4 inside BAR0 (0..0x%llx)",
			     (unsigned long long)self->ctrl->bar0_size - 4);
		return -1;
	}
	*offset = (uint32_t)v;
	return 0;
}

static PyObject *ctrl_getitem(ControllerObject *self, PyObject *key)
{
	uint32_t offset, value;
	int rc;

	if (!open_ctrl(self) || reg_offset(self, key, &offset) < 0)
		return NULL;
	rc = pn_ctrl_read32(self->ctrl, offset, &value);
	if (rc < 0)
		return raise_ctrl(self, rc);
	return PyLong_FromUnsignedLong(value);
}

static int ctrl_setitem(ControllerObject *self, PyObject *key, PyObject *value)
{
	uint32_t offset;
	unsigned long long v;
	int rc;

	if (!open_ctrl(self) || reg_offset(self, key, &offset) < 0)
		return -1;
	if (!value) {
		PyErr_SetString(PyExc_TypeError, "registers cannot be deleted");
		return -1;
	}
	if (pn_py_uint_arg(value, "register value", 0, 0xffffffffull, &v) < 0)
		return -1;
	rc = pn_ctrl_write32(self->ctrl, offset, (uint32_t)v);
	if (rc < 0) {
		raise_ctrl(self, rc);
		return -1;
	}
	return 0;
}

/* ---- properties ------------------------------------------------------ */

static PyObject *ctrl_get_cap(ControllerObject *self, void *closure)
{
	uint64_t cap;
	int rc;

	if (!open_ctrl(self))
		return NULL;
	rc = pn_ctrl_read64(self->ctrl, NVME_REG_CAP, &cap);
	if (rc < 0)
		return raise_ctrl(self, rc);
	return PyLong_FromUnsignedLongLong(cap);
}

static PyObject *ctrl_get_mdts(ControllerObject *self, void *closure)
{
	int rc;

	if (!open_ctrl(self))
		return NULL;
	if (!self->ctrl->id_valid) {
		Py_BEGIN_ALLOW_THREADS
		rc = pn_ctrl_init_ns(self->ctrl);
		Py_END_ALLOW_THREADS
		if (rc < 0)
			return raise_ctrl(self, rc);
	}
	return PyLong_FromUnsignedLongLong(self->ctrl->mdts_bytes);
}

static PyObject *ctrl_get_timeout(ControllerObject *self, void *closure)
{
	if (!open_ctrl(self))
		return NULL;
	return PyLong_FromUnsignedLong(self->ctrl->timeout_ms);
}

static int ctrl_set_timeout(ControllerObject *self, PyObject *value, void *closure)
{
	unsigned long long v;

	if (!open_ctrl(self))
		return -1;
	if (!value) {
		PyErr_SetString(PyExc_TypeError, "timeout cannot be deleted");
		return -1;
	}
	if (pn_py_uint_arg(value, "timeout (ms)", 0, 0xffffffffull, &v) < 0)
		return -1;
	pn_ctrl_set_timeout(self->ctrl, (uint32_t)v);
	return 0;
}

static PyObject *ctrl_get_latest_cid(ControllerObject *self, void *closure)
{
	return PyLong_FromUnsignedLong(self->aq.latest_cid);
}

static PyObject *ctrl_get_latest_latency(ControllerObject *self, void *closure)
{
	return PyLong_FromUnsignedLongLong(self->aq.latest_latency_us);
}

/* ---- waitdone and building blocks ------------------------------------- */

static PyObject *ctrl_waitdone(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"expected", NULL};
	PyObject *exp_obj = NULL;
	unsigned long long expected = 1;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:waitdone", kwlist, &exp_obj))
		return NULL;
	if (exp_obj)
		UMAX(exp_obj, "expected", 0x7fffffffull, expected);
	if (!open_ctrl(self))
		return NULL;
	return pn_py_waitdone(&self->aq, (long)expected);
}

static PyObject *ctrl_init_adminq(ControllerObject *self, PyObject *unused)
{
	int rc;

	if (!open_ctrl(self))
		return NULL;
	if (self->aq.in_callback)
		return PyErr_Format(PyExc_RuntimeError, "init_adminq() inside a completion callback");
	if (refuse_while_polled(self, "init_adminq()") < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_init_adminq(self->ctrl);
	Py_END_ALLOW_THREADS
	pn_py_queue_discard(&self->aq);
	if (rc < 0)
		return raise_ctrl(self, rc);
	Py_RETURN_NONE;
}

static PyObject *ctrl_init_ns(ControllerObject *self, PyObject *unused)
{
	int rc;

	if (!open_ctrl(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_init_ns(self->ctrl);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return raise_ctrl(self, rc);
	Py_RETURN_NONE;
}

static PyObject *ctrl_init_queues(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"cdw0", NULL};
	PyObject *obj;
	uint32_t cdw0;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:init_queues", kwlist, &obj))
		return NULL;
	U32(obj, "cdw0", cdw0);
	if (!open_ctrl(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_init_queues(self->ctrl, cdw0);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return raise_ctrl(self, rc);
	Py_RETURN_NONE;
}

static PyObject *ctrl_reset(ControllerObject *self, PyObject *unused)
{
	long aborted;
	int rc;

	if (!open_ctrl(self))
		return NULL;
	if (self->aq.in_callback)
		return PyErr_Format(PyExc_RuntimeError, "reset() inside a completion callback");
	if (refuse_while_polled(self, "reset()") < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_disable(self->ctrl);
	Py_END_ALLOW_THREADS
	pn_clear_error();
	(void)rc; /* a device that does not answer is reported by the init below */
	/* outstanding admin commands were dropped by the controller */
	aborted = pn_py_queue_discard(&self->aq);
	if (aborted > 0 &&
	    PyErr_WarnFormat(PyExc_UserWarning, 1, "%s: reset dropped %ld outstanding admin commands",
			     self->aq.name, aborted) < 0)
		return NULL;
	self->effects_valid = 0;
	if (run_init(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* ---- admin commands -------------------------------------------------- */

#define CB_KW "cb"

static PyObject *ctrl_identify(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"buf", "nsid", "cns", "cntid", "csi", "nvmsetid", CB_KW, NULL};
	PyObject *buf, *o_nsid = NULL, *o_cns = NULL, *o_cntid = NULL, *o_csi = NULL, *o_set = NULL,
		 *cb = Py_None;
	unsigned long long nsid = 0, cns = 1, cntid = 0, csi = 0, setid = 0;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOOO:identify", kwlist, &buf, &o_nsid,
					 &o_cns, &o_cntid, &o_csi, &o_set, &cb))
		return NULL;
	if (o_nsid) UMAX(o_nsid, "nsid", 0xffffffffull, nsid);
	if (o_cns) UMAX(o_cns, "cns", 0xff, cns);
	if (o_cntid) UMAX(o_cntid, "cntid", 0xffff, cntid);
	if (o_csi) UMAX(o_csi, "csi", 0xff, csi);
	if (o_set) UMAX(o_set, "nvmsetid", 0xffff, setid);
	cdw[0] = (uint32_t)(cntid << 16 | cns);
	cdw[1] = (uint32_t)(csi << 24 | setid);
	if (buf == Py_None)
		return PyErr_Format(PyExc_TypeError, "buf must be an nvme.Buffer");
	return admin_cmd(self, nvme_admin_identify, (uint32_t)nsid, cdw, buf, 4096, cb);
}

static PyObject *ctrl_id_data(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"byte_end", "byte_begin", "type", "nsid", "cns", "cntid", "csi", NULL};
	PyObject *o_end, *o_begin = Py_None, *type = (PyObject *)&PyLong_Type, *o_nsid = NULL,
		 *o_cns = NULL, *o_cntid = NULL, *o_csi = NULL;
	unsigned long long end, begin, nsid = 0, cns = 1, cntid = 0, csi = 0;
	uint8_t data[4096];
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOOO:id_data", kwlist, &o_end, &o_begin,
					 &type, &o_nsid, &o_cns, &o_cntid, &o_csi))
		return NULL;
	UMAX(o_end, "byte_end", 4095, end);
	begin = end;
	if (o_begin != Py_None)
		UMAX(o_begin, "byte_begin", 4095, begin);
	if (o_nsid) UMAX(o_nsid, "nsid", 0xffffffffull, nsid);
	if (o_cns) UMAX(o_cns, "cns", 0xff, cns);
	if (o_cntid) UMAX(o_cntid, "cntid", 0xffff, cntid);
	if (o_csi) UMAX(o_csi, "csi", 0xff, csi);
	if (begin > end)
		return PyErr_Format(pn_py_arg_error, "byte_begin %llu is after byte_end %llu", begin, end);
	if (type != (PyObject *)&PyLong_Type && type != (PyObject *)&PyUnicode_Type)
		return PyErr_Format(pn_py_arg_error, "type must be int or str");
	if (type == (PyObject *)&PyLong_Type && end - begin >= 4096)
		return PyErr_Format(pn_py_arg_error, "byte range too long");
	if (!open_ctrl(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_identify(self->ctrl, (uint8_t)cns, (uint32_t)nsid, (uint16_t)cntid, (uint8_t)csi, data);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		if (rc == -EIO) {
			/* an error status is a warning, as for any command */
			if (PyErr_WarnFormat(PyExc_UserWarning, 1, "%s", pn_last_error()) < 0)
				return NULL;
			pn_clear_error();
			Py_RETURN_NONE;
		}
		return raise_ctrl(self, rc);
	}
	if (type == (PyObject *)&PyUnicode_Type) {
		Py_ssize_t len = (Py_ssize_t)(end - begin + 1);

		while (len > 0 && (data[begin + len - 1] == ' ' || data[begin + len - 1] == 0))
			len--;
		return PyUnicode_DecodeLatin1((const char *)data + begin, len, NULL);
	}
	return _PyLong_FromByteArray(data + begin, (size_t)(end - begin + 1), 1, 0);
}

static PyObject *ctrl_getfeatures(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"fid", "sel", "buf", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15",
				 CB_KW, NULL};
	PyObject *o_fid, *o_sel = NULL, *buf = Py_None, *o[5] = {NULL}, *cb = Py_None;
	unsigned long long fid, sel = 0;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOOOOO:getfeatures", kwlist, &o_fid,
					 &o_sel, &buf, &o[0], &o[1], &o[2], &o[3], &o[4], &cb))
		return NULL;
	UMAX(o_fid, "fid", 0xff, fid);
	if (o_sel) UMAX(o_sel, "sel", 7, sel);
	if (pn_py_cdw_args(o, 5, cdw + 1) < 0)
		return NULL;
	cdw[0] = (uint32_t)(sel << 8 | fid);
	return admin_cmd(self, nvme_admin_get_features, 0, cdw, buf, UINT64_MAX, cb);
}

static PyObject *ctrl_setfeatures(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"fid", "sv", "buf", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15",
				 "nsid", CB_KW, NULL};
	PyObject *o_fid, *o_sv = NULL, *buf = Py_None, *o[5] = {NULL}, *o_nsid = NULL, *cb = Py_None;
	unsigned long long fid, sv = 0, nsid = 0;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOOOOOO:setfeatures", kwlist, &o_fid,
					 &o_sv, &buf, &o[0], &o[1], &o[2], &o[3], &o[4], &o_nsid, &cb))
		return NULL;
	UMAX(o_fid, "fid", 0xff, fid);
	if (o_sv) UMAX(o_sv, "sv", 1, sv);
	if (o_nsid) UMAX(o_nsid, "nsid", 0xffffffffull, nsid);
	if (pn_py_cdw_args(o, 5, cdw + 1) < 0)
		return NULL;
	cdw[0] = (uint32_t)(sv << 31 | fid);
	return admin_cmd(self, nvme_admin_set_features, (uint32_t)nsid, cdw, buf, UINT64_MAX, cb);
}

static PyObject *ctrl_getlogpage(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"lid", "buf", "size", "offset", "nsid", "lsp", "rae", CB_KW, NULL};
	PyObject *o_lid, *buf, *o_size = Py_None, *o_off = NULL, *o_nsid = NULL, *o_lsp = NULL,
		 *o_rae = NULL, *cb = Py_None;
	unsigned long long lid, size, offset = 0, nsid = 0xffffffff, lsp = 0, rae = 0;
	struct dma_region *region;
	uint64_t boff, bsize, numd;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOOOOO:getlogpage", kwlist, &o_lid, &buf,
					 &o_size, &o_off, &o_nsid, &o_lsp, &o_rae, &cb))
		return NULL;
	UMAX(o_lid, "lid", 0xff, lid);
	if (o_off) UMAX(o_off, "offset", ~0ull, offset);
	if (o_nsid) UMAX(o_nsid, "nsid", 0xffffffffull, nsid);
	if (o_lsp) UMAX(o_lsp, "lsp", 0x7f, lsp);
	if (o_rae) UMAX(o_rae, "rae", 1, rae);
	if (pn_py_buffer_get(buf, &region, &boff, &bsize) < 0)
		return NULL;
	size = bsize;
	if (o_size != Py_None)
		UMAX(o_size, "size", bsize, size);
	if (size < 4 || (size & 3))
		return PyErr_Format(pn_py_arg_error, "size must be a multiple of 4 bytes >= 4, got %llu", size);
	if (offset & 3)
		return PyErr_Format(pn_py_arg_error, "offset must be a multiple of 4 bytes");
	numd = size / 4 - 1;
	cdw[0] = (uint32_t)((numd & 0xffff) << 16 | rae << 15 | lsp << 8 | lid);
	cdw[1] = (uint32_t)(numd >> 16);
	cdw[2] = (uint32_t)offset;
	cdw[3] = (uint32_t)(offset >> 32);
	return admin_cmd(self, nvme_admin_get_log_page, (uint32_t)nsid, cdw, buf, size, cb);
}

static PyObject *ctrl_format(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"lbaf", "ses", "nsid", "mset", "pi", "pil", CB_KW, NULL};
	PyObject *o_lbaf = NULL, *o_ses = NULL, *o_nsid = NULL, *o_mset = NULL, *o_pi = NULL,
		 *o_pil = NULL, *cb = Py_None;
	unsigned long long lbaf = 0, ses = 0, nsid = 1, mset = 0, pi = 0, pil = 0;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOOOOO:format", kwlist, &o_lbaf, &o_ses,
					 &o_nsid, &o_mset, &o_pi, &o_pil, &cb))
		return NULL;
	if (o_lbaf) UMAX(o_lbaf, "lbaf", 63, lbaf);
	if (o_ses) UMAX(o_ses, "ses", 7, ses);
	if (o_nsid) UMAX(o_nsid, "nsid", 0xffffffffull, nsid);
	if (o_mset) UMAX(o_mset, "mset", 1, mset);
	if (o_pi) UMAX(o_pi, "pi", 7, pi);
	if (o_pil) UMAX(o_pil, "pil", 1, pil);
	cdw[0] = (uint32_t)((lbaf >> 4) << 12 | ses << 9 | pil << 8 | pi << 5 | mset << 4 | (lbaf & 0xf));
	return admin_cmd(self, nvme_admin_format_nvm, (uint32_t)nsid, cdw, NULL, 0, cb);
}

static PyObject *ctrl_sanitize(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"option", "pattern", "cdw10", CB_KW, NULL};
	PyObject *o_opt = NULL, *o_pat = NULL, *o_cdw10 = NULL, *cb = Py_None;
	unsigned long long option = 2, pattern = 0, extra = 0;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOO:sanitize", kwlist, &o_opt, &o_pat,
					 &o_cdw10, &cb))
		return NULL;
	if (o_opt) UMAX(o_opt, "option", 7, option);
	if (o_pat) UMAX(o_pat, "pattern", 0xffffffffull, pattern);
	if (o_cdw10) UMAX(o_cdw10, "cdw10", 0xffffffffull, extra);
	cdw[0] = (uint32_t)(extra | option);
	cdw[1] = (uint32_t)pattern;
	return admin_cmd(self, nvme_admin_sanitize_nvm, 0, cdw, NULL, 0, cb);
}

static PyObject *ctrl_dst(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"stc", "nsid", CB_KW, NULL};
	PyObject *o_stc = NULL, *o_nsid = NULL, *cb = Py_None;
	unsigned long long stc = 1, nsid = 0xffffffff;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOO:dst", kwlist, &o_stc, &o_nsid, &cb))
		return NULL;
	if (o_stc) UMAX(o_stc, "stc", 0xf, stc);
	if (o_nsid) UMAX(o_nsid, "nsid", 0xffffffffull, nsid);
	cdw[0] = (uint32_t)stc;
	return admin_cmd(self, nvme_admin_dev_self_test, (uint32_t)nsid, cdw, NULL, 0, cb);
}

static PyObject *ctrl_fw_download(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"buf", "offset", "size", CB_KW, NULL};
	PyObject *buf, *o_off, *o_size = Py_None, *cb = Py_None;
	unsigned long long offset, size;
	struct dma_region *region;
	uint64_t boff, bsize;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO:fw_download", kwlist, &buf, &o_off,
					 &o_size, &cb))
		return NULL;
	if (pn_py_buffer_get(buf, &region, &boff, &bsize) < 0)
		return NULL;
	/* Any size and offset the dword fields can carry: the device judges
	 * (unaligned, empty or oversized pieces are firmware tests). NUMD is
	 * size / 4 - 1, so a size under 4 bytes gives NUMD 0xffffffff. */
	UMAX(o_off, "offset", 0x3ffffffffull, offset);
	size = bsize;
	if (o_size != Py_None)
		UMAX(o_size, "size", 0x400000000ull, size);
	cdw[0] = (uint32_t)(size / 4 - 1);
	cdw[1] = (uint32_t)(offset / 4);
	return admin_cmd(self, nvme_admin_fw_download, 0, cdw, buf, size, cb);
}

static PyObject *ctrl_fw_commit(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"slot", "action", "bpid", CB_KW, NULL};
	PyObject *o_slot, *o_act, *o_bpid = NULL, *cb = Py_None;
	unsigned long long slot, action, bpid = 0;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO:fw_commit", kwlist, &o_slot, &o_act,
					 &o_bpid, &cb))
		return NULL;
	UMAX(o_slot, "slot", 7, slot);
	UMAX(o_act, "action", 7, action);
	if (o_bpid) UMAX(o_bpid, "bpid", 1, bpid);
	cdw[0] = (uint32_t)(bpid << 31 | action << 3 | slot);
	return admin_cmd(self, nvme_admin_fw_commit, 0, cdw, NULL, 0, cb);
}

static PyObject *ctrl_abort(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"cid", "sqid", CB_KW, NULL};
	PyObject *o_cid, *o_sqid = NULL, *cb = Py_None;
	unsigned long long cid, sqid = 0;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:abort", kwlist, &o_cid, &o_sqid, &cb))
		return NULL;
	UMAX(o_cid, "cid", 0xffff, cid);
	if (o_sqid) UMAX(o_sqid, "sqid", 0xffff, sqid);
	cdw[0] = (uint32_t)(cid << 16 | sqid);
	return admin_cmd(self, nvme_admin_abort_cmd, 0, cdw, NULL, 0, cb);
}

static PyObject *ctrl_aer(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {CB_KW, NULL};
	PyObject *cb = Py_None;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:aer", kwlist, &cb))
		return NULL;
	return admin_cmd(self, nvme_admin_async_event, 0, cdw, NULL, 0, cb);
}

static PyObject *security(ControllerObject *self, uint8_t opc, PyObject *args, PyObject *kwargs,
			  const char *fmt)
{
	static char *kwlist[] = {"buf", "spsp", "secp", "nssf", "size", CB_KW, NULL};
	PyObject *buf, *o_spsp = NULL, *o_secp = NULL, *o_nssf = NULL, *o_size = Py_None, *cb = Py_None;
	unsigned long long spsp = 0, secp = 1, nssf = 0, size;
	struct dma_region *region;
	uint64_t boff, bsize;
	uint32_t cdw[6] = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kwlist, &buf, &o_spsp, &o_secp, &o_nssf,
					 &o_size, &cb))
		return NULL;
	if (pn_py_buffer_get(buf, &region, &boff, &bsize) < 0)
		return NULL;
	if (o_spsp) UMAX(o_spsp, "spsp", 0xffff, spsp);
	if (o_secp) UMAX(o_secp, "secp", 0xff, secp);
	if (o_nssf) UMAX(o_nssf, "nssf", 0xff, nssf);
	size = bsize;
	if (o_size != Py_None)
		UMAX(o_size, "size", bsize, size);
	cdw[0] = (uint32_t)(secp << 24 | spsp << 8 | nssf);
	cdw[1] = (uint32_t)size;
	return admin_cmd(self, opc, 0, cdw, buf, size, cb);
}

static PyObject *ctrl_security_send(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	return security(self, nvme_admin_security_send, args, kwargs, "O|OOOOO:security_send");
}

static PyObject *ctrl_security_receive(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	return security(self, nvme_admin_security_recv, args, kwargs, "O|OOOOO:security_receive");
}

/* send_cmd and the NVMe-MI pair: any opcode with raw dwords. */
static PyObject *raw_cmd(ControllerObject *self, int fixed_opc, PyObject *args, PyObject *kwargs,
			 const char *fmt)
{
	static char *kwlist_op[] = {"opcode", "buf", "nsid", "cdw10", "cdw11", "cdw12", "cdw13",
				    "cdw14", "cdw15", CB_KW, NULL};
	PyObject *o_opc = NULL, *buf = Py_None, *o_nsid = NULL, *o[6] = {NULL}, *cb = Py_None;
	unsigned long long opc = 0, nsid = 0;
	uint32_t cdw[6] = {0};
	int ok;

	if (fixed_opc < 0)
		ok = PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kwlist_op, &o_opc, &buf, &o_nsid,
						 &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &cb);
	else
		ok = PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kwlist_op + 1, &buf, &o_nsid,
						 &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &cb);
	if (!ok)
		return NULL;
	if (o_opc)
		UMAX(o_opc, "opcode", 0xff, opc);
	else
		opc = (unsigned long long)fixed_opc;
	if (o_nsid) UMAX(o_nsid, "nsid", 0xffffffffull, nsid);
	if (pn_py_cdw_args(o, 6, cdw) < 0)
		return NULL;
	return admin_cmd(self, (uint8_t)opc, (uint32_t)nsid, cdw, buf, UINT64_MAX, cb);
}

static PyObject *ctrl_send_cmd(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	return raw_cmd(self, -1, args, kwargs, "O|OOOOOOOOO:send_cmd");
}

static PyObject *ctrl_mi_send(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	return raw_cmd(self, nvme_admin_nvme_mi_send, args, kwargs, "|OOOOOOOOO:mi_send");
}

static PyObject *ctrl_mi_receive(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	return raw_cmd(self, nvme_admin_nvme_mi_recv, args, kwargs, "|OOOOOOOOO:mi_receive");
}

/* ---- utilities ------------------------------------------------------- */

static PyObject *ctrl_cmdname(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	unsigned opc;

	if (pn_py_opcode_arg(args, kwargs, "O:cmdname", &opc) < 0)
		return NULL;
	return PyUnicode_FromString(pn_nvme_admin_name(opc));
}

static PyObject *ctrl_supports(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	unsigned opc;
	uint32_t acs;

	if (pn_py_opcode_arg(args, kwargs, "O:supports", &opc) < 0)
		return NULL;
	if (!open_ctrl(self))
		return NULL;
	if (!self->effects_valid) {
		int rc = pn_py_read_effects(self->ctrl, 0, self->effects);

		if (rc < 0)
			return raise_ctrl(self, rc);
		self->effects_valid = 1;
	}
	memcpy(&acs, self->effects + opc * 4, 4);
	return PyBool_FromLong(acs & 1);
}

PyObject *pn_py_cmdlog_list(struct pn_queue *q, unsigned long long count)
{
	uint32_t max = q->log_entries;
	struct pn_cmdlog_entry *entries;
	PyObject *list;
	uint32_t n;

	if (count && count < max)
		max = (uint32_t)count;
	entries = PyMem_Calloc(max ? max : 1, sizeof(*entries));
	if (!entries)
		return PyErr_NoMemory();
	n = pn_queue_cmdlog(q, entries, max);
	list = PyList_New(0);
	for (uint32_t i = 0; list && i < n; i++) {
		const struct pn_cmdlog_entry *e = &entries[i];
		const uint32_t *sd = (const uint32_t *)&e->sqe;
		const uint32_t *cd = (const uint32_t *)&e->cqe;
		PyObject *sqe = PyList_New(16), *cqe, *latency, *d;

		if (!sqe)
			goto fail;
		for (int k = 0; k < 16; k++)
			PyList_SET_ITEM(sqe, k, PyLong_FromUnsignedLong(sd[k]));
		if (e->complete_tsc) {
			cqe = Py_BuildValue("[kkkk]", (unsigned long)cd[0], (unsigned long)cd[1],
					    (unsigned long)cd[2], (unsigned long)cd[3]);
		} else {
			cqe = Py_None;
			Py_INCREF(cqe);
		}
		/* "N" hands the new references to the dict (no leak per entry) */
		latency = e->complete_tsc ?
			PyLong_FromUnsignedLongLong(pn_tsc_to_ns(e->complete_tsc - e->submit_tsc) / 1000) :
			Py_NewRef(Py_None);
		d = Py_BuildValue("{s:N,s:N,s:i,s:i,s:K,s:N,s:O}",
				  "sqe", sqe, "cqe", cqe,
				  "opcode", e->sqe.opc, "cid", e->sqe.cid,
				  "submit_us", (unsigned long long)(pn_tsc_to_ns(e->submit_tsc) / 1000),
				  "latency_us", latency,
				  "synthesized", e->synthesized ? Py_True : Py_False);
		if (!d || PyList_Append(list, d) < 0) {
			Py_XDECREF(d);
			goto fail;
		}
		Py_DECREF(d);
	}
	PyMem_Free(entries);
	return list;
fail:
	PyMem_Free(entries);
	Py_XDECREF(list);
	return NULL;
}

static PyObject *ctrl_cmdlog(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"count", NULL};
	PyObject *o = NULL;
	unsigned long long count = 0;
	PyObject *res;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:cmdlog", kwlist, &o))
		return NULL;
	if (o)
		UMAX(o, "count", 0xffffffffull, count);
	if (!open_ctrl(self))
		return NULL;
	pthread_mutex_lock(&self->ctrl->admin_lock);
	res = self->ctrl->adminq_ready ? pn_py_cmdlog_list(&self->ctrl->adminq, count) : PyList_New(0);
	pthread_mutex_unlock(&self->ctrl->admin_lock);
	return res;
}

static PyObject *ctrl_downfw(ControllerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"filename", "slot", "action", NULL};
	PyObject *o_slot = NULL, *o_act = NULL;
	const char *filename;
	unsigned long long slot = 0, action = 1;
	struct dma_region *mem = NULL;
	struct pn_cqe cqe;
	uint64_t chunk, offset = 0;
	FILE *f;
	int rc = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|OO:downfw", kwlist, &filename, &o_slot, &o_act))
		return NULL;
	if (o_slot) UMAX(o_slot, "slot", 7, slot);
	if (o_act) UMAX(o_act, "action", 7, action);
	if (!open_ctrl(self))
		return NULL;
	f = fopen(filename, "rb");
	if (!f)
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, filename);
	chunk = self->ctrl->mdts_bytes < 32768 ? self->ctrl->mdts_bytes : 32768;
	rc = dma_alloc(chunk, &mem);
	if (rc < 0) {
		fclose(f);
		return raise_ctrl(self, rc);
	}
	for (;;) {
		size_t n = fread(mem->vaddr, 1, chunk, f);
		struct pn_sqe sqe = {.opc = nvme_admin_fw_download};

		if (!n)
			break;
		n = (n + 3) & ~(size_t)3;
		sqe.cdw10 = (uint32_t)(n / 4 - 1);
		sqe.cdw11 = (uint32_t)(offset / 4);
		Py_BEGIN_ALLOW_THREADS
		rc = pn_ctrl_admin_sync(self->ctrl, &sqe, mem->iova, n, &cqe);
		Py_END_ALLOW_THREADS
		if (rc < 0)
			break;
		offset += n;
		memset(mem->vaddr, 0, chunk);
	}
	fclose(f);
	dma_free(mem);
	if (!rc) {
		struct pn_sqe sqe = {.opc = nvme_admin_fw_commit, .cdw10 = (uint32_t)(action << 3 | slot)};

		Py_BEGIN_ALLOW_THREADS
		rc = pn_ctrl_admin_sync(self->ctrl, &sqe, 0, 0, &cqe);
		Py_END_ALLOW_THREADS
	}
	if (rc == -EIO) {
		if (pn_py_warn_status(cqe.status, 0, self->aq.name) < 0)
			return NULL;
		pn_clear_error();
		Py_RETURN_NONE;
	}
	if (rc < 0)
		return raise_ctrl(self, rc);
	Py_RETURN_NONE;
}

static PyObject *ctrl_repr(ControllerObject *self)
{
	return PyUnicode_FromFormat("<%s%s>", self->aq.name, self->ctrl ? "" : " closed");
}

/* ---- C accessors ------------------------------------------------------ */

struct pn_ctrl *pn_py_controller_ctrl(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &pn_py_controller_type)) {
		PyErr_Format(PyExc_TypeError, "expected an nvme.Controller, not %.100s",
			     Py_TYPE(obj)->tp_name);
		return NULL;
	}
	return open_ctrl((ControllerObject *)obj);
}

struct pn_py_queue *pn_py_controller_queue(PyObject *obj)
{
	return pn_py_controller_ctrl(obj) ? &((ControllerObject *)obj)->aq : NULL;
}

int pn_py_controller_add_qpair(PyObject *ctrl, PyObject *qpair)
{
	ControllerObject *self = (ControllerObject *)ctrl;
	PyObject *ref = PyWeakref_NewRef(qpair, NULL);
	int rc;

	if (!ref)
		return -1;
	/* drop references to qpairs that are gone */
	for (Py_ssize_t i = PyList_GET_SIZE(self->qpairs) - 1; i >= 0; i--)
		if (PyWeakref_GetObject(PyList_GET_ITEM(self->qpairs, i)) == Py_None)
			PyList_SetSlice(self->qpairs, i, i + 1, NULL);
	rc = PyList_Append(self->qpairs, ref);
	Py_DECREF(ref);
	return rc;
}

PyObject *pn_py_controller_children(PyObject *obj)
{
	ControllerObject *self = (ControllerObject *)obj;
	PyObject *list = PyList_New(0);

	for (Py_ssize_t i = 0; list && self->qpairs && i < PyList_GET_SIZE(self->qpairs); i++) {
		PyObject *child = PyWeakref_GetObject(PyList_GET_ITEM(self->qpairs, i));

		if (child && child != Py_None && PyList_Append(list, child) < 0)
			Py_CLEAR(list);
	}
	return list;
}

/* ---- type ------------------------------------------------------------ */

#define KW (METH_VARARGS | METH_KEYWORDS)
#define M(name, fn, flags, doc) {name, (PyCFunction)(void (*)(void))fn, flags, doc}

static PyMethodDef ctrl_methods[] = {
	M("waitdone", ctrl_waitdone, KW,
	  "waitdone(expected=1)\n\nReaps `expected` admin completions (polling, woken early by the admin\n"
	  "interrupt) and returns dword0 of the last. Error statuses warn 'ERROR status: SCT/SC';\n"
	  "callbacks run here; AER events warn 'AER triggered, dword0: 0x...'."),
	M("init_adminq", ctrl_init_adminq, METH_NOARGS,
	  "init_adminq()\n\nCreates the admin queue and programs AQA/ASQ/ACQ (controller disabled)."),
	M("init_ns", ctrl_init_ns, METH_NOARGS,
	  "init_ns()\n\nReads identify controller into the driver (MDTS and other limits)."),
	M("init_queues", ctrl_init_queues, KW,
	  "init_queues(cdw0)\n\nRecords the IO queues granted (dword0 of Set Features Number of Queues)\n"
	  "and arms the driver's AER."),
	M("reset", ctrl_reset, METH_NOARGS,
	  "reset()\n\nController reset through CC.EN, then the initialisation again (the\n"
	  "nvme_init_func given at creation, or the standard one). Qpairs are re-created on\n"
	  "their next use; their outstanding commands complete with all-ones status."),
	M("identify", ctrl_identify, KW,
	  "identify(buf, nsid=0, cns=1, cntid=0, csi=0, nvmsetid=0, cb=None)"),
	M("id_data", ctrl_id_data, KW,
	  "id_data(byte_end, byte_begin=None, type=int, nsid=0, cns=1, cntid=0, csi=0)\n\n"
	  "Synchronous: identify data bytes byte_begin..byte_end (inclusive), little-endian int\n"
	  "or (type=str) text with trailing spaces stripped."),
	M("getfeatures", ctrl_getfeatures, KW,
	  "getfeatures(fid, sel=0, buf=None, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0, cb=None)"),
	M("setfeatures", ctrl_setfeatures, KW,
	  "setfeatures(fid, sv=0, buf=None, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0, nsid=0, cb=None)"),
	M("getlogpage", ctrl_getlogpage, KW,
	  "getlogpage(lid, buf, size=None, offset=0, nsid=0xffffffff, lsp=0, rae=0, cb=None)\n\n"
	  "size in bytes (default: the buffer's size), offset in bytes."),
	M("format", ctrl_format, KW, "format(lbaf=0, ses=0, nsid=1, mset=0, pi=0, pil=0, cb=None)"),
	M("sanitize", ctrl_sanitize, KW, "sanitize(option=2, pattern=0, cdw10=0, cb=None)"),
	M("dst", ctrl_dst, KW, "dst(stc=1, nsid=0xffffffff, cb=None): device self-test."),
	M("fw_download", ctrl_fw_download, KW,
	  "fw_download(buf, offset, size=None, cb=None): offset and size in bytes (size None:\n"
	  "the buffer's size). Not checked for alignment: NUMD = size/4 - 1, OFST = offset/4."),
	M("fw_commit", ctrl_fw_commit, KW, "fw_commit(slot, action, bpid=0, cb=None)"),
	M("abort", ctrl_abort, KW, "abort(cid, sqid=0, cb=None)"),
	M("aer", ctrl_aer, KW,
	  "aer(cb=None)\n\nSends an Asynchronous Event Request (never times out); its completion\n"
	  "counts in waitdone() and warns 'AER triggered'."),
	M("security_send", ctrl_security_send, KW,
	  "security_send(buf, spsp=0, secp=1, nssf=0, size=None, cb=None)"),
	M("security_receive", ctrl_security_receive, KW,
	  "security_receive(buf, spsp=0, secp=1, nssf=0, size=None, cb=None)"),
	M("mi_send", ctrl_mi_send, KW,
	  "mi_send(buf=None, nsid=0, cdw10=0, ..., cdw15=0, cb=None): NVMe-MI Send (0x1d)."),
	M("mi_receive", ctrl_mi_receive, KW,
	  "mi_receive(buf=None, nsid=0, cdw10=0, ..., cdw15=0, cb=None): NVMe-MI Receive (0x1e)."),
	M("send_cmd", ctrl_send_cmd, KW,
	  "send_cmd(opcode, buf=None, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0,\n"
	  "cb=None)\n\nAny admin opcode, including vendor-specific and illegal ones; the whole\n"
	  "buffer window is the data."),
	M("downfw", ctrl_downfw, KW,
	  "downfw(filename, slot=0, action=1)\n\nSynchronous firmware download of a file and commit."),
	M("cmdname", ctrl_cmdname, KW, "cmdname(opcode) -> the admin command's name."),
	M("supports", ctrl_supports, KW,
	  "supports(opcode) -> bool, from the Commands Supported and Effects log."),
	M("cmdlog", ctrl_cmdlog, KW,
	  "cmdlog(count=0) -> the admin queue's recent commands, most recent first (0: all kept),\n"
	  "as dicts: sqe (16 dwords), cqe (4 dwords or None while outstanding), opcode, cid,\n"
	  "submit_us, latency_us, synthesized."),
	M("close", ctrl_close_method, METH_NOARGS,
	  "close()\n\nDeletes the qpairs, disables the controller and releases the Pcie."),
	M("__enter__", ctrl_enter, METH_NOARGS, NULL),
	M("__exit__", ctrl_exit, METH_VARARGS, NULL),
	{NULL, NULL, 0, NULL},
};

static PyObject *ctrl_get_addr(ControllerObject *self, void *closure)
{
	return PyUnicode_FromString(self->addr);
}

static PyGetSetDef ctrl_getset[] = {
	{"addr", (getter)ctrl_get_addr, NULL,
	 "The PCIe function's BDF 'dddd:bb:dd.f' (as the original pynvme's Controller.addr).", NULL},
	{"cap", (getter)ctrl_get_cap, NULL, "CAP register (64 bits).", NULL},
	{"mdts", (getter)ctrl_get_mdts, NULL, "Max data transfer size in bytes.", NULL},
	{"timeout", (getter)ctrl_get_timeout, (setter)ctrl_set_timeout,
	 "Command timeout in ms (default 10000; 0: none).", NULL},
	{"latest_cid", (getter)ctrl_get_latest_cid, NULL, "CID of the latest reaped admin command.", NULL},
	{"latest_latency", (getter)ctrl_get_latest_latency, NULL,
	 "Latency (us) of the latest reaped admin command.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMappingMethods ctrl_mapping = {
	.mp_subscript = (binaryfunc)ctrl_getitem,
	.mp_ass_subscript = (objobjargproc)ctrl_setitem,
};

PyTypeObject pn_py_controller_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nvme.Controller",
	.tp_basicsize = sizeof(ControllerObject),
	.tp_weaklistoffset = offsetof(ControllerObject, weakrefs),
	.tp_dealloc = (destructor)ctrl_dealloc,
	.tp_repr = (reprfunc)ctrl_repr,
	.tp_as_mapping = &ctrl_mapping,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Controller(pcie, nvme_init_func=None)\n\n"
		  "An NVMe controller. nvme_init_func None: the standard initialisation; a callable\n"
		  "gets the Controller and initialises it with init_adminq(), register writes,\n"
		  "init_ns(), admin commands and init_queues(cdw0); True: no initialisation.\n"
		  "c[offset] reads/writes 32-bit registers of BAR0.",
	.tp_methods = ctrl_methods,
	.tp_getset = ctrl_getset,
	.tp_new = ctrl_new,
};

int pn_py_register_controller(PyObject *module)
{
	if (PyType_Ready(&pn_py_controller_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "Controller", (PyObject *)&pn_py_controller_type);
}
