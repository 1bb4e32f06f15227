"""Latency statistics from a latency distribution: IO counts per 1 us of
latency (the ioworker's latency_distribution, bin i = i us).

The p-th percentile is the smallest latency L such that at least p% of the
IOs completed within L. Percentiles are compared in integer arithmetic (p to
1/1000 of a percent) so that 99.999% of 100,000 IOs is exactly 99,999 IOs.
"""
QOS_PERCENTILES = (99.0, 99.9, 99.99, 99.999)


def merge(distributions):
    """Sum of several distributions (of different lengths)."""
    out = []
    for counts in distributions:
        if len(counts) > len(out):
            out.extend([0] * (len(counts) - len(out)))
        for i, n in enumerate(counts):
            out[i] += n
    return out


def percentile(counts, pct):
    """Latency in us at percentile pct (0 < pct <= 100), or None without IOs."""
    if not 0 < pct <= 100:
        raise ValueError(f"percentile {pct} is outside (0, 100]")
    total = sum(counts)
    if total == 0:
        return None
    need = round(pct * 1000)   # in 1/1000 of a percent
    done = 0
    for us, n in enumerate(counts):
        done += n
        if done * 100000 >= need * total:
            return us
    return len(counts) - 1


def percentiles(counts, pcts=QOS_PERCENTILES):
    return {p: percentile(counts, p) for p in pcts}


def ios_needed(pct):
    """IOs needed before the percentile is more than the maximum (e.g. 100,000
    for 99.999%: with fewer, the slowest IO alone decides it)."""
    return round(100 / (100 - pct)) if pct < 100 else None


def mean(counts):
    total = sum(counts)
    return sum(us * n for us, n in enumerate(counts)) / total if total else None


def maximum(counts):
    for us in range(len(counts) - 1, -1, -1):
        if counts[us]:
            return us
    return None


def coefficient_of_variation(values):
    """Standard deviation (population) over mean, in percent; None when empty
    or the mean is 0. Used for IOPS of every second."""
    if not values:
        return None
    m = sum(values) / len(values)
    if m == 0:
        return None
    var = sum((v - m) ** 2 for v in values) / len(values)
    return 100.0 * var ** 0.5 / m
