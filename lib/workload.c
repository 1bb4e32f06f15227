#include "workload.h"

#include <errno.h>
#include <string.h>

#include "error.h"

#define ULL(x) ((unsigned long long)(x))

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	uint64_t r = v % a;

	return r ? v + (a - r) : v;
}

static inline uint64_t align_down(uint64_t v, uint64_t a)
{
	return v - v % a;
}

/* Aligned slbas of an nlb-LBA IO inside [lo, hi): sets *first and returns how
 * many there are (0: none). */
static uint64_t aligned_slots(uint64_t lo, uint64_t hi, uint64_t nlb, uint64_t align,
			      uint64_t *first)
{
	uint64_t last;

	if (hi < lo || hi - lo < nlb)
		return 0;
	*first = align_up(lo, align);
	last = align_down(hi - nlb, align);
	if (*first < lo || *first > last)   /* also catches align_up overflow */
		return 0;
	return (last - *first) / align + 1;
}

static int check_size(const struct pn_workload_params *p, uint64_t nlb)
{
	if (nlb == 0)
		return pn_fail(EINVAL, "io_size 0 must be at least 1 LBA");
	if (nlb > PN_WL_MAX_NLB)
		return pn_fail(EINVAL, "io_size %llu above NVMe's limit of %u LBAs per command",
			       ULL(nlb), PN_WL_MAX_NLB);
	if (p->max_xfer_bytes && nlb * p->lba_size > p->max_xfer_bytes)
		return pn_fail(E2BIG, "io_size %llu larger than MDTS (%llu LBAs, %llu KiB)",
			       ULL(nlb), ULL(p->max_xfer_bytes / p->lba_size),
			       ULL(p->max_xfer_bytes / 1024));
	return 0;
}

/* The region, sizes and alignments: every size must fit somewhere aligned. */
static int setup_sizes(struct pn_workload *w)
{
	struct pn_workload_params *p = &w->p;
	uint64_t span = p->region_end - p->region_start;
	uint32_t n;
	int rc;

	/* A size larger than the region is clipped to it, as the original
	 * pynvme clipped an int io_size (it refused lists; we clip them too). */
	switch (p->size_kind) {
	case PN_WL_SIZE_FIXED:
		if (p->size_min > span)
			p->size_min = (uint32_t)span;
		p->nsizes = 1;
		p->sizes[0] = p->size_min;
		p->size_weight[0] = 1;
		break;
	case PN_WL_SIZE_RANGE:
		if (p->size_step == 0)
			p->size_step = 1;
		if (p->size_min > p->size_max)
			return pn_fail(EINVAL, "io_size range %u..%u is empty", p->size_min,
				       p->size_max);
		if (p->nalign > 1)
			return pn_fail(EINVAL, "lba_align has %u entries; a range of io_size "
				       "takes one", p->nalign);
		if (p->size_max > span)
			p->size_max = (uint32_t)span;
		if (p->size_min > p->size_max)
			p->size_min = p->size_max;
		/* Check the extremes; sizes are drawn at run time. */
		if ((rc = check_size(p, p->size_min)) || (rc = check_size(p, p->size_max)))
			return rc;
		break;
	case PN_WL_SIZE_LIST:
		if (p->nsizes == 0 || p->nsizes > PN_WL_MAX_SIZES)
			return pn_fail(EINVAL, "io_size list has %u entries, must be 1..%u",
				       p->nsizes, PN_WL_MAX_SIZES);
		for (uint32_t i = 0; i < p->nsizes; i++)
			if (p->sizes[i] > span)
				p->sizes[i] = (uint32_t)span;
		break;
	default:
		return pn_fail(EINVAL, "io_size: unknown kind %d", (int)p->size_kind);
	}
	if (p->nalign > 1 && p->nalign != p->nsizes)
		return pn_fail(EINVAL, "lba_align has %u entries and io_size %u: give one, or "
			       "one per size", p->nalign, p->nsizes);
	for (uint32_t i = 0; i < p->nalign; i++)
		if (p->align[i] == 0)
			return pn_fail(EINVAL, "lba_align 0 must be at least 1");

	if (p->size_kind == PN_WL_SIZE_RANGE) {
		uint64_t align = p->nalign ? p->align[0] : 1, first;

		w->nslots = 0;
		if (aligned_slots(p->region_start, p->region_end, p->size_max, align, &first) == 0)
			return pn_fail(EINVAL, "region [%llu, %llu) holds no IO of io_size %u "
				       "aligned to lba_align %llu", ULL(p->region_start),
				       ULL(p->region_end), p->size_max, ULL(align));
		w->slots[0].align = (uint32_t)align;
		return 0;
	}

	n = p->nsizes;
	{
		uint64_t total = 0;

		for (uint32_t i = 0; i < n; i++) {
			struct pn_wl_size_slot *s = &w->slots[i];

			if ((rc = check_size(p, p->sizes[i])))
				return rc;
			s->nlb = p->sizes[i];
			s->align = p->nalign == 0 ? 1 : p->nalign == 1 ? p->align[0] : p->align[i];
			s->count = aligned_slots(p->region_start, p->region_end, s->nlb, s->align,
						 &s->first);
			if (s->count == 0)
				return pn_fail(EINVAL, "region [%llu, %llu) holds no IO of io_size %u "
					       "aligned to lba_align %u", ULL(p->region_start),
					       ULL(p->region_end), s->nlb, s->align);
			total += p->size_weight[i];
			w->size_cum_weight[i] = total;
		}
		if (total == 0)
			return pn_fail(EINVAL, "io_size weights sum to 0");
	}
	w->nslots = n;
	return 0;
}

/* A region list: checked, its cumulative weights built, and region_start /
 * region_end set to the span it covers (the rest of init, the sizes'
 * clipping and the worker's LBA lock, work on that span). */
static int setup_regions(struct pn_workload *w)
{
	struct pn_workload_params *p = &w->p;
	uint64_t total = 0;

	if (p->nregions > PN_WL_MAX_REGIONS)
		return pn_fail(EINVAL, "regions has %u entries, at most %u", p->nregions,
			       PN_WL_MAX_REGIONS);
	if (!p->regions)
		return pn_fail(EINVAL, "regions: %u entries but no data", p->nregions);
	if (p->ntrace)
		return pn_fail(EINVAL, "regions and io_sequence cannot be combined: a trace "
			       "names its own LBAs");
	if (p->has_distribution)
		return pn_fail(EINVAL, "regions and distribution cannot be combined: give the "
			       "regions weights instead");
	if (p->has_lba_step)
		return pn_fail(EINVAL, "regions and lba_step cannot be combined: sequential IOs "
			       "walk the regions in order");
	if (p->lba_start)
		return pn_fail(EINVAL, "regions and lba_start cannot be combined: sequential IOs "
			       "start at the first region");
	for (uint32_t i = 0; i < p->nregions; i++) {
		struct pn_wl_region *r = &p->regions[i];

		if (r->start >= r->end)
			return pn_fail(EINVAL, "regions[%u] [%llu, %llu) is empty", i,
				       ULL(r->start), ULL(r->end));
		if (r->end > p->ns_capacity)
			return pn_fail(EINVAL, "regions[%u] [%llu, %llu) beyond the namespace "
				       "capacity %llu", i, ULL(r->start), ULL(r->end),
				       ULL(p->ns_capacity));
		if (i && r->start < p->regions[i - 1].end)
			return pn_fail(EINVAL, "regions[%u] [%llu, %llu) overlaps or comes before "
				       "regions[%u] [%llu, %llu): sort them by LBA", i,
				       ULL(r->start), ULL(r->end), i - 1,
				       ULL(p->regions[i - 1].start), ULL(p->regions[i - 1].end));
		/* weights below 2^63 in all: no overflow of the sum */
		if ((r->weight ? r->weight : r->end - r->start) > (UINT64_C(1) << 62) ||
		    (total += r->weight ? r->weight : r->end - r->start) > (UINT64_C(1) << 62))
			return pn_fail(EINVAL, "regions: weights sum above 2^62");
		r->cum_weight = total;
	}
	p->region_start = p->regions[0].start;
	p->region_end = p->regions[p->nregions - 1].end;
	return 0;
}

/* Every size (the largest of a range) must fit, aligned, in every region. */
static int check_sizes_fit_regions(const struct pn_workload *w)
{
	const struct pn_workload_params *p = &w->p;
	uint32_t n = p->size_kind == PN_WL_SIZE_RANGE ? 1 : w->nslots;

	for (uint32_t i = 0; i < p->nregions; i++) {
		const struct pn_wl_region *r = &p->regions[i];

		for (uint32_t k = 0; k < n; k++) {
			uint32_t nlb = p->size_kind == PN_WL_SIZE_RANGE ? p->size_max : w->slots[k].nlb;
			uint64_t first;

			if (!aligned_slots(r->start, r->end, nlb, w->slots[k].align, &first))
				return pn_fail(EINVAL, "regions[%u] [%llu, %llu) holds no IO of io_size "
					       "%u aligned to lba_align %u", i, ULL(r->start),
					       ULL(r->end), nlb, w->slots[k].align);
		}
	}
	return 0;
}

static int setup_ops(struct pn_workload *w)
{
	struct pn_workload_params *p = &w->p;
	uint64_t sum = 0;
	uint32_t weighted = 0;

	if (p->nops == 0) {
		if (p->read_percentage > 100)
			return pn_fail(EINVAL, "read_percentage %u out of range 0..100",
				       p->read_percentage);
		p->nops = 2;
		p->ops[0].opcode = PN_OP_READ;
		p->ops[0].percentage = p->read_percentage;
		p->ops[1].opcode = PN_OP_WRITE;
		p->ops[1].percentage = 100 - p->read_percentage;
	}
	if (p->nops > PN_WL_MAX_OPS)
		return pn_fail(EINVAL, "op_percentage has %u entries, at most %u", p->nops,
			       PN_WL_MAX_OPS);
	/* Weights: with a sum of 100 the draw is the original's (one of 100);
	 * another sum is not refused, each op gets its share of it. */
	for (uint32_t i = 0; i < p->nops; i++) {
		for (uint32_t j = 0; j < i; j++)
			if (p->ops[j].opcode == p->ops[i].opcode)
				return pn_fail(EINVAL, "op_percentage names opcode 0x%02x twice",
					       p->ops[i].opcode);
		sum += p->ops[i].percentage;
		w->op_cum_weight[i] = sum;
		if (p->ops[i].percentage) {
			weighted++;
			w->single_op_index = i;
		}
	}
	if (sum == 0)
		return pn_fail(EINVAL, "op_percentage weights sum to 0: no command to send");
	w->single_op = weighted == 1;
	return 0;
}

static int setup_distribution(struct pn_workload *w)
{
	struct pn_workload_params *p = &w->p;
	uint64_t span = p->region_end - p->region_start;
	uint32_t sum = 0, k = 0;

	if (!p->has_distribution)
		return 0;
	for (int b = 0; b < PN_WL_DIST_BUCKETS; b++) {
		if (p->distribution[b] > PN_WL_DIST_TOTAL)
			return pn_fail(EINVAL, "distribution must have 100 entries summing to "
				       "10000 (entry %d is %u)", b, p->distribution[b]);
		sum += p->distribution[b];
	}
	if (sum != PN_WL_DIST_TOTAL)
		return pn_fail(EINVAL, "distribution must have 100 entries summing to 10000 "
			       "(sum %u)", sum);
	for (int b = 0; b < PN_WL_DIST_BUCKETS; b++)
		for (uint32_t j = 0; j < p->distribution[b]; j++)
			w->bucket_of_draw[k++] = (uint8_t)b;
	for (int b = 0; b <= PN_WL_DIST_BUCKETS; b++)
		w->dist_bound[b] = p->region_start +
				   (uint64_t)((unsigned __int128)span * b / PN_WL_DIST_BUCKETS);
	return 0;
}

static int setup_trace(struct pn_workload *w)
{
	const struct pn_workload_params *p = &w->p;

	/* Times need not be sorted (the original sent in list order, each
	 * entry once its time had come): not checked. */
	if (!p->trace)
		return pn_fail(EINVAL, "io_sequence: %llu entries but no data", ULL(p->ntrace));
	for (uint64_t i = 0; i < p->ntrace; i++) {
		const struct pn_wl_trace_entry *e = &p->trace[i];

		if (e->opcode != PN_OP_FLUSH) {
			if (e->nlb == 0 || e->nlb > PN_WL_MAX_NLB)
				return pn_fail(EINVAL, "io_sequence[%llu]: nlb %u out of range 1..%u",
					       ULL(i), e->nlb, PN_WL_MAX_NLB);
			if (e->slba >= p->ns_capacity || e->nlb > p->ns_capacity - e->slba)
				return pn_fail(EINVAL, "io_sequence[%llu]: LBAs [%llu, %llu) beyond "
					       "the namespace capacity %llu", ULL(i), ULL(e->slba),
					       ULL(e->slba + e->nlb), ULL(p->ns_capacity));
		}
	}
	return 0;
}

int pn_workload_init(struct pn_workload *w, const struct pn_workload_params *params)
{
	struct pn_workload_params *p;
	int rc;

	memset(w, 0, sizeof(*w));
	w->p = *params;
	p = &w->p;

	if (p->ns_capacity == 0 || p->lba_size == 0)
		return pn_fail(EINVAL, "namespace: capacity %llu LBAs of %u bytes is unusable",
			       ULL(p->ns_capacity), p->lba_size);
	if (p->qdepth < PN_WL_QDEPTH_MIN || p->qdepth > PN_WL_QDEPTH_MAX)
		return pn_fail(EINVAL, "qdepth %u out of range %u..%u", p->qdepth,
			       PN_WL_QDEPTH_MIN, PN_WL_QDEPTH_MAX);
	if (p->max_queue_entries && p->qdepth > p->max_queue_entries)
		return pn_fail(EINVAL, "qdepth %u larger than the controller's queue size "
			       "(CAP.MQES+1 = %u)", p->qdepth, p->max_queue_entries);
	if (p->lba_random > 100)
		return pn_fail(EINVAL, "lba_random %u out of range 0..100", p->lba_random);

	if (p->nregions && (rc = setup_regions(w)))
		return rc;
	if (p->region_end == 0 || p->region_end > p->ns_capacity)
		p->region_end = p->ns_capacity;
	if (p->region_start >= p->ns_capacity)
		return pn_fail(EINVAL, "region_start %llu beyond the namespace capacity %llu",
			       ULL(p->region_start), ULL(p->ns_capacity));
	if (p->region_start >= p->region_end)
		return pn_fail(EINVAL, "region_start %llu not below region_end %llu",
			       ULL(p->region_start), ULL(p->region_end));
	if (p->lba_start == 0)
		p->lba_start = p->region_start;
	if (p->lba_start < p->region_start || p->lba_start >= p->region_end)
		return pn_fail(EINVAL, "lba_start %llu outside the region [%llu, %llu)",
			       ULL(p->lba_start), ULL(p->region_start), ULL(p->region_end));

	if ((rc = setup_ops(w)))
		return rc;
	if (p->ntrace) {
		if ((rc = setup_trace(w)))
			return rc;
	} else {
		if ((rc = setup_sizes(w)) || (rc = setup_distribution(w)))
			return rc;
		if (p->nregions && (rc = check_sizes_fit_regions(w)))
			return rc;
		w->stop_at_pass_end = p->lba_random == 0 && p->io_count == 0 && p->time_s == 0;
		/* A pass that never moves never ends. */
		if (w->stop_at_pass_end && p->has_lba_step && p->lba_step == 0)
			return pn_fail(EINVAL, "no stop condition: lba_step 0 never ends a "
				       "sequential pass; give time or io_count");
		if (w->stop_at_pass_end && w->single_op &&
		    p->ops[w->single_op_index].opcode == PN_OP_FLUSH)
			return pn_fail(EINVAL, "no stop condition: only flushes never end a "
				       "sequential pass; give time or io_count");
		if (p->lba_random > 0 && p->io_count == 0 && p->time_s == 0)
			return pn_fail(EINVAL, "no stop condition: give time, io_count, or "
				       "lba_random=0 (one sequential pass)");
	}
	w->seq_cursor = p->lba_start;
	pn_rand_init_stream(&w->rand, p->rand_stream);
	return 0;
}

/* The index into p.ops of the next command: a draw over the weights (a
 * linear scan: at most PN_WL_MAX_OPS, usually 2). */
static inline uint32_t draw_op(struct pn_workload *w)
{
	uint64_t draw = pn_rand_below(&w->rand, w->op_cum_weight[w->p.nops - 1]);
	uint32_t i = 0;

	while (draw >= w->op_cum_weight[i])
		i++;
	return i;
}

/* io_size of the next IO: the slot (LIST/FIXED) or a drawn size (RANGE). */
static inline const struct pn_wl_size_slot *pick_size(struct pn_workload *w,
							struct pn_wl_size_slot *tmp)
{
	const struct pn_workload_params *p = &w->p;
	uint32_t lo = 0, hi;
	uint64_t draw;

	if (p->size_kind == PN_WL_SIZE_RANGE) {
		uint32_t steps = (p->size_max - p->size_min) / p->size_step + 1;

		tmp->nlb = p->size_min + p->size_step * (uint32_t)pn_rand_below(&w->rand, steps);
		tmp->align = w->slots[0].align;
		tmp->count = aligned_slots(p->region_start, p->region_end, tmp->nlb, tmp->align,
					   &tmp->first);
		return tmp;
	}
	if (w->nslots == 1)
		return &w->slots[0];
	/* Binary search of the cumulative weights: <= 7 steps for 128 sizes. */
	draw = pn_rand_below(&w->rand, w->size_cum_weight[w->nslots - 1]);
	hi = w->nslots - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (draw < w->size_cum_weight[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return &w->slots[lo];
}

/* A region list: the region by weight (binary search of the cumulative
 * weights, <= 16 steps for 65536 regions), then a start where the IO fits. */
static inline uint64_t random_slba_in_regions(struct pn_workload *w,
					      const struct pn_wl_size_slot *s)
{
	const struct pn_wl_region *r = w->p.regions;
	uint64_t draw = pn_rand_below(&w->rand, r[w->p.nregions - 1].cum_weight);
	uint64_t first = r[0].start, n;
	uint32_t lo = 0, hi = w->p.nregions - 1;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (draw < r[mid].cum_weight)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* init checked that every size fits in every region: n >= 1 */
	n = aligned_slots(r[lo].start, r[lo].end, s->nlb, s->align, &first);
	return first + pn_rand_below(&w->rand, n) * s->align;
}

static inline uint64_t random_slba(struct pn_workload *w, const struct pn_wl_size_slot *s)
{
	if (w->p.nregions)
		return random_slba_in_regions(w, s);
	if (w->p.has_distribution) {
		unsigned b = w->bucket_of_draw[pn_rand_below(&w->rand, PN_WL_DIST_TOTAL)];
		uint64_t first, hi = w->dist_bound[b + 1] + s->nlb - 1, n;

		/* An IO starts inside its bucket and may run past its end. */
		if (hi > w->p.region_end || hi < w->dist_bound[b + 1])
			hi = w->p.region_end;
		n = aligned_slots(w->dist_bound[b], hi, s->nlb, s->align, &first);
		if (n)
			return first + pn_rand_below(&w->rand, n) * s->align;
		/* The bucket is narrower than one aligned IO: anywhere. */
	}
	return s->first + pn_rand_below(&w->rand, s->count) * s->align;
}

/* The next sequential slba, or false at the end of a pass when the workload
 * stops there. */
static inline bool sequential_slba(struct pn_workload *w, const struct pn_wl_size_slot *s,
				   uint64_t *slba)
{
	const struct pn_workload_params *p = &w->p;
	int64_t step = p->has_lba_step ? p->lba_step : (int64_t)s->nlb;
	uint64_t at = align_down(w->seq_cursor, s->align);
	bool outside;

	/* An unaligned lba_start (or cursor) just above region_start rounds up
	 * into the region rather than ending the pass before it began. */
	if (at < p->region_start && w->seq_cursor >= p->region_start)
		at = align_up(w->seq_cursor, s->align);
	/* An IO that starts inside the region is sent, cut at its end by the
	 * caller (the original's truncation): a pass covers the whole region. */
	outside = w->seq_below || at < p->region_start || at >= p->region_end;

	if (outside) {
		if (w->stop_at_pass_end)
			return false;
		w->passes++;
		w->seq_below = false;
		if (step >= 0)
			at = s->first;
		else
			at = s->first + (s->count - 1) * s->align;
	}
	*slba = at;
	if (step >= 0) {
		w->seq_cursor = at + (uint64_t)step;
		if (w->seq_cursor < at)   /* overflow: past any region */
			w->seq_cursor = UINT64_MAX;
	} else if (at - p->region_start < (uint64_t)-step) {
		w->seq_below = true;
	} else {
		w->seq_cursor = at - (uint64_t)-step;
	}
	return true;
}

/* The next sequential slba of a region list and the end of its region, or
 * false at the end of a pass when the workload stops there. */
static inline bool sequential_slba_in_regions(struct pn_workload *w,
					      const struct pn_wl_size_slot *s,
					      uint64_t *slba, uint64_t *end)
{
	const struct pn_workload_params *p = &w->p;
	const struct pn_wl_region *r = &p->regions[w->seq_region];
	uint64_t at = align_up(w->seq_cursor, s->align);

	while (at >= r->end) {   /* this region is done: the next one */
		if (w->seq_region + 1 == p->nregions) {
			if (w->stop_at_pass_end)
				return false;
			w->passes++;
			w->seq_region = 0;
		} else {
			w->seq_region++;
		}
		r = &p->regions[w->seq_region];
		at = align_up(r->start, s->align);
	}
	*slba = at;
	*end = r->end;
	w->seq_cursor = at + s->nlb;
	return true;
}

bool pn_workload_next(struct pn_workload *w, struct pn_io *io)
{
	const struct pn_workload_params *p = &w->p;
	struct pn_wl_size_slot tmp;
	const struct pn_wl_size_slot *s;
	uint8_t opcode;

	if (w->done || (p->io_count && w->issued >= p->io_count))
		goto end;

	if (p->ntrace) {
		const struct pn_wl_trace_entry *e;

		if (w->trace_pos >= p->ntrace)
			goto end;
		e = &p->trace[w->trace_pos++];
		io->slba = e->slba;
		io->nlb = e->nlb;
		io->opcode = e->opcode;
		io->time_us = e->time_sent_us;
		goto out;
	}

	opcode = p->ops[w->single_op ? w->single_op_index : draw_op(w)].opcode;
	io->opcode = opcode;
	io->time_us = 0;
	if (opcode == PN_OP_FLUSH) {
		io->slba = 0;
		io->nlb = 0;
		goto out;
	}
	s = pick_size(w, &tmp);
	io->nlb = s->nlb;
	if (p->lba_random == 100 ||
	    (p->lba_random && pn_rand_below(&w->rand, 100) < p->lba_random)) {
		io->slba = random_slba(w, s);
		w->random_count++;
	} else {
		uint64_t end = p->region_end;

		if (p->nregions ? !sequential_slba_in_regions(w, s, &io->slba, &end)
				: !sequential_slba(w, s, &io->slba))
			goto end;
		if (io->nlb > end - io->slba)
			io->nlb = (uint32_t)(end - io->slba);
		w->sequential_count++;
	}
out:
	w->issued++;
	w->opcode_count[io->opcode]++;
	return true;
end:
	w->done = true;
	return false;
}
