/* An NVMe controller on a PCIe function: registers, initialisation, the
 * admin queue, IO queue pairs, interrupts, AERs, failure detection, reset.
 *
 * Threads: the admin queue is shared and serialised by the controller's
 * (recursive) admin lock, so any thread may send admin commands. An IO queue
 * pair belongs to the thread that uses it: pn_qpair_* calls on one qpair
 * must come from one thread at a time, and take no lock.
 *
 * Resets: a controller reset (CC.EN 1->0, also when a user init function
 * writes CC itself and then calls pn_ctrl_init_adminq()) drops every queue
 * on the device. The driver then completes every outstanding admin command
 * with a synthesized all-ones completion, bumps the controller's
 * generation, and each IO qpair notices on its owner's next call: it
 * completes its outstanding commands the same way and re-creates itself on
 * the device with the same id, depth, priority and vector, so the qpair
 * object stays usable. When the controller is found failed (CSTS.CFS) or
 * gone (registers read all ones), every queue is failed the same way and
 * further commands are refused with -ENODEV.
 */
#ifndef PYNVME_CONTROLLER_H
#define PYNVME_CONTROLLER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dma.h"
#include "nvme_spec.h"
#include "queue.h"
#include "transport.h"

#define PN_ADMIN_DEPTH 256
#define PN_CMDLOG_ADMIN 1024
#define PN_CMDLOG_IO 256
#define PN_DEFAULT_TIMEOUT_MS 10000
#define PN_MAX_TRANSFER (2u << 20)   /* what one PRP list page per slot allows */
#define PN_AER_EVENTS 32
#define MAX_IRQ_VECTORS 65

/* Flags of pn_ctrl_admin_submit() / pn_qpair_submit(). */
enum {
	PN_CMD_SGL = 1 << 0,         /* data pointer as an SGL data block (PSDT 01b) */
	PN_CMD_NO_TIMEOUT = 1 << 1,  /* never time out (AER) */
	PN_CMD_RAW_DPTR = 1 << 2,    /* keep the SQE's PRP1/PRP2 as given (also when len is 0) */
};

struct pn_ctrl;

struct pn_qpair {
	struct pn_queue q;
	struct pn_ctrl *ctrl;
	struct dma_region *mem;      /* SQ ring, CQ ring, per-slot list pages */
	uint16_t qid;
	uint32_t depth;
	uint8_t prio;
	bool ien;
	uint16_t iv;
	uint32_t generation;         /* controller generation it was created in */
	bool deleted;
	struct pn_qpair *next;       /* controller's list */
};

struct pn_ctrl {
	struct pn_transport *tr;     /* the device below (not owned) */
	char name[64];               /* its address, for messages */
	volatile uint8_t *bar0;
	uint64_t bar0_size;
	uint64_t cap;
	uint32_t dstrd;
	uint32_t page_size;          /* CC.MPS in bytes */
	uint32_t mqes;               /* CAP.MQES + 1: deepest IO queue allowed */
	uint32_t timeout_ms;

	pthread_mutex_t admin_lock;  /* recursive: callbacks may submit */
	struct pn_queue adminq;
	struct dma_region *admin_mem;
	struct dma_region *scratch;  /* 4 KiB for the driver's own admin data */
	bool adminq_ready;
	bool closing;                /* pn_ctrl_begin_close(): qpairs go without Delete commands */

	/* generation: bumped whenever the device lost its queues (reset) */
	uint32_t generation;
	/* set once the device failed (CFS), vanished (all ones) or was found
	 * not ready; atomic. fail_reason says which, for later refusals. */
	int failed;
	char fail_reason[160];
	uint64_t last_health_tsc;
	uint32_t tr_reset_count;     /* transport reset_count when interrupts were set up */
	int pm_cap;                  /* PCI power management capability offset, or -1 */
	bool irq_lost;               /* interrupts must be set up again (power loss) */

	/* facts from identify / set features */
	struct nvme_id_ctrl id;      /* cached identify controller (zero until read) */
	bool id_valid;
	uint64_t mdts_bytes;         /* max transfer in bytes (capped at PN_MAX_TRANSFER) */
	uint16_t nr_sq, nr_cq;       /* IO queues granted (1-based), 0 before init_queues */
	uint8_t qid_used[65536 / 8];
	struct pn_qpair *qpairs;

	/* MSI-X: one eventfd per vector (vector 0: admin) */
	int nvec;
	int *eventfds;
	int intx_fd;                 /* INTx eventfd when MSI-X is absent, else -1 */
	uint8_t irq_seen[MAX_IRQ_VECTORS]; /* sticky: consumed by a wait, not cleared */

	/* AERs sent by the driver (kept outstanding) and the events they reported */
	uint32_t aer_outstanding;
	uint32_t aer_target;
	uint32_t aer_events[PN_AER_EVENTS];
	uint32_t aer_head, aer_tail;
};

/* Opens the controller on an open device (transport.h): maps BAR0, reads CAP, sets
 * up MSI-X vectors (INTx when absent) with eventfds, allocates the admin
 * queue memory. Does not touch CC: call pn_ctrl_init() (standard
 * initialisation) or the building blocks. Returns 0 or -errno. */
int pn_ctrl_open(struct pn_transport *tr, struct pn_ctrl **out);

/* Fails outstanding commands, disables the controller (CC.EN=0, so it stops
 * using our memory), frees everything. The PCIe function stays open. Every
 * qpair must have been freed (pn_qpair_free). NULL is ignored. */
void pn_ctrl_close(struct pn_ctrl *c);

/* Starts closing: the qpairs freed from now on (before pn_ctrl_close())
 * skip their Delete I/O SQ/CQ commands, since disabling the controller drops
 * every queue anyway; so closing a controller that stopped answering does
 * not wait a command timeout per queue. */
void pn_ctrl_begin_close(struct pn_ctrl *c);

/* 32/64-bit register access to BAR0 through the transport (never faults, also while
 * memory decoding is off). read returns 0 or -errno with *value set (all
 * ones when the device is gone). */
int pn_ctrl_read32(struct pn_ctrl *c, uint32_t offset, uint32_t *value);
int pn_ctrl_write32(struct pn_ctrl *c, uint32_t offset, uint32_t value);
int pn_ctrl_read64(struct pn_ctrl *c, uint32_t offset, uint64_t *value);
int pn_ctrl_write64(struct pn_ctrl *c, uint32_t offset, uint64_t value);

/* The standard initialisation (NVMe base spec "Initialization"): disable,
 * wait CSTS.RDY=0 (bounded by CAP.TO), admin queue, CC (IOSQES 6, IOCQES 4,
 * MPS, CSS), enable, wait RDY=1, identify controller, Set Features Number of
 * Queues (as many as the device offers, up to 1024), arm AERs. Returns 0 or
 * -errno (-ETIMEDOUT when RDY does not follow EN, -EIO for an admin command
 * that failed, with the status in the reason). */
int pn_ctrl_init(struct pn_ctrl *c);

/* Building block: deletes the IO queues still on a working controller
 * (Delete SQ, Delete CQ), then sets CC.EN=0 and waits for CSTS.RDY=0
 * (CAP.TO bounded). Every queue is considered lost. Returns 0 or -errno. */
int pn_ctrl_disable(struct pn_ctrl *c);

/* Building block: sets CC (IOSQES 6, IOCQES 4, MPS, CSS from CAP) with
 * EN=1 and waits for CSTS.RDY=1. Returns 0 or -errno. */
int pn_ctrl_enable(struct pn_ctrl *c);

/* Building block: (re)creates the admin queue in memory and programs AQA,
 * ASQ, ACQ. The controller must be disabled (CC.EN=0): outstanding admin
 * commands are completed with synthesized completions and IO qpairs are
 * marked for re-creation. Returns 0 or -errno. */
int pn_ctrl_init_adminq(struct pn_ctrl *c);

/* Building block: reads identify controller into the cache (MDTS, AERL,
 * ...). Returns 0 or -errno. */
int pn_ctrl_init_ns(struct pn_ctrl *c);

/* Building block: records the IO queues granted by a Set Features Number of
 * Queues completion dword0 (NSQA in 15:0, NCQA in 31:16, 0-based) and arms
 * the driver's AERs. Returns 0 or -errno. */
int pn_ctrl_init_queues(struct pn_ctrl *c, uint32_t cdw0);

/* Controller reset: disable, then the standard initialisation. IO qpairs are
 * re-created lazily by their owners. Returns 0 or -errno. */
int pn_ctrl_reset(struct pn_ctrl *c);

/* Submits an admin command. `sqe` is copied (CID set by the driver); `iova`
 * and `len` describe the data buffer (len 0: none) unless PN_CMD_RAW_DPTR.
 * `cb(ctx, cqe)` runs inside pn_ctrl_admin_process() of any thread, under
 * the admin lock. The doorbell is rung. Returns 0, -EBUSY (queue full:
 * process completions and retry), -ENODEV (controller failed), -EAGAIN
 * (admin queue not initialised) or a data-pointer error. */
int pn_ctrl_admin_submit(struct pn_ctrl *c, const struct pn_sqe *sqe, uint64_t iova, uint64_t len,
			 unsigned flags, pn_cpl_fn cb, void *ctx);

/* Reaps up to `max` admin completions (0: all), runs their callbacks, and
 * (at most every 50 ms) checks the controller's health. Returns callbacks
 * run. */
uint32_t pn_ctrl_admin_process(struct pn_ctrl *c, uint32_t max);

/* Sends an admin command and waits for it (polling; bounded by the
 * controller timeout). `*cqe_out` (may be NULL) gets the completion.
 * Returns 0 when it completed successfully, -EIO for an error status
 * (reason names it), -ETIMEDOUT, -ENODEV. */
int pn_ctrl_admin_sync(struct pn_ctrl *c, const struct pn_sqe *sqe, uint64_t iova, uint64_t len,
		       struct pn_cqe *cqe_out);

/* Identify into the controller's scratch page and copies 4096 bytes to
 * `out`. Returns as pn_ctrl_admin_sync(). */
int pn_ctrl_identify(struct pn_ctrl *c, uint8_t cns, uint32_t nsid, uint16_t cntid, uint8_t csi,
		     void *out);

/* Reads CSTS; when the device reports CFS, reads all ones, or is not
 * ready (RDY=0: nothing outstanding can complete), marks the controller
 * failed and fails the admin queue (IO qpairs fail on their owner's next
 * call). pn_ctrl_init_adminq() clears the state. Returns 0 when healthy,
 * -ENODEV otherwise. */
int pn_ctrl_check_health(struct pn_ctrl *c);

/* Whether BAR0 can be touched through its mapping: the function decodes
 * memory (command register MSE) and is in D0. The kernel revokes the BAR
 * mapping otherwise and a doorbell write would kill the process with
 * SIGBUS, so paths that cannot know the state (admin commands, commands from
 * scripts) check first. Costs two config-space reads. Returns 0 or -ENODEV
 * with the reason. */
int pn_ctrl_mmio_ok(struct pn_ctrl *c);

/* Shutdown notification: CC.SHN normal (abrupt false) or abrupt, then waits
 * for CSTS.SHST = complete (bounded by RTD3E, at least 10 s). The
 * controller needs pn_ctrl_reset() afterwards. Returns 0 or -errno. */
int pn_ctrl_shutdown(struct pn_ctrl *c, bool abrupt);

/* NVM Subsystem Reset (writes "NVMe" to NSSR). Returns 0, or -ENOTSUP when
 * CAP.NSSRS says the controller does not support it. The controller needs
 * pn_ctrl_reset() afterwards. */
int pn_ctrl_nssr(struct pn_ctrl *c);

/* The function lost power (or was reset behind VFIO's back): every
 * outstanding command is failed, and the interrupt setup is redone at the
 * next pn_ctrl_init_adminq(). Call pn_ctrl_power_restored() once it is
 * back. */
void pn_ctrl_power_lost(struct pn_ctrl *c);

/* The function answers again after power-on: enables memory decoding and
 * bus mastering again (the kernel restores the BARs). Returns 0 or -errno. */
int pn_ctrl_power_restored(struct pn_ctrl *c);

/* Sets the per-command timeout of the admin queue and of every qpair
 * created afterwards (and existing ones). */
void pn_ctrl_set_timeout(struct pn_ctrl *c, uint32_t timeout_ms);

/* Sets the timeout of the admin queue alone (c->timeout_ms stays): for one
 * long command such as a Format, then set back to c->timeout_ms. */
void pn_ctrl_set_admin_timeout(struct pn_ctrl *c, uint32_t timeout_ms);

/* Pops one AER event (completion dword0 of a driver AER) into *dw0.
 * Returns 1 when one was pending, 0 otherwise. */
int pn_ctrl_aer_pop(struct pn_ctrl *c, uint32_t *dw0);

/* Arms driver AERs up to the target count. Returns 0 or -errno. */
int pn_ctrl_aer_arm(struct pn_ctrl *c);

/* The eventfd of MSI-X vector `vector` (INTx eventfd for vector 0 without
 * MSI-X), or -1. */
int pn_ctrl_vector_fd(struct pn_ctrl *c, unsigned vector);

/* Waits up to `timeout_us` for an interrupt on `vector` (MSI-X, or INTx
 * for vector 0), consuming it; a consumed interrupt stays visible to
 * pn_ctrl_irq_isset() until pn_ctrl_irq_clear(). Returns 1 when one
 * arrived, 0 on timeout, -ENODEV when the vector has no eventfd. */
int pn_ctrl_irq_wait(struct pn_ctrl *c, unsigned vector, unsigned timeout_us);

/* Whether an interrupt arrived on `vector` since the last clear. */
bool pn_ctrl_irq_isset(struct pn_ctrl *c, unsigned vector);

/* Forgets interrupts seen on `vector`. */
void pn_ctrl_irq_clear(struct pn_ctrl *c, unsigned vector);

/* Masks/unmasks MSI-X vector `vector` in the MSI-X table (Vector Control
 * bit 0). Returns 0 or -errno (-ENOTSUP without MSI-X). */
int pn_ctrl_msix_mask(struct pn_ctrl *c, unsigned vector, bool mask);

/* Creates an IO queue pair: Create I/O CQ (interrupts `ien`, vector `iv`),
 * then Create I/O SQ (priority `prio`) on the lowest free queue id.
 * `iv` 0..0xffff or PN_IV_AUTO.
 * `depth` 2..65536 entries (the device checks it against CAP.MQES). On an
 * error status the reason holds "ERROR status: SCT/SC" and *status_out (may
 * be NULL) the CQE status word. Returns 0 or -errno (-EIO: the device
 * refused, -ENOSPC: no queue id left). */
int pn_qpair_create(struct pn_ctrl *c, uint32_t depth, uint8_t prio, bool ien, uint32_t iv,
		    struct pn_qpair **out, uint16_t *status_out);

/* `iv` of pn_qpair_create(): the queue's own vector (its qid) where the
 * device has that many, else shared round-robin (vector 0 when no MSI-X). */
#define PN_IV_AUTO 0xffffffffu

/* Deletes the SQ then the CQ on the device (unless the controller lost
 * them), completes what is outstanding, frees the qpair. NULL ignored.
 * Returns 0, or -EIO when the device refused a delete (the qpair is
 * freed anyway). */
int pn_qpair_free(struct pn_qpair *qp);

/* Makes sure the qpair is usable: re-creates it after a controller reset,
 * fails it when the controller failed. Called by submit/process; returns 0
 * or -ENODEV / -EIO. */
int pn_qpair_check(struct pn_qpair *qp);

/* Submits an IO command (does not ring: call pn_qpair_ring() at the end of
 * the batch, or pass ring=true). Data as pn_ctrl_admin_submit(). Returns 0,
 * -EBUSY (full), -ENODEV, or a data-pointer error. */
int pn_qpair_submit(struct pn_qpair *qp, const struct pn_sqe *sqe, uint64_t iova, uint64_t len,
		    unsigned flags, pn_cpl_fn cb, void *ctx, bool ring);

/* Rings the SQ doorbell of everything submitted since the last ring. */
void pn_qpair_ring(struct pn_qpair *qp);

/* Reaps up to `max` completions (0: all) and runs their callbacks. Returns
 * callbacks run. */
uint32_t pn_qpair_process(struct pn_qpair *qp, uint32_t max);

/* Builds the data pointer of `sqe` for a command on `q` (shared by admin
 * and IO paths). */
int pn_cmd_set_data(struct pn_queue *q, struct pn_request *rq, struct pn_sqe *sqe, uint64_t iova,
		    uint64_t len, unsigned flags);

/* Text of a CQE status word: "SCT/SC" as two hex digits each, for
 * messages ("00/02"). `buf` holds at least 8 bytes. */
const char *pn_status_text(uint16_t status, char *buf);

#endif
