/* Software NVMe controller: injected faults (applied when a completion is
 * posted), delayed completions, and the mailbox through which host threads
 * reach the controller thread (faults, fault states, async events).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "soft_ctrl_priv.h"

#define SC_MBOX_TIMEOUT_NS (5ull * 1000000000ull)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct sc_armed_fault *fault_match(struct soft_ctrl *c, uint16_t sqid, uint8_t opc)
{
	for (uint32_t i = 0; i < c->nr_faults; i++) {
		struct sc_armed_fault *a = &c->faults[i];

		if ((a->f.sqid < 0 || a->f.sqid == sqid) && (a->f.opcode < 0 || a->f.opcode == opc))
			return a;
	}
	return NULL;
}

static void fault_used(struct soft_ctrl *c, struct sc_armed_fault *a)
{
	sc_stat_add(&c->stats.faults_fired, 1);
	if (--a->left == 0)
		*a = c->faults[--c->nr_faults];
}

/* The rare path of sc_complete(): a fault may apply. */
void sc_complete_faulty(struct soft_ctrl *c, struct sc_cq *cq, struct pn_cqe *e, uint8_t opc)
{
	struct sc_armed_fault *a = fault_match(c, e->sqid, opc);
	enum soft_ctrl_fault_kind kind;

	if (!a) {
		sc_cq_post(c, cq, e, false);
		return;
	}
	kind = a->f.kind;
	switch (kind) {
	case SOFT_CTRL_FAULT_DELAY:
		if (c->nr_delayed == SC_MAX_DELAYED) {
			sc_cq_post(c, cq, e, false);
			return;  /* not used up: the next command gets it */
		}
		c->delayed[c->nr_delayed].cqe = *e;
		c->delayed[c->nr_delayed].cq = cq;
		c->delayed[c->nr_delayed].due_ns = now_ns() + (uint64_t)a->f.delay_us * 1000;
		c->nr_delayed++;
		cq->reserved++;
		break;
	case SOFT_CTRL_FAULT_DROP:
		break;
	case SOFT_CTRL_FAULT_DUPLICATE:
		sc_cq_post(c, cq, e, false);
		if (sc_cq_has_room(cq))
			sc_cq_post(c, cq, e, false);
		break;
	case SOFT_CTRL_FAULT_WRONG_CID:
		e->cid ^= a->f.cid_xor ? a->f.cid_xor : 0x8000;
		sc_cq_post(c, cq, e, false);
		break;
	case SOFT_CTRL_FAULT_STALE_PHASE:
		sc_cq_post(c, cq, e, true);
		break;
	}
	fault_used(c, a);
}

void sc_delayed_drop(struct soft_ctrl *c, uint32_t i)
{
	c->delayed[i].cq->reserved--;
	c->delayed[i] = c->delayed[--c->nr_delayed];
}

int sc_delayed_abort(struct soft_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status)
{
	for (uint32_t i = 0; i < c->nr_delayed; i++) {
		struct sc_delayed *d = &c->delayed[i];

		if (d->cqe.sqid == sqid && d->cqe.cid == cid) {
			struct sc_cq *cq = d->cq;
			struct pn_cqe e = d->cqe;

			e.status = status;
			sc_delayed_drop(c, i);
			if (sc_cq_has_room(cq))
				sc_cq_post(c, cq, &e, false);
			if (cq->irq_pending)
				sc_irq_flush(c, cq);
			return 1;
		}
	}
	return 0;
}

bool sc_delayed_process(struct soft_ctrl *c)
{
	uint64_t now = now_ns();
	bool posted = false;

	for (uint32_t i = 0; i < c->nr_delayed;) {
		struct sc_delayed *d = &c->delayed[i];
		struct sc_cq *cq = d->cq;

		if (d->due_ns > now) {
			i++;
			continue;
		}
		struct pn_cqe e = d->cqe;

		cq->reserved--;
		if (!sc_cq_has_room(cq)) {
			cq->reserved++;
			i++;
			continue;
		}
		c->delayed[i] = c->delayed[--c->nr_delayed];
		sc_cq_post(c, cq, &e, false);
		if (cq->irq_pending)
			sc_irq_flush(c, cq);
		posted = true;
	}
	return posted;
}

void sc_mailbox_handle(struct soft_ctrl *c, uint64_t seq)
{
	pthread_mutex_lock(&c->mbox_lock);
	if (c->mbox_clear_faults)
		c->nr_faults = 0;
	c->mbox_clear_faults = false;
	for (uint32_t i = 0; i < c->mbox_nr_faults && c->nr_faults < SOFT_CTRL_MAX_FAULTS; i++) {
		c->faults[c->nr_faults].f = c->mbox_faults[i];
		c->faults[c->nr_faults].left = c->mbox_faults[i].count ? c->mbox_faults[i].count : 1;
		c->nr_faults++;
	}
	c->mbox_nr_faults = 0;
	for (uint32_t i = 0; i < c->mbox_nr_events && c->event_count < SC_MAX_EVENTS; i++)
		c->events[c->event_count++] = c->mbox_events[i];
	c->mbox_nr_events = 0;
	if (c->mbox_hang >= 0)
		c->hung = c->mbox_hang;
	c->mbox_hang = -1;
	if (c->mbox_fatal && !c->gone)
		sc_ctrl_fatal(c);
	c->mbox_fatal = false;
	if (c->mbox_gone >= 0 && c->mbox_gone != c->gone) {
		c->gone = c->mbox_gone;
		if (c->gone && !c->shut_down)
			c->unsafe_shutdowns++;
		if (!c->gone)
			c->power_cycles++;
		sc_drop_all_queues(c);
		c->enabled = false;
		c->fatal = false;
		if (c->gone)
			memset(c->bar0, 0xff, c->bar0_size);
		else
			sc_regs_power_on(c);
	}
	c->mbox_gone = -1;
	if (c->mbox_forget_len)
		sc_forget_memory(c, c->mbox_forget_vaddr, c->mbox_forget_len);
	c->mbox_forget_len = 0;
	uint64_t db_offset = c->mbox_db_offset;

	c->mbox_db_offset = 0;
	pthread_mutex_unlock(&c->mbox_lock);
	if (db_offset && !c->gone)
		sc_doorbell_check(c, db_offset);   /* before the ack: the host waits for it */
	c->mbox_seen = seq;
	__atomic_store_n(&c->mbox_ack, seq, __ATOMIC_RELEASE);
	sc_events_flush(c);
}

/* Host side: publishes the request made under the lock, waits for the
 * thread to take it. Called with mbox_lock held; releases it. */
static int mailbox_post_unlock(struct soft_ctrl *c)
{
	uint64_t seq = __atomic_add_fetch(&c->mbox_seq, 1, __ATOMIC_ACQ_REL);
	uint64_t deadline = now_ns() + SC_MBOX_TIMEOUT_NS;

	pthread_mutex_unlock(&c->mbox_lock);
	while (__atomic_load_n(&c->mbox_ack, __ATOMIC_ACQUIRE) < seq) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

int soft_ctrl_inject(struct soft_ctrl *c, const struct soft_ctrl_fault *fault)
{
	if (fault->kind < SOFT_CTRL_FAULT_DELAY || fault->kind > SOFT_CTRL_FAULT_STALE_PHASE)
		return -EINVAL;
	pthread_mutex_lock(&c->mbox_lock);
	if (c->mbox_nr_faults == SOFT_CTRL_MAX_FAULTS) {
		pthread_mutex_unlock(&c->mbox_lock);
		return -ENOSPC;
	}
	c->mbox_faults[c->mbox_nr_faults++] = *fault;
	return mailbox_post_unlock(c);
}

int soft_ctrl_inject_clear(struct soft_ctrl *c)
{
	pthread_mutex_lock(&c->mbox_lock);
	c->mbox_clear_faults = true;
	c->mbox_nr_faults = 0;
	return mailbox_post_unlock(c);
}

int soft_ctrl_fault_fatal(struct soft_ctrl *c)
{
	pthread_mutex_lock(&c->mbox_lock);
	c->mbox_fatal = true;
	return mailbox_post_unlock(c);
}

int soft_ctrl_fault_hang(struct soft_ctrl *c, bool hang)
{
	pthread_mutex_lock(&c->mbox_lock);
	c->mbox_hang = hang;
	return mailbox_post_unlock(c);
}

int soft_ctrl_fault_all_ones(struct soft_ctrl *c, bool gone)
{
	pthread_mutex_lock(&c->mbox_lock);
	c->mbox_gone = gone;
	return mailbox_post_unlock(c);
}

int soft_ctrl_async_event(struct soft_ctrl *c, uint32_t dw0)
{
	pthread_mutex_lock(&c->mbox_lock);
	if (c->mbox_nr_events == SC_MAX_EVENTS) {
		pthread_mutex_unlock(&c->mbox_lock);
		return -ENOSPC;
	}
	c->mbox_events[c->mbox_nr_events++] = dw0;
	return mailbox_post_unlock(c);
}

int soft_ctrl_forget_memory(struct soft_ctrl *c, const void *vaddr, size_t len)
{
	int rc;

	if (!len)
		return 0;
	pthread_mutex_lock(&c->forget_lock);
	pthread_mutex_lock(&c->mbox_lock);
	c->mbox_forget_vaddr = vaddr;
	c->mbox_forget_len = len;
	rc = mailbox_post_unlock(c);
	pthread_mutex_unlock(&c->forget_lock);
	return rc;
}

int sc_mailbox_doorbell(struct soft_ctrl *c, uint64_t offset)
{
	pthread_mutex_lock(&c->mbox_lock);
	c->mbox_db_offset = offset;
	return mailbox_post_unlock(c);
}
