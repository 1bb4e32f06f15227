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
int pn_py_register_buffer(PyObject *module);

/* nvme.Buffer (py_buffer.c): DMA memory of a Python script. */
struct dma_region;
extern PyTypeObject pn_py_buffer_type;

/* Gives the DMA region of Buffer `obj` and its transfer window: commands
 * transfer `*size` bytes starting at `(*region)->iova + *offset` (the
 * buffer's offset/size attributes). The region lives as long as `obj`: hold
 * a reference while the device may use it. Returns 0, or -1 with TypeError
 * set when `obj` is not a Buffer. */
int pn_py_buffer_get(PyObject *obj, struct dma_region **region, uint64_t *offset, uint64_t *size);

int pn_py_register_pcie(PyObject *module);

/* nvme.Pcie, for the classes that take one (Controller). */
struct vfio_pci;
extern PyTypeObject pn_py_pcie_type;

/* The device of a Pcie object, for a short use under the GIL. Returns NULL
 * with TypeError when `obj` is not a Pcie, ValueError when it is closed. */
struct vfio_pci *pn_py_pcie_device(PyObject *obj);

/* Like pn_py_pcie_device(), and keeps the device open (and `obj` alive)
 * until pn_py_pcie_release(): a Controller holds its Pcie this way, so a
 * script's pcie.close() refuses further Python use of the Pcie but the
 * device stays open until the Controller releases it. Both need the GIL. */
struct vfio_pci *pn_py_pcie_hold(PyObject *obj);
void pn_py_pcie_release(PyObject *obj);

#endif
