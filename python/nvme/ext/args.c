/* Argument conversion shared by Controller, Namespace and Qpair (args.h). */
#include "args.h"

#include <string.h>

#include "controller.h"
#include "dma.h"

int pn_py_uint_arg(PyObject *obj, const char *name, unsigned long long min,
		   unsigned long long max, unsigned long long *out)
{
	unsigned long long v;

	if (!PyLong_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(obj)->tp_name);
		return -1;
	}
	v = PyLong_AsUnsignedLongLong(obj);
	if ((v == (unsigned long long)-1 && PyErr_Occurred()) || v < min || v > max) {
		/* negative or wider than 64 bits lands here too: show the value
		 * as Python sees it rather than a wrapped number */
		PyErr_Clear();
		PyErr_Format(pn_py_arg_error, "%s=%R is out of range %llu..0x%llx", name, obj, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

const char *const pn_py_cdw_names[6] = {"cdw10", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15"};

int pn_py_cdw_args(PyObject *const o[], int n, uint32_t cdw[])
{
	for (int i = 0; i < n; i++) {
		unsigned long long v;

		if (!o[i])
			continue;
		if (pn_py_uint_arg(o[i], pn_py_cdw_names[6 - n + i], 0, 0xffffffffull, &v) < 0)
			return -1;
		cdw[i] = (uint32_t)v;
	}
	return 0;
}

int pn_py_opcode_arg(PyObject *args, PyObject *kwargs, const char *fmt, unsigned *opc)
{
	static char *kwlist[] = {"opcode", NULL};
	PyObject *o;
	unsigned long long v;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kwlist, &o))
		return -1;
	if (pn_py_uint_arg(o, "opcode", 0, 0xff, &v) < 0)
		return -1;
	*opc = (unsigned)v;
	return 0;
}

int pn_py_read_effects(struct pn_ctrl *c, uint8_t csi, uint8_t effects[4096])
{
	struct pn_sqe sqe = {
		.opc = nvme_admin_get_log_page,
		.nsid = 0xffffffff,
		.cdw10 = (4096 / 4 - 1) << 16 | NVME_LOG_LID_CMD_EFFECTS,
		.cdw14 = (uint32_t)csi << 24,
	};
	struct dma_region *mem;
	int rc = dma_alloc(4096, &mem);

	if (rc < 0)
		return rc;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ctrl_admin_sync(c, &sqe, mem->iova, 4096, NULL);
	Py_END_ALLOW_THREADS
	if (!rc)
		memcpy(effects, mem->vaddr, 4096);
	dma_free(mem);
	return rc;
}
