"""The SNIA PTS client's ActiveRange segmentation: the ActiveRange amount cut
into equal segments (2,048 in the specification) placed at random over the
ActiveRange, never touching one another, handed to the ioworker as its
`regions` list."""
import random

from .options import OptionError, size_label


def place_segments(active_lbas, amount_lbas, count, grain_lbas, seed):
    """`count` segments of amount_lbas / count LBAs (rounded down to whole
    grains) at random places in [0, active_lbas), sorted, with at least one
    grain between neighbours (so no two form one segment); every segment
    starts on a grain boundary. Returns [(start, end), ...]. Raises
    OptionError when they cannot be placed."""
    if count < 1:
        raise OptionError(f"ptsc_segments {count} must be at least 1")
    seg_grains = amount_lbas // count // grain_lbas
    if seg_grains < 1:
        raise OptionError(f"client ActiveRange amount of {amount_lbas} LBAs in {count} segments "
                          f"leaves less than {grain_lbas} LBAs per segment")
    grains = active_lbas // grain_lbas
    free = grains - count * seg_grains - (count - 1)
    if free < 0:
        raise OptionError(f"{count} segments of {seg_grains * grain_lbas} LBAs with gaps between "
                          f"them do not fit in the ActiveRange of {active_lbas} LBAs: lower "
                          "ptsc_ar_amount")
    rng = random.Random(seed)
    # the spare grains, shared out at random before, between and after them
    cuts = sorted(rng.randint(0, free) for _ in range(count))
    return [((cut + i * (seg_grains + 1)) * grain_lbas,
             (cut + i * (seg_grains + 1) + seg_grains) * grain_lbas) for i, cut in enumerate(cuts)]


def describe(segments, lba_size, active_lbas):
    """One line for the report: how many, how large, where."""
    seg = segments[0][1] - segments[0][0]
    total = seg * len(segments)
    return (f"{len(segments)} segments of {size_label(seg * lba_size)} "
            f"({size_label(total * lba_size)} in all, {100.0 * total / active_lbas:.1f}% of the "
            f"ActiveRange), first at LBA {segments[0][0]}, last ending at LBA {segments[-1][1]}")
