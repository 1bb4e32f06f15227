/* The queue engine: one NVMe submission queue and its completion queue.
 *
 * The rings live in DMA memory the caller provides (controller.c allocates
 * it; the unit tests use plain memory and play the controller). Commands
 * get a request slot from a pool preallocated at init; the slot index is the
 * command identifier (CID), and the slot keeps the completion callback, its
 * context, the submit timestamp and the slot's own PRP-list/SGL memory.
 *
 * Hot-path rules: no locks, no allocation, no system calls. One thread owns
 * a queue (the admin queue is shared by the controller under its mutex).
 * Submitting only writes the SQE; the SQ tail doorbell is written once per
 * batch by pn_queue_ring(). Reaping polls the phase tag, runs the callbacks
 * and writes the CQ head doorbell once per batch.
 *
 * A command's latency (the per-command latency, the command log's times,
 * the IO worker's figures) runs from the moment its SQ tail doorbell is
 * written (the clock read right before the write) to the moment its
 * completion entry is seen posted (the clock read right after the phase tag
 * was found flipped, before any callback runs). Stamps taken later, e.g.
 * after the doorbell write of the next command, would count time that
 * belongs to the next IO: at queue depth 1, IOPS x mean latency would then
 * exceed 1 (Little's law).
 *
 * Every command completes exactly once from the caller's point of view:
 * with the device's completion, or with a synthesized all-ones completion
 * (status PN_STATUS_SYNTH) when it times out or when the queue is torn down
 * (pn_queue_fail_all). A timed-out command keeps its slot (and so its CID)
 * until the device's late completion arrives or the queue is torn down, so
 * a late completion can never be mistaken for a newer command's.
 */
#ifndef PYNVME_QUEUE_H
#define PYNVME_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme_spec.h"
#include "prp.h"

/* Completion callback: `ctx` as given at submit, `cqe` the completion (the
 * device's, or a synthesized one with status PN_STATUS_SYNTH). Runs inside
 * pn_queue_process() (or pn_queue_fail_all()); it may submit new commands
 * to any queue it owns but must not call pn_queue_process() on this queue. */
typedef void (*pn_cpl_fn)(void *ctx, const struct pn_cqe *cqe);

enum pn_slot_state {
	PN_SLOT_FREE = 0,
	PN_SLOT_BUSY,       /* submitted, waiting for the device */
	PN_SLOT_TIMED_OUT,  /* completed by the driver, device's completion pending */
	PN_SLOT_ALLOCATED,  /* taken by pn_queue_alloc(), not yet submitted */
};

struct pn_request {
	pn_cpl_fn cb;
	void *ctx;
	uint64_t submit_tsc;
	uint64_t log_seq;          /* command log entry of this submission */
	struct pn_list_mem list;   /* this slot's PRP list / SGL segment memory */
	uint16_t cid;
	uint8_t state;             /* enum pn_slot_state */
	uint8_t no_timeout;        /* e.g. AER: waits for an event, not the device */
	uint8_t opc;
	uint32_t next_free;
};

/* One command log entry: the SQE as submitted and its completion. */
struct pn_cmdlog_entry {
	struct pn_sqe sqe;
	struct pn_cqe cqe;         /* valid when complete_tsc != 0 */
	uint64_t seq;              /* submission number, 0: empty entry */
	uint64_t submit_tsc;
	uint64_t complete_tsc;     /* 0 while outstanding */
	uint8_t synthesized;       /* the completion was made by the driver */
};

struct pn_queue_config {
	uint16_t qid;
	uint32_t depth;            /* entries in each ring, 2..65536 */
	void *sq_vaddr;            /* depth * 64 bytes */
	uint64_t sq_iova;
	void *cq_vaddr;            /* depth * 16 bytes, zero-filled */
	uint64_t cq_iova;
	volatile uint32_t *sq_doorbell;
	volatile uint32_t *cq_doorbell;
	/* (depth - 1) * list_bytes_per_slot bytes for PRP lists / SGLs; slot i
	 * gets [i * list_bytes_per_slot, +list_bytes_per_slot). May be NULL/0:
	 * then transfers needing a list are refused. */
	void *list_vaddr;
	uint64_t list_iova;
	size_t list_bytes_per_slot;
	uint32_t list_slots;       /* slots that get list memory, 0: all */
	uint32_t page_size;        /* memory page size (CC.MPS) */
	uint32_t cmdlog_entries;   /* command log size, 0: no log */
	uint32_t timeout_ms;       /* per-command timeout, 0: none */
};

struct pn_queue {
	uint16_t qid;
	uint8_t cq_phase;          /* phase tag expected for new completions */
	bool dead;                 /* torn down: submissions refused */
	uint32_t depth;
	uint32_t sq_tail;
	uint32_t sq_tail_rung;     /* tail value last written to the doorbell */
	uint32_t sq_head;          /* from the latest completion's SQHD */
	uint32_t cq_head;
	struct pn_sqe *sq;
	struct pn_cqe *cq;
	uint64_t sq_iova, cq_iova;
	volatile uint32_t *sq_doorbell, *cq_doorbell;
	uint32_t page_size;

	struct pn_request *slots;  /* depth - 1 request slots, index = CID */
	uint32_t nslots;
	uint32_t free_head;        /* first free slot, nslots: none */
	uint32_t free_tail;        /* last free slot (valid while free_head is) */
	uint32_t outstanding;      /* slots not free */
	uint32_t busy;             /* slots submitted and not yet completed */

	uint64_t timeout_tsc;      /* per-command timeout in TSC ticks, 0: none */
	uint64_t next_timeout_check;
	uint32_t empty_polls;        /* pn_queue_process() calls that found nothing */
	uint64_t reap_tsc;           /* when pn_queue_process() last found completions */

	struct pn_cmdlog_entry *log;
	uint32_t log_entries;
	uint64_t log_seq;

	/* statistics and latest-command facts for the API */
	uint16_t latest_cid;
	uint64_t latest_latency_tsc;
	uint64_t submitted, completed, timeouts, spurious;
};

/* Prepares `q` from `cfg`: allocates the slot pool and command log (the only
 * allocations), clears the CQ ring. Returns 0, -EINVAL (bad depth, missing
 * rings or doorbells) or -ENOMEM. */
int pn_queue_init(struct pn_queue *q, const struct pn_queue_config *cfg);

/* Frees what pn_queue_init() allocated. Outstanding commands must have been
 * completed first (pn_queue_fail_all()). */
void pn_queue_fini(struct pn_queue *q);

/* Takes a free request slot for a command, or returns NULL when every slot
 * is in use (queue full) or the queue is dead. */
struct pn_request *pn_queue_alloc(struct pn_queue *q);

/* Gives back a slot taken by pn_queue_alloc() that will not be submitted. */
void pn_queue_release(struct pn_queue *q, struct pn_request *rq);

/* Sets the data pointer of `sqe` for `len` bytes at device address `iova`,
 * using the slot's list memory: PRPs, or (sgl true) an SGL data block, with
 * PSDT set accordingly. Returns 0 or -errno from pn_prp_build(). */
int pn_request_set_data(struct pn_queue *q, struct pn_request *rq, struct pn_sqe *sqe,
			uint64_t iova, uint64_t len, bool sgl);

/* Submits `sqe` with the slot `rq`: stamps the CID, copies the SQE to the SQ
 * tail, logs it and timestamps it (a provisional stamp for the timeout
 * check; the doorbell write restamps it). The doorbell is NOT written: call
 * pn_queue_ring() at the end of the batch. `cb` (may be NULL) runs with
 * `ctx` when the command completes. */
void pn_queue_submit(struct pn_queue *q, struct pn_request *rq, const struct pn_sqe *sqe,
		     pn_cpl_fn cb, void *ctx);

/* As pn_queue_submit(), with the provisional stamp `now` (a TSC reading the
 * caller took recently) instead of a clock read of its own: a polling loop
 * that reads the clock anyway saves an rdtsc per command (about 15 ns on
 * the bench host, a tenth of the ioworker's budget per IO). */
void pn_queue_submit_at(struct pn_queue *q, struct pn_request *rq, const struct pn_sqe *sqe,
			pn_cpl_fn cb, void *ctx, uint64_t now);

/* Commands submitted but not yet rung (the device cannot see them). Inline,
 * and a compare rather than a modulo: the ioworker asks every loop. */
static inline uint32_t pn_queue_unrung(const struct pn_queue *q)
{
	return q->sq_tail >= q->sq_tail_rung ? q->sq_tail - q->sq_tail_rung
					     : q->sq_tail + q->depth - q->sq_tail_rung;
}

/* Rings the SQ tail doorbell for the first `n` (at most all) submitted
 * commands not yet rung, and restamps their submit time (latency, timeout,
 * command log) to now: a caller may build commands into the ring ahead and
 * let the device see them later. Returns how many it rang. */
uint32_t pn_queue_ring_some(struct pn_queue *q, uint32_t n);

/* Writes the SQ tail doorbell if commands were submitted since the last
 * ring, and restamps them to the time of the write, as
 * pn_queue_ring_some(). */
void pn_queue_ring(struct pn_queue *q);

/* Takes back the commands submitted but not rung (the device never saw
 * them): their slots are freed, the SQ tail moves back to the rung one and
 * their command log entries are dropped; `each` (may be NULL) then runs
 * with each one's callback context, so the caller can release what the
 * command held. No callback runs. Returns how many were taken back. */
uint32_t pn_queue_unsubmit_unrung(struct pn_queue *q, void (*each)(void *ctx));

/* Reaps up to `max` completions (0: all available), runs their callbacks,
 * then writes the CQ head doorbell once. The completions are stamped with
 * the clock read after the phase tags of a run of posted entries were
 * checked and before their callbacks run. Also completes timed-out commands
 * (checked about once a millisecond). Returns the number of callbacks run
 * (device and synthesized completions). */
uint32_t pn_queue_process(struct pn_queue *q, uint32_t max);

/* Reaps the first `n` completions from the CQ head on (at most those
 * really posted), which the caller saw posted at TSC `seen`: their latency
 * ends at `seen`, not when the caller got round to reaping them (a caller
 * may ring the replacements of completions it has seen before it reaps
 * them). Runs their callbacks, writes the CQ head doorbell once; no timeout
 * scan. Returns the number of callbacks run. */
uint32_t pn_queue_process_seen(struct pn_queue *q, uint32_t n, uint64_t seen);

/* Completes timed-out commands now (as of TSC `now`); returns how many. */
uint32_t pn_queue_check_timeouts(struct pn_queue *q, uint64_t now);

/* Completes every outstanding command with a synthesized completion, frees
 * every slot, and marks the queue dead (submissions refused) when `dead`.
 * Used when the device stopped answering, is reset, or the queue is deleted.
 * Returns the number of callbacks run. */
uint32_t pn_queue_fail_all(struct pn_queue *q, bool dead);

/* Re-arms a queue after a controller reset re-created it on the device:
 * empties both rings, resets pointers and phase, keeps the slot pool
 * (which must be all free) and the command log. */
void pn_queue_reset_rings(struct pn_queue *q);

/* Sets the per-command timeout (0: none). */
void pn_queue_set_timeout(struct pn_queue *q, uint32_t timeout_ms);

/* Copies up to `max` command log entries, most recent first, into `out`.
 * Returns the number copied. */
uint32_t pn_queue_cmdlog(const struct pn_queue *q, struct pn_cmdlog_entry *out, uint32_t max);

/* Commands submitted and not yet completed from the caller's view (slots in
 * state BUSY). Inline: the ioworker asks several times a loop. */
static inline uint32_t pn_queue_busy(const struct pn_queue *q)
{
	return q->busy;
}

/* Whether the device has posted the completion `n` entries after the CQ
 * head (0: the head), which pn_queue_process() has not reaped yet. */
static inline bool pn_queue_cqe_posted_at(const struct pn_queue *q, uint32_t n)
{
	uint32_t i = q->cq_head + n;
	uint8_t phase = q->cq_phase;

	if (i >= q->depth) {
		i -= q->depth;
		phase ^= 1;
	}
	return q->slots && (((const volatile struct pn_cqe *)q->cq)[i].status & 1) == phase;
}

/* How many completions (at most `max`, less than the queue's depth) the
 * device has posted from the CQ head on that pn_queue_process() has not
 * reaped yet. */
static inline uint32_t pn_queue_cqes_posted(const struct pn_queue *q, uint32_t max)
{
	uint32_t n = 0;

	while (n < max && pn_queue_cqe_posted_at(q, n))
		n++;
	return n;
}

#endif
