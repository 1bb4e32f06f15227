/* The nvme._nvme extension: module init and the helpers every class shares. */
#include "module.h"

#include "error.h"

PyObject *pn_py_error;

PyObject *pn_py_raise(PyObject *type, int neg_errno, const char *what)
{
	const char *reason = pn_last_error();

	if (!reason[0])
		reason = strerror(-neg_errno);
	if (type == pn_py_error || type == PyExc_OSError) {
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

static int (*const registrations[])(PyObject *) = {
	pn_py_register_srand,
	pn_py_register_buffer,
	pn_py_register_pcie,
	pn_py_register_controller,
	pn_py_register_qpair,
	pn_py_register_ioworker,
	pn_py_register_subsystem,
	pn_py_register_namespace,
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
	pn_py_error = PyErr_NewExceptionWithDoc("nvme.NvmeError",
		"A device or driver failure (the message names the device and the reason).",
		PyExc_OSError, NULL);
	if (!pn_py_error || PyModule_AddObjectRef(module, "NvmeError", pn_py_error) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(registrations) / sizeof(registrations[0]); i++)
		if (registrations[i](module) < 0)
			goto fail;
	return module;
fail:
	Py_DECREF(module);
	return NULL;
}
