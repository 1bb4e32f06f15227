/* A software NVMe controller: an NVMe device made of process memory and a
 * polling thread, so the driver can run (and be measured, and be hurt by
 * injected faults) on the host without a drive or a VM.
 *
 * The controller is self-contained: it knows nothing of VFIO or of the
 * driver's controller. What a transport needs from it:
 * - BAR0 (soft_ctrl_bar0()): a page-aligned block of memory holding the
 *   controller registers at their spec offsets and the doorbells from 0x1000
 *   with the configured CAP.DSTRD. The host reads it with plain loads, as it
 *   would a mapped PCIe BAR, and rings doorbells with plain stores (the hot
 *   path). Every other write (registers, doorbells written by hand) goes
 *   through soft_ctrl_bar0_write(), which gives the registers their spec
 *   behaviour (read-only, reserved, RW1S/RW1C bits): a plain store into the
 *   register block would be kept as written.
 * - Host memory (queues, data, PRP lists) is reached only through the
 *   creator's translator iova_to_vaddr(): the controller never dereferences
 *   a device address itself. A NULL answer is an address the device may not
 *   touch: the command completes with Data Transfer Error, as a DMA blocked
 *   by an IOMMU would.
 * - Interrupts: the creator's irq() hook is called from the controller
 *   thread after completions were posted on a CQ created with interrupts
 *   enabled (at most once per CQ per batch of completions).
 *
 * The controller thread sees register writes by polling: CC.EN 0->1 reads
 * AQA/ASQ/ACQ and sets CSTS.RDY; 1->0 drops every queue, outstanding AER
 * and delayed completion, resets the features and clears CSTS; CC.SHN sets
 * CSTS.SHST to "complete" at once (the RAM store needs no flushing) and
 * drops the queues: nothing more is processed until a reset (CC.EN 1->0).
 * A setup the controller cannot run with (CC.MPS outside CAP, CSS not NVM,
 * an admin queue of one entry, ASQ/ACQ unaligned or refused by the
 * translator) sets CSTS.CFS instead of RDY. Like a real controller it
 * expects the host to wait for RDY to follow EN before writing EN again (a
 * 1->0->1 faster than the thread polls is seen as no change). INTMS/INTMC
 * hold a mask (soft_ctrl_bar0_write()) that changes nothing here (MSI-X);
 * the optional registers (CMB, PMR, BP) are not implemented.
 *
 * The controller thread spins while there is work and for a while after,
 * then naps 50 us per idle round (unless never_sleep), so an idle
 * controller does not hold a core.
 *
 * Identify NN is SOFT_CTRL_MAX_NS: the NSIDs above nr_ns are inactive
 * (Identify Namespace reads zeroes, IO gets Invalid Namespace).
 *
 * Supported: admin Identify (CNS 0 namespace, 1 controller, 2 active
 * namespace list, 3 namespace identification descriptors), Get/Set Features
 * (Arbitration, Power Management, Temperature Threshold of the composite
 * and sensor 1, Error Recovery per namespace, Volatile Write Cache, Number
 * of Queues, Interrupt Coalescing, Interrupt Vector Configuration, Write
 * Atomicity Normal, Asynchronous Event Configuration, Timestamp; Select
 * field, nothing saveable), Get Log Page (Error Information, SMART / Health, Firmware
 * Slot, Commands Supported and Effects; offsets), Create/Delete I/O SQ/CQ,
 * Abort, Asynchronous Event Request (Error events for invalid doorbell
 * writes, masked until the Error log is read), Format NVM (erases the
 * namespace); no Keep Alive (KAS 0); NVM Read, Write, Flush, Write Zeroes, Compare, Dataset
 * Management (deallocate: reads return zeroes afterwards), Verify, Write
 * Uncorrectable (reads of those blocks fail with Unrecovered Read Error
 * until they are written, zeroed or deallocated). Data pointers: PRPs for
 * every command, SGLs (Data Block, Segment, Last Segment descriptors, any
 * byte alignment; Identify SGLS = 1) for IO commands; no metadata (MPTR is
 * ignored). Queues must be physically contiguous (CAP.CQR = 1).
 *
 * Null mode: IO commands are checked (namespace, LBA range, MDTS) and
 * completed without touching host memory or a store: a read leaves the
 * host's buffer untouched, a write, compare, write zeroes, DSM or write
 * uncorrectable has no effect, compare always succeeds. It is the cheapest
 * path, for measuring the host's cost per IO.
 *
 * Threads: soft_ctrl_create() starts the controller thread; every other
 * function may be called from any host thread (they talk to the controller
 * thread through a mailbox under a mutex, never on its IO path).
 */
#ifndef PYNVME_SOFT_CTRL_H
#define PYNVME_SOFT_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOFT_CTRL_MAX_NS 16
#define SOFT_CTRL_MAX_IO_QUEUES 1024
#define SOFT_CTRL_MAX_FAULTS 16

struct soft_ctrl;

/* One namespace: `blocks` logical blocks of `lba_size` bytes (512, 1024,
 * 2048 or 4096). The RAM store is reserved lazily (untouched blocks cost no
 * memory and read as zeroes). */
struct soft_ctrl_ns_config {
	uint64_t blocks;
	uint32_t lba_size;
};

struct soft_ctrl_config {
	unsigned nr_ns;                  /* 1..SOFT_CTRL_MAX_NS */
	struct soft_ctrl_ns_config ns[SOFT_CTRL_MAX_NS];
	uint8_t mdts;                    /* Identify MDTS: 2^mdts * 4 KiB, 0: no limit */
	uint32_t max_queue_entries;      /* CAP.MQES + 1, 2..65536 */
	uint16_t nr_io_queues;           /* IO SQs and CQs offered, 1..SOFT_CTRL_MAX_IO_QUEUES */
	uint16_t nr_vectors;             /* interrupt vectors (IV must be below), 1..2048 */
	uint8_t dstrd;                   /* CAP.DSTRD: doorbell stride 4 << dstrd bytes, 0..8 */
	const char *serial;              /* Identify SN (truncated to 20 bytes), NULL: default */
	const char *model;               /* Identify MN (truncated to 40 bytes), NULL: default */
	uint16_t vid, ssvid;             /* Identify VID / SSVID: the PCI vendor ids around it */
	bool null_mode;                  /* see above */
	bool never_sleep;                /* the thread spins even when idle (benchmarks) */
	bool pin_cpu;                    /* run the thread on CPU `cpu` only (benchmarks: */
	unsigned cpu;                    /*  the controller on one core, the host on another) */

	/* Device address -> CPU address of `len` contiguous bytes, or NULL when
	 * the device may not touch them. Called from the controller thread. */
	void *(*iova_to_vaddr)(void *ctx, uint64_t iova, size_t len);
	void *dma_ctx;
	/* Interrupt on MSI-X-like vector `vector`; may be NULL. Called from the
	 * controller thread: must not block. */
	void (*irq)(void *ctx, unsigned vector);
	void *irq_ctx;
};

/* Fills `cfg` with a small default controller: one namespace of 128 MiB in
 * 512-byte blocks, MDTS 5 (128 KiB), 1024 queue entries, 16 IO queues, 16
 * vectors, DSTRD 0, not null mode. The translator must still be set. */
void soft_ctrl_config_default(struct soft_ctrl_config *cfg);

/* Creates the controller (registers at power-on values: CC 0, CSTS 0) and
 * starts its thread. `cfg` is copied (the strings too). Returns 0, -EINVAL
 * for a config outside the ranges above or without a translator, -ENOMEM,
 * or the error of pthread_create() / pthread_setaffinity_np() (pin_cpu
 * with a CPU the process may not use). */
int soft_ctrl_create(const struct soft_ctrl_config *cfg, struct soft_ctrl **out);

/* Stops the thread and frees everything (BAR0 and the stores included).
 * NULL is ignored. Works in every fault state. */
void soft_ctrl_destroy(struct soft_ctrl *c);

/* Waits until the controller thread has acted on the value now in CC
 * (enable, disable, shutdown), so that a host writing CC twice in a row
 * (EN 1 -> 0 -> 1 on a controller whose RDY was already 0) is not seen as
 * no change. Returns 0 at once while the controller is hung or gone (it
 * acts on CC when it runs again), or -ETIMEDOUT after 5 s. */
int soft_ctrl_cc_sync(struct soft_ctrl *c);

/* BAR0: registers at 0, doorbells from 0x1000. Valid until destroy. */
volatile void *soft_ctrl_bar0(struct soft_ctrl *c);

/* Bytes of BAR0 (a multiple of 4096, at least 16 KiB, covering every
 * doorbell). */
size_t soft_ctrl_bar0_size(const struct soft_ctrl *c);

/* A host write of `len` bytes (1, 2, 4 or 8, naturally aligned) at BAR0
 * `offset`, with the register semantics of NVMe 1.4 §3.1 and §1.5:
 * - CAP, VS, CSTS (CSTS.NSSRO needs CAP.NSSRS, which is 0), NSSR (reserved
 *   without CAP.NSSRS), the optional registers this controller does not have
 *   (CMB, boot partitions, PMR) and reserved offsets ignore writes: they
 *   keep reading their value, 0 for the reserved ones;
 * - INTMS sets and INTMC clears mask bits written as 1 (RW1S/RW1C); both
 *   read the mask;
 * - CC, AQA, ASQ and ACQ keep what was written except their reserved bits
 *   (CC 31:24 and 3:1, AQA 31:28 and 15:12, ASQ/ACQ 11:0), which read 0;
 * - a doorbell write is stored; one to the doorbell of a queue that does not
 *   exist, while the controller is enabled, is dropped and reported as an
 *   Error event, Write to Invalid Doorbell Register (§5.2, Figure 147).
 * The controller acts on CC when its thread sees it (soft_ctrl_cc_sync()
 * waits for that). Writes while the device is gone (all ones) go nowhere.
 * Returns 0, or -EINVAL for a size, alignment or offset outside BAR0. Any
 * host thread. */
int soft_ctrl_bar0_write(struct soft_ctrl *c, uint64_t offset, const void *buf, size_t len);

/* What the controller thread did so far (read without stopping it). */
struct soft_ctrl_stats {
	uint64_t admin_commands;         /* admin SQEs fetched */
	uint64_t io_commands;            /* IO SQEs fetched */
	uint64_t completions;            /* CQEs posted (duplicates included) */
	uint64_t resets;                 /* CC.EN 1->0 handled */
	uint64_t faults_fired;           /* per-command faults applied */
	uint64_t irqs;                   /* irq() calls */
	uint64_t thread_cpu_ns;          /* CPU time the controller thread used */
	/* Time spent in busy periods: from the first polling round that found
	 * work to the next round that found none (TSC, two reads per busy
	 * period, none per command). commands / busy_ns is the controller's
	 * own cost, idle spinning excluded. */
	uint64_t busy_ns;
};
void soft_ctrl_get_stats(struct soft_ctrl *c, struct soft_ctrl_stats *out);

/* Reports an asynchronous event: completes an outstanding Asynchronous
 * Event Request with dword0 `dw0` (event type 2:0, info 15:8, log page
 * 23:16), now or as soon as the host sends one (up to 16 events wait).
 * Returns 0, -ENOSPC when too many wait, -ETIMEDOUT when the thread did not
 * take it within 5 s. */
int soft_ctrl_async_event(struct soft_ctrl *c, uint32_t dw0);

/* Host memory [vaddr, vaddr + len) is about to be freed: the controller
 * stops using every queue whose ring lies in it (and the SQs completing to
 * such a CQ) and drops the delayed completions aimed at them, so it never
 * touches the memory again; as a device whose IOMMU mapping went away would
 * find its queues unusable. The queues still exist (NVMe 1.4 §5.3-§5.6: a
 * queue lives until it is deleted or the controller is reset): deleting
 * them succeeds, creating one with the same id fails, a CQ with an SQ on it
 * cannot be deleted. Returns once the thread is between commands (so no
 * transfer that translated an address in the range is still running), 0 or
 * -ETIMEDOUT. Works in every fault state. */
int soft_ctrl_forget_memory(struct soft_ctrl *c, const void *vaddr, size_t len);

/* ---- Fault injection (issue 11 item 3) ---- */

enum soft_ctrl_fault_kind {
	SOFT_CTRL_FAULT_DELAY = 1,       /* post the completion delay_us later */
	SOFT_CTRL_FAULT_DROP,            /* never post the completion */
	SOFT_CTRL_FAULT_DUPLICATE,       /* post the completion twice */
	SOFT_CTRL_FAULT_WRONG_CID,       /* post it with cid ^ cid_xor */
	SOFT_CTRL_FAULT_STALE_PHASE,     /* post it with the previous phase tag: the host
					  * cannot see it (nor, in order, what follows) */
};

/* A per-command fault: applies to the completions of the next `count`
 * commands (0 means 1) that match `sqid` (-1: any queue) and `opcode` (-1:
 * any). The command itself executes normally (a dropped write is written). */
struct soft_ctrl_fault {
	enum soft_ctrl_fault_kind kind;
	int32_t sqid;
	int32_t opcode;
	uint32_t count;
	uint32_t delay_us;               /* DELAY */
	uint16_t cid_xor;                /* WRONG_CID; 0 means 0x8000 */
};

/* Arms a per-command fault; it is in force when this returns. Returns 0,
 * -EINVAL (unknown kind), -ENOSPC (SOFT_CTRL_MAX_FAULTS armed), -ETIMEDOUT
 * (the thread did not take it within 5 s). */
int soft_ctrl_inject(struct soft_ctrl *c, const struct soft_ctrl_fault *fault);

/* Disarms every per-command fault not yet used up; delayed completions
 * still pending stay pending. Returns 0 or -ETIMEDOUT. */
int soft_ctrl_inject_clear(struct soft_ctrl *c);

/* Controller fatal status: sets CSTS.CFS; the controller stops processing
 * commands until the host resets it (CC.EN 1->0 clears CFS). Returns 0 or
 * -ETIMEDOUT. */
int soft_ctrl_fault_fatal(struct soft_ctrl *c);

/* Hang: the thread stops processing anything (commands, doorbells, CC)
 * until called again with `hang` false, when it carries on where it stopped.
 * Returns 0 once the thread is (no longer) hung, or -ETIMEDOUT. */
int soft_ctrl_fault_hang(struct soft_ctrl *c, bool hang);

/* Gone from the bus: every byte of BAR0 reads 0xff and nothing is
 * processed. With `gone` false the device comes back at power-on state
 * (registers reset, queues dropped, CC 0, CSTS 0), as after a slot power
 * cycle. Returns 0 or -ETIMEDOUT. */
int soft_ctrl_fault_all_ones(struct soft_ctrl *c, bool gone);

#endif
