/* Shared declarations of the _nvme extension module.
 *
 * Each Python class lives in its own file (py_<class>.c) and exports one
 * registration function that module.c calls at import time.
 */
#ifndef PYNVME_EXT_MODULE_H
#define PYNVME_EXT_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Raises a Python exception of `type` from a negative errno returned by the
 * C core, with the reason the core recorded (pn_last_error()) prefixed by
 * `what`. Returns NULL so callers can `return pn_py_raise(...)`. */
PyObject *pn_py_raise(PyObject *type, int neg_errno, const char *what);

/* The module's own exception for device and driver failures (nvme.NvmeError,
 * a subclass of OSError so errno is available). */
extern PyObject *pn_py_error;

/* Registration functions, one per class file. Each adds its type(s) to the
 * module and returns 0, or returns -1 with an exception set. */
int pn_py_register_srand(PyObject *module);

#endif
