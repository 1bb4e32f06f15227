/* The IO worker (see ioworker.h). */
#include "ioworker.h"
#include "doorbell_pacer.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "dma.h"
#include "error.h"
#include "lba_lock.h"
#include "pattern.h"
#include "throttle.h"
#include "tsc.h"

#define ULL(x) ((unsigned long long)(x))
#define BUF_ALIGN 4096u

/* What one request slot (one in-flight command) is doing. */
struct io_slot {
	struct pn_ioworker *w;
	uint64_t slba;
	uint32_t nlb;
	uint8_t opc;
	bool locked;          /* holds LBA busy bits */
	uint32_t bufi;        /* index of its io_buf */
	uint32_t second;      /* throttled: the second its send slot belongs to */
	void *buf;            /* data buffer (its own when verifying) */
};

/* Memory of one in-flight IO: a buffer for data to the host (its own when
 * verifying; else every read shares one), one for data to the device (its
 * own whenever the workload sends any: a write is stamped with its LBAs
 * while others are in flight, and keeps the pattern because reads never
 * land in it) and a DSM range. A pool of nbufs, handed out at submission
 * and taken back at completion, so request slots (CIDs) and buffers need
 * not match. */
struct io_buf {
	void *buf;
	uint64_t buf_iova;
	void *wbuf;
	uint64_t wbuf_iova;
	void *range;
	uint64_t range_iova;
};

/* Completions the loop saw posted at one moment: their latency ends there,
 * though they are reaped after the doorbell write of their replacements. */
struct seen_run {
	uint32_t count;
	uint64_t tsc;
};

/* The worker thread's bookkeeping (kept in memory, not locals, so it
 * survives the jump out of a SIGBUS). */
struct run_state {
	uint64_t hz, now, end_tsc, cpu0;
	uint64_t next_second, completed_at_second;
	uint64_t last_progress, last_completed;
	uint64_t sq_rings, cq_rings;
	uint64_t work_tsc, work_turns, work_turns_dropped;   /* see result.work_ns */
	uint32_t cq_rung;
	struct pn_pacer pacer;
	uint64_t trace_base;         /* replay: time 0 of the trace */
	struct pn_io io;             /* generated, not yet sent (pending) */
	bool pending, generator_done;
	struct seen_run *seen;       /* this turn's posted completions, send_ahead_max */
	uint32_t nseen;
};

struct pn_ioworker {
	struct pn_ioworker_config cfg;
	struct pn_workload wl;
	struct pn_throttle throttle;
	struct pn_lba_lock lock;
	struct pn_qpair *qp;
	struct pn_queue *q;
	uint32_t inflight_max;       /* qdepth - 1 */
	uint32_t send_ahead_max;     /* commands built beyond the rung SQ tail */
	uint32_t nbufs;              /* inflight_max + send_ahead_max */
	uint32_t qsize;              /* entries of the worker's queue (>= qdepth) */
	uint32_t cq_lag_max;         /* CQ entries consumed before the head doorbell */
	volatile uint32_t *cq_doorbell;  /* the real one (the queue's points to a sink) */
	uint32_t cq_doorbell_sink;
	uint32_t lba_size;

	struct dma_region *data;     /* data buffers: read area, then write area */
	struct dma_region *ranges;   /* DSM ranges */
	size_t buf_bytes;            /* bytes of one data buffer */
	uint32_t nread_bufs;         /* nbufs when verifying, else 1 (shared) */
	uint32_t nwrite_bufs;        /* nbufs when the workload sends data, else 0 */
	struct io_slot *slots;       /* one per CID */
	struct io_buf *bufs;         /* nbufs */
	uint32_t *buf_free;          /* stack of free indexes into bufs */
	uint32_t nbuf_free;

	pthread_t thread;
	bool started, joined;
	int stop_requested;          /* atomic: pn_ioworker_stop() */
	int finished;                /* atomic; set under done_lock */
	pthread_mutex_t done_lock;   /* with done_cond: wakes pn_ioworker_wait_finished() */
	pthread_cond_t done_cond;
	uint32_t generation;         /* controller generation at start */
	bool device_lost;            /* the device dropped our queue (reset, FLR, gone) */

	uint64_t cmdlist_written;    /* commands put in res.cmdlist (a ring until the end) */

	/* hot-path state of the thread */
	uint32_t send_second;        /* throttled: second of the next send slot */
	uint64_t write_token;
	uint64_t start_tsc;
	struct pn_hist hist_ticks;
	bool stop;                   /* stop sending: an error or the end */
	uint64_t completed;          /* atomic for progress readers */
	uint16_t qid;                /* of qp, kept for progress readers (qp is freed at wait) */
	uint64_t latency_sum_ticks;

	struct run_state rs;
	struct pn_ioworker_result res;
};

static int next_cpu;   /* round-robin pinning, atomic */

const char *pn_ioworker_error_name(int code)
{
	switch (code) {
	case PN_IOW_OK: return "no error";
	case PN_IOW_ERR_GENERIC: return "generic error";
	case PN_IOW_ERR_MDTS: return "io_size larger than MDTS";
	case PN_IOW_ERR_IO_TIMEOUT: return "io timeout";
	case PN_IOW_ERR_WORKER_TIMEOUT: return "ioworker timeout";
	case PN_IOW_ERR_BUFFER: return "buffer allocation failure";
	case PN_IOW_ERR_IO_ERROR: return "IO command error";
	case PN_IOW_ERR_TERMINATED: return "terminated";
	default: return "unknown error";
	}
}

/* Records the first error of the run; later ones are ignored. */
static void set_error(struct pn_ioworker *w, int code, uint16_t status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_error(struct pn_ioworker *w, int code, uint16_t status, const char *fmt, ...)
{
	va_list ap;

	w->stop = true;
	if (w->res.error_code)
		return;
	w->res.error_code = code;
	w->res.error_status = status;
	va_start(ap, fmt);
	vsnprintf(w->res.error_text, sizeof(w->res.error_text), fmt, ap);
	va_end(ap);
}

static uint64_t max_io_lbas(const struct pn_workload_params *p)
{
	uint64_t m = 1;

	if (p->ntrace) {
		for (uint64_t i = 0; i < p->ntrace; i++)
			if (p->trace[i].nlb > m)
				m = p->trace[i].nlb;
		return m;
	}
	switch (p->size_kind) {
	case PN_WL_SIZE_FIXED:
		return p->size_min ? p->size_min : 1;
	case PN_WL_SIZE_RANGE:
		return p->size_max;
	case PN_WL_SIZE_LIST:
		for (uint32_t i = 0; i < p->nsizes; i++)
			if (p->sizes[i] > m)
				m = p->sizes[i];
		return m;
	}
	return m;
}

static bool is_read_like(uint8_t opc)
{
	/* data transfer direction, opcode bits 1:0: 10b controller to host */
	return (opc & 3) == 2;
}

static bool is_write_like(uint8_t opc)
{
	return (opc & 3) == 1;
}

static bool has_data(uint8_t opc)
{
	return opc != PN_OP_DSM && (is_read_like(opc) || is_write_like(opc) || opc == PN_OP_COMPARE);
}

/* Data from the host to the device (writes, compare, vendor writes). */
static bool sends_data(uint8_t opc)
{
	return has_data(opc) && !is_read_like(opc);
}

/* Whether the workload may send a command that carries data to the device. */
static bool workload_sends_data(const struct pn_workload_params *p)
{
	if (p->ntrace) {
		for (uint64_t i = 0; i < p->ntrace; i++)
			if (sends_data(p->trace[i].opcode))
				return true;
		return false;
	}
	for (uint32_t i = 0; i < p->nops; i++)
		if (p->ops[i].percentage && sends_data(p->ops[i].opcode))
			return true;
	return false;
}

static int alloc_buffers(struct pn_ioworker *w)
{
	const struct pn_ioworker_config *cfg = &w->cfg;
	uint32_t nbuf = w->nread_bufs + w->nwrite_bufs;
	size_t range_bytes = ((size_t)w->nbufs * 16 + BUF_ALIGN - 1) & ~(size_t)(BUF_ALIGN - 1);
	struct pn_rand rng;
	int rc;

	rc = dma_alloc(w->buf_bytes * nbuf, &w->data);
	if (rc < 0)
		return rc;
	rc = dma_alloc(range_bytes, &w->ranges);
	if (rc < 0)
		return rc;
	pn_rand_init_stream(&rng, 0x10000u + cfg->wl.rand_stream);
	/* Written data carries the pattern (each write stamps its LBAs over
	 * the first and last 8 bytes of every LBA); reads land elsewhere. */
	if (w->nwrite_bufs) {
		rc = pattern_fill((char *)w->data->vaddr + w->buf_bytes * w->nread_bufs,
				  w->buf_bytes * w->nwrite_bufs, cfg->ptype, cfg->pvalue, &rng);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int pn_ioworker_create(const struct pn_ioworker_config *cfg, struct pn_ioworker **out)
{
	struct pn_ioworker *w;
	uint64_t max_lbas;
	uint32_t entries;
	int rc;

	*out = NULL;
	if (!cfg->ctrl)
		return pn_fail(EINVAL, "ioworker: no controller");
	if (cfg->cmdlog_count > 256)
		return pn_fail(EINVAL, "output_cmdlog_list: at most 256 commands (%u asked)",
			       cfg->cmdlog_count);
	if (cfg->cmdlist_count > PN_IOW_CMDLIST_MAX)
		return pn_fail(EINVAL, "output_cmdlog_list: at most %u commands (%u asked)",
			       PN_IOW_CMDLIST_MAX, cfg->cmdlist_count);
	if (cfg->verify && cfg->verify->lba_size != cfg->wl.lba_size)
		return pn_fail(EINVAL, "verify table has %u-byte LBAs, the namespace %u",
			       cfg->verify->lba_size, cfg->wl.lba_size);
	if (cfg->iops && cfg->iops > 10000000u)
		return pn_fail(EINVAL, "iops %u out of range 0..10000000", cfg->iops);
	w = calloc(1, sizeof(*w));
	if (!w)
		return pn_fail(ENOMEM, "ioworker: no memory");
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&w->done_cond, &attr);
		pthread_condattr_destroy(&attr);
		pthread_mutex_init(&w->done_lock, NULL);
	}
	w->cfg = *cfg;
	w->lba_size = cfg->wl.lba_size;
	rc = pn_workload_init(&w->wl, &cfg->wl);
	if (rc == -E2BIG) {
		/* the API reports this as the worker's error -2, not an exception */
		set_error(w, PN_IOW_ERR_MDTS, 0, "%s", pn_last_error());
		pn_clear_error();
		*out = w;
		return 0;
	}
	if (rc < 0) {
		free(w);
		return rc;
	}
	if (cfg->iops) {
		/* Catch up on stalls of up to 200 ms (a descheduled thread, a
		 * busy emulator) so each second still holds the asked rate. */
		rc = pn_throttle_init(&w->throttle, cfg->iops, pn_tsc_hz(), cfg->iops / 5 + 1);
		if (rc < 0) {
			free(w);
			return rc;
		}
	}
	/* qdepth is the queue's size (API.md: 2..1024, <= CAP.MQES + 1, as in
	 * the original pynvme); an SQ of N entries holds N - 1 commands, so
	 * qdepth - 1 IOs are in flight (qdepth=2: one at a time). */
	entries = cfg->wl.qdepth;
	w->inflight_max = entries - 1;
	/* Every MMIO doorbell write is expensive (under QEMU's TCG each takes
	 * the global lock): the queue gets room for at least 3 * (qdepth - 1)
	 * more entries, and the CQ head doorbell is written only every
	 * (size - 1 - in flight) / 2 consumed entries. The controller then
	 * never finds the CQ full: unreported entries plus those in flight
	 * stay below its size. Measured in bench/: half the MMIO writes at
	 * QD1 and 1.5-1.8x the IOPS. */
	{
		uint32_t want = 4 * w->inflight_max + 1 > 256 ? 4 * w->inflight_max + 1 : 256;
		uint32_t cap = cfg->wl.max_queue_entries ? cfg->wl.max_queue_entries : 256;

		if (want > cap)
			want = cap;
		w->qsize = want > entries ? want : entries;
		w->cq_lag_max = (w->qsize - 1 - w->inflight_max) / 2;
		/* Commands built ahead of the rung tail, and replacements rung
		 * before their completions are reaped, make the host hold up
		 * to inflight_max + send_ahead_max commands; with fewer than
		 * cq_lag_max unreported entries the CQ still has room for all
		 * (at least 1: with cq_lag_max 0 the queue's qsize - 1 request
		 * slots bound them). */
		w->send_ahead_max = w->qsize - w->inflight_max - w->cq_lag_max;
		if (w->send_ahead_max > w->inflight_max)
			w->send_ahead_max = w->inflight_max;
		w->nbufs = w->inflight_max + w->send_ahead_max;
	}
	max_lbas = max_io_lbas(&w->wl.p);
	w->buf_bytes = (max_lbas * w->lba_size + BUF_ALIGN - 1) & ~(uint64_t)(BUF_ALIGN - 1);
	w->nread_bufs = cfg->verify ? w->nbufs : 1;
	w->nwrite_bufs = workload_sends_data(&w->wl.p) ? w->nbufs : 0;
	w->slots = calloc(w->qsize, sizeof(*w->slots));
	w->bufs = calloc(w->nbufs, sizeof(*w->bufs));
	w->buf_free = calloc(w->nbufs, sizeof(*w->buf_free));
	w->rs.seen = calloc(w->send_ahead_max, sizeof(*w->rs.seen));
	w->res.nseconds = 0;
	{
		uint32_t n = cfg->max_seconds;

		if (!n)
			n = cfg->wl.time_s ? cfg->wl.time_s + 2 : 86400;
		w->res.io_per_second = calloc(n, sizeof(uint32_t));
		w->cfg.max_seconds = n;
	}
	if (cfg->cmdlist_count) {
		w->res.cmdlist = calloc(cfg->cmdlist_count, sizeof(*w->res.cmdlist));
		w->res.ncmdlist = cfg->cmdlist_count;
	}
	if (!w->slots || !w->bufs || !w->buf_free || !w->rs.seen || !w->res.io_per_second ||
	    (cfg->cmdlist_count && !w->res.cmdlist)) {
		pn_ioworker_free(w);
		return pn_fail(ENOMEM, "ioworker: no memory");
	}
	if (cfg->verify) {
		uint64_t lo = w->wl.p.region_start, hi = w->wl.p.region_end;

		if (w->wl.p.ntrace) {
			lo = 0;
			hi = cfg->wl.ns_capacity;
		}
		if (hi > cfg->verify->nlba)
			hi = cfg->verify->nlba;
		rc = pn_lba_lock_init(&w->lock, lo, hi > lo ? hi - lo : 0);
		if (rc < 0) {
			pn_ioworker_free(w);
			return rc;
		}
	}
	rc = alloc_buffers(w);
	if (rc < 0) {
		set_error(w, PN_IOW_ERR_BUFFER, 0, "cannot allocate %llu bytes of data buffers: %s",
			  ULL(w->buf_bytes * (w->nread_bufs + w->nwrite_bufs)), pn_last_error());
		pn_clear_error();
	}
	for (uint32_t i = 0; i < w->qsize; i++)
		w->slots[i].w = w;
	for (uint32_t i = 0; i < w->nbufs && w->data && w->ranges; i++) {
		struct io_buf *b = &w->bufs[i];
		uint32_t r = w->nread_bufs > 1 ? i : 0;

		b->buf = (char *)w->data->vaddr + w->buf_bytes * r;
		b->buf_iova = w->data->iova + w->buf_bytes * r;
		if (w->nwrite_bufs) {
			b->wbuf = (char *)w->data->vaddr + w->buf_bytes * (w->nread_bufs + i);
			b->wbuf_iova = w->data->iova + w->buf_bytes * (w->nread_bufs + i);
		}
		b->range = (char *)w->ranges->vaddr + 16u * i;
		b->range_iova = w->ranges->iova + 16u * i;
		w->buf_free[w->nbuf_free++] = w->nbufs - 1 - i;
	}
	pn_hist_reset(&w->hist_ticks);
	pn_hist_reset(&w->res.latency);
	*out = w;
	return 0;
}

/* Empty polls after which a worker on a device that runs on the host's
 * CPUs starts yielding its core (every 16th poll): far more than a device
 * on a core of its own needs between completions (a few hundred polls at
 * QD32), so yielding there never thins the queue; a device on the same
 * core gets it after ~0.1 ms instead of at the end of a time slice. */
#define YIELD_AFTER_EMPTY_POLLS 16384

/* ---- the thread ------------------------------------------------------- */

static inline void count_second(struct pn_ioworker *w, uint64_t now, uint64_t *next_second,
				uint64_t *completed_at_second, uint64_t hz)
{
	while (now >= *next_second) {
		if (w->res.nseconds < w->cfg.max_seconds)
			w->res.io_per_second[w->res.nseconds++] =
				(uint32_t)(w->completed - *completed_at_second);
		*completed_at_second = w->completed;
		*next_second += hz;
	}
}

/* Completion of one IO: statistics, verification, LBA bits. */
static void io_done(void *ctx, const struct pn_cqe *cqe)
{
	struct io_slot *s = ctx;
	struct pn_ioworker *w = s->w;
	struct pn_ioworker_result *r = &w->res;
	uint8_t opc = s->opc;
	uint16_t status = cqe->status & 0xfffe;

	if (r->ncmdlist) {
		/* every completion, failed ones too, as the original's log */
		struct pn_ioworker_cmd *c = &r->cmdlist[w->cmdlist_written++ % r->ncmdlist];

		c->lba = s->slba;
		c->count = s->nlb;
		c->opcode = opc;
	}

	if (__builtin_expect(status != 0, 0)) {
		if (cqe->status == PN_STATUS_SYNTH) {
			/* synthesized: the queue engine's timeout, or teardown */
			if (!w->stop)
				set_error(w, PN_IOW_ERR_IO_TIMEOUT, 0xffff,
					  "%s LBA %llu+%u (CID %u) got no completion within the timeout",
					  opc == PN_OP_READ ? "read" : "command", ULL(s->slba), s->nlb,
					  cqe->cid);
		} else {
			uint16_t st = (uint16_t)(pn_status_sct(cqe->status) << 8 |
						 pn_status_sc(cqe->status));

			set_error(w, PN_IOW_ERR_IO_ERROR, st,
				  "ERROR status: %02x/%02x opcode 0x%02x LBA %llu+%u",
				  pn_status_sct(cqe->status), pn_status_sc(cqe->status), opc,
				  ULL(s->slba), s->nlb);
		}
		if (w->cfg.verify && is_write_like(opc))
			pn_verify_record_unknown(w->cfg.verify, s->slba, s->nlb);
		goto out;
	}
	{
		uint64_t lat = w->q->latest_latency_tsc;

		pn_hist_record(&w->hist_ticks, lat);
		w->latency_sum_ticks += lat;
	}
	r->op_count[opc]++;
	if (w->cfg.iops && s->second < w->cfg.max_seconds) {
		/* per second of the throttle's schedule: a reap delayed past a
		 * second's end (a descheduled thread) does not move the IO */
		r->io_per_second[s->second]++;
		if (s->second >= r->nseconds)
			r->nseconds = s->second + 1;
	}
	__atomic_store_n(&w->completed, w->completed + 1, __ATOMIC_RELAXED);
	if (w->cfg.verify) {
		struct pn_verify_table *t = w->cfg.verify;

		switch (opc) {
		case PN_OP_READ:
			if (pn_verify_check_read(t, s->slba, s->nlb, s->buf, &r->mismatch) < 0) {
				set_error(w, PN_IOW_ERR_IO_ERROR, PN_IOW_STATUS_MISCOMPARE,
					  "ERROR status: 02/81 (data verification) %s",
					  pn_last_error());
				pn_clear_error();
			}
			break;
		case PN_OP_WRITE:
			pn_verify_record_write(t, s->slba, s->nlb, s->buf);
			break;
		case PN_OP_WRITE_ZEROES:
			pn_verify_record_zeroes(t, s->slba, s->nlb);
			break;
		case PN_OP_DSM:
			if (w->cfg.trim_reads_zeroes)
				pn_verify_record_zeroes(t, s->slba, s->nlb);
			else
				pn_verify_record_unknown(t, s->slba, s->nlb);
			break;
		case PN_OP_WRITE_UNCOR:
			pn_verify_record_unknown(t, s->slba, s->nlb);
			break;
		default:
			/* vendor writes: data unknown to the table */
			if (is_write_like(opc) && opc != PN_OP_WRITE)
				pn_verify_record_unknown(t, s->slba, s->nlb);
			break;
		}
	}
out:
	if (s->locked) {
		pn_lba_lock_release(&w->lock, s->slba, s->nlb);
		s->locked = false;
	}
	w->buf_free[w->nbuf_free++] = s->bufi;
}

/* An IO built ahead and taken back at the end of the run (never rung):
 * gives back what it held. */
static void unsubmit_io(void *ctx)
{
	struct io_slot *s = ctx;
	struct pn_ioworker *w = s->w;

	if (s->locked) {
		pn_lba_lock_release(&w->lock, s->slba, s->nlb);
		s->locked = false;
	}
	w->buf_free[w->nbuf_free++] = s->bufi;
	w->res.submitted--;
}

/* Builds and submits one IO. Returns false when the queue had no slot. */
static inline bool submit_io(struct pn_ioworker *w, const struct pn_io *io, bool locked)
{
	struct pn_queue *q = w->q;
	struct pn_request *rq = pn_queue_alloc(q);
	struct io_slot *s;
	struct io_buf *b;
	struct pn_sqe sqe;
	uint64_t bytes;

	if (__builtin_expect(!rq || !w->nbuf_free, 0)) {
		if (rq)
			pn_queue_release(q, rq);
		return false;
	}
	s = &w->slots[rq->cid];
	s->bufi = w->buf_free[--w->nbuf_free];
	s->second = w->send_second;
	b = &w->bufs[s->bufi];
	s->buf = sends_data(io->opcode) ? b->wbuf : b->buf;
	s->slba = io->slba;
	s->nlb = io->nlb;
	s->opc = io->opcode;
	s->locked = locked;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = io->opcode;
	sqe.nsid = w->cfg.nsid;
	if (io->opcode == PN_OP_DSM) {
		struct nvme_dsm_range *range = b->range;

		range->cattr = 0;
		range->nlb = io->nlb;
		range->slba = io->slba;
		sqe.prp1 = b->range_iova;
		sqe.cdw10 = 0;                    /* one range (0-based) */
		sqe.cdw11 = NVME_DSMGMT_AD;
	} else if (io->opcode != PN_OP_FLUSH) {
		sqe.cdw10 = (uint32_t)io->slba;
		sqe.cdw11 = (uint32_t)(io->slba >> 32);
		sqe.cdw12 = io->nlb - 1;
		if (has_data(io->opcode)) {
			uint64_t iova;

			bytes = (uint64_t)io->nlb * w->lba_size;
			if (sends_data(io->opcode)) {
				iova = b->wbuf_iova;
				/* every written LBA carries its number in its first 8
				 * bytes (and a token in its last 8), verified or not,
				 * as the original's data layout */
				if (io->opcode == PN_OP_WRITE)
					pn_verify_stamp(b->wbuf, io->slba, io->nlb, w->lba_size,
							++w->write_token);
			} else {
				iova = b->buf_iova;
			}
			if (pn_request_set_data(q, rq, &sqe, iova, bytes, false) < 0) {
				pn_queue_release(q, rq);
				w->buf_free[w->nbuf_free++] = s->bufi;
				if (locked)
					pn_lba_lock_release(&w->lock, io->slba, io->nlb);
				s->locked = false;
				set_error(w, PN_IOW_ERR_GENERIC, 0, "data pointer of %llu bytes: %s",
					  ULL(bytes), pn_last_error());
				return true;
			}
		}
	}
	/* the loop's clock: the doorbell write restamps the command anyway */
	pn_queue_submit_at(q, rq, &sqe, io_done, s, w->rs.now);
	w->res.submitted++;
	return true;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The controller was reset, failed or vanished: returns true (and sets the
 * error) when the worker must end now. */
static bool check_lost(struct pn_ioworker *w, bool check_registers)
{
	struct pn_ctrl *c = w->cfg.ctrl;

	if (__atomic_load_n(&c->generation, __ATOMIC_ACQUIRE) != w->generation) {
		set_error(w, PN_IOW_ERR_TERMINATED, 0,
			  "terminated: controller %s was reset during the run", c->name);
		return true;
	}
	if (__atomic_load_n(&c->failed, __ATOMIC_ACQUIRE)) {
		set_error(w, PN_IOW_ERR_TERMINATED, 0,
			  "terminated: controller %s failed or is gone: %s", c->name, c->fail_reason);
		return true;
	}
	if (pn_transport_removed(c->tr)) {
		set_error(w, PN_IOW_ERR_TERMINATED, 0, "terminated: controller %s: %s", c->name,
			  pn_transport_removed(c->tr));
		return true;
	}
	if (check_registers) {
		uint32_t csts = 0;

		pn_ctrl_read32(c, NVME_REG_CSTS, &csts);
		if (csts == 0xffffffffu) {
			set_error(w, PN_IOW_ERR_TERMINATED, 0,
				  "terminated: controller %s registers read all ones (device gone)",
				  c->name);
			return true;
		}
		if (NVME_CSTS_CFS(csts)) {
			set_error(w, PN_IOW_ERR_TERMINATED, 0,
				  "terminated: controller %s reports fatal status (CSTS 0x%x)",
				  c->name, csts);
			return true;
		}
		if (!NVME_CSTS_RDY(csts)) {
			set_error(w, PN_IOW_ERR_TERMINATED, 0,
				  "terminated: controller %s is not ready (CSTS 0x%x): reset",
				  c->name, csts);
			return true;
		}
	}
	return false;
}

static bool device_lost(struct pn_ioworker *w, bool check_registers)
{
	if (check_lost(w, check_registers)) {
		w->device_lost = true;
		return true;
	}
	return false;
}

static void pin_thread(struct pn_ioworker *w)
{
	cpu_set_t allowed, one;
	int n, want, k = 0;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return;
	n = CPU_COUNT(&allowed);
	if (n <= 0)
		return;
	want = w->cfg.cpu >= 0 ? w->cfg.cpu % n : __atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED) % n;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed))
			continue;
		if (k++ == want) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
			return;
		}
	}
}

/* State of a run that outlives a SIGBUS (see sigbus_handler). */
static __thread sigjmp_buf worker_jmp;
static __thread volatile sig_atomic_t worker_jmp_armed;
static struct sigaction previous_sigbus;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;

/* A doorbell write to a function that stopped decoding memory (FLR, D3hot,
 * surprise removal: VFIO then refuses the BAR mapping) raises SIGBUS in the
 * worker thread. The worker jumps out of its loop and ends with error -7
 * instead of taking the process (the Python interpreter) down. Faults
 * elsewhere go to the handler that was there before (Python's faulthandler,
 * or the default action). */
static void sigbus_handler(int sig, siginfo_t *info, void *uctx)
{
	if (worker_jmp_armed) {
		worker_jmp_armed = 0;
		siglongjmp(worker_jmp, 1);
	}
	if (previous_sigbus.sa_flags & SA_SIGINFO) {
		previous_sigbus.sa_sigaction(sig, info, uctx);
	} else if (previous_sigbus.sa_handler != SIG_IGN && previous_sigbus.sa_handler != SIG_DFL) {
		previous_sigbus.sa_handler(sig);
	} else {
		/* default action: let the fault happen again without us */
		sigaction(SIGBUS, &previous_sigbus, NULL);
	}
}

static void install_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &previous_sigbus);
}

/* CQ entries consumed but not yet reported through the head doorbell.
 * Runs every turn of the loop: a compare, not a modulo (a division by a
 * queue size that is no power of two was the loop's hottest instruction in
 * bench/cost_per_io.sh's profile). */
static inline uint32_t cq_lag(const struct pn_ioworker *w)
{
	uint32_t head = w->q->cq_head, rung = w->rs.cq_rung;

	return head >= rung ? head - rung : head + w->qsize - rung;
}

static inline void ring_cq(struct pn_ioworker *w)
{
	*w->cq_doorbell = w->q->cq_head;
	w->rs.cq_rung = w->q->cq_head;
	w->rs.cq_rings++;
}

/* Rings the doorbells after the send step: the SQ tail over as many built
 * commands as the device may hold (inflight_max, plus the `posted`
 * completions it has finished and the loop not yet reaped), once the
 * pacer's hold has passed since the loop last saw completions (`seen`; 0:
 * the time the queue noted when it reaped, so the work done since counts
 * toward the hold), spinning on the clock until then; and a due CQ head in
 * the same moment. */
static inline void ring_doorbells(struct pn_ioworker *w, uint64_t seen, uint32_t posted)
{
	struct run_state *rs = &w->rs;
	struct pn_queue *q = w->q;
	bool cq_due = cq_lag(w) >= w->cq_lag_max;
	uint32_t unrung = pn_queue_unrung(q);
	uint32_t device_holds = pn_queue_busy(q) - unrung;
	uint32_t n = 0;

	if (w->inflight_max + posted > device_holds)
		n = w->inflight_max + posted - device_holds;
	if (n > unrung)
		n = unrung;
	if (n && rs->pacer.hold_ticks) {
		uint64_t until = (seen ? seen : q->reap_tsc) + rs->pacer.hold_ticks;

		while ((rs->now = pn_tsc()) < until)
			;
	}
	if (cq_due)
		ring_cq(w);
	if (n) {
		pn_queue_ring_some(q, n);
		rs->sq_rings++;
	}
}

/* Sends generated IOs while fewer than `limit` are outstanding and the
 * workload allows (trace timing, throttle, LBA locks, free buffers); the
 * doorbell is rung by the caller. */
static inline void send_ios(struct pn_ioworker *w, uint32_t limit)
{
	struct run_state *rs = &w->rs;
	struct pn_io *io = &rs->io;
	const bool throttled = w->cfg.iops != 0;

	while (pn_queue_busy(w->q) < limit) {
		bool lock;

		if (!rs->pending) {
			if (rs->generator_done || !pn_workload_next(&w->wl, io)) {
				rs->generator_done = true;
				break;
			}
			rs->pending = true;
		}
		if (w->wl.p.ntrace && rs->now < rs->trace_base + pn_ns_to_tsc(io->time_us * 1000u))
			break;
		if (throttled) {
			if (!pn_throttle_ready(&w->throttle, rs->now))
				break;
			/* slots from the end of `time` on are not sent */
			if (rs->end_tsc && pn_throttle_next_due(&w->throttle) >= rs->end_tsc)
				break;
			w->send_second = (uint32_t)((pn_throttle_next_due(&w->throttle) -
						     w->start_tsc) / rs->hz);
		}
		lock = w->cfg.verify && w->lock.nlba && io->opcode != PN_OP_FLUSH;
		if (lock && !pn_lba_lock_try(&w->lock, io->slba, io->nlb))
			break;   /* delayed, not skipped: retried after reaping */
		if (!submit_io(w, io, lock)) {
			if (lock)
				pn_lba_lock_release(&w->lock, io->slba, io->nlb);
			break;
		}
		rs->pending = false;
		if (throttled)
			pn_throttle_sent(&w->throttle, rs->now);
		/* a replay keeps the trace's spacing from its first IO: a
		 * stall of the thread before that one does not make the next
		 * ones early relative to it */
		if (w->wl.p.ntrace && w->res.submitted == 1) {
			uint64_t now = pn_tsc(), at = pn_ns_to_tsc(io->time_us * 1000u);

			if (now > at && now - at > rs->trace_base)
				rs->trace_base = now - at;
		}
		if (w->stop)
			break;
	}
}

/* The doorbell hold after posted completions: waits until the device has
 * posted nothing new for the pacer's hold (the end of its burst; the last
 * completion seen at *seen on return), so that one doorbell write sends
 * the replacements of the whole burst. Each completion found meanwhile is
 * stamped with the first clock read after it was found (a seen_run).
 * Returns how many are posted then. */
static inline uint32_t settle_burst(struct pn_ioworker *w, uint32_t posted, uint64_t *seen)
{
	struct run_state *rs = &w->rs;
	const uint64_t hold = rs->pacer.hold_ticks;
	uint32_t stamped = posted;
	uint64_t now;

	for (;;) {
		now = pn_tsc();
		if (posted != stamped) {
			rs->seen[rs->nseen].count = posted - stamped;
			rs->seen[rs->nseen++].tsc = now;
			stamped = posted;
			*seen = now;
		}
		if (now - *seen >= hold)
			break;
		if (posted < w->send_ahead_max && pn_queue_cqe_posted_at(w->q, posted))
			posted = pn_queue_cqes_posted(w->q, w->send_ahead_max);
	}
	rs->now = now;
	return posted;
}

/* Reaps the completions the loop saw this turn, each with the time it was
 * seen: the replacements' doorbell write came in between, and under an
 * emulator that write alone can take longer than the device's work on a
 * command (it counts in the replacement's latency, not in this one's). */
static inline void reap_seen(struct pn_ioworker *w)
{
	struct run_state *rs = &w->rs;

	for (uint32_t i = 0; i < rs->nseen; i++)
		pn_queue_process_seen(w->q, rs->seen[i].count, rs->seen[i].tsc);
	rs->nseen = 0;
}

/* The loop and the drain: everything that touches the device's BAR. */
static __attribute__((noinline)) void worker_run(struct pn_ioworker *w)
{
	struct run_state *rs = &w->rs;
	struct pn_queue *q = w->q;
	const uint64_t hz = rs->hz;
	const bool trace = w->wl.p.ntrace != 0;
	const bool throttled = w->cfg.iops != 0;
	/* a throttled or replayed IO is built when it is due */
	const bool prebuild = !throttled && !trace;
	uint64_t health_every = hz / 10;   /* register check when idle 100 ms */
	uint32_t loops = 0, idle_polls = 0, empty_run = 0;
	uint64_t turn_start = 0, turn_max = pn_ns_to_tsc(100000);
	/* A software controller is a thread of this process, which the
	 * scheduler may put on this worker's core: there, a loop that polls
	 * without end keeps it from ever running (each batch then waited for
	 * the end of the worker's time slice, ~1.5 ms: 622 IOPS at QD1). So
	 * after a run of empty polls far longer than the device needs on a core
	 * of its own, the loop yields the core every 16th poll; with nobody
	 * else waiting for the core the yield returns at once. A drive (VFIO)
	 * never needs the host's CPU: no yield there. The transport says which
	 * (the worker does not know which transport it runs on). */
	const bool yield_when_idle = w->cfg.ctrl->tr->device_on_host_cpus;

	rs->now = pn_tsc();
	w->start_tsc = rs->now;
	rs->trace_base = rs->now;
	rs->next_second = rs->now + hz;
	rs->last_progress = rs->now;
	if (w->wl.p.time_s)
		rs->end_tsc = rs->now + (uint64_t)w->wl.p.time_s * hz;
	if (throttled)
		pn_throttle_start(&w->throttle, rs->now);
	/* a throttled or replayed run keeps its timing: no doorbell hold */
	if (w->cfg.pacing_off || throttled || trace)
		pn_pacer_init_fixed(&rs->pacer, hz, 0);
	else if (w->cfg.pacing_hold_ns)
		pn_pacer_init_fixed(&rs->pacer, hz, w->cfg.pacing_hold_ns);
	else
		pn_pacer_init_auto(&rs->pacer, hz, rs->now, 0);

	while (!w->stop) {
		uint32_t busy, posted;
		uint64_t seen = 0;

		/* Completions the device has posted free their places at once:
		 * their replacements are rung before the completions'
		 * bookkeeping (statistics, verification) runs, so the device
		 * works meanwhile; it never holds more than inflight_max
		 * commands. An untimed run keeps send_ahead_max commands built
		 * in the SQ beyond the rung tail, so that replacing a
		 * completion costs only the doorbell write. With a doorbell
		 * hold, the doorbell waits until the device has posted nothing
		 * new for that long (the end of its burst): one write per
		 * burst. */
		posted = pn_queue_cqes_posted(q, w->send_ahead_max);
		if (posted) {
			/* their latency ends here, after the phase tags were
			 * read and before anything else is done */
			seen = pn_tsc();
			turn_start = seen;
			rs->seen[0].count = posted;
			rs->seen[0].tsc = seen;
			rs->nseen = 1;
			if (rs->pacer.hold_ticks)
				posted = settle_burst(w, posted, &seen);
		}
		send_ios(w, w->inflight_max + (prebuild ? w->send_ahead_max : posted));
		ring_doorbells(w, seen, posted);

		/* reap */
		/* reap what was posted when the loop looked (what came since
		 * waits a turn, so its replacement goes first too), stamped
		 * when it was seen, and poll the queue every 16th empty turn
		 * for its timeout scan; the clock likewise: under an emulator
		 * an rdtsc costs more than a poll */
		if (posted) {
			reap_seen(w);
			rs->now = pn_tsc();
			empty_run = 0;
			/* no clock read of its own: the two the turn makes anyway */
			if (rs->now - turn_start < turn_max) {
				rs->work_tsc += rs->now - turn_start;
				rs->work_turns++;
			} else {
				rs->work_turns_dropped++;
			}
		} else if ((++idle_polls & 15) == 0) {
			pn_queue_process(q, 0);
			rs->now = pn_tsc();
			if (yield_when_idle && (empty_run += 16) >= YIELD_AFTER_EMPTY_POLLS)
				sched_yield();
		}
		pn_pacer_update(&rs->pacer, rs->now, w->completed);
		busy = pn_queue_busy(q);
		if (rs->now >= rs->next_second && !w->cfg.iops)
			count_second(w, rs->now, &rs->next_second, &rs->completed_at_second, hz);
		/* time is up; a throttled run first sends what its schedule
		 * owed before the end (a stall right before it), so its last
		 * second is whole */
		if (rs->end_tsc && rs->now >= rs->end_tsc &&
		    (!throttled || pn_throttle_next_due(&w->throttle) >= rs->end_tsc))
			break;
		if (rs->generator_done && !rs->pending && !busy)
			break;
		if (__atomic_load_n(&w->stop_requested, __ATOMIC_RELAXED)) {
			set_error(w, PN_IOW_ERR_TERMINATED, 0, "terminated: stopped by the caller");
			break;
		}
		/* device health: cheap flags every 64 loops, registers when idle */
		if (w->completed != rs->last_completed) {
			rs->last_completed = w->completed;
			rs->last_progress = rs->now;
		}
		if ((++loops & 63) == 0 || q->spurious) {
			bool idle = busy && rs->now - rs->last_progress > health_every;

			if (device_lost(w, idle || q->spurious)) {
				break;
			}
			if (idle)
				rs->last_progress = rs->now;
		}
	}

	/* drain: reap what is in flight (the queue engine times out stuck IOs) */
	{
		uint64_t hard = rs->now + pn_ns_to_tsc((uint64_t)(w->cfg.ctrl->timeout_ms + 5000) * 1000000u);
		bool lost = w->res.error_code == PN_IOW_ERR_TERMINATED &&
			    !__atomic_load_n(&w->stop_requested, __ATOMIC_RELAXED);

		w->stop = true;
		rs->last_progress = rs->now;
		/* commands built ahead that the device never saw are taken
		 * back, not sent after the end: they do not count as
		 * submitted, and the device never holds more than the run's
		 * depth */
		pn_queue_unsubmit_unrung(q, unsubmit_io);
		while (pn_queue_busy(q) && !lost) {
			if (pn_queue_process(q, 0) && rs->cq_rung != q->cq_head)
				ring_cq(w);
			rs->now = pn_tsc();
			if (rs->now >= rs->next_second && !w->cfg.iops)
				count_second(w, rs->now, &rs->next_second, &rs->completed_at_second, hz);
			if (w->completed != rs->last_completed) {
				rs->last_completed = w->completed;
				rs->last_progress = rs->now;
			}
			if (rs->now - rs->last_progress > health_every) {
				rs->last_progress = rs->now;
				if (device_lost(w, true))
					lost = true;
			}
			if (rs->now > hard) {
				set_error(w, PN_IOW_ERR_WORKER_TIMEOUT, 0,
					  "ioworker timeout: %u IOs still outstanding %u ms after the end",
					  pn_queue_busy(q), w->cfg.ctrl->timeout_ms + 5000);
				break;
			}
		}
		if (rs->cq_rung != q->cq_head && !lost) {
			*w->cq_doorbell = q->cq_head;
			rs->cq_rings++;
		}
		q->cq_doorbell = w->cq_doorbell;
		if (pn_queue_busy(q)) {
			/* the device will not answer: complete the rest ourselves,
			 * they do not count as done */
			uint16_t keep = w->res.error_status;

			pn_queue_fail_all(q, true);
			w->res.error_status = keep;
		}
	}
}

/* The worker is done (or will never run): wakes whoever waits for it. */
static void mark_finished(struct pn_ioworker *w)
{
	pthread_mutex_lock(&w->done_lock);
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->done_cond);
	pthread_mutex_unlock(&w->done_lock);
}

static void reverse_cmds(struct pn_ioworker_cmd *c, uint32_t from, uint32_t to)
{
	while (from + 1 < to) {
		struct pn_ioworker_cmd t = c[from];

		c[from++] = c[--to];
		c[to] = t;
	}
}

/* In place, by three reversals (no allocation in the worker thread). */
void pn_ioworker_order_cmdlist(struct pn_ioworker_cmd *c, uint32_t n, uint64_t written)
{
	uint32_t head = (uint32_t)(written % n);   /* the oldest, or the first unused */

	if (head == 0)
		return;
	reverse_cmds(c, 0, head);
	reverse_cmds(c, head, n);
	reverse_cmds(c, 0, n);
}

static void *worker_main(void *arg)
{
	struct pn_ioworker *w = arg;
	struct run_state *rs = &w->rs;
	struct pn_queue *q = w->q;
	const uint64_t hz = pn_tsc_hz();
	uint32_t log_entries;

	pin_thread(w);
	rs->hz = hz;
	rs->cpu0 = thread_cpu_ns();
	/* the queue engine's CQ head writes go to a sink; the loop writes the
	 * real doorbell when enough entries were consumed */
	w->cq_doorbell = q->cq_doorbell;
	q->cq_doorbell = &w->cq_doorbell_sink;
	rs->cq_rung = q->cq_head;
	/* the queue's command log costs two divisions and 80 bytes of copies
	 * per IO: keep it only when output_cmdlog_list asks for it */
	log_entries = q->log_entries;
	if (!w->cfg.cmdlog_count)
		q->log_entries = 0;
	if (sigsetjmp(worker_jmp, 1) == 0) {
		worker_jmp_armed = 1;
		worker_run(w);
		worker_jmp_armed = 0;
	} else {
		set_error(w, PN_IOW_ERR_TERMINATED, 0,
			  "terminated: controller %s stopped decoding memory (function reset, D3hot "
			  "or removal) during the run", w->cfg.ctrl->name);
		w->device_lost = true;
		rs->now = pn_tsc();
		pn_queue_fail_all(q, true);
	}
	q->cq_doorbell = w->cq_doorbell;
	q->log_entries = log_entries;
	/* The IOs after the last full second count too, so the per-second
	 * counts sum to the total: the drain after `time` ended belongs to the
	 * last second (however slow the device is to give the last IOs back);
	 * a run that ended otherwise gets a partial second of its own when it
	 * lasted over 10 ms. */
	if (w->completed > rs->completed_at_second && !w->cfg.iops) {
		uint32_t rest = (uint32_t)(w->completed - rs->completed_at_second);
		bool time_ended = rs->end_tsc && rs->now >= rs->end_tsc;

		if (w->res.nseconds < w->cfg.max_seconds &&
		    (!w->res.nseconds ||
		     (!time_ended && rs->now - (rs->next_second - hz) > hz / 100)))
			w->res.io_per_second[w->res.nseconds++] = rest;
		else if (w->res.nseconds)
			w->res.io_per_second[w->res.nseconds - 1] += rest;
	}

	{
		struct pn_ioworker_result *r = &w->res;
		uint64_t run_ticks = rs->now - w->start_tsc;

		r->run_ns = pn_tsc_to_ns(run_ticks);
		r->mseconds = r->run_ns / 1000000u;
		r->cpu_ns = thread_cpu_ns() - rs->cpu0;
		r->cpu_usage = run_ticks ? (double)r->cpu_ns / (double)pn_tsc_to_ns(run_ticks) : 0.0;
		r->sq_doorbells = rs->sq_rings;
		r->work_ns = pn_tsc_to_ns(rs->work_tsc);
		r->work_turns = rs->work_turns;
		r->work_turns_dropped = rs->work_turns_dropped;
		r->pacing_hold_ns = pn_pacer_kept_ns(&rs->pacer);
		r->cq_doorbells = rs->cq_rings;
		r->io_count_read = r->op_count[PN_OP_READ];
		r->io_count_write = r->op_count[PN_OP_WRITE];
		r->io_count_nonread = 0;
		for (unsigned op = 0; op < 256; op++)
			if (op != PN_OP_READ)
				r->io_count_nonread += r->op_count[op];
		/* the histogram in nanoseconds: each bucket at its midpoint */
		pn_hist_reset(&r->latency);
		for (unsigned i = 0; i < PN_HIST_BUCKETS; i++) {
			uint64_t n = w->hist_ticks.buckets[i];

			if (n) {
				uint64_t mid = pn_hist_bucket_low(i) / 2 + pn_hist_bucket_high(i) / 2;
				uint64_t ns = pn_tsc_to_ns(mid);

				r->latency.buckets[pn_hist_index(ns)] += n;
				r->latency.count += n;
			}
		}
		if (w->hist_ticks.count) {
			r->latency.min = pn_tsc_to_ns(w->hist_ticks.min);
			r->latency.max = pn_tsc_to_ns(w->hist_ticks.max);
			r->latency.sum = pn_tsc_to_ns(w->latency_sum_ticks);
		}
		if (w->cfg.cmdlog_count)
			r->ncmdlog = pn_queue_cmdlog(q, r->cmdlog, w->cfg.cmdlog_count);
		if (r->ncmdlist)
			pn_ioworker_order_cmdlist(r->cmdlist, r->ncmdlist, w->cmdlist_written);
	}
	mark_finished(w);
	return NULL;
}

int pn_ioworker_start(struct pn_ioworker *w)
{
	struct pn_ctrl *c = w->cfg.ctrl;
	uint16_t status = 0;
	int rc;

	if (w->started)
		return pn_fail(EALREADY, "ioworker: already started");
	w->started = true;
	if (w->res.error_code) {
		/* nothing to run (MDTS, buffers): the result says why */
		mark_finished(w);
		w->joined = true;
		return 0;
	}
	pthread_once(&sigbus_once, install_sigbus);
	w->generation = __atomic_load_n(&c->generation, __ATOMIC_ACQUIRE);
	rc = pn_qpair_create(c, w->qsize, w->cfg.qprio, false, 0, &w->qp, &status);
	if (rc < 0) {
		w->joined = true;
		mark_finished(w);
		return rc;
	}
	w->q = &w->qp->q;
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc) {
		pn_qpair_free(w->qp);
		w->qp = NULL;
		w->joined = true;
		mark_finished(w);
		return pn_fail(rc, "ioworker: cannot start a thread");
	}
	/* published for pn_ioworker_queue()/progress readers once the queue is
	 * there for good (w->qp itself goes away in pn_ioworker_wait()) */
	__atomic_store_n(&w->qid, w->qp->qid, __ATOMIC_RELEASE);
	return 0;
}

void pn_ioworker_stop(struct pn_ioworker *w)
{
	__atomic_store_n(&w->stop_requested, 1, __ATOMIC_RELAXED);
}

bool pn_ioworker_finished(const struct pn_ioworker *w)
{
	return !w->started || __atomic_load_n(&w->finished, __ATOMIC_ACQUIRE);
}

bool pn_ioworker_wait_finished(struct pn_ioworker *w, uint32_t timeout_ms)
{
	struct timespec until;

	if (pn_ioworker_finished(w))
		return true;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->done_lock);
	while (!__atomic_load_n(&w->finished, __ATOMIC_ACQUIRE))
		if (pthread_cond_timedwait(&w->done_cond, &w->done_lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&w->done_lock);
	return pn_ioworker_finished(w);
}

void pn_ioworker_progress(const struct pn_ioworker *w, struct pn_ioworker_progress *p)
{
	const struct pn_workload_params *wl = &w->cfg.wl;
	double lbas = wl->size_min;

	p->completed = __atomic_load_n(&w->completed, __ATOMIC_RELAXED);
	/* plain fields the worker thread writes: an aligned 64/32-bit load
	 * cannot tear on the targets we build for, and a reader that sees one
	 * completion late is fine for a live view */
	p->latency_sum_ns = pn_tsc_to_ns(__atomic_load_n(&w->latency_sum_ticks, __ATOMIC_RELAXED));
	p->running = w->started && !__atomic_load_n(&w->finished, __ATOMIC_ACQUIRE);
	p->submitted = __atomic_load_n(&w->res.submitted, __ATOMIC_RELAXED);
	p->qid = __atomic_load_n(&w->qid, __ATOMIC_RELAXED);
	p->qdepth = w->qsize;
	p->nsid = w->cfg.nsid;
	p->error_code = __atomic_load_n(&w->res.error_code, __ATOMIC_RELAXED);
	p->error_status = __atomic_load_n(&w->res.error_status, __ATOMIC_RELAXED);
	{
		uint64_t start = __atomic_load_n(&w->start_tsc, __ATOMIC_RELAXED);

		p->elapsed_ns = start ? pn_tsc_to_ns(pn_tsc() - start) : 0;
	}
	if (wl->size_kind == PN_WL_SIZE_RANGE) {
		lbas = (wl->size_min + (double)wl->size_max) / 2;
	} else if (wl->size_kind == PN_WL_SIZE_LIST) {
		double sum = 0, weights = 0;

		for (uint32_t i = 0; i < wl->nsizes; i++) {
			sum += (double)wl->sizes[i] * wl->size_weight[i];
			weights += wl->size_weight[i];
		}
		lbas = weights > 0 ? sum / weights : 0;
	}
	p->io_bytes_mean = lbas * w->lba_size;
	p->io_per_second = w->res.io_per_second;
	p->nseconds = w->cfg.iops ? 0 : __atomic_load_n(&w->res.nseconds, __ATOMIC_ACQUIRE);
}

void pn_ioworker_latency_snapshot(const struct pn_ioworker *w, uint64_t *buckets)
{
	/* aligned 64-bit words the worker thread stores plainly: a load cannot
	 * tear on the targets we build for (see pn_ioworker_progress) */
	for (unsigned i = 0; i < PN_HIST_BUCKETS; i++)
		buckets[i] = __atomic_load_n(&w->hist_ticks.buckets[i], __ATOMIC_RELAXED);
}

const struct pn_queue *pn_ioworker_queue(const struct pn_ioworker *w)
{
	/* qid is stored (release) once w->q is set up, before the thread runs */
	return __atomic_load_n(&w->qid, __ATOMIC_ACQUIRE) && !w->joined ? w->q : NULL;
}

const struct pn_ioworker_result *pn_ioworker_wait(struct pn_ioworker *w)
{
	if (w->started && !w->joined) {
		pthread_join(w->thread, NULL);
		w->joined = true;
		if (w->qp) {
			/* the device dropped the queue already: no delete commands
			 * (they would wait for a controller that is not there) */
			if (w->device_lost)
				w->qp->deleted = true;
			if (pn_qpair_free(w->qp) < 0 && !w->res.error_code)
				set_error(w, PN_IOW_ERR_GENERIC, 0, "deleting the IO queue: %s",
					  pn_last_error());
			pn_clear_error();
			w->qp = NULL;
			w->q = NULL;
		}
	}
	return &w->res;
}

void pn_ioworker_free(struct pn_ioworker *w)
{
	if (!w)
		return;
	if (w->started && !w->joined) {
		pn_ioworker_stop(w);
		pn_ioworker_wait(w);
	}
	pn_lba_lock_free(&w->lock);
	dma_free(w->data);
	dma_free(w->ranges);
	free(w->slots);
	free(w->bufs);
	free(w->buf_free);
	free(w->rs.seen);
	free(w->res.io_per_second);
	free(w->res.cmdlist);
	pthread_cond_destroy(&w->done_cond);
	pthread_mutex_destroy(&w->done_lock);
	free(w);
}

static int descending(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

double pn_ioworker_iops_consistency(const struct pn_ioworker_result *r, double slowest_percentage)
{
	uint32_t n = r->nseconds, k;
	uint64_t full = r->mseconds / 1000;
	uint32_t *sorted;
	double sum = 0, v;

	/* full seconds only: a partial last second is left out */
	if (n > full)
		n = (uint32_t)full;
	if (n == 0 || !(slowest_percentage > 0 && slowest_percentage < 100))
		return 0.0;
	/* not the worker thread: a copy to sort is fine */
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return 0.0;
	memcpy(sorted, r->io_per_second, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), descending);
	for (uint32_t i = 0; i < n; i++)
		sum += sorted[i];
	k = (uint32_t)((uint64_t)((double)n * slowest_percentage) / 100);
	if (k >= n)
		k = n - 1;
	v = sorted[k];
	free(sorted);
	sum /= n;
	return sum > 0 ? v / sum : 0.0;
}
