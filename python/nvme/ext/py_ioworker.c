/* nvme.IOWorker: a background IO workload (lib/ioworker.h) from Python.
 *
 * Namespace.ioworker(...) builds one through pn_py_ioworker_new().
 */
#include "module.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "error.h"
#include "ioworker.h"
#include "tsc.h"

typedef struct {
	PyObject_HEAD
	struct pn_ioworker *w;
	PyObject *owner;              /* the Namespace (or Controller): keeps it alive */
	PyObject *verify_owner;       /* the object owning the verify table */
	struct pn_wl_trace_entry *trace; /* io_sequence, PyMem */
	struct pn_wl_region *regions;    /* regions, PyMem */
	PyObject *op_percentage;      /* the caller's dicts/lists, filled on close */
	PyObject *out_io_per_second;
	PyObject *out_percentile;
	PyObject *out_cmdlog;
	PyObject *result;             /* cached result of close() */
	PyObject *weakrefs;           /* the Controller's list refers to us weakly */
	bool started, closed;
	bool queue_gone;              /* a wait frees the queue: the monitor keeps off */
} IOWorkerObject;

#define ioworker_type pn_py_ioworker_type

/* ---- argument conversion (messages name the parameter) ---------------- */

static int to_u64(PyObject *o, const char *name, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;

	if (!PyLong_Check(o) || PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(o)->tp_name);
		return -1;
	}
	if (_PyLong_Sign(o) < 0) {
		PyErr_Format(pn_py_arg_error, "%s must not be negative", name);
		return -1;
	}
	v = PyLong_AsUnsignedLongLong(o);
	if (v == (unsigned long long)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		PyErr_Format(pn_py_arg_error, "%s does not fit in 64 bits", name);
		return -1;
	}
	if (v < lo || v > hi) {
		PyErr_Format(pn_py_arg_error, "%s %llu out of range %llu..%llu", name, v,
			     (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int to_u32(PyObject *o, const char *name, uint64_t lo, uint64_t hi, uint32_t *out)
{
	uint64_t v;

	if (to_u64(o, name, lo, hi, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_io_size(PyObject *o, struct pn_workload_params *p)
{
	if (PyLong_Check(o) && !PyBool_Check(o)) {
		p->size_kind = PN_WL_SIZE_FIXED;
		return to_u32(o, "io_size", 1, PN_WL_MAX_NLB, &p->size_min);
	}
	if (PyRange_Check(o)) {
		PyObject *start = PyObject_GetAttrString(o, "start");
		PyObject *stop = PyObject_GetAttrString(o, "stop");
		PyObject *step = PyObject_GetAttrString(o, "step");
		long long a, b, s;

		a = start ? PyLong_AsLongLong(start) : -1;
		b = stop ? PyLong_AsLongLong(stop) : -1;
		s = step ? PyLong_AsLongLong(step) : -1;
		Py_XDECREF(start);
		Py_XDECREF(stop);
		Py_XDECREF(step);
		if (PyErr_Occurred())
			return -1;
		if (a < 1 || s < 1 || b <= a || b - 1 > PN_WL_MAX_NLB) {
			PyErr_Format(pn_py_arg_error, "io_size range(%lld, %lld, %lld) must hold sizes "
				     "1..%u LBAs with a positive step", a, b, s, PN_WL_MAX_NLB);
			return -1;
		}
		p->size_kind = PN_WL_SIZE_RANGE;
		p->size_min = (uint32_t)a;
		p->size_max = (uint32_t)(a + (b - 1 - a) / s * s);
		p->size_step = (uint32_t)s;
		return 0;
	}
	if (PyList_Check(o) || PyTuple_Check(o)) {
		Py_ssize_t n = PySequence_Size(o);

		if (n < 1 || n > PN_WL_MAX_SIZES) {
			PyErr_Format(pn_py_arg_error, "io_size list must have 1..%d sizes, has %zd",
				     PN_WL_MAX_SIZES, n);
			return -1;
		}
		p->size_kind = PN_WL_SIZE_LIST;
		p->nsizes = (uint32_t)n;
		for (Py_ssize_t i = 0; i < n; i++) {
			PyObject *it = PySequence_GetItem(o, i);
			int rc = it ? to_u32(it, "io_size list entry", 1, PN_WL_MAX_NLB, &p->sizes[i]) : -1;

			Py_XDECREF(it);
			if (rc < 0)
				return -1;
			p->size_weight[i] = 1;
		}
		return 0;
	}
	if (PyDict_Check(o)) {
		PyObject *k, *v;
		Py_ssize_t pos = 0, i = 0;
		uint64_t total = 0;

		if (PyDict_Size(o) < 1 || PyDict_Size(o) > PN_WL_MAX_SIZES) {
			PyErr_Format(pn_py_arg_error, "io_size dict must have 1..%d sizes",
				     PN_WL_MAX_SIZES);
			return -1;
		}
		p->size_kind = PN_WL_SIZE_LIST;
		while (PyDict_Next(o, &pos, &k, &v)) {
			if (to_u32(k, "io_size dict key (size)", 1, PN_WL_MAX_NLB, &p->sizes[i]) < 0 ||
			    to_u32(v, "io_size dict value (weight)", 0, 1000000000, &p->size_weight[i]) < 0)
				return -1;
			total += p->size_weight[i];
			i++;
		}
		if (!total) {
			PyErr_SetString(pn_py_arg_error, "io_size dict weights sum to 0");
			return -1;
		}
		p->nsizes = (uint32_t)i;
		return 0;
	}
	PyErr_Format(PyExc_TypeError, "io_size must be an int, range, list or dict, not %.100s",
		     Py_TYPE(o)->tp_name);
	return -1;
}

static int parse_lba_align(PyObject *o, struct pn_workload_params *p)
{
	if (o == Py_None)
		return 0;
	if (PyLong_Check(o) && !PyBool_Check(o)) {
		p->nalign = 1;
		return to_u32(o, "lba_align", 1, 0xffffffffu, &p->align[0]);
	}
	if (PyList_Check(o) || PyTuple_Check(o)) {
		Py_ssize_t n = PySequence_Size(o);

		if (p->size_kind != PN_WL_SIZE_LIST || (uint32_t)n != p->nsizes) {
			PyErr_Format(pn_py_arg_error, "lba_align list must have one entry per io_size "
				     "entry (%u), has %zd", p->size_kind == PN_WL_SIZE_LIST ? p->nsizes : 1, n);
			return -1;
		}
		p->nalign = (uint32_t)n;
		for (Py_ssize_t i = 0; i < n; i++) {
			PyObject *it = PySequence_GetItem(o, i);
			int rc = it ? to_u32(it, "lba_align list entry", 1, 0xffffffffu, &p->align[i]) : -1;

			Py_XDECREF(it);
			if (rc < 0)
				return -1;
		}
		return 0;
	}
	PyErr_Format(PyExc_TypeError, "lba_align must be an int or a list, not %.100s",
		     Py_TYPE(o)->tp_name);
	return -1;
}

static int parse_ops(PyObject *o, struct pn_workload_params *p)
{
	PyObject *k, *v;
	Py_ssize_t pos = 0;
	uint32_t i = 0;

	if (!PyDict_Check(o)) {
		PyErr_Format(PyExc_TypeError, "op_percentage must be a dict opcode->percentage, "
			     "not %.100s", Py_TYPE(o)->tp_name);
		return -1;
	}
	if (PyDict_Size(o) < 1 || PyDict_Size(o) > PN_WL_MAX_OPS) {
		PyErr_Format(pn_py_arg_error, "op_percentage must have 1..%d opcodes", PN_WL_MAX_OPS);
		return -1;
	}
	while (PyDict_Next(o, &pos, &k, &v)) {
		uint32_t opc;

		/* the values are weights: percentages when they sum to 100, as
		 * the original required; any other sum is taken as it is */
		if (to_u32(k, "op_percentage key (opcode)", 0, 255, &opc) < 0 ||
		    to_u32(v, "op_percentage value (percentage or weight)", 0, 1000000000,
			   &p->ops[i].percentage) < 0)
			return -1;
		p->ops[i].opcode = (uint8_t)opc;
		i++;
	}
	p->nops = i;
	return 0;
}

static int parse_distribution(PyObject *o, struct pn_workload_params *p)
{
	Py_ssize_t n;

	if (!PyList_Check(o) && !PyTuple_Check(o)) {
		PyErr_Format(PyExc_TypeError, "distribution must be a list of 100 ints, not %.100s",
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	n = PySequence_Size(o);
	if (n != PN_WL_DIST_BUCKETS) {
		PyErr_Format(pn_py_arg_error, "distribution must have 100 entries, has %zd", n);
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *it = PySequence_GetItem(o, i);
		int rc = it ? to_u32(it, "distribution entry", 0, PN_WL_DIST_TOTAL,
				     &p->distribution[i]) : -1;

		Py_XDECREF(it);
		if (rc < 0)
			return -1;
	}
	p->has_distribution = true;
	return 0;
}

/* io_sequence: a list of (timestamp_us, opcode, slba, nlba), the original
 * pynvme's order (its driver read line[0] as the time, line[1] the opcode,
 * line[2] the LBA and line[3] the count). Times need not be sorted. */
static int parse_trace(PyObject *o, IOWorkerObject *self, struct pn_workload_params *p)
{
	Py_ssize_t n;

	if (!PyList_Check(o) && !PyTuple_Check(o)) {
		PyErr_Format(PyExc_TypeError, "io_sequence must be a list of (timestamp_us, opcode, "
			     "slba, nlba), not %.100s", Py_TYPE(o)->tp_name);
		return -1;
	}
	n = PySequence_Size(o);
	if (n < 1) {
		PyErr_SetString(pn_py_arg_error, "io_sequence is empty");
		return -1;
	}
	self->trace = PyMem_Calloc((size_t)n, sizeof(*self->trace));
	if (!self->trace) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *it = PySequence_GetItem(o, i);
		struct pn_wl_trace_entry *e = &self->trace[i];
		uint64_t slba, nlb, opc, t;
		int rc = -1;

		if (!it)
			return -1;
		if ((!PyTuple_Check(it) && !PyList_Check(it)) || PySequence_Size(it) != 4) {
			PyErr_Format(pn_py_arg_error, "io_sequence[%zd] must be (timestamp_us, opcode, "
				     "slba, nlba)", i);
		} else {
			PyObject *f[4];

			for (int k = 0; k < 4; k++)
				f[k] = PySequence_GetItem(it, k);
			if (f[0] && f[1] && f[2] && f[3] &&
			    !to_u64(f[0], "io_sequence timestamp_us", 0, UINT64_MAX / 4, &t) &&
			    !to_u64(f[1], "io_sequence opcode", 0, 255, &opc) &&
			    !to_u64(f[2], "io_sequence slba", 0, UINT64_MAX, &slba) &&
			    !to_u64(f[3], "io_sequence nlba", 0, PN_WL_MAX_NLB, &nlb)) {
				e->slba = slba;
				e->nlb = (uint32_t)nlb;
				e->opcode = (uint8_t)opc;
				e->time_sent_us = t;
				rc = 0;
			}
			for (int k = 0; k < 4; k++)
				Py_XDECREF(f[k]);
		}
		Py_DECREF(it);
		if (rc < 0)
			return -1;
	}
	p->trace = self->trace;
	p->ntrace = (uint64_t)n;
	return 0;
}

/* regions (our extension, docs/ioworker.md): a list of (start, end) or
 * (start, end, weight) LBA ranges, sorted; the generator checks the rest. */
static int parse_regions(PyObject *o, IOWorkerObject *self, struct pn_workload_params *p)
{
	Py_ssize_t n;

	if (!PyList_Check(o) && !PyTuple_Check(o)) {
		PyErr_Format(PyExc_TypeError, "regions must be a list of (start, end) or (start, "
			     "end, weight), not %.100s", Py_TYPE(o)->tp_name);
		return -1;
	}
	n = PySequence_Size(o);
	if (n < 1 || n > PN_WL_MAX_REGIONS) {
		PyErr_Format(pn_py_arg_error, "regions has %zd entries, must be 1..%d", n,
			     PN_WL_MAX_REGIONS);
		return -1;
	}
	self->regions = PyMem_Calloc((size_t)n, sizeof(*self->regions));
	if (!self->regions) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *it = PySequence_GetItem(o, i);
		struct pn_wl_region *r = &self->regions[i];
		Py_ssize_t k = it && (PyTuple_Check(it) || PyList_Check(it)) ? PySequence_Size(it) : -1;
		int rc = -1;

		if (!it)
			return -1;
		if (k != 2 && k != 3) {
			PyErr_Format(pn_py_arg_error, "regions[%zd] must be (start, end) or (start, "
				     "end, weight)", i);
		} else {
			PyObject *f[3] = {NULL, NULL, NULL};

			for (Py_ssize_t j = 0; j < k; j++)
				f[j] = PySequence_GetItem(it, j);
			if (f[0] && f[1] && (k == 2 || f[2]) &&
			    !to_u64(f[0], "regions start", 0, UINT64_MAX, &r->start) &&
			    !to_u64(f[1], "regions end", 0, UINT64_MAX, &r->end) &&
			    (k == 2 || !to_u64(f[2], "regions weight", 1, UINT64_MAX, &r->weight)))
				rc = 0;
			for (Py_ssize_t j = 0; j < k; j++)
				Py_XDECREF(f[j]);
		}
		Py_DECREF(it);
		if (rc < 0)
			return -1;
	}
	p->regions = self->regions;
	p->nregions = (uint32_t)n;
	return 0;
}

/* ---- creation ---------------------------------------------------------- */

static uint64_t worker_stream;   /* different random streams per worker */

PyObject *pn_py_ioworker_new(const struct pn_py_ns_info *ns, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {
		"io_size", "lba_step", "lba_align", "lba_random", "read_percentage",
		"op_percentage", "time", "qdepth", "region_start", "region_end", "iops",
		"io_count", "lba_start", "qprio", "distribution", "ptype", "pvalue",
		"io_sequence", "fw_debug", "output_io_per_second", "output_percentile_latency",
		"output_cmdlog_list", "cpu", "regions", NULL};
	PyObject *o_io_size = NULL, *o_lba_step = Py_None, *o_lba_align = Py_None,
		 *o_lba_random = Py_True, *o_read_pct = NULL, *o_op_pct = Py_None, *o_time = NULL,
		 *o_qdepth = NULL, *o_region_start = NULL, *o_region_end = NULL, *o_iops = NULL,
		 *o_io_count = NULL, *o_lba_start = NULL, *o_qprio = NULL, *o_dist = Py_None,
		 *o_ptype = NULL, *o_pvalue = NULL, *o_seq = Py_None, *o_fw_debug = Py_False,
		 *o_out_ips = Py_None, *o_out_pct = Py_None, *o_out_cmdlog = Py_None, *o_cpu = Py_None,
		 *o_regions = Py_None;
	struct pn_ioworker_config cfg;
	struct pn_workload_params *p = &cfg.wl;
	IOWorkerObject *self;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOOOOOOOOOOOOOOOOOOOOOO:ioworker", kwlist,
					 &o_io_size, &o_lba_step, &o_lba_align, &o_lba_random,
					 &o_read_pct, &o_op_pct, &o_time, &o_qdepth,
					 &o_region_start, &o_region_end, &o_iops, &o_io_count,
					 &o_lba_start, &o_qprio, &o_dist, &o_ptype, &o_pvalue, &o_seq,
					 &o_fw_debug, &o_out_ips, &o_out_pct, &o_out_cmdlog, &o_cpu,
					 &o_regions))
		return NULL;
	self = PyObject_New(IOWorkerObject, &ioworker_type);
	if (!self)
		return NULL;
	memset((char *)self + sizeof(PyObject), 0, sizeof(*self) - sizeof(PyObject));

	memset(&cfg, 0, sizeof(cfg));
	cfg.ctrl = ns->ctrl;
	cfg.nsid = ns->nsid;
	cfg.verify = ns->verify;
	cfg.trim_reads_zeroes = ns->trim_reads_zeroes;
	cfg.cpu = -1;
	cfg.ptype = 0xbeef;
	cfg.pvalue = 100;
	p->ns_capacity = ns->capacity;
	p->lba_size = ns->lba_size;
	p->max_xfer_bytes = ns->ctrl->mdts_bytes;
	p->max_queue_entries = ns->ctrl->mqes;
	p->size_kind = PN_WL_SIZE_FIXED;
	p->size_min = 8;
	p->lba_random = 100;
	p->read_percentage = 100;
	p->qdepth = 64;
	p->region_end = 0;
	p->rand_stream = __atomic_add_fetch(&worker_stream, 1, __ATOMIC_RELAXED);

	if (o_io_size && parse_io_size(o_io_size, p) < 0)
		goto fail;
	if (o_lba_step != Py_None) {
		long long step;

		if (!PyLong_Check(o_lba_step) || PyBool_Check(o_lba_step)) {
			PyErr_Format(PyExc_TypeError, "lba_step must be an int or None, not %.100s",
				     Py_TYPE(o_lba_step)->tp_name);
			goto fail;
		}
		step = PyLong_AsLongLong(o_lba_step);
		if (step == -1 && PyErr_Occurred()) {
			PyErr_Clear();
			PyErr_SetString(pn_py_arg_error, "lba_step does not fit in 64 bits");
			goto fail;
		}
		p->has_lba_step = true;
		p->lba_step = step;
	}
	if (parse_lba_align(o_lba_align, p) < 0)
		goto fail;
	/* a bool (all or none) or the percentage of random IOs, as the
	 * original; a float percentage is rounded */
	if (PyBool_Check(o_lba_random)) {
		p->lba_random = o_lba_random == Py_True ? 100 : 0;
	} else if (PyFloat_Check(o_lba_random)) {
		double pc = PyFloat_AsDouble(o_lba_random);

		if (!(pc >= 0 && pc <= 100)) {
			PyErr_Format(pn_py_arg_error, "lba_random %g out of range 0..100 (percent "
				     "of random IOs)", pc);
			goto fail;
		}
		p->lba_random = (uint32_t)(pc + 0.5);
	} else if (to_u32(o_lba_random, "lba_random", 0, 100, &p->lba_random) < 0) {
		goto fail;
	}
	if (o_read_pct && to_u32(o_read_pct, "read_percentage", 0, 100, &p->read_percentage) < 0)
		goto fail;
	if (o_op_pct != Py_None) {
		if (parse_ops(o_op_pct, p) < 0)
			goto fail;
		Py_INCREF(o_op_pct);
		self->op_percentage = o_op_pct;
	} else {
		/* read_percentage as an op mix: reads, the rest writes */
		p->nops = 0;
		if (p->read_percentage)
			p->ops[p->nops++] = (struct pn_wl_op){PN_OP_READ, p->read_percentage};
		if (p->read_percentage < 100)
			p->ops[p->nops++] = (struct pn_wl_op){PN_OP_WRITE, 100 - p->read_percentage};
	}
	if (o_time) {
		if (PyFloat_Check(o_time)) {
			double t = PyFloat_AsDouble(o_time);

			if (!(t >= 0 && t <= 3600.0 * 1000)) {
				PyErr_Format(pn_py_arg_error, "time %g out of range 0..3600000 s "
					     "(1000 hours, as the original)", t);
				goto fail;
			}
			p->time_s = (uint32_t)ceil(t);
		} else if (to_u32(o_time, "time", 0, 3600u * 1000, &p->time_s) < 0) {
			goto fail;
		}
	}
	if (o_qdepth && to_u32(o_qdepth, "qdepth", PN_WL_QDEPTH_MIN, PN_WL_QDEPTH_MAX, &p->qdepth) < 0)
		goto fail;
	if (o_region_start && to_u64(o_region_start, "region_start", 0, UINT64_MAX, &p->region_start) < 0)
		goto fail;
	if (o_region_end && to_u64(o_region_end, "region_end", 1, UINT64_MAX, &p->region_end) < 0)
		goto fail;
	if (o_iops && to_u32(o_iops, "iops", 0, 10000000, &cfg.iops) < 0)
		goto fail;
	if (o_io_count && to_u64(o_io_count, "io_count", 0, UINT64_MAX, &p->io_count) < 0)
		goto fail;
	if (o_lba_start && to_u64(o_lba_start, "lba_start", 0, UINT64_MAX, &p->lba_start) < 0)
		goto fail;
	if (o_qprio) {
		uint32_t prio;

		if (to_u32(o_qprio, "qprio", 0, 3, &prio) < 0)
			goto fail;
		cfg.qprio = (uint8_t)prio;
	}
	if (o_dist != Py_None && parse_distribution(o_dist, p) < 0)
		goto fail;
	if (o_ptype && to_u32(o_ptype, "ptype", 0, 0xffffffffu, &cfg.ptype) < 0)
		goto fail;
	if (o_pvalue && to_u32(o_pvalue, "pvalue", 0, 0xffffffffu, &cfg.pvalue) < 0)
		goto fail;
	if (cfg.ptype != 0 && cfg.ptype != 32 && cfg.ptype != 0xbeef) {
		/* the original's buffers held zeroes for a ptype it did not know */
		cfg.ptype = 0;
		cfg.pvalue = 0;
	}
	if (cfg.ptype == 0xbeef && cfg.pvalue > 100) {
		PyErr_Format(pn_py_arg_error, "pvalue %u out of range 0..100 for ptype 0xbeef",
			     cfg.pvalue);
		goto fail;
	}
	if (o_seq != Py_None && parse_trace(o_seq, self, p) < 0)
		goto fail;
	if (o_regions != Py_None) {
		if (o_region_start || o_region_end) {
			PyErr_SetString(pn_py_arg_error, "regions and region_start/region_end "
					"cannot be combined: the regions are the LBAs to use");
			goto fail;
		}
		if (parse_regions(o_regions, self, p) < 0)
			goto fail;
	}
	if (PyObject_IsTrue(o_fw_debug) < 0)
		goto fail;
	if (o_out_ips != Py_None) {
		if (!PyList_Check(o_out_ips)) {
			PyErr_SetString(PyExc_TypeError, "output_io_per_second must be a list");
			goto fail;
		}
		Py_INCREF(o_out_ips);
		self->out_io_per_second = o_out_ips;
	}
	if (o_out_pct != Py_None) {
		PyObject *k, *v;
		Py_ssize_t pos = 0;

		if (!PyDict_Check(o_out_pct)) {
			PyErr_SetString(PyExc_TypeError, "output_percentile_latency must be a dict "
					"percentile->None");
			goto fail;
		}
		while (PyDict_Next(o_out_pct, &pos, &k, &v)) {
			double pc = PyFloat_AsDouble(k);

			if (pc == -1.0 && PyErr_Occurred()) {
				PyErr_Clear();
				PyErr_SetString(PyExc_TypeError, "output_percentile_latency keys must be "
						"numbers (percentiles)");
				goto fail;
			}
			if (!(pc >= 0 && pc <= 100)) {
				PyErr_Format(pn_py_arg_error, "output_percentile_latency key %g is not "
					     "a percentile 0..100", pc);
				goto fail;
			}
		}
		Py_INCREF(o_out_pct);
		self->out_percentile = o_out_pct;
	}
	if (o_out_cmdlog != Py_None) {
		Py_ssize_t n;

		if (!PyList_Check(o_out_cmdlog)) {
			PyErr_SetString(PyExc_TypeError, "output_cmdlog_list must be a list");
			goto fail;
		}
		/* as in the original: its length is how many of the last
		 * commands it receives; an empty list collects nothing */
		n = PyList_Size(o_out_cmdlog);
		if (n > (Py_ssize_t)PN_IOW_CMDLIST_MAX) {
			PyErr_Format(pn_py_arg_error, "output_cmdlog_list has %zd entries, at most %u",
				     n, PN_IOW_CMDLIST_MAX);
			goto fail;
		}
		if (n > 0) {
			cfg.cmdlist_count = (uint32_t)n;
			cfg.cmdlog_count = n < 256 ? (uint32_t)n : 256;
			Py_INCREF(o_out_cmdlog);
			self->out_cmdlog = o_out_cmdlog;
		}
	}
	if (o_cpu != Py_None) {
		uint32_t cpu;

		if (to_u32(o_cpu, "cpu", 0, 4095, &cpu) < 0)
			goto fail;
		cfg.cpu = (int)cpu;
	}
	/* The API's "no stop condition" refusal, also for traces (which end). */
	rc = pn_ioworker_create(&cfg, &self->w);
	if (rc < 0) {
		pn_py_raise(rc == -EINVAL ? pn_py_arg_error : pn_py_error, rc, "ioworker");
		goto fail;
	}
	/* Controller.close() stops and joins us before the controller goes */
	if (pn_py_controller_add_qpair(ns->controller, (PyObject *)self) < 0)
		goto fail;
	self->owner = ns->owner;
	Py_XINCREF(self->owner);
	self->verify_owner = ns->verify_owner;
	Py_XINCREF(self->verify_owner);
	return (PyObject *)self;
fail:
	Py_DECREF(self);
	return NULL;
}

/* ---- start / close ------------------------------------------------------ */

static PyObject *iow_start(IOWorkerObject *self, PyObject *unused)
{
	int rc;

	if (self->started)
		return PyErr_Format(PyExc_RuntimeError, "ioworker already started");
	self->started = true;
	Py_BEGIN_ALLOW_THREADS
	rc = pn_ioworker_start(self->w);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return pn_py_raise(pn_py_error, rc, "ioworker start");
	Py_INCREF(self);
	return (PyObject *)self;
}

static int set_item(PyObject *d, const char *key, PyObject *v)
{
	int rc;

	if (!v)
		return -1;
	rc = PyDict_SetItemString(d, key, v);
	Py_DECREF(v);
	return rc;
}

static PyObject *cmdlog_entry(const struct pn_cmdlog_entry *e)
{
	const uint32_t *sd = (const uint32_t *)&e->sqe;
	const uint32_t *cd = (const uint32_t *)&e->cqe;
	PyObject *sqe = PyList_New(16), *cqe;

	if (!sqe)
		return NULL;
	for (int k = 0; k < 16; k++)
		PyList_SET_ITEM(sqe, k, PyLong_FromUnsignedLong(sd[k]));
	if (e->complete_tsc)
		cqe = Py_BuildValue("[kkkk]", (unsigned long)cd[0], (unsigned long)cd[1],
				    (unsigned long)cd[2], (unsigned long)cd[3]);
	else
		cqe = Py_NewRef(Py_None);
	return Py_BuildValue("{s:N,s:N,s:i,s:i,s:K,s:N,s:O}", "sqe", sqe, "cqe", cqe,
			     "opcode", e->sqe.opc, "cid", e->sqe.cid,
			     "submit_us", (unsigned long long)(pn_tsc_to_ns(e->submit_tsc) / 1000),
			     "latency_us", e->complete_tsc ?
				PyFloat_FromDouble(pn_tsc_to_ns(e->complete_tsc - e->submit_tsc) / 1000.0) :
				Py_NewRef(Py_None),
			     "synthesized", e->synthesized ? Py_True : Py_False);
}

/* The result dict (nvme._IOWorkerResult when available: attribute access). */
static PyObject *build_result(IOWorkerObject *self, const struct pn_ioworker_result *r)
{
	PyObject *d = PyDict_New(), *ops = NULL, *dist = NULL, *pct = NULL, *mod, *cls;
	const struct pn_hist *h = &r->latency;
	int64_t error;
	uint64_t max_us;

	if (!d)
		return NULL;
	error = r->error_status && r->error_status != 0xffff ? (int64_t)r->error_status
							      : (int64_t)r->error_code;
	if (set_item(d, "io_count_read", PyLong_FromUnsignedLongLong(r->io_count_read)) ||
	    set_item(d, "io_count_nonread", PyLong_FromUnsignedLongLong(r->io_count_nonread)) ||
	    set_item(d, "io_count_write", PyLong_FromUnsignedLongLong(r->io_count_write)) ||
	    set_item(d, "mseconds", PyLong_FromUnsignedLongLong(r->mseconds)) ||
	    set_item(d, "cpu_usage", PyFloat_FromDouble(r->cpu_usage)) ||
	    set_item(d, "cpu_ns", PyLong_FromUnsignedLongLong(r->cpu_ns)) ||
	    set_item(d, "pacing_hold_ns", PyLong_FromUnsignedLong(r->pacing_hold_ns)) ||
	    set_item(d, "latency_max_us", PyLong_FromUnsignedLongLong((h->max + 999) / 1000)) ||
	    set_item(d, "latency_min_us", PyLong_FromUnsignedLongLong(h->count ? h->min / 1000 : 0)) ||
	    set_item(d, "latency_average_us", PyFloat_FromDouble(pn_hist_mean(h) / 1000.0)) ||
	    set_item(d, "error", PyLong_FromLongLong(error)) ||
	    set_item(d, "error_code", PyLong_FromLong(r->error_code)) ||
	    set_item(d, "error_text", PyUnicode_FromString(r->error_text)) ||
	    set_item(d, "iops_consistency", PyFloat_FromDouble(pn_ioworker_iops_consistency(r, 99.9))) ||
	    set_item(d, "iops", PyFloat_FromDouble(r->mseconds ? (r->io_count_read +
			r->io_count_nonread) * 1000.0 / r->mseconds : 0.0)) ||
	    set_item(d, "submitted", PyLong_FromUnsignedLongLong(r->submitted)) ||
	    set_item(d, "sq_doorbells", PyLong_FromUnsignedLongLong(r->sq_doorbells)) ||
	    set_item(d, "cq_doorbells", PyLong_FromUnsignedLongLong(r->cq_doorbells)))
		goto fail;
	ops = PyDict_New();
	if (!ops)
		goto fail;
	for (unsigned op = 0; op < 256; op++) {
		if (r->op_count[op]) {
			PyObject *k = PyLong_FromLong(op), *v = PyLong_FromUnsignedLongLong(r->op_count[op]);

			if (!k || !v || PyDict_SetItem(ops, k, v) < 0) {
				Py_XDECREF(k);
				Py_XDECREF(v);
				goto fail;
			}
			Py_DECREF(k);
			Py_DECREF(v);
		}
	}
	if (PyDict_SetItemString(d, "op_counts", ops) < 0)
		goto fail;
	/* latency_distribution: IOs per 1 µs of latency (1 s and more in the
	 * last), 1,000,000 entries like the original's when
	 * output_percentile_latency was given, else up to the max */
	max_us = h->count ? h->max / 1000 : 0;
	if (max_us > 999999 || self->out_percentile)
		max_us = 999999;
	dist = PyList_New((Py_ssize_t)max_us + 1);
	if (!dist)
		goto fail;
	{
		uint64_t *counts = PyMem_Calloc(max_us + 1, sizeof(uint64_t));

		if (!counts)
			goto fail;
		for (unsigned i = 0; i < PN_HIST_BUCKETS; i++) {
			uint64_t n = h->buckets[i], us;

			if (!n)
				continue;
			us = (pn_hist_bucket_low(i) / 2 + pn_hist_bucket_high(i) / 2) / 1000;
			counts[us > max_us ? max_us : us] += n;
		}
		for (uint64_t i = 0; i <= max_us; i++)
			PyList_SET_ITEM(dist, (Py_ssize_t)i, PyLong_FromUnsignedLongLong(counts[i]));
		PyMem_Free(counts);
	}
	if (PyDict_SetItemString(d, "latency_distribution", dist) < 0)
		goto fail;
	pct = PyDict_New();
	if (!pct)
		goto fail;
	{
		static const double std_pct[] = {50, 90, 99, 99.9, 99.99};

		for (unsigned i = 0; i < sizeof(std_pct) / sizeof(std_pct[0]); i++) {
			PyObject *k = PyFloat_FromDouble(std_pct[i]);
			PyObject *v = PyFloat_FromDouble(pn_hist_percentile(h, std_pct[i]) / 1000.0);

			if (!k || !v || PyDict_SetItem(pct, k, v) < 0) {
				Py_XDECREF(k);
				Py_XDECREF(v);
				goto fail;
			}
			Py_DECREF(k);
			Py_DECREF(v);
		}
	}
	if (PyDict_SetItemString(d, "latency_percentiles_us", pct) < 0)
		goto fail;
	if (r->ncmdlog) {
		/* the last commands with their SQE and CQE (at most 256, most
		 * recent first), beside output_cmdlog_list's (lba, count, opcode) */
		PyObject *l = PyList_New(0);

		if (!l)
			goto fail;
		for (uint32_t i = 0; i < r->ncmdlog; i++) {
			PyObject *e = cmdlog_entry(&r->cmdlog[i]);

			if (!e || PyList_Append(l, e) < 0) {
				Py_XDECREF(e);
				Py_DECREF(l);
				goto fail;
			}
			Py_DECREF(e);
		}
		if (set_item(d, "cmdlog", l))
			goto fail;
	}
	if (r->error_status == PN_IOW_STATUS_MISCOMPARE) {
		if (set_item(d, "mismatch_lba", PyLong_FromUnsignedLongLong(r->mismatch.lba)) ||
		    set_item(d, "mismatch_expected_crc", PyLong_FromUnsignedLong(r->mismatch.expected_crc)) ||
		    set_item(d, "mismatch_found_crc", PyLong_FromUnsignedLong(r->mismatch.found_crc)))
			goto fail;
	}
	Py_CLEAR(ops);
	Py_CLEAR(dist);
	Py_CLEAR(pct);

	mod = PyImport_ImportModule("nvme");
	cls = mod ? PyObject_GetAttrString(mod, "_IOWorkerResult") : NULL;
	Py_XDECREF(mod);
	if (cls) {
		PyObject *obj = PyObject_CallOneArg(cls, d);

		Py_DECREF(cls);
		if (obj) {
			Py_DECREF(d);
			return obj;
		}
	}
	PyErr_Clear();
	return d;
fail:
	Py_XDECREF(ops);
	Py_XDECREF(dist);
	Py_XDECREF(pct);
	Py_DECREF(d);
	return NULL;
}

/* Fills the output_* arguments and op_percentage. */
static int fill_outputs(IOWorkerObject *self, const struct pn_ioworker_result *r)
{
	if (self->out_io_per_second) {
		PyObject *l = PyList_New(r->nseconds);

		if (!l)
			return -1;
		for (uint32_t i = 0; i < r->nseconds; i++)
			PyList_SET_ITEM(l, i, PyLong_FromUnsignedLong(r->io_per_second[i]));
		if (PyList_SetSlice(self->out_io_per_second, 0, PY_SSIZE_T_MAX, l) < 0) {
			Py_DECREF(l);
			return -1;
		}
		Py_DECREF(l);
	}
	if (self->out_percentile) {
		PyObject *keys = PyDict_Keys(self->out_percentile);

		if (!keys)
			return -1;
		for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
			PyObject *k = PyList_GET_ITEM(keys, i);
			double pc = PyFloat_AsDouble(k);
			/* whole µs, as the original's (its 1 µs bin) */
			PyObject *v = PyLong_FromUnsignedLongLong(
				(unsigned long long)(pn_hist_percentile(&r->latency, pc) / 1000.0));

			if (!v || PyDict_SetItem(self->out_percentile, k, v) < 0) {
				Py_XDECREF(v);
				Py_DECREF(keys);
				return -1;
			}
			Py_DECREF(v);
		}
		Py_DECREF(keys);
	}
	if (self->out_cmdlog) {
		/* the caller's slots, in place: (lba, count, opcode), oldest to
		 * newest, (0, 0, 0) where fewer commands completed */
		Py_ssize_t n = PyList_Size(self->out_cmdlog);

		if (n > (Py_ssize_t)r->ncmdlist)
			n = (Py_ssize_t)r->ncmdlist;
		for (Py_ssize_t i = 0; i < n; i++) {
			const struct pn_ioworker_cmd *c = &r->cmdlist[i];
			PyObject *t = Py_BuildValue("(KkB)", (unsigned long long)c->lba,
						    (unsigned long)c->count, c->opcode);

			if (!t || PyList_SetItem(self->out_cmdlog, i, t) < 0)
				return -1;
		}
	}
	if (self->op_percentage) {
		/* every opcode the caller named gets the number of its commands
		 * that completed (0 if none), as the original wrote back */
		PyObject *keys = PyDict_Keys(self->op_percentage);

		if (!keys)
			return -1;
		for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
			PyObject *k = PyList_GET_ITEM(keys, i), *v;
			long op = PyLong_Check(k) ? PyLong_AsLong(k) : -1;

			if (op < 0 || op > 255) {
				PyErr_Clear();
				continue;
			}
			v = PyLong_FromUnsignedLongLong(r->op_count[op]);
			if (!v || PyDict_SetItem(self->op_percentage, k, v) < 0) {
				Py_XDECREF(v);
				Py_DECREF(keys);
				return -1;
			}
			Py_DECREF(v);
		}
		Py_DECREF(keys);
	}
	return 0;
}

static PyObject *iow_close(IOWorkerObject *self, PyObject *unused)
{
	const struct pn_ioworker_result *r;
	PyObject *interrupt_type = NULL, *interrupt_value = NULL, *interrupt_tb = NULL;

	if (self->result)
		return Py_NewRef(self->result);
	if (!self->started) {
		/* close() without start(): run it now, as the original did */
		PyObject *s = iow_start(self, NULL);

		if (!s)
			return NULL;
		Py_DECREF(s);
	}
	/* Wait with the GIL released, asleep until the worker ends, but
	 * wake up every 100 ms so Ctrl-C stops the worker (error -7) instead
	 * of being ignored. */
	while (!pn_ioworker_finished(self->w)) {
		Py_BEGIN_ALLOW_THREADS
		pn_ioworker_wait_finished(self->w, 100);
		Py_END_ALLOW_THREADS
		if (!interrupt_type && PyErr_CheckSignals() < 0) {
			PyErr_Fetch(&interrupt_type, &interrupt_value, &interrupt_tb);
			pn_ioworker_stop(self->w);
		}
	}
	self->queue_gone = true;
	Py_BEGIN_ALLOW_THREADS
	r = pn_ioworker_wait(self->w);
	Py_END_ALLOW_THREADS
	self->closed = true;
	if (fill_outputs(self, r) < 0)
		goto fail;
	self->result = build_result(self, r);
	if (!self->result)
		goto fail;
	if (r->error_code) {
		if (PyErr_WarnFormat(PyExc_UserWarning, 1, "ioworker host ERROR %d: %s", r->error_code,
				     r->error_text[0] ? r->error_text
						      : pn_ioworker_error_name(r->error_code)) < 0)
			goto fail;
	}
	if (interrupt_type) {
		PyErr_Restore(interrupt_type, interrupt_value, interrupt_tb);
		return NULL;
	}
	return Py_NewRef(self->result);
fail:
	Py_XDECREF(interrupt_type);
	Py_XDECREF(interrupt_value);
	Py_XDECREF(interrupt_tb);
	return NULL;
}

static PyObject *iow_iops_consistency(IOWorkerObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"slowest_percentage", NULL};
	double pct = 99.9;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|d:iops_consistency", kwlist, &pct))
		return NULL;
	if (!(pct > 0 && pct < 100))
		return PyErr_Format(pn_py_arg_error, "slowest_percentage %g must be between 0 and "
				    "100 (exclusive)", pct);
	if (!self->result)
		return PyErr_Format(PyExc_RuntimeError, "iops_consistency() needs the worker's "
				    "result: call close() first");
	return PyFloat_FromDouble(pn_ioworker_iops_consistency(pn_ioworker_wait(self->w), pct));
}

static PyObject *iow_enter(IOWorkerObject *self, PyObject *unused)
{
	return iow_start(self, NULL);
}

static PyObject *iow_exit(IOWorkerObject *self, PyObject *args)
{
	PyObject *r = iow_close(self, NULL);

	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *iow_running(IOWorkerObject *self, void *closure)
{
	return PyBool_FromLong(self->started && !pn_ioworker_finished(self->w));
}

static PyObject *iow_progress(IOWorkerObject *self, void *closure)
{
	struct pn_ioworker_progress p;

	pn_ioworker_progress(self->w, &p);
	return PyLong_FromUnsignedLongLong(p.completed);
}

void pn_py_ioworker_invalidate(PyObject *obj)
{
	IOWorkerObject *self = (IOWorkerObject *)obj;

	if (!self->w || pn_ioworker_finished(self->w))
		goto wait;
	pn_ioworker_stop(self->w);
wait:
	if (self->w) {
		struct pn_ioworker *w = self->w;

		self->queue_gone = true;
		Py_BEGIN_ALLOW_THREADS
		pn_ioworker_wait(w);
		Py_END_ALLOW_THREADS
	}
	pn_clear_error();
}

const struct pn_ioworker *pn_py_ioworker_peek(PyObject *obj)
{
	IOWorkerObject *self = (IOWorkerObject *)obj;

	return self->started ? self->w : NULL;
}

const struct pn_queue *pn_py_ioworker_queue(PyObject *obj)
{
	IOWorkerObject *self = (IOWorkerObject *)obj;

	return self->started && self->w && !self->queue_gone ? pn_ioworker_queue(self->w) : NULL;
}

static void iow_dealloc(IOWorkerObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->w) {
		struct pn_ioworker *w = self->w;

		Py_BEGIN_ALLOW_THREADS
		pn_ioworker_free(w);
		Py_END_ALLOW_THREADS
	}
	PyMem_Free(self->trace);
	PyMem_Free(self->regions);
	Py_XDECREF(self->owner);
	Py_XDECREF(self->verify_owner);
	Py_XDECREF(self->op_percentage);
	Py_XDECREF(self->out_io_per_second);
	Py_XDECREF(self->out_percentile);
	Py_XDECREF(self->out_cmdlog);
	Py_XDECREF(self->result);
	PyObject_Free(self);
}

static PyMethodDef iow_methods[] = {
	{"start", (PyCFunction)iow_start, METH_NOARGS,
	 "start() -> self: creates the worker's IO queue and starts its thread."},
	{"close", (PyCFunction)iow_close, METH_NOARGS,
	 "close() -> result: waits for the worker to finish (Ctrl-C stops it), deletes its "
	 "queue, fills the output_* arguments and returns the result dict (also readable as "
	 "attributes). A worker error code other than 0 warns 'ioworker host ERROR <code>: ...'."},
	{"iops_consistency", (PyCFunction)(void (*)(void))iow_iops_consistency,
	 METH_VARARGS | METH_KEYWORDS,
	 "iops_consistency(slowest_percentage=99.9) -> float: after close(), the IO count of "
	 "the second at slowest_percentage from the fastest over the mean count per second, "
	 "over the run's full seconds (the original pynvme's definition; the result's "
	 "'iops_consistency' is this at 99.9). 0.0 when the run had no full second."},
	{"__enter__", (PyCFunction)iow_enter, METH_NOARGS, "Starts the worker."},
	{"__exit__", (PyCFunction)iow_exit, METH_VARARGS, "Closes the worker."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef iow_getset[] = {
	{"running", (getter)iow_running, NULL,
	 "True from start() until the worker's work has ended (its IOs done, stopped, or an "
	 "error), False before start() (the original pynvme said True there) and after.", NULL},
	{"progress", (getter)iow_progress, NULL, "IOs completed so far.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pn_py_ioworker_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nvme.IOWorker",
	.tp_basicsize = sizeof(IOWorkerObject),
	.tp_weaklistoffset = offsetof(IOWorkerObject, weakrefs),
	.tp_dealloc = (destructor)iow_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A background IO workload on one namespace, made by Namespace.ioworker(io_size=8, "
		  "lba_step=None, lba_align=None, lba_random=True, read_percentage=100, "
		  "op_percentage=None, time=0, qdepth=64, region_start=0, "
		  "region_end=0xffffffffffffffff, iops=0, io_count=0, lba_start=0, qprio=0, "
		  "distribution=None, ptype=0xbeef, pvalue=100, io_sequence=None, fw_debug=False, "
		  "output_io_per_second=None, output_percentile_latency=None, "
		  "output_cmdlog_list=None, cpu=None, regions=None).\n\n"
		  "As in the original pynvme: lba_random is True/False or the percentage of random "
		  "IOs; op_percentage maps opcodes to percentages (another sum is taken as weights) "
		  "and on close() each of its keys holds the count of completed commands; an io_size "
		  "larger than the region is clipped to it and the last sequential IO is cut at "
		  "region_end; io_sequence is a list of (timestamp_us, opcode, slba, nlba), sent in "
		  "list order, each once its time (us after the start) has come; "
		  "output_cmdlog_list keeps its length and receives (lba, count, opcode) tuples of "
		  "the last completed commands, oldest first, (0, 0, 0) where fewer completed (an "
		  "empty list collects nothing); output_percentile_latency values are whole us and "
		  "latency_distribution then has 1,000,000 1-us bins. Every LBA a worker writes "
		  "carries its LBA number (uint64, little endian) in its first 8 bytes, a token in "
		  "its last 8 and the ptype/pvalue pattern between, verified or not. regions (an "
		  "extension) is a sorted list of (start, end) or (start, end, weight) LBA ranges "
		  "used instead of region_start/region_end: random IOs pick a range by weight "
		  "(default: its length) and fit whole inside it; sequential IOs walk them in "
		  "order. See "
		  "docs/ioworker.md.",
	.tp_methods = iow_methods,
	.tp_getset = iow_getset,
};

int pn_py_register_ioworker(PyObject *module)
{
	if (PyType_Ready(&ioworker_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "IOWorker", (PyObject *)&ioworker_type);
}
