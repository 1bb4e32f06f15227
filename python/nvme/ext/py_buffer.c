/* nvme.Buffer: DMA-able host memory for data transfers (API.md "Buffer").
 *
 * A Buffer owns one dma_region (lib/dma.h). Its bytes are reachable from
 * Python by indexing, slicing, data()/dump() and the buffer protocol
 * (memoryview, zero-copy), and from the C side of the module through
 * pn_py_buffer_get(), which hands out the region and the transfer window
 * (offset, size) that commands build their PRPs from.
 */
#include "module.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "dma.h"
#include "error.h"
#include "pattern.h"
#include "rand.h"

typedef struct {
	PyObject_HEAD
	struct dma_region *region;
	Py_ssize_t length;   /* the bytes the script asked for (len(b)) */
	Py_ssize_t offset;   /* transfer window: PRP1 = phys_addr + offset */
	Py_ssize_t size;     /* bytes of the window; offset + size <= length */
	PyObject *name;      /* str */
} BufferObject;

/* Random buffers draw from generator stream "n-th random buffer since the
 * last srand()", so a script that sets srand(seed) and then makes the same
 * buffers gets the same data, also when it seeds again with the same value. */
static uint64_t random_buffer_generation;
static uint64_t random_buffer_count;

static uint8_t *buffer_bytes(BufferObject *self)
{
	return self->region->vaddr;
}

/* Converts an int argument to [lo, hi]; ValueError naming `what` otherwise. */
static int arg_u64(PyObject *obj, const char *what, uint64_t lo, uint64_t hi, uint64_t *out)
{
	int overflow = 0;
	long long v;

	if (!PyLong_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(obj)->tp_name);
		return -1;
	}
	v = PyLong_AsLongLongAndOverflow(obj, &overflow);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (overflow > 0) {
		unsigned long long u = PyLong_AsUnsignedLongLong(obj);

		if (u == (unsigned long long)-1 && PyErr_Occurred()) {
			PyErr_Clear();
			goto range;
		}
		if (u < lo || u > hi)
			goto range;
		*out = u;
		return 0;
	}
	if (overflow < 0 || v < 0 || (uint64_t)v < lo || (uint64_t)v > hi)
		goto range;
	*out = (uint64_t)v;
	return 0;
range:
	PyErr_Format(pn_py_arg_error, "%s must be in %llu..%llu", what,
		     (unsigned long long)lo, (unsigned long long)hi);
	return -1;
}

static PyObject *buffer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"size", "name", "pvalue", "ptype", NULL};
	PyObject *size_obj = NULL, *name = NULL, *pvalue_obj = NULL, *ptype_obj = NULL;
	uint64_t pvalue = 0, ptype = 0;
	struct pn_rand rng;
	uint8_t probe;
	Py_ssize_t size = 4096;
	BufferObject *self;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OUOO:Buffer", kwlist,
					 &size_obj, &name, &pvalue_obj, &ptype_obj))
		return NULL;
	if (size_obj) {
		int overflow = 0;
		long long v;

		if (!PyLong_Check(size_obj))
			return PyErr_Format(PyExc_TypeError, "Buffer size must be an int, not %.100s",
					    Py_TYPE(size_obj)->tp_name);
		v = PyLong_AsLongLongAndOverflow(size_obj, &overflow);
		if (v == -1 && PyErr_Occurred())
			return NULL;
		if (overflow < 0 || (!overflow && v <= 0))
			return PyErr_Format(pn_py_arg_error, "Buffer size must be > 0, got %S", size_obj);
		if (overflow > 0 || v > PY_SSIZE_T_MAX)
			return PyErr_Format(PyExc_MemoryError, "Buffer size %S is too large", size_obj);
		size = (Py_ssize_t)v;
	}
	if (pvalue_obj && arg_u64(pvalue_obj, "Buffer pvalue", 0, UINT32_MAX, &pvalue) < 0)
		return NULL;
	if (ptype_obj && arg_u64(ptype_obj, "Buffer ptype", 0, UINT32_MAX, &ptype) < 0)
		return NULL;

	/* Validate the pattern before allocating anything (a zero-length fill). */
	pn_rand_init(&rng, 0);
	rc = pattern_fill(&probe, 0, (uint32_t)ptype, (uint32_t)pvalue, &rng);
	if (rc)
		return pn_py_raise(pn_py_arg_error, rc, "Buffer ptype/pvalue");
	if (ptype == PATTERN_RANDOM) {
		if (pn_rand_generation() != random_buffer_generation) {
			random_buffer_generation = pn_rand_generation();
			random_buffer_count = 0;
		}
		pn_rand_init_stream(&rng, 0xb0ff000000000000ULL + random_buffer_count++);
	}

	self = (BufferObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->length = size;
	self->size = size;
	self->name = name ? name : PyUnicode_FromString("buffer");
	if (!self->name)
		goto fail;
	if (name)
		Py_INCREF(name);

	/* Large buffers take a while to fault in and fill: let other threads run. */
	Py_BEGIN_ALLOW_THREADS
	rc = dma_alloc((size_t)size, &self->region);
	if (!rc && !(ptype == PATTERN_FILL && pvalue == 0))  /* fresh memory is already zero */
		rc = pattern_fill(self->region->vaddr, (size_t)size, (uint32_t)ptype, (uint32_t)pvalue, &rng);
	Py_END_ALLOW_THREADS
	if (rc) {
		PyObject *exc = (rc == -ENOMEM || rc == -EINVAL) ? PyExc_MemoryError : pn_py_error;
		char what[96];

		snprintf(what, sizeof(what), "Buffer of %zd bytes", size);
		pn_py_raise(exc, rc, what);
		goto fail;
	}
	return (PyObject *)self;
fail:
	Py_DECREF(self);
	return NULL;
}

static void buffer_dealloc(BufferObject *self)
{
	dma_free(self->region);
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *buffer_repr(BufferObject *self)
{
	return PyUnicode_FromFormat("<buffer name: %U>", self->name);
}

/* ---- sequence and mapping protocols ---- */

static Py_ssize_t buffer_length(BufferObject *self)
{
	return self->length;
}

static PyObject *buffer_item(BufferObject *self, Py_ssize_t i)
{
	if (i < 0 || i >= self->length) {
		PyErr_SetString(PyExc_IndexError, "buffer index out of range");
		return NULL;
	}
	return PyLong_FromLong(buffer_bytes(self)[i]);
}

/* A Python index (negative counts from the end) into [0, length). */
static int resolve_index(BufferObject *self, PyObject *key, Py_ssize_t *out)
{
	Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);

	if (i == -1 && PyErr_Occurred())
		return -1;
	if (i < 0)
		i += self->length;
	if (i < 0 || i >= self->length) {
		PyErr_SetString(PyExc_IndexError, "buffer index out of range");
		return -1;
	}
	*out = i;
	return 0;
}

static PyObject *buffer_subscript(BufferObject *self, PyObject *key)
{
	Py_ssize_t start, stop, step, count;
	const uint8_t *p = buffer_bytes(self);

	if (PyIndex_Check(key)) {
		Py_ssize_t i;

		if (resolve_index(self, key, &i) < 0)
			return NULL;
		return PyLong_FromLong(p[i]);
	}
	if (!PySlice_Check(key))
		return PyErr_Format(PyExc_TypeError, "buffer indices must be integers or slices, not %.100s",
				    Py_TYPE(key)->tp_name);
	if (PySlice_Unpack(key, &start, &stop, &step) < 0)
		return NULL;
	count = PySlice_AdjustIndices(self->length, &start, &stop, step);
	if (step == 1)
		return PyBytes_FromStringAndSize((const char *)p + start, count);
	PyObject *result = PyBytes_FromStringAndSize(NULL, count);

	if (!result)
		return NULL;
	char *out = PyBytes_AS_STRING(result);

	for (Py_ssize_t k = 0; k < count; k++)
		out[k] = (char)p[start + k * step];
	return result;
}

/* An int 0..255 for a byte store; ValueError/TypeError otherwise. */
static int byte_value(PyObject *value, uint8_t *out)
{
	long v;

	if (!PyIndex_Check(value)) {
		PyErr_Format(PyExc_TypeError, "a buffer byte must be an int 0..255, not %.100s",
			     Py_TYPE(value)->tp_name);
		return -1;
	}
	v = PyLong_AsLong(value);
	if (v == -1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return -1;
		PyErr_Clear();
		v = -1;
	}
	if (v < 0 || v > 255) {
		PyErr_Format(pn_py_arg_error, "a buffer byte must be in 0..255, got %R", value);
		return -1;
	}
	*out = (uint8_t)v;
	return 0;
}

/* The bytes to store from `value`: a bytes-like object or an iterable of
 * ints 0..255. Returns a PyMem buffer the caller frees, or NULL. */
static uint8_t *source_bytes(PyObject *value, Py_ssize_t *len)
{
	uint8_t *data;

	if (PyObject_CheckBuffer(value)) {
		Py_buffer view;

		if (PyObject_GetBuffer(value, &view, PyBUF_CONTIG_RO) < 0)
			return NULL;
		/* A copy, so a source that overlaps the target (memoryview(b)) is safe. */
		data = PyMem_Malloc(view.len ? (size_t)view.len : 1);
		if (data)
			memcpy(data, view.buf, (size_t)view.len);
		else
			PyErr_NoMemory();
		*len = view.len;
		PyBuffer_Release(&view);
		return data;
	}
	if (PyUnicode_Check(value)) {
		PyErr_SetString(PyExc_TypeError, "cannot assign str to buffer bytes: use bytes (e.g. s.encode())");
		return NULL;
	}
	PyObject *seq = PySequence_Fast(value, "buffer slice assignment needs bytes or an iterable of ints 0..255");

	if (!seq)
		return NULL;
	*len = PySequence_Fast_GET_SIZE(seq);
	data = PyMem_Malloc(*len ? (size_t)*len : 1);
	if (!data) {
		Py_DECREF(seq);
		PyErr_NoMemory();
		return NULL;
	}
	for (Py_ssize_t k = 0; k < *len; k++)
		if (byte_value(PySequence_Fast_GET_ITEM(seq, k), &data[k]) < 0) {
			PyMem_Free(data);
			Py_DECREF(seq);
			return NULL;
		}
	Py_DECREF(seq);
	return data;
}

static int buffer_ass_subscript(BufferObject *self, PyObject *key, PyObject *value)
{
	Py_ssize_t start, stop, step, count, len;
	uint8_t *p = buffer_bytes(self), *data;

	if (!value) {
		PyErr_SetString(PyExc_TypeError, "buffer bytes cannot be deleted");
		return -1;
	}
	if (PyIndex_Check(key)) {
		Py_ssize_t i;
		uint8_t byte;

		if (resolve_index(self, key, &i) < 0 || byte_value(value, &byte) < 0)
			return -1;
		p[i] = byte;
		return 0;
	}
	if (!PySlice_Check(key)) {
		PyErr_Format(PyExc_TypeError, "buffer indices must be integers or slices, not %.100s",
			     Py_TYPE(key)->tp_name);
		return -1;
	}
	if (PySlice_Unpack(key, &start, &stop, &step) < 0)
		return -1;
	count = PySlice_AdjustIndices(self->length, &start, &stop, step);
	data = source_bytes(value, &len);
	if (!data)
		return -1;
	if (len != count) {
		/* The original wrote the whole value from the slice's start,
		 * whatever the slice's end: b[0:2] = bytes(8) writes 8 bytes. */
		if (step != 1 || start + len > self->length) {
			PyMem_Free(data);
			PyErr_Format(PyExc_IndexError,
				     "buffer slice assignment: %zd bytes from offset %zd do not fit in "
				     "the buffer's %zd bytes%s", len, start, self->length,
				     step != 1 ? " (an extended slice takes exactly its length)" : "");
			return -1;
		}
		count = len;
	}
	for (Py_ssize_t k = 0; k < count; k++)
		p[start + k * step] = data[k];
	PyMem_Free(data);
	return 0;
}

static int buffer_getbuffer(BufferObject *self, Py_buffer *view, int flags)
{
	return PyBuffer_FillInfo(view, (PyObject *)self, self->region->vaddr, self->length, 0, flags);
}

/* ---- methods ---- */

static PyObject *buffer_data(BufferObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"byte_end", "byte_begin", "type", NULL};
	Py_ssize_t end, begin;
	PyObject *begin_obj = Py_None, *type = (PyObject *)&PyLong_Type;
	const uint8_t *p = buffer_bytes(self);

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|OO:data", kwlist, &end, &begin_obj, &type))
		return NULL;
	if (begin_obj == Py_None) {
		begin = end;
	} else {
		begin = PyNumber_AsSsize_t(begin_obj, PyExc_IndexError);
		if (begin == -1 && PyErr_Occurred())
			return NULL;
	}
	if (end < 0 || end >= self->length)
		return PyErr_Format(PyExc_IndexError, "data(): byte_end %zd is outside the buffer (0..%zd)",
				    end, self->length - 1);
	if (begin < 0 || begin >= self->length)
		return PyErr_Format(PyExc_IndexError, "data(): byte_begin %zd is outside the buffer (0..%zd)",
				    begin, self->length - 1);
	if (begin > end)
		return PyErr_Format(pn_py_arg_error, "data(): byte_begin %zd is after byte_end %zd",
				    begin, end);
	if (type == (PyObject *)&PyLong_Type)
		return _PyLong_FromByteArray(p + begin, (size_t)(end - begin + 1), 1, 0);
	if (type == (PyObject *)&PyUnicode_Type) {
		Py_ssize_t n = end - begin + 1;

		while (n > 0 && (p[begin + n - 1] == ' ' || p[begin + n - 1] == '\0'))
			n--;
		return PyUnicode_DecodeUTF8((const char *)p + begin, n, "replace");
	}
	return PyErr_Format(PyExc_TypeError, "data(): type must be int or str, not %R", type);
}

static PyObject *buffer_dump(BufferObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"size", NULL};
	PyObject *size_obj = Py_None;
	Py_ssize_t size = self->length, name_len, lines, cap, pos;
	const uint8_t *p = buffer_bytes(self);
	const char *name;
	char *text;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:dump", kwlist, &size_obj))
		return NULL;
	if (size_obj != Py_None) {
		size = PyNumber_AsSsize_t(size_obj, PyExc_OverflowError);
		if (size == -1 && PyErr_Occurred())
			return NULL;
		if (size < 0)
			return PyErr_Format(pn_py_arg_error, "dump(): size must be >= 0, got %zd", size);
		if (size > self->length)  /* more than there is: the whole buffer */
			size = self->length;
	}
	name = PyUnicode_AsUTF8AndSize(self->name, &name_len);
	if (!name)
		return NULL;
	/* hexdump -C layout: "oooooooo  xx xx .. xx  xx .. xx  |cccccccccccccccc|\n" = 78 chars */
	lines = (size + 15) / 16;
	cap = name_len + 2 + lines * 80;
	text = PyMem_Malloc((size_t)cap);
	if (!text)
		return PyErr_NoMemory();
	memcpy(text, name, (size_t)name_len);
	pos = name_len;
	text[pos++] = '\n';
	for (Py_ssize_t off = 0; off < size; off += 16) {
		static const char hex[] = "0123456789abcdef";
		Py_ssize_t n = size - off < 16 ? size - off : 16;

		pos += snprintf(text + pos, (size_t)(cap - pos), "%08zx ", off);
		for (Py_ssize_t k = 0; k < 16; k++) {
			if (k == 8)
				text[pos++] = ' ';
			text[pos++] = ' ';
			if (k < n) {
				text[pos++] = hex[p[off + k] >> 4];
				text[pos++] = hex[p[off + k] & 15];
			} else {
				text[pos++] = ' ';
				text[pos++] = ' ';
			}
		}
		text[pos++] = ' ';
		text[pos++] = ' ';
		text[pos++] = '|';
		for (Py_ssize_t k = 0; k < n; k++)
			text[pos++] = (p[off + k] >= 0x20 && p[off + k] < 0x7f) ? (char)p[off + k] : '.';
		text[pos++] = '|';
		text[pos++] = '\n';
	}
	PyObject *result = PyUnicode_DecodeUTF8(text, pos, "replace");

	PyMem_Free(text);
	return result;
}

static PyObject *buffer_set_dsm_range(BufferObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"index", "lba", "lba_count", "attr", NULL};
	PyObject *index_obj, *lba_obj, *count_obj, *attr_obj = NULL;
	uint64_t index, lba, count, attr = 0;
	uint32_t attr_le, count_le;
	uint64_t lba_le;
	uint8_t *entry;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|O:set_dsm_range", kwlist,
					 &index_obj, &lba_obj, &count_obj, &attr_obj))
		return NULL;
	if (arg_u64(index_obj, "set_dsm_range(): index", 0, 255, &index) < 0 ||
	    arg_u64(lba_obj, "set_dsm_range(): lba", 0, UINT64_MAX, &lba) < 0 ||
	    arg_u64(count_obj, "set_dsm_range(): lba_count", 0, UINT32_MAX, &count) < 0 ||
	    (attr_obj && arg_u64(attr_obj, "set_dsm_range(): attr", 0, UINT32_MAX, &attr) < 0))
		return NULL;
	if ((Py_ssize_t)((index + 1) * 16) > self->length)
		return PyErr_Format(PyExc_IndexError,
				    "set_dsm_range(): index %llu does not fit in a buffer of %zd bytes "
				    "(16 bytes per range)", (unsigned long long)index, self->length);
	/* NVMe Dataset Management range: context attributes, length in LBAs,
	 * starting LBA; all little-endian. */
	entry = buffer_bytes(self) + index * 16;
	attr_le = htole32((uint32_t)attr);
	count_le = htole32((uint32_t)count);
	lba_le = htole64(lba);
	memcpy(entry, &attr_le, 4);
	memcpy(entry + 4, &count_le, 4);
	memcpy(entry + 8, &lba_le, 8);
	Py_RETURN_NONE;
}

/* ---- attributes ---- */

static PyObject *buffer_get_phys_addr(BufferObject *self, void *closure)
{
	return PyLong_FromUnsignedLongLong(self->region->iova + (uint64_t)self->offset);
}

static PyObject *buffer_get_mapped(BufferObject *self, void *closure)
{
	return PyBool_FromLong(self->region->mapped);
}

static PyObject *buffer_get_offset(BufferObject *self, void *closure)
{
	return PyLong_FromSsize_t(self->offset);
}

static PyObject *buffer_get_size(BufferObject *self, void *closure)
{
	return PyLong_FromSsize_t(self->size);
}

static int window_value(PyObject *value, const char *what, Py_ssize_t max, Py_ssize_t *out)
{
	uint64_t v;

	if (!value) {
		PyErr_Format(PyExc_AttributeError, "buffer %s cannot be deleted", what);
		return -1;
	}
	if (arg_u64(value, what, 0, (uint64_t)max, &v) < 0)
		return -1;
	*out = (Py_ssize_t)v;
	return 0;
}

static int buffer_set_offset(BufferObject *self, PyObject *value, void *closure)
{
	Py_ssize_t offset;

	if (window_value(value, "buffer offset", self->length, &offset) < 0)
		return -1;
	/* size stays as it is (the original's semantics): a transfer may run
	 * past len(b) into the rest of the buffer's page-rounded memory, and
	 * submission refuses one that would run past that memory */
	self->offset = offset;
	return 0;
}

static int buffer_set_size(BufferObject *self, PyObject *value, void *closure)
{
	Py_ssize_t size;

	if (window_value(value, "buffer size (len(b) at most)", self->length, &size) < 0)
		return -1;
	self->size = size;
	return 0;
}

static PyObject *buffer_get_name(BufferObject *self, void *closure)
{
	return Py_NewRef(self->name);
}

static int buffer_set_name(BufferObject *self, PyObject *value, void *closure)
{
	if (!value || !PyUnicode_Check(value)) {
		PyErr_SetString(PyExc_TypeError, "buffer name must be a str");
		return -1;
	}
	Py_SETREF(self->name, Py_NewRef(value));
	return 0;
}

static PyMethodDef buffer_methods[] = {
	{"data", (PyCFunction)(void (*)(void))buffer_data, METH_VARARGS | METH_KEYWORDS,
	 "data(byte_end, byte_begin=None, type=int)\n\n"
	 "The little-endian integer made of bytes byte_begin..byte_end inclusive (the\n"
	 "single byte byte_end if byte_begin is None). With type=str: those bytes decoded\n"
	 "as UTF-8 text with trailing spaces and NULs stripped (identify strings)."},
	{"dump", (PyCFunction)(void (*)(void))buffer_dump, METH_VARARGS | METH_KEYWORDS,
	 "dump(size=None) -> str\n\n"
	 "Hexdump of the first `size` bytes (the whole buffer if None or larger): a line\n"
	 "with the buffer's name, then per 16 bytes the offset, the hex bytes and the\n"
	 "printable characters (hexdump -C layout). Returned, not printed."},
	{"set_dsm_range", (PyCFunction)(void (*)(void))buffer_set_dsm_range, METH_VARARGS | METH_KEYWORDS,
	 "set_dsm_range(index, lba, lba_count, attr=0)\n\n"
	 "Fills Dataset Management range entry `index` (16 bytes at index*16): context\n"
	 "attributes dword `attr`, length `lba_count` (in LBAs), starting LBA `lba`."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef buffer_getset[] = {
	{"phys_addr", (getter)buffer_get_phys_addr, NULL,
	 "The bus (IO virtual) address of the buffer's first byte, as the device sees it.\n"
	 "Assigned at allocation, also before any device is opened: it is the address the\n"
	 "buffer is mapped at when the first device opens (kept unless the IOMMU reports it\n"
	 "unusable, which does not happen with x86 IOMMUs). As in the original pynvme, it\n"
	 "includes `offset`: it is the address commands use (PRP1).", NULL},
	{"offset", (getter)buffer_get_offset, (setter)buffer_set_offset,
	 "Start of the window commands transfer (PRP1 = phys_addr), 0..len(b). Setting it\n"
	 "keeps `size`: a command may transfer past len(b) into the rest of the buffer's\n"
	 "page-rounded memory, never beyond it (ArgumentError at submission).", NULL},
	{"size", (getter)buffer_get_size, (setter)buffer_set_size,
	 "Bytes a command with no length of its own transfers (admin commands), 0..len(b)\n"
	 "(else ArgumentError). IO commands transfer their LBAs' bytes from `offset`.", NULL},
	{"name", (getter)buffer_get_name, (setter)buffer_set_name, "The buffer's name (repr, dump).", NULL},
	{"_iommu_mapped", (getter)buffer_get_mapped, NULL,
	 "True while the buffer is mapped in the IOMMU (a device is open). Diagnostic.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods buffer_as_sequence = {
	.sq_length = (lenfunc)buffer_length,
	.sq_item = (ssizeargfunc)buffer_item,
};

static PyMappingMethods buffer_as_mapping = {
	.mp_length = (lenfunc)buffer_length,
	.mp_subscript = (binaryfunc)buffer_subscript,
	.mp_ass_subscript = (objobjargproc)buffer_ass_subscript,
};

static PyBufferProcs buffer_as_buffer = {
	.bf_getbuffer = (getbufferproc)buffer_getbuffer,
};

PyTypeObject pn_py_buffer_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nvme.Buffer",
	.tp_basicsize = sizeof(BufferObject),
	.tp_dealloc = (destructor)buffer_dealloc,
	.tp_repr = (reprfunc)buffer_repr,
	.tp_as_sequence = &buffer_as_sequence,
	.tp_as_mapping = &buffer_as_mapping,
	.tp_as_buffer = &buffer_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Buffer(size=4096, name='buffer', pvalue=0, ptype=0)\n\n"
		  "DMA-able host memory for data transfers, zero-filled unless a pattern is given.\n"
		  "ptype 0: all 0x00 (pvalue 0) or all 0xff (pvalue non-zero); ptype 32: the 32-bit\n"
		  "pvalue repeated little-endian; ptype 0xbeef: random data from the srand() seed,\n"
		  "pvalue 0..100 = percentage of random bytes (per 4 KiB: the first pvalue% random,\n"
		  "the rest zero), so 0 is all zero and 100 incompressible.\n"
		  "len(b), b[i], b[i:j], b[i] = v, b[i:j] = bytes/ints, memoryview(b) (zero-copy).",
	.tp_methods = buffer_methods,
	.tp_getset = buffer_getset,
	.tp_new = buffer_new,
};

int pn_py_buffer_get(PyObject *obj, struct dma_region **region, uint64_t *offset, uint64_t *size)
{
	BufferObject *buf;

	if (!PyObject_TypeCheck(obj, &pn_py_buffer_type)) {
		PyErr_Format(PyExc_TypeError, "expected an nvme.Buffer, not %.100s", Py_TYPE(obj)->tp_name);
		return -1;
	}
	buf = (BufferObject *)obj;
	*region = buf->region;
	*offset = (uint64_t)buf->offset;
	*size = (uint64_t)buf->size;
	return 0;
}

int pn_py_buffer_check_transfer(const struct dma_region *region, uint64_t offset, uint64_t len,
				const char *what)
{
	if (offset <= region->size && len <= region->size - offset)
		return 0;
	PyErr_Format(pn_py_arg_error, "%s: the command transfers %llu bytes from buffer offset %llu, "
		     "but the buffer's memory ends at byte %llu", what, (unsigned long long)len,
		     (unsigned long long)offset, (unsigned long long)region->size);
	return -1;
}

int pn_py_register_buffer(PyObject *module)
{
	if (PyType_Ready(&pn_py_buffer_type) < 0)
		return -1;
	return PyModule_AddObjectRef(module, "Buffer", (PyObject *)&pn_py_buffer_type);
}
