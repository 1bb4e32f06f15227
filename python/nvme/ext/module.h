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

/* Bad arguments and use of closed objects: nvme.ArgumentError, a subclass
 * of both ValueError (Python's convention) and AssertionError (the original
 * pynvme checked its arguments with assert), so either style of test works. */
extern PyObject *pn_py_arg_error;

/* The original pynvme's exception classes, subclasses of NvmeError, raised
 * where it raised them: opening a device or initialising its controller
 * failed; closing it failed; a Qpair could not be created / deleted; a
 * Namespace could not be set up; CSTS.SHST did not report the shutdown. */
extern PyObject *pn_py_enumerate_error;
extern PyObject *pn_py_deletion_error;
extern PyObject *pn_py_qpair_creation_error;
extern PyObject *pn_py_qpair_deletion_error;
extern PyObject *pn_py_namespace_creation_error;
extern PyObject *pn_py_shutdown_timeout_error;

/* Registration functions, one per class file. Each adds its type(s) to the
 * module and returns 0, or returns -1 with an exception set. */
int pn_py_register_srand(PyObject *module);
int pn_py_register_buffer(PyObject *module);
int pn_py_register_controller(PyObject *module);
int pn_py_register_qpair(PyObject *module);
int pn_py_register_subsystem(PyObject *module);

/* nvme.Buffer (py_buffer.c): DMA memory of a Python script. */
struct dma_region;
extern PyTypeObject pn_py_buffer_type;

/* Gives the DMA region of Buffer `obj` and its transfer window: commands
 * transfer `*size` bytes starting at `(*region)->iova + *offset` (the
 * buffer's offset/size attributes). The region lives as long as `obj`: hold
 * a reference while the device may use it. Returns 0, or -1 with TypeError
 * set when `obj` is not a Buffer. */
int pn_py_buffer_get(PyObject *obj, struct dma_region **region, uint64_t *offset, uint64_t *size);

/* A transfer of `len` bytes from `offset` of a buffer's region may be longer
 * than the buffer (the original pynvme sent such commands) but must stay in
 * its page-rounded memory, or the device would use someone else's. Returns
 * 0, or -1 with ArgumentError naming `what` ("buf", "meta"). */
int pn_py_buffer_check_transfer(const struct dma_region *region, uint64_t offset, uint64_t len,
				const char *what);

int pn_py_register_pcie(PyObject *module);
int pn_py_register_ioworker(PyObject *module);
int pn_py_register_namespace(PyObject *module);

/* nvme.Pcie, for the classes that take one (Controller). */
struct pn_transport;
extern PyTypeObject pn_py_pcie_type;

/* The device of a Pcie object, for a short use under the GIL. Returns NULL
 * with TypeError when `obj` is not a Pcie, ValueError when it is closed. */
struct pn_transport *pn_py_pcie_device(PyObject *obj);

/* Attaches Controller `controller` to Pcie `obj` and returns the device
 * (NULL with TypeError / ValueError as pn_py_pcie_device). The Pcie stays
 * alive until pn_py_pcie_detach(); its close() closes every Controller
 * attached first (pn_py_controller_close), then releases the device at
 * once. Both need the GIL. */
struct pn_transport *pn_py_pcie_attach(PyObject *obj, PyObject *controller);

/* py_pcie_soft.c: Pcie.inject(), inject_clear(), soft_stats. */
PyObject *pn_py_pcie_inject(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *pn_py_pcie_inject_clear(PyObject *self, PyObject *unused);
PyObject *pn_py_pcie_soft_stats(PyObject *self, void *closure);
void pn_py_pcie_detach(PyObject *obj, PyObject *controller);

/* ---- Commands from Python (py_command.c), for Controller, Qpair and
 * Namespace. ------------------------------------------------------------ */
struct pn_ctrl;
struct pn_qpair;
struct pn_sqe;
struct pn_py_cmd;

/* The Python side of one queue (embedded in Controller for the admin queue
 * and in Qpair): commands completed by the C core wait in `done` until
 * waitdone() reaps them, under the GIL, emitting warnings and running the
 * Python callbacks there. The C completion callback only links a record, so
 * the C core never needs the GIL. */
struct pn_py_queue {
	struct pn_ctrl *ctrl;          /* NULL once closed */
	struct pn_qpair *qp;           /* NULL: the admin queue */
	struct pn_py_cmd *done_head, *done_tail;
	/* an IO command that found the ring full, sent when a slot frees (the
	 * original driver took `depth` commands, one more than the ring holds) */
	struct pn_py_cmd *overflow;
	long pending;                  /* submitted from Python, not reaped yet */
	uint32_t latest_dw0;           /* dword0 of the latest reaped completion */
	int in_callback;
	int polling;                   /* a thread polls it with the GIL released */
	uint16_t latest_cid;
	uint64_t latest_latency_us;
	uint64_t spurious_reported;    /* completions for no outstanding command, warned of */
	char name[80];                 /* "Controller('0000:01:00.0')" style, for messages */
};

/* Submits `sqe` on `pq` with a Python callback `cb` (None/NULL: none) and
 * data buffer `buf` (an nvme.Buffer, or None/NULL). `len` is the transfer
 * length in bytes, UINT64_MAX for the buffer's window (offset/size). The
 * transfer starts at the buffer's offset and may be longer than its size,
 * as in the original pynvme, but never past the buffer's (page-rounded)
 * memory: that raises ArgumentError. `flags`: PN_CMD_* of controller.h. The
 * buffer and callback are kept alive until reaped. An IO queue takes
 * `depth` commands (the ring's depth - 1, and one kept until a slot frees);
 * one more raises AssertionError, as the original did. On the admin queue,
 * completions are processed (kept for waitdone) until a slot frees.
 * Returns 0, or -1 with an exception set. */
int pn_py_cmd_submit(struct pn_py_queue *pq, const struct pn_sqe *sqe, PyObject *buf, uint64_t len,
		     PyObject *cb, unsigned flags);

/* The waitdone(expected) of Controller and Qpair: reaps `expected`
 * completions of commands submitted through pn_py_cmd_submit() (those that
 * completed before the call count, and so do commands that callbacks submit
 * while it waits) and returns dword0 of the last as an int (new reference);
 * waitdone(0) returns the latest dword0 at once. NULL with an exception:
 * negative expected, nothing left outstanding to wait for, waitdone inside a
 * callback, Ctrl-C, exception from a callback or a warning filter. */
PyObject *pn_py_waitdone(struct pn_py_queue *pq, long expected);

/* The form of a completion callback: 2 for cb(cdw0, status1), 1 for
 * cb(cpl) (also for callables whose arity cannot be found). */
int pn_py_callback_arity(PyObject *cb);

/* Forgets every completed-but-unreaped record of `pq` (after its queue was
 * torn down), dropping their references; returns how many. Needs the GIL. */
long pn_py_queue_discard(struct pn_py_queue *pq);

/* Emits the UserWarning "ERROR status: SCT/SC ..." for a CQE status word.
 * Returns 0, or -1 when the warning was turned into an exception. */
int pn_py_warn_status(uint16_t status, uint8_t opc, const char *what);

/* Controller and Qpair, for Namespace / IOWorker. Each returns NULL with
 * TypeError (wrong type) or ValueError (closed / deleted) set. */
extern PyTypeObject pn_py_controller_type;
extern PyTypeObject pn_py_qpair_type;
struct pn_ctrl *pn_py_controller_ctrl(PyObject *obj);
struct pn_py_queue *pn_py_controller_queue(PyObject *obj);
struct pn_qpair *pn_py_qpair_get(PyObject *obj);
struct pn_py_queue *pn_py_qpair_queue(PyObject *obj);

/* Closes Controller `obj` as its close() does (its Qpairs and IOWorkers are
 * invalidated, the controller disabled, its Pcie detached). Returns 0, or -1
 * with RuntimeError when another thread is inside its waitdone(). */
int pn_py_controller_close(PyObject *obj);

/* Registers a Qpair with its Controller so Controller.close() can
 * invalidate it. Returns 0 or -1 with an exception. */
int pn_py_controller_add_qpair(PyObject *ctrl, PyObject *qpair);

/* The command log of a C queue as a list of dicts, most recent first, at
 * most `count` (0: all kept). New reference or NULL. */
struct pn_queue;
PyObject *pn_py_cmdlog_list(struct pn_queue *q, unsigned long long count);

/* Called by Controller.close(): deletes the qpair's C side (the Python
 * object stays, refusing further use). */
void pn_py_qpair_invalidate(PyObject *qpair);

/* ---- IOWorker (py_ioworker.c) ---------------------------------------- */
struct pn_verify_table;

/* What Namespace.ioworker() tells the worker about its namespace. */
struct pn_py_ns_info {
	PyObject *owner;                 /* kept alive by the worker (the Namespace) */
	PyObject *controller;            /* its nvme.Controller (close() stops the worker) */
	struct pn_ctrl *ctrl;
	uint32_t nsid;
	uint64_t capacity;               /* LBAs */
	uint32_t lba_size;               /* data bytes per LBA */
	int trim_reads_zeroes;           /* DLFEAT bits 2:0 == 001b */
	struct pn_verify_table *verify;  /* NULL: verification off */
	PyObject *verify_owner;          /* owner of the table, kept alive (may be NULL) */
};

/* Namespace.ioworker(*args, **kwargs): validates every parameter of API.md
 * (ValueError/TypeError naming it) and returns a new nvme.IOWorker, not
 * started. Needs the GIL. */
PyObject *pn_py_ioworker_new(const struct pn_py_ns_info *ns, PyObject *args, PyObject *kwargs);

/* nvme.IOWorker. Workers register with their Controller like Qpairs do
 * (pn_py_controller_add_qpair); Controller.close() calls this for them: it
 * stops the worker (error -7) and joins it, deleting its queue, so the
 * controller can go. close() still returns the result afterwards. */
extern PyTypeObject pn_py_ioworker_type;
void pn_py_ioworker_invalidate(PyObject *obj);

/* ---- Live monitor (py_monitor.c) --------------------------------------- */
struct pn_ioworker;

/* Controller `ctrl_obj` (with C controller `ctrl`) is open / starts
 * closing: the monitor shows only tracked ones, and forget() returns once
 * the monitor no longer uses it. Both need the GIL. */
void pn_py_monitor_track(PyObject *ctrl_obj, struct pn_ctrl *ctrl);
void pn_py_monitor_forget(PyObject *ctrl_obj);
int pn_py_register_monitor(PyObject *module);

/* The live Qpairs and IOWorkers of Controller `obj`: a new list. */
PyObject *pn_py_controller_children(PyObject *obj);

/* The C worker of IOWorker `obj` once started (NULL before); it lives as
 * long as the object. */
const struct pn_ioworker *pn_py_ioworker_peek(PyObject *obj);

/* Its IO queue while it may be read under the GIL (started, and no wait
 * about to free it), else NULL. */
const struct pn_queue *pn_py_ioworker_queue(PyObject *obj);

#endif
