/* nvme.srand(seed): the seed of the driver's random generator. */
#include "module.h"

#include "rand.h"

static PyObject *py_srand(PyObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"seed", NULL};
	unsigned long long seed;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "K:srand", kwlist, &seed))
		return NULL;
	pn_rand_seed(seed);
	/* Python's random too, as the original did: a seeded script that draws
	 * LBAs or sizes with random.randint() replays the same way */
	PyObject *random = PyImport_ImportModule("random");
	PyObject *res = random ? PyObject_CallMethod(random, "seed", "K", seed) : NULL;

	Py_XDECREF(random);
	if (!res)
		return NULL;
	Py_DECREF(res);
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{"srand", (PyCFunction)(void (*)(void))py_srand, METH_VARARGS | METH_KEYWORDS,
	 "srand(seed)\n\nSets the seed of the driver's random generator (ioworker LBAs, random\n"
	 "data patterns) and of Python's `random`, so a test can be reproduced exactly."},
	{NULL, NULL, 0, NULL},
};

int pn_py_register_srand(PyObject *module)
{
	return PyModule_AddFunctions(module, methods);
}
