/* The NVMe controller (see controller.h). */
#include "controller.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "error.h"
#include "tsc.h"

#define HEALTH_CHECK_NS 50000000ull  /* CSTS read at most every 50 ms while waiting */
#define MAX_VECTORS MAX_IRQ_VECTORS

const char *pn_status_text(uint16_t status, char *buf)
{
	snprintf(buf, 8, "%02x/%02x", pn_status_sct(status), pn_status_sc(status));
	return buf;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = {0, (long)us * 1000};

	nanosleep(&ts, NULL);
}

static size_t page_round(size_t bytes)
{
	return (bytes + 4095) & ~(size_t)4095;
}

/* ---- registers ------------------------------------------------------- */

int pn_ctrl_read32(struct pn_ctrl *c, uint32_t offset, uint32_t *value)
{
	int rc = pn_bar_read(c->tr, 0, offset, value, 4);

	if (rc < 0)
		*value = 0xffffffff;
	return rc;
}

int pn_ctrl_write32(struct pn_ctrl *c, uint32_t offset, uint32_t value)
{
	return pn_bar_write(c->tr, 0, offset, &value, 4);
}

int pn_ctrl_read64(struct pn_ctrl *c, uint32_t offset, uint64_t *value)
{
	uint32_t lo, hi;
	int rc = pn_ctrl_read32(c, offset, &lo);

	if (!rc)
		rc = pn_ctrl_read32(c, offset + 4, &hi);
	*value = rc ? ~0ull : ((uint64_t)hi << 32 | lo);
	return rc;
}

int pn_ctrl_write64(struct pn_ctrl *c, uint32_t offset, uint64_t value)
{
	/* low dword first: the spec allows two 32-bit writes for 64-bit registers */
	int rc = pn_ctrl_write32(c, offset, (uint32_t)value);

	return rc ? rc : pn_ctrl_write32(c, offset + 4, (uint32_t)(value >> 32));
}

/* ---- health ---------------------------------------------------------- */

static bool is_failed(const struct pn_ctrl *c)
{
	return __atomic_load_n(&c->failed, __ATOMIC_ACQUIRE) != 0;
}

static uint32_t generation(const struct pn_ctrl *c)
{
	return __atomic_load_n(&c->generation, __ATOMIC_ACQUIRE);
}

static void bump_generation(struct pn_ctrl *c)
{
	__atomic_add_fetch(&c->generation, 1, __ATOMIC_RELEASE);
}

/* The device stopped answering: every admin command gets a synthesized
 * completion; IO qpairs see `failed` on their owner's next call. */
static void mark_failed(struct pn_ctrl *c, const char *why)
{
	pthread_mutex_lock(&c->admin_lock);
	if (!is_failed(c)) {
		snprintf(c->fail_reason, sizeof(c->fail_reason), "%s", why);
		__atomic_store_n(&c->failed, 1, __ATOMIC_RELEASE);
		if (c->adminq_ready)
			pn_queue_fail_all(&c->adminq, true);
		c->aer_outstanding = 0;
	}
	pthread_mutex_unlock(&c->admin_lock);
}

int pn_ctrl_check_health(struct pn_ctrl *c)
{
	uint32_t csts;

	c->last_health_tsc = pn_tsc();
	if (is_failed(c))
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	if (pn_transport_removed(c->tr)) {
		/* before CSTS, which reads all ones too: the reason says more */
		mark_failed(c, pn_transport_removed(c->tr));
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	}
	pn_ctrl_read32(c, NVME_REG_CSTS, &csts);
	if (csts == 0xffffffff) {
		mark_failed(c, "registers read all ones (device removed or not decoding)");
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	}
	if (csts & (1u << 1)) {
		mark_failed(c, "controller fatal status (CSTS.CFS=1)");
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	}
	if (!(csts & 1)) {
		/* Someone waits for completions from a controller that is not
		 * ready: disabled behind the driver's back, reset, or without
		 * power (QEMU then reads zeroes, not ones). Nothing outstanding
		 * can complete any more. */
		mark_failed(c, "controller not ready (CSTS.RDY=0: disabled, reset or without power); "
			    "re-initialise it");
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	}
	return 0;
}

int pn_ctrl_mmio_ok(struct pn_ctrl *c)
{
	uint16_t cmd = 0, pmcsr = 0;

	if (pn_transport_removed(c->tr))
		return pn_ctrl_check_health(c);
	if (pn_cfg_read(c->tr, PCI_COMMAND, &cmd, 2) < 0)
		return -ENODEV;
	if (cmd == 0xffff)
		return pn_fail(ENODEV, "%s: config space reads all ones (device gone)", c->name);
	if (!(cmd & PCI_COMMAND_MEMORY))
		return pn_fail(ENODEV, "%s: memory decoding is off (PCI command register 0x%x)",
			       c->name, cmd);
	if (c->pm_cap > 0 && pn_cfg_read(c->tr, (uint32_t)c->pm_cap + PCI_PM_CTRL, &pmcsr, 2) == 0 &&
	    (pmcsr & PCI_PM_CTRL_STATE_MASK))
		return pn_fail(ENODEV, "%s: the function is in D%u, not D0", c->name,
			       pmcsr & PCI_PM_CTRL_STATE_MASK);
	return 0;
}

/* ---- interrupts ------------------------------------------------------ */

static void irq_teardown(struct pn_ctrl *c)
{
	if (c->nvec)
		c->tr->ops->msix_enable(c->tr, 0, NULL);
	if (c->intx_fd >= 0)
		c->tr->ops->intx_enable(c->tr, -1);
	for (int i = 0; i < c->nvec; i++)
		close(c->eventfds[i]);
	if (c->intx_fd >= 0)
		close(c->intx_fd);
	free(c->eventfds);
	c->eventfds = NULL;
	c->nvec = 0;
	c->intx_fd = -1;
}

/* Interrupts are a convenience for waiting (completions are polled), so a
 * failure here is not fatal: the controller works without them. */
static void irq_setup(struct pn_ctrl *c)
{
	int count = c->tr->ops->irq_count(c->tr, PN_IRQ_MSIX);

	irq_teardown(c);
	c->tr_reset_count = c->tr->ops->reset_count(c->tr);
	if (count > MAX_VECTORS)
		count = MAX_VECTORS;
	if (count > 0) {
		c->eventfds = calloc((size_t)count, sizeof(int));
		if (!c->eventfds)
			return;
		for (int i = 0; i < count; i++) {
			c->eventfds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (c->eventfds[i] < 0) {
				while (i--)
					close(c->eventfds[i]);
				free(c->eventfds);
				c->eventfds = NULL;
				return;
			}
		}
		if (c->tr->ops->msix_enable(c->tr, count, c->eventfds) == 0) {
			c->nvec = count;
			return;
		}
		for (int i = 0; i < count; i++)
			close(c->eventfds[i]);
		free(c->eventfds);
		c->eventfds = NULL;
		pn_clear_error();
	}
	if (c->tr->ops->irq_count(c->tr, PN_IRQ_INTX) > 0) {
		c->intx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (c->intx_fd >= 0 && c->tr->ops->intx_enable(c->tr, c->intx_fd) < 0) {
			close(c->intx_fd);
			c->intx_fd = -1;
			pn_clear_error();
		}
	}
}

int pn_ctrl_vector_fd(struct pn_ctrl *c, unsigned vector)
{
	if (c->nvec)
		return vector < (unsigned)c->nvec ? c->eventfds[vector] : -1;
	return vector == 0 ? c->intx_fd : -1;
}

int pn_ctrl_irq_wait(struct pn_ctrl *c, unsigned vector, unsigned timeout_us)
{
	int fd = pn_ctrl_vector_fd(c, vector);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct timespec ts = {timeout_us / 1000000, (long)(timeout_us % 1000000) * 1000};
	uint64_t count;

	if (fd < 0)
		return -ENODEV;
	if (ppoll(&pfd, 1, &ts, NULL) <= 0)
		return 0;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return 0;
	c->irq_seen[vector] = 1;
	if (!c->nvec)
		c->tr->ops->intx_unmask(c->tr); /* VFIO masks INTx when it fires */
	return 1;
}

bool pn_ctrl_irq_isset(struct pn_ctrl *c, unsigned vector)
{
	int fd = pn_ctrl_vector_fd(c, vector);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (fd < 0)
		return false;
	return c->irq_seen[vector] || poll(&pfd, 1, 0) > 0;
}

void pn_ctrl_irq_clear(struct pn_ctrl *c, unsigned vector)
{
	int fd = pn_ctrl_vector_fd(c, vector);
	uint64_t count;

	if (fd < 0)
		return;
	if (read(fd, &count, sizeof(count)) == sizeof(count) && !c->nvec)
		c->tr->ops->intx_unmask(c->tr);
	c->irq_seen[vector] = 0;
}

int pn_ctrl_msix_mask(struct pn_ctrl *c, unsigned vector, bool mask)
{
	if (!c->nvec)
		return pn_fail(ENOTSUP, "%s: MSI-X is not enabled", c->name);
	if (vector >= (unsigned)c->nvec)
		return pn_fail(EINVAL, "%s: MSI-X vector %u outside 0..%d", c->name, vector, c->nvec - 1);
	return c->tr->ops->msix_mask(c->tr, vector, mask);
}

/* ---- open / close ---------------------------------------------------- */

static int alloc_admin_mem(struct pn_ctrl *c)
{
	size_t bytes = page_round(PN_ADMIN_DEPTH * sizeof(struct pn_sqe)) +
		       page_round(PN_ADMIN_DEPTH * sizeof(struct pn_cqe)) +
		       (size_t)(PN_ADMIN_DEPTH - 1) * c->page_size;
	int rc = dma_alloc(bytes, &c->admin_mem);

	return rc < 0 ? rc : dma_alloc(4096, &c->scratch);
}

int pn_ctrl_open(struct pn_transport *tr, struct pn_ctrl **out)
{
	struct pn_ctrl *c = calloc(1, sizeof(*c));
	pthread_mutexattr_t attr;
	volatile void *bar;
	int rc;

	if (!c)
		return pn_fail(ENOMEM, "%s: no memory for the controller", tr->addr);
	c->tr = tr;
	c->intx_fd = -1;
	snprintf(c->name, sizeof(c->name), "%s", tr->addr);
	c->timeout_ms = PN_DEFAULT_TIMEOUT_MS;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->admin_lock, &attr);
	pthread_mutexattr_destroy(&attr);

	rc = tr->ops->bar_map(tr, 0, &bar, &c->bar0_size);
	if (rc < 0)
		goto fail;
	c->bar0 = bar;
	c->pm_cap = tr->ops->cap_offset(tr, PCI_CAP_ID_PM, false);
	pn_clear_error();
	rc = pn_ctrl_read64(c, NVME_REG_CAP, &c->cap);
	if (rc < 0)
		goto fail;
	if (c->cap == ~0ull) {
		rc = pn_fail(ENODEV, "%s: CAP reads all ones: the function does not answer", c->name);
		goto fail;
	}
	c->dstrd = (uint32_t)NVME_CAP_DSTRD(c->cap);
	c->mqes = (uint32_t)NVME_CAP_MQES(c->cap) + 1;
	if (NVME_CAP_MPSMIN(c->cap) > 9) {
		/* per-slot PRP list pages of that size would not fit in memory */
		rc = pn_fail(ENOTSUP, "%s: CAP.MPSMIN %u asks for memory pages of %llu bytes; the "
			     "driver supports up to 2 MiB", c->name, (unsigned)NVME_CAP_MPSMIN(c->cap),
			     4096ull << NVME_CAP_MPSMIN(c->cap));
		goto fail;
	}
	c->page_size = 1u << (12 + NVME_CAP_MPSMIN(c->cap));
	if (c->page_size < 4096)
		c->page_size = 4096;
	if (pn_cq_doorbell_offset(65535, c->dstrd) + 4 > c->bar0_size && c->bar0_size < 0x2000) {
		rc = pn_fail(ENODEV, "%s: BAR0 is only %llu bytes", c->name,
			     (unsigned long long)c->bar0_size);
		goto fail;
	}
	c->mdts_bytes = PN_MAX_TRANSFER;
	rc = alloc_admin_mem(c);
	if (rc < 0)
		goto fail;
	irq_setup(c);
	*out = c;
	return 0;
fail:
	pn_ctrl_close(c);
	return rc;
}

void pn_ctrl_begin_close(struct pn_ctrl *c)
{
	c->closing = true;
}

void pn_ctrl_close(struct pn_ctrl *c)
{
	if (!c)
		return;
	if (c->adminq_ready) {
		pthread_mutex_lock(&c->admin_lock);
		pn_queue_fail_all(&c->adminq, true);
		pthread_mutex_unlock(&c->admin_lock);
	}
	/* Stop the controller using our memory before it is freed and reused:
	 * a late AER completion must not land in someone else's buffer. */
	if (c->bar0 && !is_failed(c))
		pn_ctrl_disable(c);
	pn_clear_error();
	irq_teardown(c);
	if (c->adminq_ready)
		pn_queue_fini(&c->adminq);
	dma_free(c->admin_mem);
	dma_free(c->scratch);
	pthread_mutex_destroy(&c->admin_lock);
	free(c);
}

/* ---- enable / disable ------------------------------------------------ */

static int wait_ready(struct pn_ctrl *c, uint32_t want)
{
	/* CAP.TO is in 500 ms units; give at least 1 s for emulated devices */
	uint64_t limit_ms = NVME_CAP_TO(c->cap) * 500ull;
	uint64_t start = pn_monotonic_ns();
	uint32_t csts;

	if (limit_ms < 1000)
		limit_ms = 1000;
	for (;;) {
		pn_ctrl_read32(c, NVME_REG_CSTS, &csts);
		if (csts == 0xffffffff)
			return pn_fail(ENODEV, "%s: CSTS reads all ones while waiting for RDY=%u",
				       c->name, want);
		if ((csts & 1) == want)
			return 0;
		if (want && (csts & 2))
			return pn_fail(EIO, "%s: controller fatal status while enabling (CSTS 0x%x)",
				       c->name, csts);
		if (pn_monotonic_ns() - start > limit_ms * 1000000ull)
			return pn_fail(ETIMEDOUT, "%s: CSTS.RDY did not become %u within CAP.TO (%llu ms)",
				       c->name, want, (unsigned long long)limit_ms);
		sleep_us(1000);
	}
}

/* Deletes the IO queues the device still has (SQ, then CQ) while the admin
 * queue works, so a reset does not pull live queues from under commands in
 * flight: the order the Linux driver uses for a live controller, and what
 * keeps drives that assume stopped queues (and QEMU 7.2, which can crash
 * when CC.EN is cleared under in-flight IO) safe. Errors are ignored: the
 * reset that follows removes the queues anyway. */
static void delete_io_queues(struct pn_ctrl *c)
{
	uint32_t gen = generation(c);
	uint32_t saved_timeout = c->timeout_ms;

	if (is_failed(c) || !c->adminq_ready || c->adminq.dead || pn_ctrl_mmio_ok(c) < 0) {
		pn_clear_error();
		return;
	}
	pthread_mutex_lock(&c->admin_lock);
	/* a controller in trouble must not hold the reset up for long */
	pn_queue_set_timeout(&c->adminq, saved_timeout && saved_timeout < 2000 ? saved_timeout : 2000);
	for (struct pn_qpair *qp = c->qpairs; qp; qp = qp->next) {
		struct pn_sqe sq = {.opc = nvme_admin_delete_sq, .cdw10 = qp->qid};
		struct pn_sqe cq = {.opc = nvme_admin_delete_cq, .cdw10 = qp->qid};

		if (qp->generation != gen || qp->deleted || qp->q.dead)
			continue;
		if (pn_ctrl_admin_sync(c, &sq, 0, 0, NULL) == -ENODEV ||
		    pn_ctrl_admin_sync(c, &cq, 0, 0, NULL) == -ENODEV)
			break;
	}
	pn_queue_set_timeout(&c->adminq, saved_timeout);
	pthread_mutex_unlock(&c->admin_lock);
	pn_clear_error();
}

int pn_ctrl_disable(struct pn_ctrl *c)
{
	uint32_t cc;
	int rc;

	delete_io_queues(c);
	pthread_mutex_lock(&c->admin_lock);
	if (c->adminq_ready)
		pn_queue_fail_all(&c->adminq, true);
	c->aer_outstanding = 0;
	bump_generation(c);
	pthread_mutex_unlock(&c->admin_lock);
	rc = pn_ctrl_read32(c, NVME_REG_CC, &cc);
	if (rc < 0)
		return rc;
	if (cc == 0xffffffff)
		return pn_fail(ENODEV, "%s: CC reads all ones", c->name);
	if (cc & 1) {
		rc = pn_ctrl_write32(c, NVME_REG_CC, cc & ~1u);
		if (rc < 0)
			return rc;
	}
	return wait_ready(c, 0);
}

int pn_ctrl_enable(struct pn_ctrl *c)
{
	uint32_t css = (NVME_CAP_CSS(c->cap) & NVME_CAP_CSS_CSI) ? NVME_CC_CSS_CSI : NVME_CC_CSS_NVM;
	uint32_t mps = 0;
	uint32_t cc;
	int rc;

	while ((4096u << mps) < c->page_size)
		mps++;
	cc = NVME_SET(6, CC_IOSQES) | NVME_SET(4, CC_IOCQES) | NVME_SET(mps, CC_MPS) |
	     NVME_SET(css, CC_CSS) | 1u;
	rc = pn_ctrl_write32(c, NVME_REG_CC, cc);
	if (rc < 0)
		return rc;
	rc = wait_ready(c, 1);
	if (!rc)
		__atomic_store_n(&c->failed, 0, __ATOMIC_RELEASE);
	return rc;
}

int pn_ctrl_init_adminq(struct pn_ctrl *c)
{
	size_t sq_bytes = page_round(PN_ADMIN_DEPTH * sizeof(struct pn_sqe));
	size_t cq_bytes = page_round(PN_ADMIN_DEPTH * sizeof(struct pn_cqe));
	char *base = c->admin_mem->vaddr;
	struct pn_queue_config cfg = {
		.qid = 0,
		.depth = PN_ADMIN_DEPTH,
		.sq_vaddr = base,
		.sq_iova = c->admin_mem->iova,
		.cq_vaddr = base + sq_bytes,
		.cq_iova = c->admin_mem->iova + sq_bytes,
		.sq_doorbell = (volatile uint32_t *)(c->bar0 + pn_sq_doorbell_offset(0, c->dstrd)),
		.cq_doorbell = (volatile uint32_t *)(c->bar0 + pn_cq_doorbell_offset(0, c->dstrd)),
		.list_vaddr = base + sq_bytes + cq_bytes,
		.list_iova = c->admin_mem->iova + sq_bytes + cq_bytes,
		.list_bytes_per_slot = c->page_size,
		.page_size = c->page_size,
		.cmdlog_entries = PN_CMDLOG_ADMIN,
		.timeout_ms = c->timeout_ms,
	};
	int rc;

	if (c->tr->ops->reset_count(c->tr) != c->tr_reset_count || c->irq_lost) {
		irq_setup(c); /* a PCIe reset or power loss lost the interrupt setup */
		c->irq_lost = false;
	}
	pthread_mutex_lock(&c->admin_lock);
	if (c->adminq_ready) {
		pn_queue_fail_all(&c->adminq, true);
		pn_queue_fini(&c->adminq);
		c->adminq_ready = false;
	}
	c->aer_outstanding = 0;
	c->aer_head = c->aer_tail = 0;
	bump_generation(c);
	rc = pn_queue_init(&c->adminq, &cfg);
	if (!rc) {
		c->adminq_ready = true;
		rc = pn_ctrl_write32(c, NVME_REG_AQA, (PN_ADMIN_DEPTH - 1) << 16 | (PN_ADMIN_DEPTH - 1));
		if (!rc)
			rc = pn_ctrl_write64(c, NVME_REG_ASQ, cfg.sq_iova);
		if (!rc)
			rc = pn_ctrl_write64(c, NVME_REG_ACQ, cfg.cq_iova);
	}
	__atomic_store_n(&c->failed, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->admin_lock);
	return rc;
}

/* ---- admin commands -------------------------------------------------- */

int pn_cmd_set_data(struct pn_queue *q, struct pn_request *rq, struct pn_sqe *sqe, uint64_t iova,
		    uint64_t len, unsigned flags)
{
	/* no data: PRP1/PRP2 stay as the caller built them (Create I/O CQ/SQ
	 * carry the ring address there) */
	if ((flags & PN_CMD_RAW_DPTR) || !len)
		return 0;
	return pn_request_set_data(q, rq, sqe, iova, len, flags & PN_CMD_SGL);
}

int pn_ctrl_admin_submit(struct pn_ctrl *c, const struct pn_sqe *sqe, uint64_t iova, uint64_t len,
			 unsigned flags, pn_cpl_fn cb, void *ctx)
{
	struct pn_request *rq;
	struct pn_sqe cmd = *sqe;
	int rc;

	if (is_failed(c))
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	rc = pn_ctrl_mmio_ok(c);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->admin_lock);
	if (!c->adminq_ready || c->adminq.dead) {
		pthread_mutex_unlock(&c->admin_lock);
		return pn_fail(EAGAIN, "%s: the admin queue is not initialised (init_adminq)", c->name);
	}
	rq = pn_queue_alloc(&c->adminq);
	if (!rq) {
		pthread_mutex_unlock(&c->admin_lock);
		return pn_fail(EBUSY, "%s: the admin queue is full", c->name);
	}
	rc = pn_cmd_set_data(&c->adminq, rq, &cmd, iova, len, flags);
	if (rc < 0) {
		pn_queue_release(&c->adminq, rq);
		pthread_mutex_unlock(&c->admin_lock);
		return rc;
	}
	rq->no_timeout = (flags & PN_CMD_NO_TIMEOUT) != 0;
	pn_queue_submit(&c->adminq, rq, &cmd, cb, ctx);
	pn_queue_ring(&c->adminq);
	pthread_mutex_unlock(&c->admin_lock);
	return 0;
}

uint32_t pn_ctrl_admin_process(struct pn_ctrl *c, uint32_t max)
{
	uint32_t n = 0;

	pthread_mutex_lock(&c->admin_lock);
	if (c->adminq_ready)
		n = pn_queue_process(&c->adminq, max);
	pthread_mutex_unlock(&c->admin_lock);
	if (!n && pn_tsc() - c->last_health_tsc > pn_ns_to_tsc(HEALTH_CHECK_NS)) {
		pn_ctrl_check_health(c);
		pn_clear_error();
	}
	return n;
}

struct sync_wait {
	struct pn_cqe cqe;
	int done;
};

static void sync_cb(void *ctx, const struct pn_cqe *cqe)
{
	struct sync_wait *w = ctx;

	w->cqe = *cqe;
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static const char *opcode_name(uint8_t opc)
{
	switch (opc) {
	case nvme_admin_delete_sq: return "Delete I/O SQ";
	case nvme_admin_create_sq: return "Create I/O SQ";
	case nvme_admin_delete_cq: return "Delete I/O CQ";
	case nvme_admin_create_cq: return "Create I/O CQ";
	case nvme_admin_identify: return "Identify";
	case nvme_admin_set_features: return "Set Features";
	case nvme_admin_get_features: return "Get Features";
	case nvme_admin_async_event: return "AER";
	default: return "admin command";
	}
}

int pn_ctrl_admin_sync(struct pn_ctrl *c, const struct pn_sqe *sqe, uint64_t iova, uint64_t len,
		       struct pn_cqe *cqe_out)
{
	struct sync_wait w = {.done = 0};
	unsigned spins = 0;
	int rc;

	for (;;) {
		rc = pn_ctrl_admin_submit(c, sqe, iova, len, 0, sync_cb, &w);
		if (rc != -EBUSY)
			break;
		pn_clear_error();
		pn_ctrl_admin_process(c, 0);
		sleep_us(100);
	}
	if (rc < 0)
		return rc;
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
		if (!pn_ctrl_admin_process(c, 0) && ++spins > 200)
			sleep_us(50);
	}
	if (cqe_out)
		*cqe_out = w.cqe;
	if (w.cqe.status == PN_STATUS_SYNTH) {
		if (is_failed(c))
			return pn_fail(ENODEV, "%s: %s: %s", c->name, opcode_name(sqe->opc),
				       c->fail_reason);
		return pn_fail(ETIMEDOUT, "%s: %s timed out after %u ms", c->name,
			       opcode_name(sqe->opc), c->timeout_ms);
	}
	if (pn_status_is_error(w.cqe.status)) {
		char st[8];

		return pn_fail(EIO, "%s: %s (opcode 0x%02x) failed: ERROR status: %s", c->name,
			       opcode_name(sqe->opc), sqe->opc, pn_status_text(w.cqe.status, st));
	}
	return 0;
}

int pn_ctrl_identify(struct pn_ctrl *c, uint8_t cns, uint32_t nsid, uint16_t cntid, uint8_t csi,
		     void *out)
{
	struct pn_sqe sqe = {
		.opc = nvme_admin_identify,
		.nsid = nsid,
		.cdw10 = (uint32_t)cntid << 16 | cns,
		.cdw11 = (uint32_t)csi << 24,
	};
	int rc;

	/* one scratch page per controller: serialise its users */
	pthread_mutex_lock(&c->admin_lock);
	memset(c->scratch->vaddr, 0, 4096);
	rc = pn_ctrl_admin_sync(c, &sqe, c->scratch->iova, 4096, NULL);
	if (!rc)
		memcpy(out, c->scratch->vaddr, 4096);
	pthread_mutex_unlock(&c->admin_lock);
	return rc;
}

int pn_ctrl_init_ns(struct pn_ctrl *c)
{
	int rc = pn_ctrl_identify(c, NVME_IDENTIFY_CNS_CTRL, 0, 0, 0, &c->id);
	uint64_t mdts;

	if (rc < 0)
		return rc;
	c->id_valid = true;
	mdts = c->id.mdts ? (uint64_t)c->page_size << c->id.mdts : PN_MAX_TRANSFER;
	c->mdts_bytes = mdts < PN_MAX_TRANSFER ? mdts : PN_MAX_TRANSFER;
	return 0;
}

/* ---- AER ------------------------------------------------------------- */

static void aer_cb(void *ctx, const struct pn_cqe *cqe)
{
	struct pn_ctrl *c = ctx;

	/* runs under the admin lock (inside pn_queue_process) */
	if (c->aer_outstanding)
		c->aer_outstanding--;
	if (cqe->status == PN_STATUS_SYNTH || pn_status_is_error(cqe->status))
		return; /* aborted by a reset/teardown, or the device refused: no re-arm */
	if (c->aer_tail - c->aer_head < PN_AER_EVENTS)
		c->aer_events[c->aer_tail++ % PN_AER_EVENTS] = cqe->dw0;
	pn_ctrl_aer_arm(c);
	pn_clear_error();
}

int pn_ctrl_aer_arm(struct pn_ctrl *c)
{
	struct pn_sqe sqe = {.opc = nvme_admin_async_event};
	int rc = 0;

	pthread_mutex_lock(&c->admin_lock);
	while (c->aer_outstanding < c->aer_target) {
		rc = pn_ctrl_admin_submit(c, &sqe, 0, 0, PN_CMD_NO_TIMEOUT, aer_cb, c);
		if (rc < 0)
			break;
		c->aer_outstanding++;
	}
	pthread_mutex_unlock(&c->admin_lock);
	return rc;
}

int pn_ctrl_aer_pop(struct pn_ctrl *c, uint32_t *dw0)
{
	int got = 0;

	pthread_mutex_lock(&c->admin_lock);
	if (c->aer_head != c->aer_tail) {
		*dw0 = c->aer_events[c->aer_head++ % PN_AER_EVENTS];
		got = 1;
	}
	pthread_mutex_unlock(&c->admin_lock);
	return got;
}

int pn_ctrl_init_queues(struct pn_ctrl *c, uint32_t cdw0)
{
	c->nr_sq = (uint16_t)((cdw0 & 0xffff) + 1 > 65535 ? 65535 : (cdw0 & 0xffff) + 1);
	c->nr_cq = (uint16_t)((cdw0 >> 16) + 1 > 65535 ? 65535 : (cdw0 >> 16) + 1);
	/* One driver AER is enough to see every event (the device queues
	 * events until one is outstanding) and leaves the rest of AERL to
	 * scripts that send their own. */
	c->aer_target = 1;
	return pn_ctrl_aer_arm(c);
}

int pn_ctrl_init(struct pn_ctrl *c)
{
	struct pn_sqe sqe = {
		.opc = nvme_admin_set_features,
		.cdw10 = NVME_FEAT_FID_NUM_QUEUES,
		.cdw11 = 0x03ff03ff, /* ask for 1024 SQs and CQs; the device grants what it has */
	};
	struct pn_cqe cqe;
	int rc;

	rc = pn_ctrl_disable(c);
	if (!rc)
		rc = pn_ctrl_init_adminq(c);
	if (!rc)
		rc = pn_ctrl_enable(c);
	if (!rc)
		rc = pn_ctrl_init_ns(c);
	if (!rc)
		rc = pn_ctrl_admin_sync(c, &sqe, 0, 0, &cqe);
	if (!rc)
		rc = pn_ctrl_init_queues(c, cqe.dw0);
	return rc;
}

int pn_ctrl_shutdown(struct pn_ctrl *c, bool abrupt)
{
	uint64_t limit_ms = 10000, start;
	uint32_t cc, csts;
	int rc;

	if (c->id_valid && c->id.rtd3e / 1000 > limit_ms)
		limit_ms = c->id.rtd3e / 1000;
	rc = pn_ctrl_read32(c, NVME_REG_CC, &cc);
	if (rc < 0)
		return rc;
	if (cc == 0xffffffff)
		return pn_fail(ENODEV, "%s: CC reads all ones", c->name);
	cc = (cc & ~(3u << 14)) | (abrupt ? 2u : 1u) << 14;
	rc = pn_ctrl_write32(c, NVME_REG_CC, cc);
	if (rc < 0)
		return rc;
	start = pn_monotonic_ns();
	for (;;) {
		pn_ctrl_read32(c, NVME_REG_CSTS, &csts);
		if (csts == 0xffffffff)
			return pn_fail(ENODEV, "%s: CSTS reads all ones during shutdown", c->name);
		if (((csts >> 2) & 3) == 2)
			return 0;
		if (pn_monotonic_ns() - start > limit_ms * 1000000ull)
			return pn_fail(ETIMEDOUT, "%s: CSTS.SHST not complete %llu ms after CC.SHN=%u",
				       c->name, (unsigned long long)limit_ms, abrupt ? 2 : 1);
		sleep_us(1000);
	}
}

int pn_ctrl_nssr(struct pn_ctrl *c)
{
	if (!NVME_CAP_NSSRC(c->cap))
		return pn_fail(ENOTSUP, "%s: NVM Subsystem Reset is not supported by this controller "
			       "(CAP.NSSRS=0)", c->name);
	return pn_ctrl_write32(c, NVME_REG_NSSR, 0x4e564d65); /* "NVMe" */
}

void pn_ctrl_power_lost(struct pn_ctrl *c)
{
	c->irq_lost = true;
	mark_failed(c, "the device lost power");
	bump_generation(c);
}

int pn_ctrl_power_restored(struct pn_ctrl *c)
{
	return c->tr->ops->enable(c->tr);
}

int pn_ctrl_reset(struct pn_ctrl *c)
{
	return pn_ctrl_init(c);
}

void pn_ctrl_set_admin_timeout(struct pn_ctrl *c, uint32_t timeout_ms)
{
	pthread_mutex_lock(&c->admin_lock);
	if (c->adminq_ready)
		pn_queue_set_timeout(&c->adminq, timeout_ms);
	pthread_mutex_unlock(&c->admin_lock);
}

void pn_ctrl_set_timeout(struct pn_ctrl *c, uint32_t timeout_ms)
{
	pthread_mutex_lock(&c->admin_lock);
	c->timeout_ms = timeout_ms;
	if (c->adminq_ready)
		pn_queue_set_timeout(&c->adminq, timeout_ms);
	for (struct pn_qpair *qp = c->qpairs; qp; qp = qp->next)
		pn_queue_set_timeout(&qp->q, timeout_ms);
	pthread_mutex_unlock(&c->admin_lock);
}

/* ---- IO queue pairs --------------------------------------------------- */

static int qpair_create_on_device(struct pn_qpair *qp, uint16_t *status_out)
{
	struct pn_ctrl *c = qp->ctrl;
	struct pn_sqe cq = {
		.opc = nvme_admin_create_cq,
		.prp1 = qp->q.cq_iova,
		.cdw10 = (qp->depth - 1) << 16 | qp->qid,
		.cdw11 = (uint32_t)qp->iv << 16 | (qp->ien ? 2u : 0u) | 1u,
	};
	struct pn_sqe sq = {
		.opc = nvme_admin_create_sq,
		.prp1 = qp->q.sq_iova,
		.cdw10 = (qp->depth - 1) << 16 | qp->qid,
		.cdw11 = (uint32_t)qp->qid << 16 | (uint32_t)(qp->prio & 3) << 1 | 1u,
	};
	struct pn_sqe del = {.opc = nvme_admin_delete_cq, .cdw10 = qp->qid};
	struct pn_cqe cqe = {0};
	int rc;

	rc = pn_ctrl_admin_sync(c, &cq, 0, 0, &cqe);
	if (rc < 0)
		goto out;
	rc = pn_ctrl_admin_sync(c, &sq, 0, 0, &cqe);
	if (rc < 0) {
		char reason[256];

		snprintf(reason, sizeof(reason), "%s", pn_last_error());
		pn_ctrl_admin_sync(c, &del, 0, 0, NULL);
		pn_fail(-rc, "%s", reason);
	}
out:
	if (status_out)
		*status_out = cqe.status;
	return rc;
}

static void qid_release(struct pn_ctrl *c, uint16_t qid)
{
	c->qid_used[qid / 8] &= (uint8_t)~(1u << (qid % 8));
}

int pn_qpair_create(struct pn_ctrl *c, uint32_t depth, uint8_t prio, bool ien, uint32_t iv,
		    struct pn_qpair **out, uint16_t *status_out)
{
	struct pn_qpair *qp;
	size_t sq_bytes, cq_bytes, list_bytes;
	uint32_t list_slots, max_qid;
	struct pn_queue_config cfg;
	int rc;

	if (status_out)
		*status_out = 0;
	if (depth < 2 || depth > 65536)
		return pn_fail(EINVAL, "depth %u is outside 2..65536", depth);
	if (is_failed(c))
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return pn_fail(ENOMEM, "no memory for a qpair");
	qp->ctrl = c;
	qp->depth = depth;
	qp->prio = prio;
	qp->ien = ien;

	pthread_mutex_lock(&c->admin_lock);
	max_qid = c->nr_sq < c->nr_cq ? c->nr_sq : c->nr_cq;
	if (!max_qid)
		max_qid = 65535; /* not negotiated through us: let the device judge */
	for (uint32_t qid = 1; qid <= max_qid; qid++) {
		if (!(c->qid_used[qid / 8] & (1u << (qid % 8)))) {
			c->qid_used[qid / 8] |= (uint8_t)(1u << (qid % 8));
			qp->qid = (uint16_t)qid;
			break;
		}
	}
	pthread_mutex_unlock(&c->admin_lock);
	if (iv != PN_IV_AUTO)
		qp->iv = (uint16_t)iv;
	else if (c->nvec > 1)
		qp->iv = (uint16_t)(qp->qid < c->nvec ? qp->qid : 1 + (qp->qid - 1) % (c->nvec - 1));
	if (!qp->qid) {
		free(qp);
		return pn_fail(ENOSPC, "%s: all %u IO queue ids granted by Number of Queues are in use",
			       c->name, max_qid);
	}

	/* Per-slot PRP list pages cover transfers up to PN_MAX_TRANSFER (also
	 * over MDTS, so scripts can test the device's refusal); very deep
	 * queues get lists on their first 4095 slots only. */
	sq_bytes = page_round((size_t)depth * sizeof(struct pn_sqe));
	cq_bytes = page_round((size_t)depth * sizeof(struct pn_cqe));
	list_slots = depth - 1 < 4095 ? depth - 1 : 4095;
	list_bytes = (size_t)list_slots * c->page_size;
	rc = dma_alloc(sq_bytes + cq_bytes + list_bytes, &qp->mem);
	if (rc < 0)
		goto fail;
	cfg = (struct pn_queue_config){
		.qid = qp->qid,
		.depth = depth,
		.sq_vaddr = qp->mem->vaddr,
		.sq_iova = qp->mem->iova,
		.cq_vaddr = (char *)qp->mem->vaddr + sq_bytes,
		.cq_iova = qp->mem->iova + sq_bytes,
		.sq_doorbell = (volatile uint32_t *)(c->bar0 + pn_sq_doorbell_offset(qp->qid, c->dstrd)),
		.cq_doorbell = (volatile uint32_t *)(c->bar0 + pn_cq_doorbell_offset(qp->qid, c->dstrd)),
		.list_vaddr = (char *)qp->mem->vaddr + sq_bytes + cq_bytes,
		.list_iova = qp->mem->iova + sq_bytes + cq_bytes,
		.list_bytes_per_slot = c->page_size,
		.list_slots = list_slots,
		.page_size = c->page_size,
		.cmdlog_entries = PN_CMDLOG_IO,
		.timeout_ms = c->timeout_ms,
	};
	if (pn_sq_doorbell_offset(qp->qid, c->dstrd) + 8 > c->bar0_size) {
		rc = pn_fail(EINVAL, "%s: doorbells of queue %u are outside BAR0", c->name, qp->qid);
		goto fail;
	}
	rc = pn_queue_init(&qp->q, &cfg);
	if (rc < 0)
		goto fail;
	qp->generation = generation(c);
	rc = qpair_create_on_device(qp, status_out);
	if (rc < 0) {
		pn_queue_fini(&qp->q);
		goto fail;
	}
	pthread_mutex_lock(&c->admin_lock);
	qp->next = c->qpairs;
	c->qpairs = qp;
	pthread_mutex_unlock(&c->admin_lock);
	*out = qp;
	return 0;
fail:
	pthread_mutex_lock(&c->admin_lock);
	qid_release(c, qp->qid);
	pthread_mutex_unlock(&c->admin_lock);
	dma_free(qp->mem);
	free(qp);
	return rc;
}

int pn_qpair_free(struct pn_qpair *qp)
{
	struct pn_ctrl *c;
	int rc = 0;

	if (!qp)
		return 0;
	c = qp->ctrl;
	if (!is_failed(c) && !qp->deleted && qp->generation == generation(c) && c->adminq_ready &&
	    !c->closing) {
		struct pn_sqe sq = {.opc = nvme_admin_delete_sq, .cdw10 = qp->qid};
		struct pn_sqe cq = {.opc = nvme_admin_delete_cq, .cdw10 = qp->qid};
		char reason[256] = "";

		rc = pn_ctrl_admin_sync(c, &sq, 0, 0, NULL);
		if (rc < 0)
			snprintf(reason, sizeof(reason), "%s", pn_last_error());
		int rc2 = pn_ctrl_admin_sync(c, &cq, 0, 0, NULL);

		if (!rc && rc2 < 0) {
			rc = rc2;
			snprintf(reason, sizeof(reason), "%s", pn_last_error());
		}
		if (rc < 0)
			pn_fail(-rc, "%s", reason);
	}
	pn_queue_fail_all(&qp->q, true);
	pn_queue_fini(&qp->q);
	pthread_mutex_lock(&c->admin_lock);
	for (struct pn_qpair **p = &c->qpairs; *p; p = &(*p)->next) {
		if (*p == qp) {
			*p = qp->next;
			break;
		}
	}
	qid_release(c, qp->qid);
	pthread_mutex_unlock(&c->admin_lock);
	dma_free(qp->mem);
	free(qp);
	return rc;
}

int pn_qpair_check(struct pn_qpair *qp)
{
	struct pn_ctrl *c = qp->ctrl;
	uint32_t gen;
	int rc;

	if (is_failed(c)) {
		pn_queue_fail_all(&qp->q, true);
		return pn_fail(ENODEV, "%s: %s", c->name, c->fail_reason);
	}
	if (qp->deleted)
		return pn_fail(ENODEV, "%s: qpair %u was deleted", c->name, qp->qid);
	gen = generation(c);
	if (qp->generation == gen)
		return 0;
	/* the controller was reset: our queues are gone from the device */
	pn_queue_fail_all(&qp->q, true);
	if (!c->adminq_ready)
		return pn_fail(EAGAIN, "%s: qpair %u waits for the controller to be initialised",
			       c->name, qp->qid);
	pn_queue_reset_rings(&qp->q);
	qp->q.dead = true; /* until the device has it again */
	qp->generation = gen;
	rc = qpair_create_on_device(qp, NULL);
	if (rc < 0) {
		char reason[256];

		snprintf(reason, sizeof(reason), "%s", pn_last_error());
		return pn_fail(-rc, "%s: qpair %u could not be re-created after a reset: %s",
			       c->name, qp->qid, reason);
	}
	qp->q.dead = false;
	return 0;
}

int pn_qpair_submit(struct pn_qpair *qp, const struct pn_sqe *sqe, uint64_t iova, uint64_t len,
		    unsigned flags, pn_cpl_fn cb, void *ctx, bool ring)
{
	struct pn_request *rq;
	struct pn_sqe cmd = *sqe;
	int rc;

	if (__builtin_expect(qp->generation != generation(qp->ctrl) || is_failed(qp->ctrl) ||
			     qp->q.dead, 0)) {
		rc = pn_qpair_check(qp);
		if (rc < 0)
			return rc;
		if (qp->q.dead)
			return pn_fail(ENODEV, "%s: qpair %u is not usable", qp->ctrl->name, qp->qid);
	}
	rq = pn_queue_alloc(&qp->q);
	if (!rq)
		return pn_fail(EBUSY, "%s: qpair %u is full", qp->ctrl->name, qp->qid);
	rc = pn_cmd_set_data(&qp->q, rq, &cmd, iova, len, flags);
	if (rc < 0) {
		pn_queue_release(&qp->q, rq);
		return rc;
	}
	rq->no_timeout = (flags & PN_CMD_NO_TIMEOUT) != 0;
	pn_queue_submit(&qp->q, rq, &cmd, cb, ctx);
	if (ring)
		pn_queue_ring(&qp->q);
	return 0;
}

void pn_qpair_ring(struct pn_qpair *qp)
{
	pn_queue_ring(&qp->q);
}

uint32_t pn_qpair_process(struct pn_qpair *qp, uint32_t max)
{
	if (__builtin_expect(qp->generation != generation(qp->ctrl) || is_failed(qp->ctrl), 0)) {
		uint64_t before = qp->q.completed;

		pn_qpair_check(qp);
		pn_clear_error();
		/* the synthesized completions count as reaped */
		return (uint32_t)(qp->q.completed - before);
	}
	return pn_queue_process(&qp->q, max);
}
