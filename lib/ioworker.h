/* The IO worker: one thread that drives one IO queue pair of a controller
 * with a generated workload, timing every IO and verifying data.
 *
 * Life cycle (all calls from one controlling thread, e.g. Python's):
 *   pn_ioworker_create()  validates the configuration and allocates every
 *                         piece of memory the run needs (data buffers,
 *                         per-second counters, LBA busy bits);
 *   pn_ioworker_start()   creates the worker's IO queue pair through the
 *                         controller's admin queue, then starts the thread
 *                         (pinned round-robin over the allowed cores);
 *   pn_ioworker_wait()    joins the thread and deletes the queue pair;
 *                         the result stays readable in the worker;
 *   pn_ioworker_free().
 * pn_ioworker_stop() may be called from any thread (or a signal handler) to
 * end a run early (error code -7, terminated).
 *
 * The thread's loop keeps up to qdepth - 1 commands in flight (qdepth is the
 * size of the queue, as in the original pynvme: an SQ of N entries holds
 * N - 1 commands): it takes the next
 * IO from the generator (workload.h), waits for its trace time or the iops
 * throttle, delays it while its LBAs are busy (verification only), builds
 * the SQE on preallocated memory, and after a batch of submissions writes
 * the SQ doorbell once; then it reaps every available completion with one CQ
 * head doorbell write. No allocation, no locks, no system calls, no Python
 * per IO.
 *
 * A worker whose controller is reset, fails (CSTS.CFS) or disappears (all
 * ones) mid-run stops at once with error code -7 and the statistics of the
 * IOs that completed; its queue pair is then freed without delete commands
 * (the device already dropped it).
 */
#ifndef PYNVME_IOWORKER_H
#define PYNVME_IOWORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "latency_histogram.h"
#include "queue.h"
#include "verify_table.h"
#include "workload.h"

struct pn_ctrl;

/* Error codes of a worker (API.md), in result.error_code. */
enum {
	PN_IOW_OK = 0,
	PN_IOW_ERR_GENERIC = -1,
	PN_IOW_ERR_MDTS = -2,          /* io_size larger than MDTS */
	PN_IOW_ERR_IO_TIMEOUT = -3,    /* an IO got no completion within the timeout */
	PN_IOW_ERR_WORKER_TIMEOUT = -4,/* the worker overran its time (IOs stuck) */
	PN_IOW_ERR_BUFFER = -5,        /* data buffer allocation failed */
	PN_IOW_ERR_IO_ERROR = -6,      /* an IO completed with an error status (or miscompare) */
	PN_IOW_ERR_TERMINATED = -7,    /* stopped from outside, or controller reset/failed/gone */
};

/* Verification status of a miscompare: SCT 2 (media), SC 0x81 (unrecovered
 * read error), as (SCT << 8) | SC. */
#define PN_IOW_STATUS_MISCOMPARE 0x0281u

struct pn_ioworker_config {
	struct pn_ctrl *ctrl;          /* the controller (kept by the caller) */
	uint32_t nsid;
	/* The generator's parameters: ns_capacity, lba_size, max_xfer_bytes and
	 * max_queue_entries describe the namespace and controller. */
	struct pn_workload_params wl;
	uint32_t iops;                 /* throttle, 0: unlimited */
	uint32_t ptype, pvalue;        /* data pattern of written data (pattern.h) */
	/* Verification: the namespace's table (shared with other workers and
	 * the script's reads/writes), or NULL for none. */
	struct pn_verify_table *verify;
	bool trim_reads_zeroes;        /* DLFEAT: deallocated LBAs read zeroes */
	uint8_t qprio;                 /* SQ priority class (weighted round robin) */
	int cpu;                       /* core to pin to, -1: round-robin */
	uint32_t cmdlog_count;         /* last commands to keep with their SQE/CQE (<= 256) */
	/* Entries of output_cmdlog_list: the last completed commands as
	 * (lba, count, opcode), <= PN_IOW_CMDLIST_MAX; 0: none. */
	uint32_t cmdlist_count;
	uint32_t max_seconds;          /* per-second counters kept (0: time + 2, or 86400) */
	/* Doorbell pacing (doorbell_pacer.h): adaptive unless turned off or
	 * fixed; never with the iops throttle or a trace replay. */
	bool pacing_off;
	uint32_t pacing_hold_ns;       /* a fixed hold; 0: adaptive */
};

/* One completed command of output_cmdlog_list, as the original pynvme
 * reported it: (lba, count, opcode). */
struct pn_ioworker_cmd {
	uint64_t lba;
	uint32_t count;
	uint8_t opcode;
};

#define PN_IOW_CMDLIST_MAX (1024u * 1024u - 1u)   /* the original's bound */

struct pn_ioworker_result {
	int error_code;                /* 0 or PN_IOW_ERR_* */
	char error_text[256];          /* why, when error_code != 0 */
	uint16_t error_status;         /* first error status (SCT << 8 | SC), 0: none */
	uint64_t io_count_read;        /* completed reads */
	uint64_t io_count_write;       /* completed writes */
	uint64_t io_count_nonread;     /* completed commands other than reads */
	uint64_t op_count[256];        /* completed commands by opcode */
	uint64_t submitted;
	uint64_t mseconds;             /* from start to the last completion */
	uint64_t run_ns;               /* the same in ns: the IOPS denominator */
	double cpu_usage;              /* worker thread CPU time / run time */
	uint64_t cpu_ns;               /* worker thread CPU time */
	struct pn_hist latency;        /* per IO, in nanoseconds */
	uint32_t nseconds;             /* entries of io_per_second */
	/* IOs completed in each second of the run; with the iops throttle, in
	 * the second of the throttle's schedule each IO was sent for, so a
	 * reap delayed past a second's end (a descheduled thread) does not
	 * move IOs from one second to the next. */
	uint32_t *io_per_second;
	uint32_t ncmdlog;
	struct pn_cmdlog_entry cmdlog[256]; /* most recent first */
	/* cmdlist_count entries, oldest to newest completion; when fewer
	 * commands completed, the first entries are zero (the original's
	 * (0, 0, 0) slots). NULL when not asked for. */
	struct pn_ioworker_cmd *cmdlist;
	uint32_t ncmdlist;
	struct pn_verify_mismatch mismatch; /* valid when error_status == 0x0281 */
	uint64_t sq_doorbells, cq_doorbells; /* MMIO doorbell writes */
	/* Time of the loop's turns that found completions, from seeing them to
	 * the end of their reaping (their replacements sent and rung between):
	 * the engine's work, without its polls of an empty queue. A turn over
	 * 100 us (the thread was preempted in it) is left out and counted in
	 * work_turns_dropped. work_ns / IOs is the cost per IO a benchmark can
	 * read on a shared machine, where the worker's CPU time also holds the
	 * polls while the device (a software controller's thread) waits for a
	 * core. The few loop instructions outside a turn are not in it. */
	uint64_t work_ns;
	uint64_t work_turns, work_turns_dropped;
	uint32_t pacing_hold_ns;             /* the doorbell hold the pacer kept last */
};

/* Progress counters the controlling thread may read while the worker runs
 * (relaxed atomic loads: a snapshot, not a consistent set). */
struct pn_ioworker_progress {
	uint64_t completed;
	uint64_t latency_sum_ns;       /* of the successful completions */
	bool running;
	/* For live views (the monitor): read off the hot path, which keeps
	 * counting exactly as before; the worker pays nothing for them. */
	uint64_t submitted;
	uint16_t qid;                  /* its IO queue, 0 before start */
	uint32_t qdepth;               /* entries of that queue */
	uint32_t nsid;
	int error_code;                /* 0 or the first PN_IOW_ERR_* so far */
	uint16_t error_status;
	uint64_t elapsed_ns;           /* since the worker's first IO, 0 before it */
	/* Mean bytes per IO of the configured io_size distribution: the
	 * worker counts IOs, not bytes, so bandwidth is IOPS x this mean
	 * (exact for a fixed io_size). */
	double io_bytes_mean;
	/* IOs of each full second so far (none with the iops throttle, whose
	 * counts land in the second of their schedule): entries valid are
	 * io_per_second[0..nseconds). Owned by the worker. */
	const uint32_t *io_per_second;
	uint32_t nseconds;
};

struct pn_ioworker;

/* Validates `cfg` and prepares a worker: the workload (pn_workload_init),
 * the data buffers (qdepth buffers of the largest IO when verifying, else
 * one for reads and one for writes), DSM ranges, busy bits and counters.
 * Returns 0 and *out, or -errno with pn_last_error(): -EINVAL for a bad
 * parameter (the reason names it). Conditions the API reports as worker
 * errors rather than exceptions (io_size above MDTS: -2, no memory for
 * buffers: -5) still return 0 and a worker whose result carries the code;
 * starting it does nothing. */
int pn_ioworker_create(const struct pn_ioworker_config *cfg, struct pn_ioworker **out);

/* Creates the IO queue pair (qdepth entries,
 * priority qprio, polled: no interrupts) and starts the thread. Returns 0,
 * or -errno (queue creation refused, thread creation failed) with the
 * worker left startable never again; -EALREADY when started before. */
int pn_ioworker_start(struct pn_ioworker *w);

/* Asks a running worker to stop: it stops sending, reaps what is in flight
 * and ends with error code -7. Safe from any thread and from signal
 * handlers. */
void pn_ioworker_stop(struct pn_ioworker *w);

/* Whether the worker's thread has finished (or never started). */
bool pn_ioworker_finished(const struct pn_ioworker *w);

/* Sleeps until the worker has finished (returns true at once then) or
 * `timeout_ms` passed (returns false). The caller sleeps instead of
 * polling: a thread that wakes often takes CPU time from the worker and,
 * under an emulator, from the emulated device (measured at QD1 in the test
 * bed: a 10 ms sleep loop on the other vCPU cost ~25% of the IOPS). */
bool pn_ioworker_wait_finished(struct pn_ioworker *w, uint32_t timeout_ms);

/* Waits for the thread to end, deletes the queue pair, and returns the
 * result (owned by the worker, valid until pn_ioworker_free). Calling it
 * again returns the same result. */
const struct pn_ioworker_result *pn_ioworker_wait(struct pn_ioworker *w);

/* A snapshot of the progress of a running worker. */
void pn_ioworker_progress(const struct pn_ioworker *w, struct pn_ioworker_progress *p);

/* Copies the worker's latency histogram as it stands (PN_HIST_BUCKETS
 * counts, in TSC ticks: pn_tsc_to_ns converts a value) for a live view of
 * recent percentiles: the difference of two copies is the histogram of the
 * IOs completed between them. The worker records as it always does (no
 * lock, no atomic read-modify-write); this reads each bucket with a relaxed
 * load, so a copy may miss the IOs of the last instant, and since a bucket
 * only grows, a later copy is never below an earlier one. Valid from
 * pn_ioworker_create() to pn_ioworker_free(). */
void pn_ioworker_latency_snapshot(const struct pn_ioworker *w, uint64_t *buckets);

/* The worker's IO queue once it exists (its command log, pointers and
 * counters, for a live view reading without locks), NULL before. It is
 * freed by pn_ioworker_wait(): the caller keeps the two apart. */
const struct pn_queue *pn_ioworker_queue(const struct pn_ioworker *w);

/* Stops (if running), waits, and frees everything. NULL is ignored. */
void pn_ioworker_free(struct pn_ioworker *w);

/* Puts a ring of the last `n` completions (`written` in all, entry i of the
 * ring holding completion i % n) in order, oldest first; with fewer than n
 * completions, the unused (zero) entries come first, as the original
 * pynvme rotated its list. */
void pn_ioworker_order_cmdlist(struct pn_ioworker_cmd *c, uint32_t n, uint64_t written);

/* Text of an error code ("io timeout", ...). */
const char *pn_ioworker_error_name(int code);

/* iops consistency of a run's per-second counts, as the original pynvme
 * defined it: over the full seconds of the run (a partial last second is
 * left out), the count of the second at `slowest_percentage` (0..100,
 * exclusive; the original's default 99.9) from the fastest, divided by the
 * mean count. 1.0 is perfectly even; 0.0 when the run had no full second
 * (the original raised AssertionError there). */
double pn_ioworker_iops_consistency(const struct pn_ioworker_result *r, double slowest_percentage);

#endif
