#include "throttle.h"

#include <errno.h>

#include "error.h"

int pn_throttle_init(struct pn_throttle *t, uint64_t iops, uint64_t ticks_per_sec,
		     uint64_t max_backlog)
{
	if (ticks_per_sec == 0)
		return pn_fail(EINVAL, "throttle: clock rate 0");
	if (iops > ticks_per_sec)
		return pn_fail(EINVAL, "iops %llu above the clock's resolution (%llu ticks/s)",
			       (unsigned long long)iops, (unsigned long long)ticks_per_sec);
	t->iops = iops;
	t->ticks_per_sec = ticks_per_sec;
	t->max_backlog = max_backlog ? max_backlog : (iops / 100 ? iops / 100 : 1);
	t->anchor = 0;
	t->sent = 0;
	t->next_due = 0;
	return 0;
}

void pn_throttle_start(struct pn_throttle *t, uint64_t now)
{
	t->anchor = now;
	t->sent = 0;
	t->next_due = t->iops ? now : 0;
}

/* Deadline of send number `n` after the anchor (n <= iops). */
static inline uint64_t deadline(const struct pn_throttle *t, uint64_t n)
{
	/* n < iops, so n * ticks_per_sec fits 64 bits for any real rate and the
	 * cheap 64-bit division does; the 128-bit one is the fallback. */
	if (t->iops <= UINT64_MAX / t->ticks_per_sec)
		return t->anchor + n * t->ticks_per_sec / t->iops;
	return t->anchor + (uint64_t)((unsigned __int128)n * t->ticks_per_sec / t->iops);
}

void pn_throttle_sent(struct pn_throttle *t, uint64_t now)
{
	if (t->iops == 0)
		return;
	/* Too far behind: re-anchor so at most max_backlog deadlines are past. */
	if (now > t->next_due) {
		uint64_t late = now - t->next_due;
		uint64_t backlog_ticks = (uint64_t)((unsigned __int128)t->max_backlog *
						    t->ticks_per_sec / t->iops);

		if (late > backlog_ticks) {
			t->anchor = now - backlog_ticks;
			t->sent = 0;
		}
	}
	t->sent++;
	/* Keep n * ticks_per_sec small: move the anchor one second at a time. */
	if (t->sent >= t->iops) {
		t->anchor += t->ticks_per_sec;
		t->sent -= t->iops;
	}
	t->next_due = deadline(t, t->sent);
}
