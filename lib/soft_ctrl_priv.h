/* Internals of the software NVMe controller shared by soft_ctrl.c (thread,
 * registers, queues, faults), soft_ctrl_admin.c and soft_ctrl_io.c. Not a
 * public interface. Everything here is owned by the controller thread
 * except the mailbox (under mbox_lock) and the atomics marked so.
 */
#ifndef PYNVME_SOFT_CTRL_PRIV_H
#define PYNVME_SOFT_CTRL_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "nvme_spec.h"
#include "soft_ctrl.h"

#define SC_ADMIN_QID 0
#define SC_AER_LIMIT 4                /* Identify AERL + 1 */
#define SC_ERROR_LOG_ENTRIES 64       /* Identify ELPE + 1 */
#define SC_MAX_DELAYED 256
#define SC_MAX_EVENTS 16
#define SC_ABORT_LIMIT 4              /* Identify ACL + 1 */

/* Returned by a command handler that posts no completion now (AER). */
#define SC_NO_COMPLETION 0xffffffffu

/* CQE status word (phase excluded): SCT/SC, with Do Not Retry. */
static inline uint16_t sc_status(unsigned sct, unsigned sc)
{
	return (uint16_t)(((sct & 7) << 9) | ((sc & 0xff) << 1) | (NVME_SC_DNR << 1));
}

/* Errors a retry may cure (transfer errors) go without DNR. */
static inline uint16_t sc_status_retry(unsigned sct, unsigned sc)
{
	return (uint16_t)(((sct & 7) << 9) | ((sc & 0xff) << 1));
}

struct sc_cq {
	struct pn_cqe *ring;
	uint32_t size;
	uint32_t tail;
	uint32_t free;           /* entries free as of the last head doorbell read */
	uint32_t reserved;       /* entries promised to delayed completions */
	uint8_t phase;
	bool active;             /* created and not deleted (what admin commands see) */
	bool lost;               /* its ring's memory was freed: never touched again */
	bool ien;
	bool irq_pending;
	uint16_t qid;
	uint16_t iv;
	uint32_t sq_refs;        /* SQs completing here */
	volatile uint32_t *head_db;
	uint64_t iova;
};

struct sc_sq {
	struct pn_sqe *ring;
	uint32_t size;
	uint32_t head;
	uint32_t tail;           /* the last valid tail doorbell value taken */
	bool active;             /* created and not deleted (what admin commands see) */
	bool lost;               /* its ring's (or its CQ's) memory was freed: not polled */
	uint8_t prio;
	uint16_t qid;
	struct sc_cq *cq;
	volatile uint32_t *tail_db;
	uint64_t iova;
};

struct sc_ns {
	uint64_t blocks;
	uint32_t lba_size;
	uint8_t lba_shift;
	uint8_t *data;           /* blocks * lba_size bytes (NULL in null mode) */
	size_t data_bytes;
	uint64_t *uncor;         /* bitmap of blocks written uncorrectable */
	uint64_t uncor_count;    /* set bits: 0 lets reads skip the bitmap */
};

struct sc_delayed {
	struct pn_cqe cqe;       /* phase not set yet */
	struct sc_cq *cq;
	uint64_t due_ns;
};

struct sc_armed_fault {
	struct soft_ctrl_fault f;
	uint32_t left;
};

struct sc_features {
	uint32_t arbitration;
	uint32_t power_mgmt;
	uint16_t temp_over[9];   /* per TMPSEL (0: composite) */
	uint16_t temp_under[9];
	uint32_t vwc;
	uint32_t nr_queues;      /* granted, as Set Features dword0 (0-based NSQA/NCQA) */
	bool nr_queues_set;
	uint32_t irq_coalesce;
	uint32_t async_event;
	uint32_t write_atomic;   /* Write Atomicity Normal: DN */
	uint64_t ts_ms;          /* Timestamp set by the host (ms), at ts_set_ns */
	uint64_t ts_set_ns;      /* monotonic ns of the Set (0: not set since reset) */
	uint64_t ts_reset_ns;    /* monotonic ns of the last reset */
	uint16_t tler[SOFT_CTRL_MAX_NS];  /* Error Recovery per namespace */
	uint8_t *irq_config;     /* per vector: Coalescing Disable bit */
};

struct sc_error_entry {
	uint64_t count;
	uint16_t sqid, cid, status;
	uint64_t lba;
	uint32_t nsid;
};

struct soft_ctrl {
	struct soft_ctrl_config cfg;
	char serial[21], model[41];

	uint8_t *bar0;
	size_t bar0_size;
	volatile uint32_t *regs;  /* bar0 as dwords */
	uint64_t cap;
	uint32_t page_size;       /* CC.MPS while enabled */
	uint32_t page_shift;
	uint64_t max_xfer;        /* MDTS in bytes, UINT64_MAX: no limit */

	pthread_t thread;
	int quit;                 /* atomic */

	/* controller state (thread) */
	uint32_t cc_seen;
	bool enabled;
	bool fatal;
	bool hung;
	bool gone;
	struct sc_sq *sqs;        /* [0] admin, 1..nr_io_queues */
	struct sc_cq *cqs;
	struct sc_sq **active_sqs;   /* compact list polled by the loop */
	uint32_t nr_active_sqs;
	struct sc_ns ns[SOFT_CTRL_MAX_NS];
	struct sc_features feat;
	uint16_t aer_cids[SC_AER_LIMIT];
	uint32_t aer_count;
	uint32_t events[SC_MAX_EVENTS];
	uint32_t event_count;
	bool error_events_masked;     /* an Error event went out; Error log not read yet */
	struct sc_delayed delayed[SC_MAX_DELAYED];
	uint32_t nr_delayed;
	struct sc_armed_fault faults[SOFT_CTRL_MAX_FAULTS];
	uint32_t nr_faults;
	struct sc_error_entry errors[SC_ERROR_LOG_ENTRIES];
	uint64_t error_count;

	/* per-command scratch: data segments of one transfer, log pages */
	struct sc_seg { uint8_t *vaddr; uint32_t len; } *segs;
	uint32_t max_segs;
	uint8_t *scratch;         /* 4096 bytes */

	/* SMART counters (thread), byte counts kept exact */
	uint64_t bytes_read, bytes_written;
	uint64_t host_reads, host_writes;
	uint64_t media_errors;
	/* SMART's Power Cycles and Unsafe Shutdowns, counted across slot
	 * power and surprise removal (the `gone` state), so a dirty power
	 * cycle test can check them on the host: a loss of power while the
	 * controller had not completed a shutdown (CC.SHN) since it was last
	 * enabled is unsafe. */
	uint64_t power_cycles;
	uint64_t unsafe_shutdowns;
	bool shut_down;           /* CC.SHN completed since the last enable */

	struct soft_ctrl_stats stats;  /* written by the thread, read atomically */
	uint64_t busy_tsc;        /* stats.busy_ns in TSC ticks (atomic) */

	/* mailbox: host -> thread */
	pthread_mutex_t mbox_lock;
	uint64_t mbox_seq;        /* atomic: bumped by the host per request */
	uint64_t mbox_ack;        /* atomic: last seq the thread handled */
	uint64_t mbox_seen;       /* thread */
	struct soft_ctrl_fault mbox_faults[SOFT_CTRL_MAX_FAULTS];
	uint32_t mbox_nr_faults;
	bool mbox_clear_faults;
	int mbox_hang;            /* -1 no request, 0/1 */
	int mbox_gone;
	bool mbox_fatal;
	uint32_t mbox_events[SC_MAX_EVENTS];
	uint32_t mbox_nr_events;
	uint64_t mbox_db_offset;  /* a doorbell written by hand, to check (0: none) */
	pthread_mutex_t reg_lock;     /* host register writes (INTMS/INTMC read-modify-write) */
	uint32_t intm;                /* the interrupt mask INTMS/INTMC read (under reg_lock) */
	pthread_mutex_t forget_lock;  /* one soft_ctrl_forget_memory() at a time */
	const void *mbox_forget_vaddr;
	size_t mbox_forget_len;
};

static inline uint32_t sc_reg_read(struct soft_ctrl *c, uint32_t off)
{
	return __atomic_load_n(&c->regs[off / 4], __ATOMIC_ACQUIRE);
}

static inline void sc_reg_write(struct soft_ctrl *c, uint32_t off, uint32_t v)
{
	__atomic_store_n(&c->regs[off / 4], v, __ATOMIC_RELEASE);
}

static inline uint64_t sc_reg_read64(struct soft_ctrl *c, uint32_t off)
{
	return sc_reg_read(c, off) | (uint64_t)sc_reg_read(c, off + 4) << 32;
}

static inline void sc_stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

/* Whether `n` more completions fit in `cq` (beyond those promised to
 * delayed completions); reads the head doorbell when the cached count says
 * no. */
bool sc_cq_room(struct sc_cq *cq, uint32_t n);

/* sc_cq_room(cq, 1), the common case without a call. */
static inline bool sc_cq_has_room(struct sc_cq *cq)
{
	return __builtin_expect(cq->free > cq->reserved, 1) || sc_cq_room(cq, 1);
}

/* Writes one CQE: the body first, the dword holding the phase tag last, so
 * a host that sees the new phase sees the whole entry (x86 keeps stores in
 * order; the release store says so for the compiler and other CPUs). */
static inline void sc_cq_post(struct soft_ctrl *c, struct sc_cq *cq, const struct pn_cqe *e,
			      bool stale_phase)
{
	struct pn_cqe *slot = &cq->ring[cq->tail];
	uint16_t phase = cq->phase ^ (stale_phase ? 1 : 0);
	uint64_t last;

	slot->dw0 = e->dw0;
	slot->dw1 = e->dw1;
	last = (uint64_t)e->sqhd | (uint64_t)e->sqid << 16 | (uint64_t)e->cid << 32 |
	       (uint64_t)((e->status & 0xfffe) | phase) << 48;
	__atomic_store_n((uint64_t *)&slot->sqhd, last, __ATOMIC_RELEASE);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
	cq->free--;
	if (cq->ien)
		cq->irq_pending = true;
	sc_stat_add(&c->stats.completions, 1);
}

/* Calls the creator's interrupt hook for the CQ's vector (once for the
 * completions posted since the last call). */
static inline void sc_irq_flush(struct soft_ctrl *c, struct sc_cq *cq)
{
	cq->irq_pending = false;
	if (c->cfg.irq) {
		c->cfg.irq(c->cfg.irq_ctx, cq->iv);
		sc_stat_add(&c->stats.irqs, 1);
	}
}

/* soft_ctrl.c */
volatile uint32_t *sc_doorbell(struct soft_ctrl *c, uint16_t qid, bool cq);
/* A doorbell at BAR0 `offset` was written by hand: reports a write to the
 * doorbell of a queue that does not exist (and undoes it). Thread. */
void sc_doorbell_check(struct soft_ctrl *c, uint64_t offset);
void sc_regs_power_on(struct soft_ctrl *c);
void sc_ctrl_fatal(struct soft_ctrl *c);

/* soft_ctrl_fault.c */
/* Posts `e` on `cq` as the armed faults say (at least one is armed). */
void sc_complete_faulty(struct soft_ctrl *c, struct sc_cq *cq, struct pn_cqe *e, uint8_t opc);
/* Forgets delayed completion `i` (its CQ space is given back). */
void sc_delayed_drop(struct soft_ctrl *c, uint32_t i);
/* Posts the delayed completions that are due; true when one was. */
bool sc_delayed_process(struct soft_ctrl *c);
/* Takes the host's requests up to `seq`. */
void sc_mailbox_handle(struct soft_ctrl *c, uint64_t seq);
/* Host side: has the thread check a doorbell written by hand (BAR0
 * `offset`); returns once it did, 0 or -ETIMEDOUT. */
int sc_mailbox_doorbell(struct soft_ctrl *c, uint64_t offset);

/* soft_ctrl_queue.c */
void sc_drop_all_queues(struct soft_ctrl *c);
/* Host memory [vaddr, vaddr + len) is being freed: every queue whose ring
 * lies in it, and every SQ completing to such a CQ, is lost (never touched
 * again) but still exists until the host deletes it or resets the
 * controller, as on a device whose IOMMU mapping went away; their delayed
 * completions are dropped. */
void sc_forget_memory(struct soft_ctrl *c, const void *vaddr, size_t len);

struct sc_cq *sc_cq_get(struct soft_ctrl *c, uint32_t qid);
int sc_cq_create(struct soft_ctrl *c, uint16_t qid, uint64_t iova, uint32_t size, bool ien,
		 uint16_t iv);
int sc_sq_create(struct soft_ctrl *c, uint16_t qid, uint64_t iova, uint32_t size,
		 struct sc_cq *cq, uint8_t prio);
void sc_sq_delete(struct soft_ctrl *c, struct sc_sq *sq);
void sc_cq_delete(struct soft_ctrl *c, struct sc_cq *cq);
/* Posts the completion of `sqe` fetched from `sq` (with the fault hooks;
 * errors go to the Error Information log). */
void sc_complete(struct soft_ctrl *c, struct sc_sq *sq, const struct pn_sqe *sqe,
		 uint16_t status, uint32_t dw0);
/* Posts a completion as is on the admin CQ (AERs): no faults. The caller
 * made sure it has room. */
void sc_post_admin(struct soft_ctrl *c, uint16_t cid, uint16_t status, uint32_t dw0);
void sc_events_flush(struct soft_ctrl *c);
/* Reports an Error asynchronous event with `info` (NVMe 1.4 §5.2, Figure
 * 147, e.g. NVME_AER_ERROR_INVALID_DB_VAL). */
void sc_event_error(struct soft_ctrl *c, uint8_t info);
/* Completes a delayed completion of (sqid, cid) now with `status`: 1 when
 * one was found. */
int sc_delayed_abort(struct soft_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status);

/* soft_ctrl_admin.c */
uint32_t sc_admin_cmd(struct soft_ctrl *c, const struct pn_sqe *sqe, uint32_t *dw0);
void sc_features_reset(struct soft_ctrl *c);

/* soft_ctrl_io.c (and the copies of soft_ctrl_dptr.c) */
uint32_t sc_io_cmd(struct soft_ctrl *c, const struct pn_sqe *sqe);
/* soft_ctrl_dptr.c: the walkers fill c->segs with the host memory of a
 * `len`-byte transfer and return the number of segments, or a negative CQE
 * status word (-status). */
long sc_prp_walk(struct soft_ctrl *c, uint64_t prp1, uint64_t prp2, uint64_t len);
long sc_sgl_walk(struct soft_ctrl *c, const struct pn_sgl_desc *sgl1, uint64_t len);
/* PRPs or SGL, as the command's PSDT says. */
long sc_data_walk(struct soft_ctrl *c, const struct pn_sqe *sqe, uint64_t len);
/* Copies `len` bytes to the host through the command's PRPs: `src_len`
 * bytes from `src`, zeroes after. Returns 0 or a CQE status word. */
uint16_t sc_copy_to_host(struct soft_ctrl *c, const struct pn_sqe *sqe, const void *src,
			 uint64_t src_len, uint64_t len);
uint16_t sc_copy_from_host(struct soft_ctrl *c, const struct pn_sqe *sqe, void *dst,
			   uint64_t len);
int sc_ns_init(struct soft_ctrl *c, unsigned i);
/* Every block of namespace index `i` back to zeroes (and readable). */
void sc_ns_erase(struct soft_ctrl *c, unsigned i);
void sc_ns_fini(struct soft_ctrl *c, unsigned i);

#endif
