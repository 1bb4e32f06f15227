/* Pcie methods of the software controller (lib/transport_soft.h): faults on
 * demand and the controller's own statistics. On a PCIe function they raise
 * NvmeError: real devices get their faults from instruments. */
#include "module.h"

#include <errno.h>
#include <string.h>

#include "error.h"
#include "soft_ctrl.h"
#include "transport_soft.h"

static const struct {
	const char *name;
	enum soft_ctrl_fault_kind kind;
} per_command[] = {
	{"delay", SOFT_CTRL_FAULT_DELAY},
	{"drop", SOFT_CTRL_FAULT_DROP},
	{"duplicate", SOFT_CTRL_FAULT_DUPLICATE},
	{"wrong_cid", SOFT_CTRL_FAULT_WRONG_CID},
	{"stale_phase", SOFT_CTRL_FAULT_STALE_PHASE},
};

#define FAULT_NAMES "delay, drop, duplicate, wrong_cid, stale_phase, fatal, hang, all_ones, remove"

/* The transport of a Pcie that is a software controller, or NULL with an
 * exception. */
static struct pn_transport *soft_transport(PyObject *self, const char *what)
{
	struct pn_transport *t = pn_py_pcie_device(self);

	if (t && !pn_transport_soft_ctrl(t)) {
		PyErr_Format(pn_py_error, "Pcie('%s').%s: only a software controller ('soft...') "
			     "injects faults; drive a real device's faults with an instrument", t->addr,
			     what);
		return NULL;
	}
	return t;
}

static PyObject *raise_soft(struct pn_transport *t, int rc)
{
	return pn_py_raise(pn_py_error, rc, t->addr);
}

PyObject *pn_py_pcie_inject(PyObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"fault", "sqid", "opcode", "count", "delay_us", "cid_xor", NULL};
	const char *fault;
	int sqid = -1, opcode = -1;
	unsigned int count = 1, delay_us = 1000, cid_xor = 0x8000;
	struct pn_transport *t = soft_transport(self, "inject");
	struct soft_ctrl *c;
	int rc;

	if (!t)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|iiIII:inject", kwlist, &fault, &sqid,
					 &opcode, &count, &delay_us, &cid_xor))
		return NULL;
	if (sqid < -1 || sqid > 0xffff)
		return PyErr_Format(pn_py_arg_error, "sqid %d is not -1 (any) or 0..65535", sqid);
	if (opcode < -1 || opcode > 0xff)
		return PyErr_Format(pn_py_arg_error, "opcode %d is not -1 (any) or 0..255", opcode);
	if (count < 1)
		return PyErr_Format(pn_py_arg_error, "count must be at least 1");
	if (cid_xor < 1 || cid_xor > 0xffff)
		return PyErr_Format(pn_py_arg_error, "cid_xor 0x%x is not 1..0xffff", cid_xor);
	c = pn_transport_soft_ctrl(t);
	for (size_t i = 0; i < sizeof(per_command) / sizeof(per_command[0]); i++) {
		if (strcmp(fault, per_command[i].name))
			continue;
		struct soft_ctrl_fault f = {
			.kind = per_command[i].kind, .sqid = sqid, .opcode = opcode, .count = count,
			.delay_us = delay_us, .cid_xor = (uint16_t)cid_xor,
		};
		Py_BEGIN_ALLOW_THREADS
		rc = soft_ctrl_inject(c, &f);
		Py_END_ALLOW_THREADS
		if (rc == -ENOSPC)
			return PyErr_Format(pn_py_arg_error, "%d per-command faults are armed already: "
					    "inject_clear() first", SOFT_CTRL_MAX_FAULTS);
		if (rc)
			return raise_soft(t, rc);
		Py_RETURN_NONE;
	}
	Py_BEGIN_ALLOW_THREADS
	if (!strcmp(fault, "fatal"))
		rc = soft_ctrl_fault_fatal(c);
	else if (!strcmp(fault, "hang"))
		rc = pn_transport_soft_hang(t, true);
	else if (!strcmp(fault, "all_ones"))
		rc = pn_transport_soft_remove(t, true);
	else if (!strcmp(fault, "remove"))
		rc = pn_transport_soft_hot_remove(t, true);
	else
		rc = -EINVAL;
	Py_END_ALLOW_THREADS
	if (rc == -EINVAL)
		return PyErr_Format(pn_py_arg_error, "unknown fault '%s' (" FAULT_NAMES ")", fault);
	if (rc)
		return raise_soft(t, rc);
	Py_RETURN_NONE;
}

PyObject *pn_py_pcie_inject_clear(PyObject *self, PyObject *unused)
{
	struct pn_transport *t = soft_transport(self, "inject_clear");
	int rc;

	if (!t)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = soft_ctrl_inject_clear(pn_transport_soft_ctrl(t));
	if (!rc)
		rc = pn_transport_soft_hang(t, false);
	if (!rc)
		rc = pn_transport_soft_remove(t, false);
	Py_END_ALLOW_THREADS
	if (rc)
		return raise_soft(t, rc);
	Py_RETURN_NONE;
}

PyObject *pn_py_pcie_soft_stats(PyObject *self, void *closure)
{
	struct pn_transport *t = soft_transport(self, "soft_stats");
	struct soft_ctrl_stats s;

	if (!t)
		return NULL;
	soft_ctrl_get_stats(pn_transport_soft_ctrl(t), &s);
	return Py_BuildValue("{sKsKsKsKsKsKsKsK}", "admin_commands", s.admin_commands,
			     "io_commands", s.io_commands, "completions", s.completions,
			     "resets", s.resets, "faults_fired", s.faults_fired, "irqs", s.irqs,
			     "thread_cpu_ns", s.thread_cpu_ns, "busy_ns", s.busy_ns);
}
