/* The IO generator of an ioworker: which IO to send next.
 *
 * The worker loop fills a struct pn_workload_params (plain C, no parsing:
 * the Python binding and the command-line tool convert their arguments into
 * it), validates it once with pn_workload_init(), then calls
 * pn_workload_next() for every IO it sends: O(1), no allocation, no locks,
 * no system calls. The sequence depends only on the parameters, the
 * process seed (srand) and the stream number, so a run can be replayed.
 *
 * What the generator does not do: timing (the worker checks `time` and the
 * iops throttle, and waits for a trace entry's time_us), LBA locking (the
 * worker delays an IO whose LBAs are busy: see lba_lock.h), data.
 */
#ifndef PYNVME_WORKLOAD_H
#define PYNVME_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "rand.h"

#define PN_WL_MAX_SIZES 128     /* io_size list / dict entries */
#define PN_WL_MAX_OPS 32        /* op_percentage entries */
#define PN_WL_DIST_BUCKETS 100  /* distribution: one per percent of the region */
#define PN_WL_DIST_TOTAL 10000
#define PN_WL_MAX_NLB 65536     /* NVMe's 16-bit 0-based NLB field */
#define PN_WL_QDEPTH_MIN 2
#define PN_WL_QDEPTH_MAX 1024
#define PN_WL_MAX_REGIONS 65536 /* regions list entries */

/* NVM command set opcodes the generator knows about (others pass through). */
#define PN_OP_FLUSH 0x00
#define PN_OP_WRITE 0x01
#define PN_OP_READ 0x02
#define PN_OP_WRITE_UNCOR 0x04
#define PN_OP_COMPARE 0x05
#define PN_OP_WRITE_ZEROES 0x08
#define PN_OP_DSM 0x09          /* trim: one range of [slba, slba+nlb) */
#define PN_OP_VERIFY 0x0c

enum pn_wl_size_kind {
	PN_WL_SIZE_FIXED,   /* io_size=int: size_min LBAs */
	PN_WL_SIZE_RANGE,   /* io_size=range: size_min..size_max (inclusive) by size_step */
	PN_WL_SIZE_LIST,    /* io_size=list or dict: sizes[i] with weight size_weight[i] */
};

/* One IO of an io_sequence trace. */
struct pn_wl_trace_entry {
	uint64_t slba;
	uint32_t nlb;          /* LBAs, >= 1 (flush: ignored) */
	uint8_t opcode;
	uint64_t time_sent_us; /* when to send it, µs after the worker starts; the
				  entries need not be sorted: each is sent in list
				  order, once its time has come (the original's FIFO) */
};

/* One LBA range of a region list (ioworker(regions=[(start, end[, weight]), ...])):
 * the generator's IOs stay inside the listed ranges, e.g. the SNIA PTS
 * client's 2,048 ActiveRange segments spread over the drive. */
struct pn_wl_region {
	uint64_t start;        /* first LBA */
	uint64_t end;          /* exclusive */
	uint64_t weight;       /* share of the random IOs against the other regions'
				  weights; 0 = the region's length in LBAs (every LBA
				  of every region equally likely) */
	uint64_t cum_weight;   /* written by pn_workload_init(): the weights of
				  regions [0, i], the draw's search table */
};

struct pn_wl_op {
	uint8_t opcode;
	uint32_t percentage;   /* a weight: the share is percentage / sum of all */
};

/* The parameters of Namespace.ioworker() (API.md), already converted to C.
 * Zero-initialise, then set what is given; the comments say what zero means. */
struct pn_workload_params {
	/* The namespace and queue (from identify and CAP). */
	uint64_t ns_capacity;     /* LBAs in the namespace */
	uint32_t lba_size;        /* bytes per LBA */
	uint64_t max_xfer_bytes;  /* MDTS in bytes; 0: no limit */
	uint32_t max_queue_entries; /* CAP.MQES + 1; 0: no limit below 1024 */

	/* io_size, in LBAs. A size larger than the region is clipped to the
	 * region (the original pynvme did so for an int io_size). */
	enum pn_wl_size_kind size_kind;
	uint32_t size_min, size_max, size_step;  /* FIXED: size_min; RANGE: all (step 0 = 1) */
	uint32_t nsizes;                          /* LIST: entries in sizes[] */
	uint32_t sizes[PN_WL_MAX_SIZES];
	uint32_t size_weight[PN_WL_MAX_SIZES];    /* LIST: relative weights, sum > 0 */

	/* lba_align: 0 entries = 1 (any LBA); 1 entry = for every size; nsizes
	 * entries (LIST only) = align[i] for sizes[i]. Alignment is absolute:
	 * slba % align == 0. */
	uint32_t nalign;
	uint32_t align[PN_WL_MAX_SIZES];

	/* Sequential stride: has_lba_step false = each sequential IO starts where
	 * the last one ended; else the cursor moves by lba_step (may be 0 or
	 * negative: backwards). */
	bool has_lba_step;
	int64_t lba_step;

	uint32_t lba_random;       /* % of IOs at random LBAs (0..100); the rest sequential */
	uint32_t read_percentage;  /* 0..100, when nops == 0: reads, the rest writes */
	uint32_t nops;             /* op_percentage entries (0: use read_percentage) */
	/* Relative weights, as the original pynvme's percentages when they sum
	 * to 100; any other positive sum is taken as weights (scripts of the
	 * original that give e.g. {2: 50, 1: 40} run; the original asserted). */
	struct pn_wl_op ops[PN_WL_MAX_OPS];

	uint64_t region_start;     /* first LBA */
	uint64_t region_end;       /* exclusive; clamped to ns_capacity (0 = capacity) */
	uint64_t lba_start;        /* first sequential LBA (inside the region; 0 = region_start) */
	/* Sequential IOs: the last IO of a pass is cut at region_end (as the
	 * original's), so one pass covers the whole region. */

	/* A region list instead of one region (nregions > 0): random IOs pick a
	 * region by weight, then a start inside it where the whole IO fits
	 * (aligned to lba_align); sequential IOs walk the regions in order, each
	 * from its start, the last IO in a region cut at its end (as at
	 * region_end), and a pass ends after the last region. The regions must
	 * be sorted, non-empty, not overlapping and inside the namespace, and
	 * every io_size must fit in every region. region_start/region_end are
	 * set by init to the list's first start and last end; lba_start,
	 * lba_step and distribution cannot be combined with a list. The array
	 * is the caller's (like trace): it must stay alive, and writable
	 * (init fills cum_weight), while the workload is used. */
	struct pn_wl_region *regions;
	uint32_t nregions;

	bool has_distribution;     /* random LBAs follow distribution[] */
	uint32_t distribution[PN_WL_DIST_BUCKETS]; /* of every 10000 random IOs, how many
						      land in each 1% of the region */

	uint64_t io_count;         /* stop after this many IOs (0: no limit) */
	uint32_t time_s;           /* the worker stops after this (checked by it; 0: none) */
	uint32_t qdepth;           /* 2..1024, <= max_queue_entries */

	const struct pn_wl_trace_entry *trace; /* io_sequence, borrowed: keep it alive */
	uint64_t ntrace;

	uint64_t rand_stream;      /* pn_rand_init_stream() stream: one per worker */
};

/* The next IO to send. */
struct pn_io {
	uint64_t slba;
	uint32_t nlb;      /* LBAs (flush: 0) */
	uint8_t opcode;
	uint64_t time_us;  /* trace: send at this many µs after start; else 0 */
};

struct pn_wl_size_slot {
	uint32_t nlb;
	uint32_t align;
	uint64_t first;    /* first aligned slba of the region for this size */
	uint64_t count;    /* aligned slbas that fit in the region */
};

struct pn_workload {
	struct pn_workload_params p;   /* normalised copy (region clamped, ...) */
	struct pn_rand rand;
	uint64_t issued;               /* IOs generated so far */
	bool done;
	bool stop_at_pass_end;         /* sequential-only without io_count/time */
	uint64_t passes;               /* sequential wraps so far */
	uint64_t seq_cursor;           /* next sequential LBA */
	bool seq_below;                /* a backward stride went below the region */
	uint64_t trace_pos;
	uint32_t seq_region;           /* regions: the one the sequential cursor is in */
	/* Draw tables built by init. */
	uint32_t nslots;
	struct pn_wl_size_slot slots[PN_WL_MAX_SIZES];
	uint64_t size_cum_weight[PN_WL_MAX_SIZES];
	uint64_t op_cum_weight[PN_WL_MAX_OPS]; /* cumulative weights of p.ops */
	bool single_op;                /* one op has all the weight: no draw */
	uint32_t single_op_index;
	uint64_t dist_bound[PN_WL_DIST_BUCKETS + 1]; /* bucket b = [bound[b], bound[b+1]) */
	uint8_t bucket_of_draw[PN_WL_DIST_TOTAL];
	/* What was generated: the real counts written back to op_percentage. */
	uint64_t opcode_count[256];
	uint64_t random_count, sequential_count;
};

/* Validates `params`, and on success prepares `w` (which the caller owns; it
 * is ~16 KiB, no other memory is used) to generate IOs.
 * Returns 0; -EINVAL with a pn_fail() reason naming the parameter, e.g.
 * "qdepth 1 out of range 2..1024",
 * "distribution must have 100 entries summing to 10000 (sum 9000)",
 * "op_percentage weights sum to 0", "lba_random 150 out of range 0..100",
 * "no stop condition: give time, io_count, or lba_random=0 (one sequential pass)",
 * "regions[3] [100, 90) is empty";
 * or -E2BIG for "io_size 512 larger than MDTS (256 LBAs, 128 KiB)" (the
 * worker's error -2). */
int pn_workload_init(struct pn_workload *w, const struct pn_workload_params *params);

/* Produces the next IO in *io and returns true, or returns false when the
 * workload has ended (io_count reached, one sequential pass done, trace
 * replayed). O(1). */
bool pn_workload_next(struct pn_workload *w, struct pn_io *io);

/* IOs generated with `opcode` so far. */
static inline uint64_t pn_workload_opcode_count(const struct pn_workload *w, uint8_t opcode)
{
	return w->opcode_count[opcode];
}

#endif
