/* Argument conversion shared by the command-issuing classes (Controller,
 * Namespace, Qpair): one place decides how an int argument is checked and
 * how the error names it, so every method reports the same way. */
#ifndef PYNVME_EXT_ARGS_H
#define PYNVME_EXT_ARGS_H

#include "module.h"

#include <stdint.h>

struct pn_ctrl;

/* Converts int `obj` to `*out` when it is in min..max. Raises TypeError
 * naming `name` when `obj` is not an int, ValueError naming `name`, the
 * value and the range when it is out of range (negative or too big).
 * Returns 0, or -1 with the exception set. */
int pn_py_uint_arg(PyObject *obj, const char *name, unsigned long long min,
		   unsigned long long max, unsigned long long *out);

/* In a method returning PyObject *: convert argument `obj` into `var` or
 * return NULL. */
#define PN_ARG_REQ(obj, name, min, max, var) do { unsigned long long _pn_v; \
	if (pn_py_uint_arg(obj, name, min, max, &_pn_v) < 0) { return NULL; } \
	var = _pn_v; } while (0)

/* The same for an optional argument: nothing happens when `obj` is NULL
 * (not given), leaving `var` at its default. */
#define PN_ARG(obj, name, min, max, var) do { if (obj) { \
	PN_ARG_REQ(obj, name, min, max, var); } } while (0)

/* The names of command dwords 10..15, for keyword lists and errors. */
extern const char *const pn_py_cdw_names[6];

/* Converts the optional dword arguments `o[0..n-1]` (cdw(16-n)..cdw15, NULL
 * when not given) into `cdw[0..n-1]`, leaving an entry untouched when its
 * argument was not given. Returns 0, or -1 with ValueError/TypeError naming
 * the dword. */
int pn_py_cdw_args(PyObject *const o[], int n, uint32_t cdw[]);

/* Parses the single `opcode` argument (0..0xff) of cmdname()/supports();
 * `fmt` is "O:<method>". Returns 0, or -1 with an exception set. */
int pn_py_opcode_arg(PyObject *args, PyObject *kwargs, const char *fmt, unsigned *opc);

/* Reads the 4 KiB Commands Supported and Effects log page for command set
 * `csi` through controller `c` into `effects` (synchronously; releases the
 * GIL around the wait). Returns 0 or -errno (reason in pn_last_error()). */
int pn_py_read_effects(struct pn_ctrl *c, uint8_t csi, uint8_t effects[4096]);

#endif
