/* The benchmark's ceiling: a minimal hand-written polled IO loop on one IO
 * queue pair of lib/queue.h's rings, with no bookkeeping beyond a TSC stamp
 * per command, taken at its doorbell write, and one per run of completions
 * found posted, read right after their phase tags (for the latency
 * columns, as in the ioworker: IOPS x mean latency stays at most QD). Fixed
 * CIDs 0..qd-1, one prebuilt SQE per CID, one shared data buffer, reads
 * only.
 *
 * Doorbell modes, to measure what an MMIO write costs (under TCG each one
 * takes QEMU's global lock):
 *   batch   one SQ tail and one CQ head write per batch of completions
 *   percmd  one SQ tail write per command (the naive loop)
 *   shadow  Doorbell Buffer Config (OACS bit 8): tails and heads go to a
 *           shadow page in host memory; MMIO only when the controller's
 *           event index asks for it (the Linux driver's rule)
 *   lazycq  batch, on a queue of at least 4 * QD entries (QD in flight), and
 *           the CQ head written only every (entries - 1 - QD) / 2 reaped
 *           completions: the controller never finds the CQ full, because
 *           consumed-but-unreported entries plus those in flight stay below
 *           its size
 *   paced   lazycq, and the doorbells rung only once the device has posted
 *           no completion for the doorbell pacer's hold
 *           (lib/doorbell_pacer.h, adaptive): the end of its burst
 *
 * usage: ceiling BDF NSID BS QD SECONDS rand|seq batch|percmd|shadow|lazycq|paced [HOLD_NS]
 * (paced with HOLD_NS: that fixed hold instead of the adaptive one)
 * prints one JSON line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "dma.h"
#include "doorbell_pacer.h"
#include "error.h"
#include "latency_histogram.h"
#include "tsc.h"
#include "vfio_pci.h"

static struct pn_hist hist;

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The Linux driver's nvme_dbbuf_need_event(): did the new value pass the
 * controller's event index since the old one? */
static inline int need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "ceiling: %s: %s (%d)\n", what, pn_last_error(), rc);
	return 1;
}

int main(int argc, char **argv)
{
	struct vfio_pci *pci;
	struct pn_ctrl *c;
	struct pn_qpair *qp;
	struct pn_queue *q;
	struct dma_region *data, *dbbuf = NULL;
	struct nvme_id_ns *id;
	volatile uint32_t *shadow_sq = NULL, *shadow_cq = NULL, *ei_sq = NULL, *ei_cq = NULL;
	uint32_t nsid, bs, qd, secs, lba_size, nlb;
	uint64_t cap, nblocks, rnd = 0x9e3779b97f4a7c15ull, seq = 0, ios = 0, mmio = 0;
	uint64_t *submit_tsc, rung_at;
	uint32_t *pushed, npushed = 0;   /* CIDs written since the last doorbell */
	struct pn_sqe *tmpl;
	int random_lba, mode, rc;

	if (argc != 8 && !(argc == 9 && !strcmp(argv[7], "paced"))) {
		fprintf(stderr, "usage: ceiling BDF NSID BS QD SECONDS rand|seq "
			"batch|percmd|shadow|lazycq|paced [HOLD_NS]\n");
		return 2;
	}
	nsid = (uint32_t)atoi(argv[2]);
	bs = (uint32_t)atoi(argv[3]);
	qd = (uint32_t)atoi(argv[4]);
	secs = (uint32_t)atoi(argv[5]);
	random_lba = !strcmp(argv[6], "rand");
	mode = !strcmp(argv[7], "batch") ? 0 : !strcmp(argv[7], "percmd") ? 1 :
	       !strcmp(argv[7], "shadow") ? 2 : !strcmp(argv[7], "lazycq") ? 3 :
	       !strcmp(argv[7], "paced") ? 4 : -1;
	if (mode < 0) {
		fprintf(stderr, "ceiling: unknown doorbell mode %s\n", argv[7]);
		return 2;
	}

	if ((rc = vfio_pci_open(argv[1], &pci)) < 0)
		return die("open", rc);
	if ((rc = pn_ctrl_open(pci, &c)) < 0 || (rc = pn_ctrl_init(c)) < 0)
		return die("controller", rc);
	id = calloc(1, sizeof(*id));
	if ((rc = pn_ctrl_identify(c, NVME_IDENTIFY_CNS_NS, nsid, 0, 0, id)) < 0)
		return die("identify namespace", rc);
	lba_size = 1u << id->lbaf[id->flbas & 0xf].ds;
	cap = id->nsze;
	nlb = bs / lba_size;
	nblocks = cap / nlb;

	if (mode == 2) {
		struct pn_sqe cmd = {.opc = nvme_admin_dbbuf};

		if (!(c->id.oacs & NVME_CTRL_OACS_DBBUF_CFG)) {
			fprintf(stderr, "ceiling: no Doorbell Buffer Config (OACS bit 8 clear)\n");
			return 3;
		}
		if ((rc = dma_alloc(2 * 4096, &dbbuf)) < 0)
			return die("dbbuf memory", rc);
		cmd.prp1 = dbbuf->iova;
		cmd.prp2 = dbbuf->iova + 4096;
		if ((rc = pn_ctrl_admin_sync(c, &cmd, 0, 0, NULL)) < 0)
			return die("Doorbell Buffer Config", rc);
	}
	uint32_t qsize = qd + 1, cq_lag_max = 0, cq_lag = 0;

	if (mode >= 3) {
		qsize = 4 * qd + 1 > 256 ? 4 * qd + 1 : 256;
		if (qsize > c->mqes)
			qsize = c->mqes;
		if (qsize < 3 * qd + 1) {
			fprintf(stderr, "ceiling: lazycq needs %u queue entries, CAP.MQES allows %u\n",
				3 * qd + 1, c->mqes);
			return 3;
		}
		cq_lag_max = (qsize - 1 - qd) / 2;
	}
	if ((rc = pn_qpair_create(c, qsize, 0, false, 0, &qp, NULL)) < 0)
		return die("create qpair", rc);
	q = &qp->q;
	if (dbbuf) {
		uint32_t stride = 4u << c->dstrd;   /* bytes between doorbells */
		char *db = dbbuf->vaddr, *ei = (char *)dbbuf->vaddr + 4096;

		shadow_sq = (uint32_t *)(db + 2 * qp->qid * stride);
		shadow_cq = (uint32_t *)(db + (2 * qp->qid + 1) * stride);
		ei_sq = (uint32_t *)(ei + 2 * qp->qid * stride);
		ei_cq = (uint32_t *)(ei + (2 * qp->qid + 1) * stride);
	}
	if ((rc = dma_alloc(bs, &data)) < 0)
		return die("data buffer", rc);
	tmpl = calloc(qd, sizeof(*tmpl));
	submit_tsc = calloc(qd, sizeof(*submit_tsc));
	pushed = calloc(qd, sizeof(*pushed));
	/* one prebuilt SQE per CID, its PRP list in that slot's list page */
	for (uint32_t cid = 0; cid < qd; cid++) {
		struct pn_request *rq = pn_queue_alloc(q);

		tmpl[cid].opc = nvme_cmd_read;
		tmpl[cid].nsid = nsid;
		tmpl[cid].cid = rq->cid;
		tmpl[cid].cdw12 = nlb - 1;
		if ((rc = pn_request_set_data(q, rq, &tmpl[cid], data->iova, bs, false)) < 0)
			return die("PRP", rc);
	}
	pn_hist_reset(&hist);

	uint64_t hz = pn_tsc_hz(), start = pn_tsc(), end = start + secs * hz, now = start;
	uint64_t cpu0 = cpu_ns();
	uint32_t tail = 0, head = 0, phase = 1, depth = q->depth;
	uint16_t old_tail = 0, old_head = 0;
	struct pn_pacer pacer;

	if (mode == 4 && argc == 9)
		pn_pacer_init_fixed(&pacer, hz, (uint32_t)atoi(argv[8]));
	else if (mode == 4)
		pn_pacer_init_auto(&pacer, hz, now, 0);
	else
		pn_pacer_init_fixed(&pacer, hz, 0);

#define NEXT_LBA() (random_lba ? ((rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17), \
				  (rnd % nblocks) * nlb) : ((seq = (seq + 1) % nblocks) * nlb))
#define PUSH(cid_) do { \
		struct pn_sqe *s_ = &q->sq[tail]; \
		uint64_t lba_ = NEXT_LBA(); \
		*s_ = tmpl[cid_]; \
		s_->cdw10 = (uint32_t)lba_; \
		s_->cdw11 = (uint32_t)(lba_ >> 32); \
		pushed[npushed++] = cid_; \
		if (++tail == depth) tail = 0; \
	} while (0)
#define RING_SQ() do { \
		/* latency counts from the doorbell write, as in the ioworker */ \
		rung_at = pn_tsc(); \
		__atomic_thread_fence(__ATOMIC_SEQ_CST); \
		if (shadow_sq) { \
			*shadow_sq = tail; \
			__atomic_thread_fence(__ATOMIC_SEQ_CST); \
			if (need_event((uint16_t)*ei_sq, (uint16_t)tail, old_tail)) { \
				*q->sq_doorbell = tail; mmio++; } \
		} else { *q->sq_doorbell = tail; mmio++; } \
		old_tail = (uint16_t)tail; \
		while (npushed) \
			submit_tsc[pushed[--npushed]] = rung_at; \
	} while (0)

	for (uint32_t cid = 0; cid < qd; cid++) {
		PUSH(cid);
		if (mode == 1)
			RING_SQ();
	}
	if (mode != 1)
		RING_SQ();
#define POSTED() ((q->cq[head].status & 1) == phase)
	/* completions posted from the head on: all are stamped with the clock
	 * read after their phase tags, before any of them is handled */
#define NPOSTED(n_) do { \
		uint32_t i_ = head, p_ = phase; \
		(n_) = 0; \
		while ((n_) < qd && (q->cq[i_].status & 1) == p_) { \
			(n_)++; \
			if (++i_ == depth) { i_ = 0; p_ ^= 1; } \
		} \
	} while (0)
#define REAP() do { \
		volatile struct pn_cqe *cqe_ = &q->cq[head]; \
		uint16_t cid_; \
		__atomic_thread_fence(__ATOMIC_ACQUIRE); \
		cid_ = cqe_->cid; \
		if (cqe_->status >> 1) { \
			fprintf(stderr, "ceiling: error status 0x%x\n", cqe_->status >> 1); \
			return 4; \
		} \
		if (++head == depth) { \
			head = 0; \
			phase ^= 1; \
		} \
		pn_hist_record(&hist, now - submit_tsc[cid_]); \
		ios++; \
		reaped++; \
		PUSH(cid_); \
		if (mode == 1) \
			RING_SQ(); \
	} while (0)

	while (now < end) {
		uint32_t reaped = 0, found;

		NPOSTED(found);
		if (found) {
			now = pn_tsc();
			while (found--)
				REAP();
		}
		if (reaped && mode == 4) {
			/* paced: the doorbells once the device has posted
			 * nothing new for the hold (the end of its burst; what
			 * it posts meanwhile is reaped and joins the batch),
			 * spinning on the clock */
			uint64_t last = pn_tsc();

			while (pacer.hold_ticks && (now = pn_tsc()) - last < pacer.hold_ticks) {
				if (POSTED()) {
					NPOSTED(found);
					now = pn_tsc();
					while (found--)
						REAP();
					last = now;
				}
			}
			pn_pacer_update(&pacer, now, ios);
			cq_lag += reaped;
			if (cq_lag >= cq_lag_max) {
				*q->cq_doorbell = head;
				mmio++;
				cq_lag = 0;
			}
			RING_SQ();
		} else if (reaped && mode == 3) {
			cq_lag += reaped;
			if (cq_lag >= cq_lag_max) {
				*q->cq_doorbell = head;
				mmio++;
				cq_lag = 0;
			}
			RING_SQ();
		} else if (reaped) {
			if (shadow_cq) {
				*shadow_cq = head;
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				if (need_event((uint16_t)*ei_cq, (uint16_t)head, old_head)) {
					*q->cq_doorbell = head;
					mmio++;
				}
			} else {
				*q->cq_doorbell = head;
				mmio++;
			}
			old_head = (uint16_t)head;
			if (mode != 1)
				RING_SQ();
		} else {
			now = pn_tsc();
		}
	}
	uint64_t elapsed_ns = pn_tsc_to_ns(now - start), cpu = cpu_ns() - cpu0;

	printf("{\"iops\": %.1f, \"lat_mean_us\": %.2f, \"lat_p999_us\": %.2f, \"cpu_ns_per_io\": %.0f, "
	       "\"ios\": %llu, \"mmio_per_io\": %.3f, \"seconds\": %.3f, \"pacing_hold_ns\": %u}\n",
	       ios * 1e9 / elapsed_ns, pn_tsc_to_ns((uint64_t)pn_hist_mean(&hist)) / 1000.0,
	       pn_tsc_to_ns(pn_hist_percentile(&hist, 99.9)) / 1000.0, ios ? (double)cpu / ios : 0.0,
	       (unsigned long long)ios, ios ? (double)mmio / ios : 0.0, elapsed_ns / 1e9,
	       pn_pacer_kept_ns(&pacer));
	/* the outstanding commands complete into rings freed with the qpair:
	 * a controller reset drops them first */
	pn_ctrl_reset(c);
	pn_qpair_free(qp);
	pn_ctrl_close(c);
	vfio_pci_close(pci);
	return 0;
}
