#include "latency_histogram.h"

#include <string.h>

void pn_hist_reset(struct pn_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void pn_hist_merge(struct pn_hist *into, const struct pn_hist *from)
{
	if (from->count == 0)
		return;
	for (unsigned i = 0; i < PN_HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	if (from->min < into->min)
		into->min = from->min;
}

uint64_t pn_hist_bucket_low(unsigned index)
{
	unsigned group = index >> PN_HIST_SUB_BITS;
	unsigned sub = index & (PN_HIST_SUB_COUNT - 1);

	if (group < 2)
		return index;
	/* Group g >= 2 holds [2^(g+6), 2^(g+7)) in steps of 2^(g-1). */
	return ((uint64_t)(PN_HIST_SUB_COUNT + sub)) << (group - 1);
}

uint64_t pn_hist_bucket_high(unsigned index)
{
	unsigned group = index >> PN_HIST_SUB_BITS;

	if (group < 2)
		return index;
	return pn_hist_bucket_low(index) + ((1ull << (group - 1)) - 1);
}

uint64_t pn_hist_percentile(const struct pn_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (!(p > 0.0))   /* also catches NaN */
		return h->min;
	if (p >= 100.0)
		return h->max;
	/* rank = ceil(p% of count), at least 1: the nearest-rank definition. */
	{
		long double exact = (long double)p / 100.0L * (long double)h->count;

		rank = (uint64_t)exact;
		if ((long double)rank < exact)
			rank++;
		if (rank == 0)
			rank = 1;
	}
	for (unsigned i = 0; i < PN_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t low = pn_hist_bucket_low(i), high = pn_hist_bucket_high(i);
			uint64_t mid = low + (high - low) / 2;

			if (mid < h->min)
				mid = h->min;
			if (mid > h->max)
				mid = h->max;
			return mid;
		}
	}
	return h->max;
}

double pn_hist_mean(const struct pn_hist *h)
{
	if (h->count == 0)
		return 0.0;
	return (double)((long double)h->sum / (long double)h->count);
}

uint64_t pn_hist_count_at_or_below(const struct pn_hist *h, uint64_t value)
{
	unsigned last = pn_hist_index(value);
	uint64_t n = 0;

	for (unsigned i = 0; i <= last; i++)
		n += h->buckets[i];
	return n;
}
