/* Doorbell pacing: see doorbell_pacer.h. */
#include "doorbell_pacer.h"

#include <string.h>

const uint32_t pn_pacer_candidates_ns[PN_PACER_NCAND] = {0, 250, 500, 750, 1000, 1500, 2000, 3000};

static uint64_t ns_to_ticks(uint64_t hz, uint64_t ns)
{
	return (uint64_t)((double)ns * (double)hz / 1e9 + 0.5);
}

static void set_candidates(struct pn_pacer *p, uint64_t hz)
{
	for (uint32_t i = 0; i < PN_PACER_NCAND; i++)
		p->cand_ticks[i] = ns_to_ticks(hz, pn_pacer_candidates_ns[i]);
}

void pn_pacer_init_auto(struct pn_pacer *p, uint64_t hz, uint64_t now, uint64_t completed)
{
	memset(p, 0, sizeof(*p));
	set_candidates(p, hz);
	p->adaptive = true;
	p->epoch_ticks = ns_to_ticks(hz, PN_PACER_EPOCH_MS * 1000000ull);
	if (!p->epoch_ticks)
		p->epoch_ticks = 1;
	p->exploring = 1;       /* the first round starts at once, with candidate 0 */
	p->hold_ticks = p->cand_ticks[0];
	p->epoch_start = now;
	p->epoch_completed = completed;
}

void pn_pacer_init_fixed(struct pn_pacer *p, uint64_t hz, uint32_t hold_ns)
{
	memset(p, 0, sizeof(*p));
	p->fixed_ns = hold_ns;
	p->hold_ticks = ns_to_ticks(hz, hold_ns);
}

/* The candidate to keep: the best average rate, unless it does not beat no
 * hold (candidate 0) by PN_PACER_MIN_GAIN. */
static uint32_t best_candidate(const struct pn_pacer *p)
{
	uint32_t best = 0;

	for (uint32_t i = 1; i < PN_PACER_NCAND; i++)
		if (p->rounds[i] && p->rate[i] > p->rate[best])
			best = i;
	if (best && p->rate[best] <= p->rate[0] * (1.0 + PN_PACER_MIN_GAIN))
		best = 0;
	return best;
}

void pn_pacer_epoch_end(struct pn_pacer *p, uint64_t now, uint64_t completed)
{
	uint64_t ticks = now - p->epoch_start;

	if (p->exploring && ticks) {
		double r = (double)(completed - p->epoch_completed) / (double)ticks;
		uint32_t i = p->cur;

		/* the average of all rounds, the latest weighing as much as the
		 * rest together: a noisy epoch moves it, but not alone */
		p->rate[i] = p->rounds[i] ? (p->rate[i] + r) / 2 : r;
		p->rounds[i]++;
		if (i + 1 < PN_PACER_NCAND) {
			p->cur = i + 1;
		} else {
			uint32_t kept = best_candidate(p);

			p->exploring = 0;
			p->exploit_left = PN_PACER_EXPLOIT_EPOCHS;
			if (kept != p->kept)
				p->switches++;
			p->kept = kept;
			p->cur = kept;
		}
	} else if (!p->exploring && --p->exploit_left == 0) {
		p->exploring = 1;
		p->cur = 0;
	}
	p->hold_ticks = p->cand_ticks[p->cur];
	p->epoch_start = now;
	p->epoch_completed = completed;
}

uint32_t pn_pacer_kept_ns(const struct pn_pacer *p)
{
	if (!p->adaptive)
		return p->fixed_ns;
	return pn_pacer_candidates_ns[p->kept];
}
