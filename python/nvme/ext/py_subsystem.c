/* nvme.Subsystem: power and subsystem-level resets of the device behind a
 * Controller (NSSR, shutdown notification, power off/on/cycle). */
#include "module.h"

#include <errno.h>
#include <time.h>

#include "controller.h"
#include "error.h"
#include "transport.h"

typedef struct {
	PyObject_HEAD
	PyObject *ctrl_obj;
	PyObject *poweron_cb;
	PyObject *poweroff_cb;
} SubsystemObject;

static struct pn_ctrl *ctrl_of(SubsystemObject *self)
{
	return pn_py_controller_ctrl(self->ctrl_obj);
}

static PyObject *sub_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"nvme", "poweron_cb", "poweroff_cb", NULL};
	PyObject *ctrl, *on = Py_None, *off = Py_None;
	SubsystemObject *self;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:Subsystem", kwlist, &ctrl, &on, &off))
		return NULL;
	if (!pn_py_controller_ctrl(ctrl))
		return NULL;
	if (on != Py_None && !PyCallable_Check(on))
		return PyErr_Format(PyExc_TypeError, "poweron_cb must be callable or None");
	if (off != Py_None && !PyCallable_Check(off))
		return PyErr_Format(PyExc_TypeError, "poweroff_cb must be callable or None");
	self = (SubsystemObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	Py_INCREF(ctrl);
	Py_INCREF(on);
	Py_INCREF(off);
	self->ctrl_obj = ctrl;
	self->poweron_cb = on;
	self->poweroff_cb = off;
	return (PyObject *)self;
}

static void sub_dealloc(SubsystemObject *self)
{
	Py_CLEAR(self->ctrl_obj);
	Py_CLEAR(self->poweron_cb);
	Py_CLEAR(self->poweroff_cb);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *raise_rc(struct pn_ctrl *c, int rc)
{
	return pn_py_raise(pn_py_error, rc, c->name);
}

static PyObject *sub_reset(SubsystemObject *self, PyObject *unused)
{
	struct pn_ctrl *c = ctrl_of(self);
	int rc;

	if (!c)
		return NULL;
	rc = pn_ctrl_nssr(c);
	if (rc < 0)
		return raise_rc(c, rc);
	Py_RETURN_NONE;
}

static PyObject *sub_shutdown_notify(SubsystemObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"abrupt", NULL};
	int abrupt = 0, rc;
	struct pn_ctrl *c;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:shutdown_notify", kwlist, &abrupt))
		return NULL;
	c = ctrl_of(self);
	if (!c)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_shutdown(c, abrupt);
	Py_END_ALLOW_THREADS
	if (rc == -ETIMEDOUT)
		return pn_py_raise(pn_py_shutdown_timeout_error, rc, c->name);
	if (rc < 0)
		return raise_rc(c, rc);
	Py_RETURN_NONE;
}

static PyObject *call_cb(PyObject *cb)
{
	PyObject *res = PyObject_CallNoArgs(cb);

	if (!res)
		return NULL;
	Py_DECREF(res);
	Py_RETURN_NONE;
}

static PyObject *sub_poweroff(SubsystemObject *self, PyObject *unused)
{
	struct pn_ctrl *c = ctrl_of(self);
	int rc;

	if (!c)
		return NULL;
	if (self->poweroff_cb != Py_None) {
		PyObject *res = call_cb(self->poweroff_cb);

		if (res)
			pn_ctrl_power_lost(c);
		return res;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = c->tr->ops->slot_power(c->tr, false);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return PyErr_Format(pn_py_error, "%s: cannot power off: %s; give Subsystem a poweroff_cb",
				    c->name, pn_last_error());
	pn_ctrl_power_lost(c);
	Py_RETURN_NONE;
}

static PyObject *sub_poweron(SubsystemObject *self, PyObject *unused)
{
	struct pn_ctrl *c = ctrl_of(self);
	int rc;

	if (!c)
		return NULL;
	if (self->poweron_cb != Py_None) {
		if (!call_cb(self->poweron_cb))
			return NULL;
		Py_DECREF(Py_None);
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = c->tr->ops->slot_power(c->tr, true);
		Py_END_ALLOW_THREADS
		if (rc < 0)
			return PyErr_Format(pn_py_error, "%s: cannot power on: %s; give Subsystem a "
					    "poweron_cb", c->name, pn_last_error());
	}
	rc = pn_ctrl_power_restored(c);
	if (rc < 0)
		return raise_rc(c, rc);
	Py_RETURN_NONE;
}

static PyObject *sub_power_cycle(SubsystemObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"sec", NULL};
	double sec = 10;
	PyObject *res;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|d:power_cycle", kwlist, &sec))
		return NULL;
	if (!(sec >= 0 && sec <= 86400))
		return PyErr_Format(pn_py_arg_error, "sec must be in 0..86400, got %g", sec);
	res = sub_poweroff(self, NULL);
	if (!res)
		return NULL;
	Py_DECREF(res);
	for (double left = sec; left > 0; left -= 0.1) {
		double step = left < 0.1 ? left : 0.1;
		struct timespec ts = {0, (long)(step * 1e9)};

		Py_BEGIN_ALLOW_THREADS
		nanosleep(&ts, NULL);
		Py_END_ALLOW_THREADS
		if (PyErr_CheckSignals() < 0) {
			/* do not leave the device without power because of Ctrl-C */
			PyObject *type, *value, *tb;

			PyErr_Fetch(&type, &value, &tb);
			res = sub_poweron(self, NULL);
			Py_XDECREF(res);
			PyErr_Clear();
			PyErr_Restore(type, value, tb);
			return NULL;
		}
	}
	return sub_poweron(self, NULL);
}

#define M(name, fn, flags, doc) {name, (PyCFunction)(void (*)(void))fn, flags, doc}

static PyMethodDef sub_methods[] = {
	M("reset", sub_reset, METH_NOARGS,
	  "reset()\n\nNVM Subsystem Reset (NSSR). NvmeError where CAP.NSSRS is 0. Call\n"
	  "Controller.reset() afterwards."),
	M("shutdown_notify", sub_shutdown_notify, METH_VARARGS | METH_KEYWORDS,
	  "shutdown_notify(abrupt=False)\n\nCC.SHN normal or abrupt, waiting for CSTS.SHST complete."),
	M("poweroff", sub_poweroff, METH_NOARGS,
	  "poweroff()\n\nBy poweroff_cb, else PCIe slot power control of the port above the device."),
	M("poweron", sub_poweron, METH_NOARGS,
	  "poweron()\n\nBy poweron_cb, else slot power control; then Controller.reset()."),
	M("power_cycle", sub_power_cycle, METH_VARARGS | METH_KEYWORDS,
	  "power_cycle(sec=10)\n\npoweroff(), `sec` seconds, poweron(). Call Controller.reset() afterwards."),
	{NULL, NULL, 0, NULL},
};

static PyTypeObject subsystem_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nvme.Subsystem",
	.tp_basicsize = sizeof(SubsystemObject),
	.tp_dealloc = (destructor)sub_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Subsystem(nvme, poweron_cb=None, poweroff_cb=None)\n\n"
		  "Power and subsystem resets of the device behind Controller `nvme`. Without\n"
		  "callbacks, power goes through the PCIe slot's power controller (root).",
	.tp_methods = sub_methods,
	.tp_new = sub_new,
};

int pn_py_register_subsystem(PyObject *module)
{
	if (PyType_Ready(&subsystem_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "Subsystem", (PyObject *)&subsystem_type);
}
