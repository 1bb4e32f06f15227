/* Software NVMe controller: lifecycle, the register state machine and the
 * polling thread. Queues and completions are in soft_ctrl_queue.c, faults
 * and the host->thread mailbox in soft_ctrl_fault.c, commands in
 * soft_ctrl_admin.c and soft_ctrl_io.c, data pointers in soft_ctrl_dptr.c.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "soft_ctrl_priv.h"
#include "tsc.h"

/* Idle rounds (no command found) before the thread gives way. The first
 * SC_IDLE_PAUSES spin with a pause: a host polling on another core sends
 * its next commands well within them. From there to SC_IDLE_SPINS each
 * round yields the core: a thread waiting for it runs now (above all a
 * polling host on the same core: the controller thread is not pinned
 * unless asked, and the ioworker pins itself, so the scheduler can put the
 * two together, and then each batch of commands waited for this spin to
 * end and the host's time slice after it: ~1.5 ms, 622 IOPS at QD1); with
 * nobody waiting the yield returns at once and this is still a spin, so a
 * host in a tight loop never sees a nap. After SC_IDLE_SPINS the thread
 * naps, so an idle controller does not hold a core of this shared machine. */
#define SC_IDLE_PAUSES 256
#define SC_IDLE_SPINS 20000
#define SC_IDLE_NAP_NS 50000
/* Commands taken from one SQ per visit, so no queue starves the others. */
#define SC_BURST 64

static void set_padded(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, len < n ? len : n);
}

void soft_ctrl_config_default(struct soft_ctrl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nr_ns = 1;
	cfg->ns[0].blocks = (128u << 20) / 512;
	cfg->ns[0].lba_size = 512;
	cfg->mdts = 5;
	cfg->max_queue_entries = 1024;
	cfg->nr_io_queues = 16;
	cfg->nr_vectors = 16;
}

/* ---- registers ---- */

volatile uint32_t *sc_doorbell(struct soft_ctrl *c, uint16_t qid, bool cq)
{
	uint32_t off = cq ? pn_cq_doorbell_offset(qid, c->cfg.dstrd)
			  : pn_sq_doorbell_offset(qid, c->cfg.dstrd);

	return (volatile uint32_t *)(c->bar0 + off);
}

void sc_doorbell_check(struct soft_ctrl *c, uint64_t offset)
{
	uint32_t stride = 4u << c->cfg.dstrd;
	uint64_t index = (offset - 0x1000) / stride;
	uint64_t qid = index / 2;
	bool cq = index & 1;
	bool exists;

	if (!c->enabled || c->fatal)
		return;
	exists = (offset - 0x1000) % stride == 0 && qid <= c->cfg.nr_io_queues &&
		 (cq ? c->cqs[qid].active : c->sqs[qid].active);
	if (exists)
		return;
	/* No queue behind it: the write goes nowhere (NVMe 1.4 §5.2). */
	__atomic_store_n((volatile uint32_t *)(c->bar0 + (offset & ~3ull)), 0, __ATOMIC_RELEASE);
	sc_event_error(c, NVME_AER_ERROR_INVALID_DB_REG);
}

/* Writable bits of the registers a host may write (NVMe 1.4 §3.1.5,
 * §3.1.8-3.1.10); everything else in 0..0xfff is read-only or reserved. */
#define SC_CC_WRITABLE 0x00fffff1u   /* EN, CSS, MPS, AMS, SHN, IOSQES, IOCQES */
#define SC_AQA_WRITABLE 0x0fff0fffu
#define SC_AQB_WRITABLE 0xfffff000u  /* ASQ/ACQ bits 31:12 (63:32 all) */

/* One dword of the register block written: `val` in the bytes of `bytes`
 * (a mask of the bytes the host wrote). reg_lock held. */
static void reg_write32(struct soft_ctrl *c, uint32_t off, uint32_t val, uint32_t bytes)
{
	uint32_t old = sc_reg_read(c, off);
	uint32_t merged = (old & ~bytes) | (val & bytes);

	switch (off) {
	case NVME_REG_INTMS:
		c->intm |= val & bytes;
		break;
	case NVME_REG_INTMC:
		c->intm &= ~(val & bytes);
		break;
	case NVME_REG_CC:
		sc_reg_write(c, off, merged & SC_CC_WRITABLE);
		return;
	case NVME_REG_AQA:
		sc_reg_write(c, off, merged & SC_AQA_WRITABLE);
		return;
	case NVME_REG_ASQ:
	case NVME_REG_ACQ:
		sc_reg_write(c, off, merged & SC_AQB_WRITABLE);
		return;
	case NVME_REG_ASQ + 4:
	case NVME_REG_ACQ + 4:
		sc_reg_write(c, off, merged);
		return;
	default:
		return;  /* read-only or reserved */
	}
	sc_reg_write(c, NVME_REG_INTMS, c->intm);
	sc_reg_write(c, NVME_REG_INTMC, c->intm);
}

int soft_ctrl_bar0_write(struct soft_ctrl *c, uint64_t offset, const void *buf, size_t len)
{
	uint64_t v = 0;

	if ((len != 1 && len != 2 && len != 4 && len != 8) || offset % len ||
	    offset + len > c->bar0_size)
		return -EINVAL;
	if (__atomic_load_n(&c->gone, __ATOMIC_ACQUIRE))
		return 0;
	memcpy(&v, buf, len);
	if (offset >= 0x1000) {
		volatile uint8_t *p = c->bar0 + offset;

		switch (len) {
		case 1: __atomic_store_n(p, (uint8_t)v, __ATOMIC_RELEASE); break;
		case 2: __atomic_store_n((volatile uint16_t *)p, (uint16_t)v, __ATOMIC_RELEASE); break;
		case 4: __atomic_store_n((volatile uint32_t *)p, (uint32_t)v, __ATOMIC_RELEASE); break;
		default: __atomic_store_n((volatile uint64_t *)p, v, __ATOMIC_RELEASE); break;
		}
		/* A hung controller checks nothing (and must not make us wait). */
		if (__atomic_load_n(&c->hung, __ATOMIC_ACQUIRE))
			return 0;
		for (uint64_t o = offset & ~3ull; o < offset + len; o += 4)
			if (sc_mailbox_doorbell(c, o) < 0)
				return 0;  /* the thread stopped answering: nothing to report */
		return 0;
	}
	pthread_mutex_lock(&c->reg_lock);
	for (uint64_t o = offset & ~3ull; o < offset + len; o += 4) {
		/* the bytes of this dword the write covers, and their value */
		uint64_t lo = offset > o ? offset : o, hi = offset + len < o + 4 ? offset + len : o + 4;
		uint32_t bytes = 0, val = 0;

		for (uint64_t b = lo; b < hi; b++) {
			bytes |= 0xffu << 8 * (b - o);
			val |= (uint32_t)((v >> 8 * (b - offset)) & 0xff) << 8 * (b - o);
		}
		reg_write32(c, (uint32_t)o, val, bytes);
	}
	pthread_mutex_unlock(&c->reg_lock);
	return 0;
}

/* Registers at power-on (and after the device came back from all ones). */
void sc_regs_power_on(struct soft_ctrl *c)
{
	memset(c->bar0, 0, c->bar0_size);
	c->intm = 0;
	sc_reg_write(c, NVME_REG_CAP, (uint32_t)c->cap);
	sc_reg_write(c, NVME_REG_CAP + 4, (uint32_t)(c->cap >> 32));
	sc_reg_write(c, NVME_REG_VS, 0x00010400); /* 1.4 */
	c->cc_seen = 0;
}

/* ---- the state machine ---- */

static void ctrl_disable(struct soft_ctrl *c)
{
	sc_drop_all_queues(c);
	sc_features_reset(c);
	c->enabled = false;
	c->fatal = false;
	sc_reg_write(c, NVME_REG_CSTS, 0);
	sc_stat_add(&c->stats.resets, 1);
}

void sc_ctrl_fatal(struct soft_ctrl *c)
{
	c->fatal = true;
	sc_reg_write(c, NVME_REG_CSTS, sc_reg_read(c, NVME_REG_CSTS) | NVME_CSTS_CFS_MASK << NVME_CSTS_CFS_SHIFT);
}

static void ctrl_enable(struct soft_ctrl *c, uint32_t cc)
{
	uint32_t aqa = sc_reg_read(c, NVME_REG_AQA);
	uint64_t asq = sc_reg_read64(c, NVME_REG_ASQ);
	uint64_t acq = sc_reg_read64(c, NVME_REG_ACQ);
	uint32_t sq_size = (aqa & 0xfff) + 1, cq_size = ((aqa >> 16) & 0xfff) + 1;
	uint32_t mps = (cc >> NVME_CC_MPS_SHIFT) & NVME_CC_MPS_MASK;

	/* A setup the spec calls invalid leaves the controller unable to run:
	 * report it as a fatal status, which the host's wait for RDY sees. */
	if (mps > NVME_CAP_MPSMAX(c->cap) || mps < NVME_CAP_MPSMIN(c->cap) ||
	    ((cc >> NVME_CC_CSS_SHIFT) & NVME_CC_CSS_MASK) != NVME_CC_CSS_NVM ||
	    sq_size < 2 || cq_size < 2) {
		sc_ctrl_fatal(c);
		return;
	}
	c->page_shift = 12 + mps;
	c->page_size = 1u << c->page_shift;
	if ((asq | acq) & (c->page_size - 1) || sc_cq_create(c, 0, acq, cq_size, true, 0) ||
	    sc_sq_create(c, 0, asq, sq_size, &c->cqs[0], 0)) {
		sc_drop_all_queues(c);
		sc_ctrl_fatal(c);
		return;
	}
	c->enabled = true;
	c->shut_down = false;
	sc_reg_write(c, NVME_REG_CSTS, NVME_CSTS_RDY_MASK << NVME_CSTS_RDY_SHIFT);
}

static void cc_changed(struct soft_ctrl *c, uint32_t cc)
{
	uint32_t old = c->cc_seen;
	bool en = cc & 1, was_en = old & 1;
	uint32_t shn = (cc >> NVME_CC_SHN_SHIFT) & NVME_CC_SHN_MASK;
	uint32_t old_shn = (old >> NVME_CC_SHN_SHIFT) & NVME_CC_SHN_MASK;

	__atomic_store_n(&c->cc_seen, cc, __ATOMIC_RELEASE);  /* soft_ctrl_cc_sync() */
	if (was_en && !en) {
		ctrl_disable(c);
		return;
	}
	if (!was_en && en && !c->fatal)
		ctrl_enable(c, cc);
	if (shn && !old_shn) {
		/* Nothing to flush: the RAM store is the media. The controller
		 * stops fetching until it is reset. */
		uint32_t csts = sc_reg_read(c, NVME_REG_CSTS);

		csts &= ~(NVME_CSTS_SHST_MASK << NVME_CSTS_SHST_SHIFT);
		csts |= NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT;
		sc_reg_write(c, NVME_REG_CSTS, csts);
		c->shut_down = true;
		sc_drop_all_queues(c);
		c->enabled = false;
	}
}

/* ---- the thread ---- */

/* Takes up to SC_BURST commands from one SQ. Returns how many. */
static uint32_t sq_process(struct soft_ctrl *c, struct sc_sq *sq)
{
	uint32_t tail = __atomic_load_n(sq->tail_db, __ATOMIC_ACQUIRE);
	struct sc_cq *cq = sq->cq;
	uint32_t n = 0;

	if (__builtin_expect(tail >= sq->size, 0)) {
		/* An invalid doorbell write (NVMe 1.4 §5.2, Figure 147): the write
		 * is ignored (the last valid tail goes back, unless the host wrote
		 * again meanwhile) and reported as an Error event. */
		__atomic_compare_exchange_n(sq->tail_db, &tail, sq->tail, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
		sc_event_error(c, NVME_AER_ERROR_INVALID_DB_VAL);
		return 0;
	}
	if (tail == sq->head)
		return 0;
	sq->tail = tail;
	while (sq->head != tail && n < SC_BURST && sc_cq_has_room(cq)) {
		struct pn_sqe sqe = sq->ring[sq->head];
		uint32_t status;
		uint32_t dw0 = 0;

		if (++sq->head == sq->size)
			sq->head = 0;
		n++;
		if (sq->qid != SC_ADMIN_QID) {
			status = sc_io_cmd(c, &sqe);
		} else {
			status = sc_admin_cmd(c, &sqe, &dw0);
			if (!sq->active || !c->enabled || c->fatal)
				break;  /* deleted itself, or the controller died */
		}
		if (status != SC_NO_COMPLETION)
			sc_complete(c, sq, &sqe, (uint16_t)status, dw0);
	}
	sc_stat_add(sq->qid != SC_ADMIN_QID ? &c->stats.io_commands : &c->stats.admin_commands, n);
	if (sq->active && cq->irq_pending)
		sc_irq_flush(c, cq);
	return n;
}

static void nap(void)
{
	struct timespec ts = {0, SC_IDLE_NAP_NS};

	nanosleep(&ts, NULL);
}

static void *ctrl_thread(void *arg)
{
	struct soft_ctrl *c = arg;
	uint32_t idle = 0;
	uint64_t busy_start = 0;

	while (!__atomic_load_n(&c->quit, __ATOMIC_ACQUIRE)) {
		uint64_t seq = __atomic_load_n(&c->mbox_seq, __ATOMIC_ACQUIRE);
		uint32_t work = 0;
		/* Read the clock only while idle, where it costs nothing. */
		uint64_t round_start = busy_start ? 0 : pn_tsc();

		if (seq != c->mbox_seen)
			sc_mailbox_handle(c, seq);
		if (c->hung || c->gone) {
			nap();
			continue;
		}
		uint32_t cc = sc_reg_read(c, NVME_REG_CC);

		if (cc != c->cc_seen)
			cc_changed(c, cc);
		if (c->enabled && !c->fatal) {
			for (uint32_t i = 0; i < c->nr_active_sqs; i++)
				work += sq_process(c, c->active_sqs[i]);
			if (c->nr_delayed)
				work += sc_delayed_process(c);
		}
		if (work) {
			idle = 0;
			if (!busy_start)
				busy_start = round_start;
			continue;
		}
		if (busy_start) {
			sc_stat_add(&c->busy_tsc, pn_tsc() - busy_start);
			busy_start = 0;
		}
		if (++idle <= SC_IDLE_PAUSES || c->cfg.never_sleep) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		} else if (idle <= SC_IDLE_SPINS) {
			sched_yield();
		} else {
			nap();
		}
	}
	return NULL;
}

/* ---- lifecycle ---- */

static int config_check(const struct soft_ctrl_config *cfg)
{
	if (!cfg->iova_to_vaddr || cfg->nr_ns < 1 || cfg->nr_ns > SOFT_CTRL_MAX_NS ||
	    cfg->max_queue_entries < 2 || cfg->max_queue_entries > 65536 ||
	    cfg->nr_io_queues < 1 || cfg->nr_io_queues > SOFT_CTRL_MAX_IO_QUEUES ||
	    cfg->nr_vectors < 1 || cfg->nr_vectors > 2048 || cfg->dstrd > 8 || cfg->mdts > 16)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nr_ns; i++) {
		uint32_t l = cfg->ns[i].lba_size;

		if (!cfg->ns[i].blocks || l < 512 || l > 4096 || (l & (l - 1)))
			return -EINVAL;
	}
	return 0;
}

/* Frees what soft_ctrl_create() allocated (its thread is not running):
 * after a failed create as after soft_ctrl_destroy(). */
static void free_controller(struct soft_ctrl *c)
{
	for (unsigned i = 0; i < c->cfg.nr_ns; i++)
		sc_ns_fini(c, i);
	free(c->segs);
	free(c->feat.irq_config);
	free(c->scratch);
	free(c->active_sqs);
	free(c->cqs);
	free(c->sqs);
	free(c->bar0);
	pthread_mutex_destroy(&c->mbox_lock);
	pthread_mutex_destroy(&c->forget_lock);
	pthread_mutex_destroy(&c->reg_lock);
	free(c);
}

int soft_ctrl_create(const struct soft_ctrl_config *cfg, struct soft_ctrl **out)
{
	struct soft_ctrl *c;
	pthread_attr_t attr;
	size_t db_end;
	uint64_t max_blocks_bytes = 0;
	int rc = config_check(cfg);

	if (rc)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	set_padded(c->serial, 20, cfg->serial ? cfg->serial : "SOFTCTRL0001");
	set_padded(c->model, 40, cfg->model ? cfg->model : "pynvme software controller");
	c->serial[20] = c->model[40] = 0;
	c->cfg.serial = c->serial;
	c->cfg.model = c->model;
	c->mbox_hang = c->mbox_gone = -1;
	c->power_cycles = 1;      /* powered on once, when created */
	c->shut_down = true;      /* never enabled: nothing at risk yet */
	pthread_mutex_init(&c->mbox_lock, NULL);
	pthread_mutex_init(&c->forget_lock, NULL);
	pthread_mutex_init(&c->reg_lock, NULL);

	/* NVMe 1.4 §2.1.10: MLBAR bits 13:4 are reserved, so BAR0 is at least
	 * 16 KiB, and it holds every doorbell. */
	db_end = pn_cq_doorbell_offset(cfg->nr_io_queues, cfg->dstrd) + 4;
	c->bar0_size = (db_end + 4095) & ~(size_t)4095;
	if (c->bar0_size < 16384)
		c->bar0_size = 16384;
	c->bar0 = aligned_alloc(4096, c->bar0_size);
	c->sqs = calloc(cfg->nr_io_queues + 1u, sizeof(*c->sqs));
	c->cqs = calloc(cfg->nr_io_queues + 1u, sizeof(*c->cqs));
	c->active_sqs = calloc(cfg->nr_io_queues + 1u, sizeof(*c->active_sqs));
	c->scratch = aligned_alloc(4096, 4096);
	c->feat.irq_config = calloc(cfg->nr_vectors, 1);
	if (!c->bar0 || !c->sqs || !c->cqs || !c->active_sqs || !c->scratch || !c->feat.irq_config) {
		rc = -ENOMEM;
		goto fail;
	}
	c->regs = (volatile uint32_t *)c->bar0;

	/* CAP: MQES, CQR (contiguous queues only), TO 2 s, DSTRD, CSS NVM,
	 * MPSMIN 4 KiB, MPSMAX 64 KiB. */
	c->cap = (uint64_t)(cfg->max_queue_entries - 1) | 1ull << NVME_CAP_CQR_SHIFT |
		 4ull << NVME_CAP_TO_SHIFT | (uint64_t)cfg->dstrd << NVME_CAP_DSTRD_SHIFT |
		 1ull << NVME_CAP_CSS_SHIFT | 0ull << NVME_CAP_MPSMIN_SHIFT |
		 4ull << NVME_CAP_MPSMAX_SHIFT;
	for (unsigned i = 0; i < cfg->nr_ns; i++) {
		uint64_t b = cfg->ns[i].blocks * cfg->ns[i].lba_size;

		if (b > max_blocks_bytes)
			max_blocks_bytes = b;
		rc = sc_ns_init(c, i);
		if (rc)
			goto fail;
	}
	/* One segment per 4 KiB page of the largest transfer, plus the head. */
	c->max_xfer = cfg->mdts ? 4096ull << cfg->mdts : 65536ull * 4096;
	c->max_segs = (uint32_t)(c->max_xfer / 4096 + 2);
	c->segs = calloc(c->max_segs, sizeof(*c->segs));
	if (!c->segs) {
		rc = -ENOMEM;
		goto fail;
	}
	if (!cfg->mdts)
		c->max_xfer = UINT64_MAX;
	sc_features_reset(c);
	sc_regs_power_on(c);
	pn_tsc_hz();   /* calibrate here, not in the first stats call */
	rc = -pthread_attr_init(&attr);
	if (rc)
		goto fail;
	if (cfg->pin_cpu) {
		cpu_set_t set;

		CPU_ZERO(&set);
		if (cfg->cpu >= CPU_SETSIZE) {
			pthread_attr_destroy(&attr);
			rc = -EINVAL;
			goto fail;
		}
		CPU_SET(cfg->cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	rc = -pthread_create(&c->thread, &attr, ctrl_thread, c);
	pthread_attr_destroy(&attr);
	if (rc)
		goto fail;
	pthread_setname_np(c->thread, "soft_ctrl");   /* for top and perf */
	*out = c;
	return 0;
fail:
	free_controller(c);
	return rc;
}

void soft_ctrl_destroy(struct soft_ctrl *c)
{
	if (!c)
		return;
	__atomic_store_n(&c->quit, 1, __ATOMIC_RELEASE);
	pthread_join(c->thread, NULL);
	free_controller(c);
}

volatile void *soft_ctrl_bar0(struct soft_ctrl *c)
{
	return c->bar0;
}

size_t soft_ctrl_bar0_size(const struct soft_ctrl *c)
{
	return c->bar0_size;
}

void soft_ctrl_get_stats(struct soft_ctrl *c, struct soft_ctrl_stats *out)
{
	out->admin_commands = __atomic_load_n(&c->stats.admin_commands, __ATOMIC_RELAXED);
	out->io_commands = __atomic_load_n(&c->stats.io_commands, __ATOMIC_RELAXED);
	out->completions = __atomic_load_n(&c->stats.completions, __ATOMIC_RELAXED);
	out->resets = __atomic_load_n(&c->stats.resets, __ATOMIC_RELAXED);
	out->faults_fired = __atomic_load_n(&c->stats.faults_fired, __ATOMIC_RELAXED);
	out->irqs = __atomic_load_n(&c->stats.irqs, __ATOMIC_RELAXED);
	/* Its CPU time, not wall time, is the controller's cost: on a busy
	 * machine the thread shares a core with others. */
	clockid_t clock;
	struct timespec ts;

	out->busy_ns = pn_tsc_to_ns(__atomic_load_n(&c->busy_tsc, __ATOMIC_RELAXED));
	out->thread_cpu_ns = 0;
	if (pthread_getcpuclockid(c->thread, &clock) == 0 && clock_gettime(clock, &ts) == 0)
		out->thread_cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int soft_ctrl_cc_sync(struct soft_ctrl *c)
{
	uint32_t cc = sc_reg_read(c, NVME_REG_CC);
	uint64_t deadline = pn_monotonic_ns() + 5000000000ull;

	while (__atomic_load_n(&c->cc_seen, __ATOMIC_ACQUIRE) != cc) {
		if (__atomic_load_n(&c->hung, __ATOMIC_ACQUIRE) || __atomic_load_n(&c->gone, __ATOMIC_ACQUIRE))
			return 0;  /* it will see the value when it runs again */
		if (pn_monotonic_ns() > deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}
