/* nvme.Pcie: a PCIe function opened through VFIO, or the software
 * controller's emulated one (transport.h): config space, resets, power
 * state, ASPM, BAR access. */
#include "module.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <linux/pci_regs.h>

#include "error.h"
#include "transport.h"

typedef struct {
	PyObject_HEAD
	struct pn_transport *dev;  /* NULL once really closed */
	int closed;            /* close() was called: Python users are refused */
	int busy;              /* slow operations running with the GIL released */
	PyObject *controllers; /* weakrefs to the Controllers attached (pn_py_pcie_attach) */
	PyObject *weakrefs;
	char bdf[64];            /* canonical address: a BDF or "soft..." */
} PcieObject;

/* The Pcie objects open in this process, by BDF (weak values): a new Pcie of
 * a BDF still open here takes the device over (see pcie_new). */
static PyObject *open_by_bdf;

/* PyErr_Format() with C's printf (hex of wide integers, which CPython's
 * formatter lacks). Returns NULL. */
static PyObject *raise_c_fmt(PyObject *type, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static PyObject *raise_c_fmt(PyObject *type, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	PyErr_SetString(type, msg);
	return NULL;
}

static PyObject *closed_error(PcieObject *self)
{
	PyErr_Format(pn_py_arg_error, "Pcie('%s') is closed", self->bdf);
	return NULL;
}

/* The device of an open Pcie, or NULL with ValueError when it is closed. */
static struct pn_transport *open_dev(PcieObject *self)
{
	if (self->closed || !self->dev) {
		closed_error(self);
		return NULL;
	}
	return self->dev;
}

struct pn_transport *pn_py_pcie_device(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &pn_py_pcie_type)) {
		PyErr_Format(PyExc_TypeError, "expected a Pcie object, got %.80s", Py_TYPE(obj)->tp_name);
		return NULL;
	}
	return open_dev((PcieObject *)obj);
}

static void really_close(PcieObject *self)
{
	struct pn_transport *dev = self->dev;

	self->dev = NULL;
	if (dev) {
		Py_BEGIN_ALLOW_THREADS
		pn_transport_close(dev);
		Py_END_ALLOW_THREADS
	}
}

struct pn_transport *pn_py_pcie_attach(PyObject *obj, PyObject *controller)
{
	struct pn_transport *dev = pn_py_pcie_device(obj);
	PcieObject *self = (PcieObject *)obj;
	PyObject *ref;

	if (!dev)
		return NULL;
	ref = PyWeakref_NewRef(controller, NULL);
	if (!ref || PyList_Append(self->controllers, ref) < 0) {
		Py_XDECREF(ref);
		return NULL;
	}
	Py_DECREF(ref);
	Py_INCREF(obj);
	return dev;
}

void pn_py_pcie_detach(PyObject *obj, PyObject *controller)
{
	PcieObject *self = (PcieObject *)obj;

	/* entries of controllers that are gone go too */
	for (Py_ssize_t i = PyList_GET_SIZE(self->controllers) - 1; i >= 0; i--) {
		PyObject *c = PyWeakref_GetObject(PyList_GET_ITEM(self->controllers, i));

		if (c == controller || c == Py_None)
			PyList_SetSlice(self->controllers, i, i + 1, NULL);
	}
	Py_DECREF(obj);
}

/* Keeps the device open while a slow operation runs with the GIL released
 * (another thread may call close() meanwhile): NULL with ValueError when
 * closed. end_busy() ends it. */
static struct pn_transport *begin_busy(PcieObject *self)
{
	struct pn_transport *dev = open_dev(self);

	if (dev)
		self->busy++;
	return dev;
}

static void end_busy(PcieObject *self)
{
	if (--self->busy == 0 && self->closed)
		really_close(self);
}

static PyObject *raise_dev(PcieObject *self, int neg_errno)
{
	char what[80];

	snprintf(what, sizeof(what), "Pcie('%s')", self->bdf);
	return pn_py_raise(pn_py_error, neg_errno, what);
}

/* ---- construction ---------------------------------------------------- */

static int close_all(PcieObject *self);

/* A Pcie of `bdf` still open in this process (objects of an earlier test kept
 * alive by its traceback, a script that never closed it) is closed with a
 * warning, so that opening the device again always works. */
static int take_over(const char *bdf)
{
	PyObject *key = PyUnicode_FromString(bdf), *old;
	int rc = 0;

	if (!key)
		return -1;
	old = PyObject_GetItem(open_by_bdf, key);
	Py_DECREF(key);
	if (!old) {
		PyErr_Clear();
		return 0;
	}
	if (!((PcieObject *)old)->closed) {
		/* the object of a hot-removed device has nothing left to hold:
		 * opening the re-inserted device closes it without a warning */
		if (!pn_transport_removed(((PcieObject *)old)->dev))
			rc = PyErr_WarnFormat(PyExc_ResourceWarning, 1, "Pcie('%s') was still open: "
					      "closing it (and its Controllers) to open the device "
					      "again", bdf);
		if (rc == 0)
			rc = close_all((PcieObject *)old);
	}
	Py_DECREF(old);
	return rc;
}

static PyObject *pcie_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"addr", NULL};
	const char *addr;
	PcieObject *self;
	PyObject *key;
	struct pn_transport *dev = NULL;
	int ret;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s:Pcie", kwlist, &addr))
		return NULL;
	self = (PcieObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->closed = 1;
	self->controllers = PyList_New(0);
	if (!self->controllers) {
		Py_DECREF(self);
		return NULL;
	}
	ret = pn_transport_canonical(addr, self->bdf);
	if (ret < 0) {
		snprintf(self->bdf, sizeof(self->bdf), "?");
		Py_DECREF(self);
		return pn_py_raise(pn_py_arg_error, ret, "Pcie addr");
	}
	if (take_over(self->bdf) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	ret = pn_transport_open(self->bdf, &dev);
	Py_END_ALLOW_THREADS
	if (ret < 0) {
		pn_py_raise(pn_py_enumerate_error, ret, "Pcie");
		Py_DECREF(self);
		return NULL;
	}
	self->dev = dev;
	self->closed = 0;
	key = PyUnicode_FromString(self->bdf);
	if (!key || PyObject_SetItem(open_by_bdf, key, (PyObject *)self) < 0) {
		Py_XDECREF(key);
		Py_DECREF(self);
		return NULL;
	}
	Py_DECREF(key);
	return (PyObject *)self;
}

static void pcie_dealloc(PcieObject *self)
{
	/* Attached Controllers and busy operations hold a reference: none is left. */
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	really_close(self);
	Py_CLEAR(self->controllers);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *pcie_repr(PcieObject *self)
{
	uint8_t id[4];

	if (self->closed || !self->dev)
		return PyUnicode_FromFormat("<Pcie %s closed>", self->bdf);
	if (pn_cfg_read(self->dev, 0, id, 4) < 0) {
		pn_clear_error();
		return PyUnicode_FromFormat("<Pcie %s>", self->bdf);
	}
	return PyUnicode_FromFormat("<Pcie %s vendor %04x device %04x>", self->bdf,
				    id[0] | id[1] << 8, id[2] | id[3] << 8);
}

/* ---- config space ---------------------------------------------------- */

static Py_ssize_t pcie_len(PcieObject *self)
{
	struct pn_transport *dev = open_dev(self);

	return dev ? (Py_ssize_t)dev->config_size : -1;
}

/* An int config offset, negative ones counting from the end like a sequence;
 * IndexError naming it when outside [0, size - count]. */
static int config_offset(PyObject *index, struct pn_transport *dev, Py_ssize_t count, Py_ssize_t *out)
{
	Py_ssize_t size = (Py_ssize_t)dev->config_size;
	Py_ssize_t offset = PyNumber_AsSsize_t(index, NULL);

	if (offset == -1 && PyErr_Occurred())
		return -1;
	if (offset < 0)
		offset += size;
	if (offset < 0 || offset > size - count) {
		Py_ssize_t given = PyNumber_AsSsize_t(index, NULL);

		raise_c_fmt(PyExc_IndexError, "config offset %zd (0x%zx, +%zd bytes) is out of "
			     "range: the config space has 0x%zx bytes", given, given, count, size);
		return -1;
	}
	*out = offset;
	return 0;
}

static PyObject *pcie_getitem(PcieObject *self, PyObject *key)
{
	struct pn_transport *dev = open_dev(self);
	int ret;

	if (!dev)
		return NULL;
	if (PySlice_Check(key)) {
		Py_ssize_t start, stop, step, n, size = (Py_ssize_t)dev->config_size;
		PyObject *out;
		uint8_t *data;

		if (PySlice_Unpack(key, &start, &stop, &step) < 0)
			return NULL;
		/* Strict where Python clamps: reading past config space is a bug. */
		if ((start != PY_SSIZE_T_MIN && start > size) ||
		    (stop != PY_SSIZE_T_MAX && stop > size && step > 0))
			return raise_c_fmt(PyExc_IndexError, "config slice [%zd:%zd] is out of range: "
					    "the config space has 0x%zx bytes", start, stop, size);
		n = PySlice_AdjustIndices(size, &start, &stop, step);
		data = PyMem_Malloc(n > 0 ? (size_t)n : 1);
		if (!data)
			return PyErr_NoMemory();
		if (n > 0 && step == 1) {
			ret = pn_cfg_read(dev, (uint32_t)start, data, (size_t)n);
		} else {
			ret = 0;
			for (Py_ssize_t i = 0; i < n && ret == 0; i++)
				ret = pn_cfg_read(dev, (uint32_t)(start + i * step), &data[i], 1);
		}
		if (ret < 0) {
			PyMem_Free(data);
			return raise_dev(self, ret);
		}
		/* a list of ints, as the original pynvme returned */
		out = PyList_New(n);
		for (Py_ssize_t i = 0; out && i < n; i++) {
			PyObject *byte = PyLong_FromLong(data[i]);

			if (!byte) {
				Py_CLEAR(out);
				break;
			}
			PyList_SET_ITEM(out, i, byte);
		}
		PyMem_Free(data);
		return out;
	}
	if (PyIndex_Check(key)) {
		Py_ssize_t offset;
		uint8_t byte;

		if (config_offset(key, dev, 1, &offset) < 0)
			return NULL;
		ret = pn_cfg_read(dev, (uint32_t)offset, &byte, 1);
		if (ret < 0)
			return raise_dev(self, ret);
		return PyLong_FromLong(byte);
	}
	return PyErr_Format(PyExc_TypeError, "Pcie config index must be an int or a slice, not %.80s",
			    Py_TYPE(key)->tp_name);
}

static int pcie_setitem(PcieObject *self, PyObject *key, PyObject *value)
{
	struct pn_transport *dev = open_dev(self);
	Py_ssize_t offset;
	long byte;
	uint8_t raw;
	int ret;

	if (!dev)
		return -1;
	if (!value) {
		PyErr_SetString(PyExc_TypeError, "Pcie config bytes cannot be deleted");
		return -1;
	}
	if (!PyIndex_Check(key)) {
		PyErr_Format(PyExc_TypeError, "Pcie config index must be an int (one byte is written), "
			     "not %.80s", Py_TYPE(key)->tp_name);
		return -1;
	}
	if (config_offset(key, dev, 1, &offset) < 0)
		return -1;
	byte = PyLong_AsLong(value);
	if (byte == -1 && PyErr_Occurred())
		return -1;
	if (byte < 0 || byte > 0xff) {
		raise_c_fmt(pn_py_arg_error, "config byte value %ld at offset 0x%zx is not 0..0xff",
			     byte, offset);
		return -1;
	}
	raw = (uint8_t)byte;
	ret = pn_cfg_write(dev, (uint32_t)offset, &raw, 1);
	if (ret < 0) {
		raise_dev(self, ret);
		return -1;
	}
	return 0;
}

static PyObject *pcie_register(PcieObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"offset", "byte_count", NULL};
	struct pn_transport *dev = open_dev(self);
	PyObject *offset_obj;
	int byte_count = 4, ret;
	Py_ssize_t offset;
	uint8_t raw[8];
	uint64_t value = 0;

	if (!dev)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|i:register", kwlist, &offset_obj,
					 &byte_count))
		return NULL;
	if (byte_count < 1 || byte_count > 8)
		return PyErr_Format(pn_py_arg_error, "byte_count %d is not 1..8", byte_count);
	if (!PyIndex_Check(offset_obj))
		return PyErr_Format(PyExc_TypeError, "offset must be an int, not %.80s",
				    Py_TYPE(offset_obj)->tp_name);
	if (config_offset(offset_obj, dev, byte_count, &offset) < 0)
		return NULL;
	ret = pn_cfg_read(dev, (uint32_t)offset, raw, (size_t)byte_count);
	if (ret < 0)
		return raise_dev(self, ret);
	for (int i = byte_count - 1; i >= 0; i--)
		value = value << 8 | raw[i];
	return PyLong_FromUnsignedLongLong(value);
}

static PyObject *pcie_cap_offset(PcieObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"cap_id", "extended", NULL};
	struct pn_transport *dev = open_dev(self);
	int cap_id, extended = 0, ret;

	if (!dev)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "i|p:cap_offset", kwlist, &cap_id, &extended))
		return NULL;
	if (cap_id < 0 || cap_id > (extended ? 0xffff : 0xff))
		return PyErr_Format(pn_py_arg_error, "cap_id 0x%x is out of range (standard ids are "
				    "0..0xff; for a PCIe extended capability pass extended=True, "
				    "ids 0..0xffff)", cap_id);
	ret = dev->ops->cap_offset(dev, cap_id, extended);
	if (ret == -ENOENT) {
		pn_clear_error();
		Py_RETURN_NONE;
	}
	if (ret < 0)
		return raise_dev(self, ret);
	return PyLong_FromLong(ret);
}

/* ---- resets, power, ASPM --------------------------------------------- */

/* Runs a slow device operation with the GIL released; the hold keeps the
 * device open if another thread closes the Pcie meanwhile. */
static int run_released(PcieObject *self, int (*op)(struct pn_transport *, int), int arg)
{
	struct pn_transport *dev = begin_busy(self);
	int ret;

	if (!dev)
		return INT_MIN;
	Py_INCREF(self);
	Py_BEGIN_ALLOW_THREADS
	ret = op(dev, arg);
	Py_END_ALLOW_THREADS
	end_busy(self);
	Py_DECREF(self);
	return ret;
}

static int op_flr(struct pn_transport *dev, int unused) { return dev->ops->flr(dev); }
static int op_hot_reset(struct pn_transport *dev, int unused) { return dev->ops->hot_reset(dev); }
static int op_power_state_set(struct pn_transport *dev, int state)
{
	return dev->ops->power_state_set(dev, state);
}

/* reset(rst_fn): the script's function resets the device its own way. */
static PyObject *reset_by_script(PcieObject *self, PyObject *rst_fn)
{
	struct pn_transport *dev = begin_busy(self);
	PyObject *res;
	int ret;

	if (!dev)
		return NULL;
	Py_INCREF(self);
	dev->ops->external_reset_begin(dev);
	res = PyObject_CallNoArgs(rst_fn);
	Py_XDECREF(res);
	/* bring the function back even when the script's function raised */
	Py_BEGIN_ALLOW_THREADS
	ret = dev->ops->external_reset_end(dev, "by the script's reset function (Pcie.reset(rst_fn))");
	Py_END_ALLOW_THREADS
	end_busy(self);
	Py_DECREF(self);
	if (!res)
		return NULL;
	if (ret < 0)
		return raise_dev(self, ret);
	Py_RETURN_NONE;
}

static PyObject *pcie_reset(PcieObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"rst_fn", NULL};
	PyObject *rst_fn = Py_None;
	int ret;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:reset", kwlist, &rst_fn))
		return NULL;
	if (rst_fn != Py_None) {
		if (!PyCallable_Check(rst_fn))
			return PyErr_Format(PyExc_TypeError, "rst_fn must be callable or None, not %.80s",
					    Py_TYPE(rst_fn)->tp_name);
		return reset_by_script(self, rst_fn);
	}
	ret = run_released(self, op_hot_reset, 0);

	if (ret == INT_MIN)
		return NULL;
	if (ret < 0)
		return raise_dev(self, ret);
	Py_RETURN_NONE;
}

static PyObject *pcie_flr(PcieObject *self, PyObject *unused)
{
	int ret = run_released(self, op_flr, 0);

	if (ret == INT_MIN)
		return NULL;
	if (ret < 0)
		return raise_dev(self, ret);
	Py_RETURN_NONE;
}

static PyObject *pcie_get_power_state(PcieObject *self, void *closure)
{
	struct pn_transport *dev = open_dev(self);
	int ret;

	if (!dev)
		return NULL;
	ret = dev->ops->power_state_get(dev);
	return ret < 0 ? raise_dev(self, ret) : PyLong_FromLong(ret);
}

/* An int 0..3 for a setter, ValueError naming `name` otherwise. */
static int small_setting(PyObject *value, const char *name, const char *meaning)
{
	long v;

	if (!value) {
		PyErr_Format(PyExc_TypeError, "%s cannot be deleted", name);
		return -1;
	}
	if (!PyLong_Check(value)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int (%s), not %.80s", name, meaning,
			     Py_TYPE(value)->tp_name);
		return -1;
	}
	v = PyLong_AsLong(value);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < 0 || v > 3) {
		PyErr_Format(pn_py_arg_error, "%s %ld is not %s", name, v, meaning);
		return -1;
	}
	return (int)v;
}

static int pcie_set_power_state(PcieObject *self, PyObject *value, void *closure)
{
	int state, ret;

	if (!open_dev(self))
		return -1;
	state = small_setting(value, "power_state", "0..3: D0, D1, D2, D3hot");
	if (state < 0)
		return -1;
	ret = run_released(self, op_power_state_set, state);
	if (ret == INT_MIN)
		return -1;
	if (ret < 0) {
		raise_dev(self, ret);
		return -1;
	}
	return 0;
}

static PyObject *pcie_get_aspm(PcieObject *self, void *closure)
{
	struct pn_transport *dev = open_dev(self);
	int ret;

	if (!dev)
		return NULL;
	ret = dev->ops->aspm_get(dev);
	return ret < 0 ? raise_dev(self, ret) : PyLong_FromLong(ret);
}

static int pcie_set_aspm(PcieObject *self, PyObject *value, void *closure)
{
	struct pn_transport *dev = open_dev(self);
	int aspm, ret;

	if (!dev)
		return -1;
	aspm = small_setting(value, "aspm", "0..3: off, L0s, L1, L0s and L1");
	if (aspm < 0)
		return -1;
	ret = dev->ops->aspm_set(dev, aspm);
	if (ret == -EIO) {
		/* a device that does not keep the value is a finding, not a
		 * script error (the original wrote it and never looked back) */
		ret = PyErr_WarnFormat(PyExc_UserWarning, 1, "%s", pn_last_error());
		pn_clear_error();
		return ret;
	}
	if (ret < 0) {
		raise_dev(self, ret);
		return -1;
	}
	return 0;
}

/* ---- BAR memory -------------------------------------------------------- */

/* Checks bar index and dword offset, with the exception type naming which. */
static int bar_dword(PcieObject *self, struct pn_transport *dev, int bar, PyObject *offset_obj,
		     uint64_t *offset)
{
	unsigned long long off;

	if (bar < 0 || bar >= PN_TRANSPORT_BARS || !dev->bar_size[bar]) {
		PyErr_Format(pn_py_arg_error, "bar %d does not exist on %s", bar, self->bdf);
		return -1;
	}
	if (!PyLong_Check(offset_obj)) {
		PyErr_Format(PyExc_TypeError, "offset must be an int, not %.80s",
			     Py_TYPE(offset_obj)->tp_name);
		return -1;
	}
	off = PyLong_AsUnsignedLongLong(offset_obj);
	if (off == (unsigned long long)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		PyErr_SetString(PyExc_IndexError, "offset is out of range: negative or too large");
		return -1;
	}
	if (off % 4) {
		raise_c_fmt(pn_py_arg_error, "offset 0x%llx is not dword-aligned", off);
		return -1;
	}
	if (off > dev->bar_size[bar] - 4) {
		raise_c_fmt(PyExc_IndexError, "offset 0x%llx is beyond BAR%d (0x%llx bytes)", off, bar,
			     (unsigned long long)dev->bar_size[bar]);
		return -1;
	}
	*offset = off;
	return 0;
}

static PyObject *pcie_mem_dword_read(PcieObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"offset", "bar", NULL};
	struct pn_transport *dev = open_dev(self);
	PyObject *offset_obj;
	int bar = 0, ret;
	uint64_t offset;
	uint32_t value;

	if (!dev)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|i:mem_dword_read", kwlist, &offset_obj, &bar))
		return NULL;
	if (bar_dword(self, dev, bar, offset_obj, &offset) < 0)
		return NULL;
	ret = pn_bar_read(dev, bar, offset, &value, 4);
	if (ret < 0)
		return raise_dev(self, ret);
	return PyLong_FromUnsignedLong(value);
}

static PyObject *pcie_mem_dword_write(PcieObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"offset", "value", "bar", NULL};
	struct pn_transport *dev = open_dev(self);
	PyObject *offset_obj;
	unsigned long long value;
	int bar = 0, ret;
	uint64_t offset;
	uint32_t dword;

	if (!dev)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OK|i:mem_dword_write", kwlist, &offset_obj,
					 &value, &bar))
		return NULL;
	if (bar_dword(self, dev, bar, offset_obj, &offset) < 0)
		return NULL;
	if (value > 0xffffffffull)
		return raise_c_fmt(pn_py_arg_error, "value 0x%llx does not fit in a dword", value);
	dword = (uint32_t)value;
	ret = pn_bar_write(dev, bar, offset, &dword, 4);
	if (ret < 0)
		return raise_dev(self, ret);
	Py_RETURN_NONE;
}

static PyObject *pcie_bar_size(PcieObject *self, PyObject *args)
{
	struct pn_transport *dev = open_dev(self);
	int bar;

	if (!dev)
		return NULL;
	if (!PyArg_ParseTuple(args, "i:bar_size", &bar))
		return NULL;
	if (bar < 0 || bar >= PN_TRANSPORT_BARS)
		return PyErr_Format(pn_py_arg_error, "bar %d is not 0..5", bar);
	return PyLong_FromUnsignedLongLong(dev->bar_size[bar]);
}

/* ---- lifetime ---------------------------------------------------------- */

/* Closes every Controller attached (their Qpairs, IOWorkers and Namespaces
 * then refuse use), then releases the device: whoever still holds objects
 * of it (a failed test's frame), the next Pcie of this BDF can open it. */
static int close_all(PcieObject *self)
{
	PyObject *controllers;

	if (self->closed)
		return 0;
	controllers = PySequence_List(self->controllers);
	if (!controllers)
		return -1;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(controllers); i++) {
		PyObject *c = PyWeakref_GetObject(PyList_GET_ITEM(controllers, i));

		if (c != Py_None && pn_py_controller_close(c) < 0) {
			Py_DECREF(controllers);
			return -1;
		}
	}
	Py_DECREF(controllers);
	self->closed = 1;
	/* an operation running in another thread keeps the device until it ends */
	if (self->busy == 0)
		really_close(self);
	return 0;
}

static PyObject *pcie_close(PcieObject *self, PyObject *unused)
{
	if (close_all(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *pcie_enter(PcieObject *self, PyObject *unused)
{
	if (!open_dev(self))
		return NULL;
	return Py_NewRef(self);
}

static PyObject *pcie_exit(PcieObject *self, PyObject *args)
{
	return pcie_close(self, NULL);
}

static PyObject *pcie_get_addr(PcieObject *self, void *closure)
{
	return PyUnicode_FromString(self->bdf);
}

static PyObject *pcie_get_closed(PcieObject *self, void *closure)
{
	return PyBool_FromLong(self->closed);
}

static PyObject *pcie_get_reset_count(PcieObject *self, void *closure)
{
	struct pn_transport *dev = open_dev(self);

	return dev ? PyLong_FromUnsignedLong(dev->ops->reset_count(dev)) : NULL;
}

static PyObject *pcie_get_last_reset(PcieObject *self, void *closure)
{
	struct pn_transport *dev = open_dev(self);

	if (!dev)
		return NULL;
	if (!dev->ops->last_reset(dev)[0])
		Py_RETURN_NONE;
	return PyUnicode_FromString(dev->ops->last_reset(dev));
}

static PyObject *pcie_get_removed(PcieObject *self, void *closure)
{
	struct pn_transport *dev = open_dev(self);
	const char *why;

	if (!dev)
		return NULL;
	why = pn_transport_removed(dev);
	return why ? PyUnicode_FromString(why) : Py_NewRef(Py_None);
}

static PyObject *pcie_get_error_events(PcieObject *self, void *closure)
{
	struct pn_transport *dev = open_dev(self);

	return dev ? PyLong_FromUnsignedLong(dev->ops->error_events(dev)) : NULL;
}

static PyMethodDef pcie_methods[] = {
	{"register", (PyCFunction)(void (*)(void))pcie_register, METH_VARARGS | METH_KEYWORDS,
	 "register(offset, byte_count=4) -> int\n\nThe little-endian integer of byte_count (1..8) "
	 "config-space bytes at offset."},
	{"cap_offset", (PyCFunction)(void (*)(void))pcie_cap_offset, METH_VARARGS | METH_KEYWORDS,
	 "cap_offset(cap_id, extended=False) -> int or None\n\nOffset of the first capability "
	 "cap_id in config space, or None.\nextended=False walks the standard list (8-bit ids, e.g. "
	 "0x01 PM, 0x10 PCIe, 0x11 MSI-X);\nextended=True walks the PCIe extended list from 0x100 "
	 "(16-bit ids, e.g. 0x0001 AER)."},
	{"reset", (PyCFunction)(void (*)(void))pcie_reset, METH_VARARGS | METH_KEYWORDS,
	 "reset(rst_fn=None)\n\nPCIe hot reset: secondary bus reset through the upstream bridge. "
	 "With rst_fn, a\ncallable of no arguments, the script resets the device its own way "
	 "instead: the driver\nturns interrupts off, calls rst_fn(), waits for the function to "
	 "answer again. Memory\ndecoding and bus mastering are enabled again afterwards; the "
	 "controller needs\nController.reset()."},
	{"flr", (PyCFunction)pcie_flr, METH_NOARGS,
	 "flr()\n\nFunction level reset. Memory decoding and bus mastering are enabled again "
	 "afterwards;\nthe controller needs Controller.reset()."},
	{"mem_dword_read", (PyCFunction)(void (*)(void))pcie_mem_dword_read,
	 METH_VARARGS | METH_KEYWORDS,
	 "mem_dword_read(offset, bar=0) -> int\n\nReads the 32-bit word at offset (dword-aligned) "
	 "of a memory BAR."},
	{"mem_dword_write", (PyCFunction)(void (*)(void))pcie_mem_dword_write,
	 METH_VARARGS | METH_KEYWORDS,
	 "mem_dword_write(offset, value, bar=0)\n\nWrites the 32-bit word at offset "
	 "(dword-aligned) of a memory BAR."},
	{"inject", (PyCFunction)(void (*)(void))pn_py_pcie_inject, METH_VARARGS | METH_KEYWORDS,
	 "inject(fault, sqid=-1, opcode=-1, count=1, delay_us=1000, cid_xor=0x8000)\n\n"
	 "Software controller only: a fault on demand. Per command (the next `count`\n"
	 "completions of commands matching sqid and opcode, -1 any): 'delay' (delay_us\n"
	 "later), 'drop' (never), 'duplicate' (twice), 'wrong_cid' (cid ^ cid_xor),\n"
	 "'stale_phase' (old phase tag: invisible). Whole controller: 'fatal' (CSTS.CFS,\n"
	 "until a reset), 'hang' (stops answering), 'all_ones' (surprise removal),\n"
	 "'remove' (orderly hot removal: as all_ones, and Pcie.removed names it, as after\n"
	 "the OS took a VFIO device back)."},
	{"inject_clear", (PyCFunction)pn_py_pcie_inject_clear, METH_NOARGS,
	 "inject_clear()\n\nSoftware controller only: disarms per-command faults, ends a hang, "
	 "and\nbrings a removed controller back (at power-on state)."},
	{"bar_size", (PyCFunction)pcie_bar_size, METH_VARARGS,
	 "bar_size(index) -> int\n\nSize in bytes of BAR index (0..5), 0 when it does not exist."},
	{"close", (PyCFunction)pcie_close, METH_NOARGS,
	 "close()\n\nCloses the Controllers of this device (their Qpairs, IOWorkers and Namespaces "
	 "then\nrefuse use with ValueError) and releases the device at once, whoever still holds "
	 "those\nobjects. Further use raises ValueError. Closing twice is allowed."},
	{"__enter__", (PyCFunction)pcie_enter, METH_NOARGS, NULL},
	{"__exit__", (PyCFunction)pcie_exit, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef pcie_getset[] = {
	{"aspm", (getter)pcie_get_aspm, (setter)pcie_set_aspm,
	 "ASPM control of Link Control (0 off, 1 L0s, 2 L1, 3 both). Setting a value the\n"
	 "function does not keep warns (UserWarning) with what it reads back.", NULL},
	{"power_state", (getter)pcie_get_power_state, (setter)pcie_set_power_state,
	 "PCI PM D-state (0 = D0, 3 = D3hot). Back in D0, memory decoding and bus mastering are\n"
	 "enabled again.", NULL},
	{"addr", (getter)pcie_get_addr, NULL,
	 "The canonical address: BDF 'dddd:bb:dd.f', or 'soft...' for a software controller.",
	 NULL},
	{"soft_stats", (getter)pn_py_pcie_soft_stats, NULL,
	 "Software controller only: what its thread did (commands, completions, resets,\n"
	 "faults fired, irqs, CPU and busy time in ns), as a dict.", NULL},
	{"closed", (getter)pcie_get_closed, NULL, "True after close().", NULL},
	{"removed", (getter)pcie_get_removed, NULL,
	 "None while the device is present; after an orderly hot removal (the OS asked for\n"
	 "the device back and the driver released it) the text saying so. Commands, ioworkers\n"
	 "and register access then fail naming it; open the device again with a new Pcie\n"
	 "once it is re-inserted.", NULL},
	{"error_events", (getter)pcie_get_error_events, NULL,
	 "How many uncorrectable PCIe errors the OS reported for the device since it was\n"
	 "opened (VFIO's error interrupt; 0 when the kernel offers none).", NULL},
	{"reset_count", (getter)pcie_get_reset_count, NULL,
	 "Resets done through this object (FLR, hot reset, D3hot->D0 with reset).", NULL},
	{"last_reset", (getter)pcie_get_last_reset, NULL,
	 "How the last reset was done (and why a preferred way was not used), or None.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMappingMethods pcie_mapping = {
	.mp_length = (lenfunc)pcie_len,
	.mp_subscript = (binaryfunc)pcie_getitem,
	.mp_ass_subscript = (objobjargproc)pcie_setitem,
};

PyTypeObject pn_py_pcie_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nvme.Pcie",
	.tp_basicsize = sizeof(PcieObject),
	.tp_weaklistoffset = offsetof(PcieObject, weakrefs),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Pcie(addr)\n\nA PCIe function bound to vfio-pci, by BDF ('01:00.0' or "
		  "'0000:01:00.0'), or the\nsoftware NVMe controller: 'soft' or 'soft:OPTIONS' "
		  "(docs/software-controller.md).\np[i] / p[i:j] read config bytes, p[i] = v writes one byte, "
		  "len(p) is the config size.\nUsable as a context manager (closes on exit).",
	.tp_new = pcie_new,
	.tp_dealloc = (destructor)pcie_dealloc,
	.tp_repr = (reprfunc)pcie_repr,
	.tp_as_mapping = &pcie_mapping,
	.tp_methods = pcie_methods,
	.tp_getset = pcie_getset,
};

int pn_py_register_pcie(PyObject *module)
{
	PyObject *weakref_module = PyImport_ImportModule("weakref");

	if (!weakref_module)
		return -1;
	open_by_bdf = PyObject_CallMethod(weakref_module, "WeakValueDictionary", NULL);
	Py_DECREF(weakref_module);
	if (!open_by_bdf || PyType_Ready(&pn_py_pcie_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "Pcie", (PyObject *)&pn_py_pcie_type);
}
