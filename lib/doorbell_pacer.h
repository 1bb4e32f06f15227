/* Doorbell pacing: how long a polled IO loop waits, after it sees the
 * device's completions, before it writes the doorbells of the commands that
 * replace them; chosen by measurement.
 *
 * Why: on an emulated controller (QEMU under TCG, the test bed) every MMIO
 * doorbell write takes the emulator's global lock, which its device thread
 * still holds for a moment after it posts completions; a write that comes
 * too early blocks on the lock, one that comes too late finds the device
 * thread asleep. Spinning on the clock for about a microsecond before the
 * write measured 3x the IOPS of a bare loop at QD1 and up to 1.3x at QD32
 * (docs/ioworker-engine.md); polling the CQ during the wait instead lost
 * the gain, so the wait is a plain spin. The best wait differs by machine,
 * queue depth and the loop's own work per IO, and on a real drive it is
 * zero: so the pacer measures instead of assuming.
 *
 * How: the run is cut into epochs of PN_PACER_EPOCH_MS. In an exploration
 * round each candidate hold (0 .. 3 us) is used for one epoch and its
 * completion rate recorded (averaged with its earlier rounds); then the best
 * one is kept for PN_PACER_EXPLOIT_EPOCHS epochs, and a new round starts.
 * A nonzero hold is chosen only when it beats no hold by more than
 * PN_PACER_MIN_GAIN, so a device that gains nothing is never slowed.
 *
 * One owner (the worker's thread); no allocation, no locks; the per-loop
 * cost is one compare (pn_pacer_update()).
 */
#ifndef PYNVME_DOORBELL_PACER_H
#define PYNVME_DOORBELL_PACER_H

#include <stdbool.h>
#include <stdint.h>

#define PN_PACER_NCAND 8
#define PN_PACER_EPOCH_MS 20
#define PN_PACER_EXPLOIT_EPOCHS 100   /* 2 s between exploration rounds */
#define PN_PACER_MIN_GAIN 0.03

/* The candidate holds, in nanoseconds (the first is 0). */
extern const uint32_t pn_pacer_candidates_ns[PN_PACER_NCAND];

struct pn_pacer {
	uint64_t hold_ticks;                  /* the hold in use: read by the loop */
	bool adaptive;
	uint64_t cand_ticks[PN_PACER_NCAND];
	double rate[PN_PACER_NCAND];          /* completions per tick, averaged over rounds */
	uint32_t rounds[PN_PACER_NCAND];      /* exploration epochs measured */
	uint32_t cur;                         /* candidate in use */
	uint32_t kept;                        /* candidate chosen by the last round */
	uint32_t fixed_ns;                    /* the hold when not adaptive */
	uint32_t exploring;                   /* 1 while a round is measuring */
	uint32_t exploit_left;                /* epochs before the next round */
	uint64_t epoch_ticks;
	uint64_t epoch_start, epoch_completed;
	uint64_t switches;                    /* rounds that changed the kept hold */
};

/* Adaptive pacing on a clock of `hz` ticks per second, starting at tick
 * `now` with `completed` completions counted so far. */
void pn_pacer_init_auto(struct pn_pacer *p, uint64_t hz, uint64_t now, uint64_t completed);

/* A fixed hold of `hold_ns` nanoseconds (0: ring at once, no pacing). */
void pn_pacer_init_fixed(struct pn_pacer *p, uint64_t hz, uint32_t hold_ns);

/* Ends the current epoch: records its rate and picks the next hold. Called
 * by pn_pacer_update(). */
void pn_pacer_epoch_end(struct pn_pacer *p, uint64_t now, uint64_t completed);

/* Called once per loop with the time and the count of completions so far;
 * moves to the next epoch when the current one is over. */
static inline void pn_pacer_update(struct pn_pacer *p, uint64_t now, uint64_t completed)
{
	if (p->adaptive && now - p->epoch_start >= p->epoch_ticks)
		pn_pacer_epoch_end(p, now, completed);
}

/* The hold kept last (or in use when fixed), in nanoseconds, for reports. */
uint32_t pn_pacer_kept_ns(const struct pn_pacer *p);

#endif
