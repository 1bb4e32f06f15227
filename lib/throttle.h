/* An IOPS throttle on TSC time: next-deadline scheduling.
 *
 * The n-th IO after start is due at start + n * ticks_per_sec / iops. The
 * worker sends an IO only when pn_throttle_ready() says its deadline has
 * passed, then calls pn_throttle_sent(). Deadlines are computed exactly (no
 * accumulated rounding), so every one-second window holds iops +-1 sends as
 * long as the device keeps up, which is what "within 1% per second" needs.
 *
 * If the worker falls behind (device stall, preemption), the missed deadlines
 * are made up at once but only up to `max_backlog` IOs: a long stall then
 * costs that second's count instead of being followed by a burst.
 *
 * One owner (the worker's thread); no allocation, no locks.
 */
#ifndef PYNVME_THROTTLE_H
#define PYNVME_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

struct pn_throttle {
	uint64_t iops;          /* 0: unlimited */
	uint64_t ticks_per_sec;
	uint64_t max_backlog;   /* IOs that may be sent at once after a stall */
	uint64_t anchor;        /* tick of deadline number 0 of the current second */
	uint64_t sent;          /* sends since anchor (< iops: anchor moves each second) */
	uint64_t next_due;      /* tick when the next IO may go */
};

/* Sets up a throttle of `iops` IOs per second (0: unlimited) on a clock of
 * `ticks_per_sec` (pn_tsc_hz(), or 1e9 for ns). max_backlog 0 picks the
 * default: 1% of a second's IOs, at least 1.
 * Returns 0, or -EINVAL (ticks_per_sec 0, or iops above ticks_per_sec). */
int pn_throttle_init(struct pn_throttle *t, uint64_t iops, uint64_t ticks_per_sec,
		     uint64_t max_backlog);

/* Starts the schedule at tick `now`: the first IO may go at once. */
void pn_throttle_start(struct pn_throttle *t, uint64_t now);

/* Whether an IO may be sent at tick `now`. O(1), one compare. */
static inline bool pn_throttle_ready(const struct pn_throttle *t, uint64_t now)
{
	return now >= t->next_due;
}

/* Records that one IO was sent at tick `now` (after pn_throttle_ready()
 * returned true) and schedules the next one. */
void pn_throttle_sent(struct pn_throttle *t, uint64_t now);

/* The tick when the next IO may go (0 when unlimited), for a worker that
 * wants to know how long it may poll completions before sending again. */
static inline uint64_t pn_throttle_next_due(const struct pn_throttle *t)
{
	return t->next_due;
}

#endif
