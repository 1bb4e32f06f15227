/* The nvme._nvme extension: module init and the helpers every class shares. */
#include "module.h"

#include "error.h"

PyObject *pn_py_error;
PyObject *pn_py_arg_error;
PyObject *pn_py_enumerate_error;
PyObject *pn_py_deletion_error;
PyObject *pn_py_qpair_creation_error;
PyObject *pn_py_qpair_deletion_error;
PyObject *pn_py_namespace_creation_error;
PyObject *pn_py_shutdown_timeout_error;

PyObject *pn_py_raise(PyObject *type, int neg_errno, const char *what)
{
	const char *reason = pn_last_error();

	if (!reason[0])
		reason = strerror(-neg_errno);
	if (PyType_IsSubtype((PyTypeObject *)type, (PyTypeObject *)PyExc_OSError)) {
		PyObject *args = Py_BuildValue("(is)", -neg_errno, "");
		PyObject *msg = PyUnicode_FromFormat("%s: %s", what, reason);

		if (args && msg) {
			PyObject *exc = PyObject_Call(type, args, NULL);

			if (exc) {
				/* OSError's str() shows "[Errno N] strerror": replace with ours. */
				PyObject_SetAttrString(exc, "strerror", msg);
				PyErr_SetObject(type, exc);
				Py_DECREF(exc);
			}
		}
		Py_XDECREF(args);
		Py_XDECREF(msg);
	} else {
		PyErr_Format(type, "%s: %s", what, reason);
	}
	pn_clear_error();
	return NULL;
}

/* Creates exception nvme.<name> with `bases` (a class or a tuple) into *out
 * and adds it to the module. Returns 0 or -1. */
static int add_exception(PyObject *module, const char *name, PyObject *bases, const char *doc,
			 PyObject **out)
{
	char qualified[64];

	snprintf(qualified, sizeof(qualified), "nvme.%s", name);
	*out = PyErr_NewExceptionWithDoc(qualified, doc, bases, NULL);
	if (!*out)
		return -1;
	return PyModule_AddObjectRef(module, name, *out);
}

/* The original pynvme's exception classes, all NvmeErrors here. */
static const struct {
	const char *name, *doc;
	PyObject **out;
} originals[] = {
	{"NvmeEnumerateError", "The device could not be opened or its controller not initialised.",
	 &pn_py_enumerate_error},
	{"NvmeDeletionError", "Closing the device failed.", &pn_py_deletion_error},
	{"QpairCreationError", "The IO queue pair could not be created.", &pn_py_qpair_creation_error},
	{"QpairDeletionError", "Deleting the IO queue pair failed.", &pn_py_qpair_deletion_error},
	{"NamespaceCreationError", "The namespace could not be set up (or refreshed after a format).",
	 &pn_py_namespace_creation_error},
	{"NvmeShutdownStatusTimeoutError", "CSTS.SHST did not report the shutdown complete in time.",
	 &pn_py_shutdown_timeout_error},
};

static int add_exceptions(PyObject *module)
{
	PyObject *arg_bases = PyTuple_Pack(2, PyExc_ValueError, PyExc_AssertionError);
	int rc;

	if (!arg_bases)
		return -1;
	rc = add_exception(module, "NvmeError", PyExc_OSError,
			   "A device or driver failure (the message names the device and the reason).",
			   &pn_py_error);
	if (rc == 0)
		rc = add_exception(module, "ArgumentError", arg_bases,
				   "A bad argument or a closed object: both a ValueError and an "
				   "AssertionError.", &pn_py_arg_error);
	Py_DECREF(arg_bases);
	for (size_t i = 0; rc == 0 && i < sizeof(originals) / sizeof(originals[0]); i++)
		rc = add_exception(module, originals[i].name, pn_py_error, originals[i].doc,
				   originals[i].out);
	return rc;
}

static int (*const registrations[])(PyObject *) = {
	pn_py_register_srand,
	pn_py_register_buffer,
	pn_py_register_pcie,
	pn_py_register_controller,
	pn_py_register_qpair,
	pn_py_register_ioworker,
	pn_py_register_subsystem,
	pn_py_register_namespace,
	pn_py_register_monitor,
};

static struct PyModuleDef nvme_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "nvme._nvme",
	.m_doc = "pynvme: a user-space NVMe driver for SSD testing (C core).",
	.m_size = -1,
};

PyMODINIT_FUNC PyInit__nvme(void)
{
	PyObject *module = PyModule_Create(&nvme_module);

	if (!module)
		return NULL;
	if (add_exceptions(module) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(registrations) / sizeof(registrations[0]); i++)
		if (registrations[i](module) < 0)
			goto fail;
	return module;
fail:
	Py_DECREF(module);
	return NULL;
}
