/* nvme.Subsystem: power and subsystem-level resets of the device behind a
 * Controller (NSSR, shutdown notification, power off/on/cycle). */
#include "module.h"

#include <errno.h>
#include <time.h>

#include <structmember.h>

#include "controller.h"
#include "error.h"
#include "slot_power.h"
#include "transport.h"

typedef struct {
	PyObject_HEAD
	PyObject *ctrl_obj;
	PyObject *poweron_cb;
	PyObject *poweroff_cb;
	PyObject *instrument; /* None, or the nvme.instruments object powering the device */
} SubsystemObject;

static struct pn_ctrl *ctrl_of(SubsystemObject *self)
{
	return pn_py_controller_ctrl(self->ctrl_obj);
}

/* An instrument (nvme.instruments.Instrument, or anything alike) is an object
 * with power_on() and power_off() methods that is not itself callable: it
 * can be given where the original took a callback. */
static int is_instrument(PyObject *obj)
{
	PyObject *on, *off;
	int yes;

	if (obj == Py_None || PyCallable_Check(obj))
		return 0;
	on = PyObject_GetAttrString(obj, "power_on");
	off = on ? PyObject_GetAttrString(obj, "power_off") : NULL;
	PyErr_Clear();
	yes = on && off && PyCallable_Check(on) && PyCallable_Check(off);
	Py_XDECREF(on);
	Py_XDECREF(off);
	return yes;
}

/* Merges one callback argument given under its original name (poweron_cb)
 * and its short alias (poweron) into *cb; an instrument found in either
 * becomes *instrument. Returns 0, or -1 with TypeError. */
static int take_power_arg(const char *name, PyObject *given, PyObject *alias, PyObject **cb,
			  PyObject **instrument)
{
	PyObject *value = given;

	if (given != Py_None && alias != Py_None)
		return PyErr_Format(PyExc_TypeError, "give %s_cb or %s, not both", name, name), -1;
	if (alias != Py_None)
		value = alias;
	if (is_instrument(value)) {
		if (*instrument != Py_None && *instrument != value)
			return PyErr_Format(PyExc_TypeError, "%s: two different instruments given", name), -1;
		*instrument = value;
		return 0;
	}
	if (value != Py_None && !PyCallable_Check(value))
		return PyErr_Format(PyExc_TypeError, "%s_cb must be callable, an instrument (with "
				    "power_on() and power_off()) or None, not %.80s", name,
				    Py_TYPE(value)->tp_name), -1;
	*cb = value;
	return 0;
}

static PyObject *sub_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"nvme", "poweron_cb", "poweroff_cb", "instrument", "poweron",
				 "poweroff", NULL};
	PyObject *ctrl, *on = Py_None, *off = Py_None, *inst = Py_None;
	PyObject *on_alias = Py_None, *off_alias = Py_None;
	PyObject *on_cb = Py_None, *off_cb = Py_None;
	SubsystemObject *self;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOO$OO:Subsystem", kwlist, &ctrl, &on, &off,
					 &inst, &on_alias, &off_alias))
		return NULL;
	if (!pn_py_controller_ctrl(ctrl))
		return NULL;
	if (inst != Py_None && !is_instrument(inst))
		return PyErr_Format(PyExc_TypeError, "instrument must have power_on() and power_off() "
				    "methods (an nvme.instruments.Instrument), not %.80s",
				    Py_TYPE(inst)->tp_name);
	if (take_power_arg("poweron", on, on_alias, &on_cb, &inst) < 0 ||
	    take_power_arg("poweroff", off, off_alias, &off_cb, &inst) < 0)
		return NULL;
	self = (SubsystemObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	/* an explicit callback wins over the instrument for its direction */
	if (inst != Py_None && on_cb == Py_None)
		on_cb = PyObject_GetAttrString(inst, "power_on");
	else
		Py_INCREF(on_cb);
	if (inst != Py_None && off_cb == Py_None)
		off_cb = PyObject_GetAttrString(inst, "power_off");
	else
		Py_INCREF(off_cb);
	Py_INCREF(ctrl);
	Py_INCREF(inst);
	self->ctrl_obj = ctrl;
	self->instrument = inst;
	self->poweron_cb = on_cb;
	self->poweroff_cb = off_cb;
	if (!on_cb || !off_cb) {
		Py_DECREF(self); /* a property of the instrument raised */
		return NULL;
	}
	return (PyObject *)self;
}

static void sub_dealloc(SubsystemObject *self)
{
	Py_CLEAR(self->ctrl_obj);
	Py_CLEAR(self->poweron_cb);
	Py_CLEAR(self->poweroff_cb);
	Py_CLEAR(self->instrument);
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
		/* a power module's outputs are on, but the drive still has to come
		 * out of reset: give it the time PCIe allows before re-enabling it */
		rc = 0;
		Py_BEGIN_ALLOW_THREADS
		if (!pn_transport_is_soft(c->tr))
			rc = pn_slot_wait_function(c->tr->addr, 2000);
		Py_END_ALLOW_THREADS
		if (rc < 0)
			return PyErr_Format(pn_py_error, "%s: cannot power on: %s (after %s)", c->name,
					    pn_last_error(), self->instrument != Py_None ?
					    "the instrument's power_on()" : "poweron_cb");
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

/* Calls nvme.s3.<fn>(sec) (python/nvme/s3.py: the sysfs sequence). */
static PyObject *call_s3(const char *fn, double sec)
{
	PyObject *mod = PyImport_ImportModule("nvme.s3"), *res;

	if (!mod)
		return NULL;
	res = PyObject_CallMethod(mod, fn, "d", sec);
	Py_DECREF(mod);
	return res;
}

/* A power cycle by suspend-to-RAM, for a device whose slot has no power
 * controller (as the original pynvme did): the platform cuts the slot's
 * power in S3 and the RTC wakes the host `sec` seconds later. */
static PyObject *power_cycle_s3(SubsystemObject *self, struct pn_ctrl *c, double sec)
{
	PyObject *res = call_s3("check", sec);
	int rc;

	if (!res)
		return NULL;
	Py_DECREF(res);
	pn_ctrl_power_lost(c);
	res = call_s3("suspend_to_ram", sec);
	if (!res)
		return NULL;
	Py_DECREF(res);
	/* the kernel restored the function's config space at resume; the
	 * controller itself starts from reset: Controller.reset() next */
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_power_restored(c);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return raise_rc(c, rc);
	Py_RETURN_NONE;
}

static PyObject *sub_power_cycle(SubsystemObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"sec", NULL};
	double sec = 10;
	struct pn_ctrl *c;
	PyObject *res;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|d:power_cycle", kwlist, &sec))
		return NULL;
	if (!(sec >= 0 && sec <= 86400))
		return PyErr_Format(pn_py_arg_error, "sec must be in 0..86400, got %g", sec);
	c = ctrl_of(self);
	if (!c)
		return NULL;
	if (self->poweroff_cb == Py_None && self->poweron_cb == Py_None) {
		Py_BEGIN_ALLOW_THREADS
		rc = c->tr->ops->slot_power(c->tr, false);
		Py_END_ALLOW_THREADS
		if (rc == -ENOTSUP || rc == -ENODEV)
			return power_cycle_s3(self, c, sec);
		if (rc < 0)
			return PyErr_Format(pn_py_error, "%s: cannot power off: %s; give Subsystem a "
					    "poweroff_cb", c->name, pn_last_error());
		pn_ctrl_power_lost(c);
	} else {
		res = sub_poweroff(self, NULL);
		if (!res)
			return NULL;
		Py_DECREF(res);
	}
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
	  "power_cycle(sec=10)\n\npoweroff(), `sec` seconds, poweron(). Without callbacks and without a\n"
	  "slot power controller: suspend-to-RAM (S3) with an RTC wake-up after `sec` seconds\n"
	  "(nvme.s3). Call Controller.reset() afterwards."),
	{NULL, NULL, 0, NULL},
};

static PyMemberDef sub_members[] = {
	{"instrument", T_OBJECT, offsetof(SubsystemObject, instrument), READONLY,
	 "the instrument given to Subsystem (None: callbacks or slot power)"},
	{NULL, 0, 0, 0, NULL},
};

static PyTypeObject subsystem_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nvme.Subsystem",
	.tp_basicsize = sizeof(SubsystemObject),
	.tp_dealloc = (destructor)sub_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Subsystem(nvme, poweron_cb=None, poweroff_cb=None, instrument=None, *,\n"
		  "          poweron=None, poweroff=None)\n\n"
		  "Power and subsystem resets of the device behind Controller `nvme`. Power\n"
		  "goes through the callbacks (`poweron`/`poweroff` are short names of\n"
		  "`poweron_cb`/`poweroff_cb`), else through an instrument (an object with\n"
		  "power_on() and power_off(), e.g. nvme.instruments.TestBed or Quarch, given\n"
		  "as `instrument` or in place of a callback: Subsystem(nvme0, instrument)),\n"
		  "else through the PCIe slot's power controller (root). docs/instruments.md",
	.tp_methods = sub_methods,
	.tp_members = sub_members,
	.tp_new = sub_new,
};

int pn_py_register_subsystem(PyObject *module)
{
	if (PyType_Ready(&subsystem_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "Subsystem", (PyObject *)&subsystem_type);
}
