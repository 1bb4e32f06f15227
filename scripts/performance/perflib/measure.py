"""One measurement: `workers` ioworkers at once on the tested range, their
results added up (IOPS, MB/s, latency distribution, IOPS of every second)."""
from . import percentiles


class WorkerError(RuntimeError):
    pass


def run(ns, workers, qdepth, block_bytes, read_pct, seconds, range_lbas, random=True,
        io_count=0, region_start=0, per_worker=None, **extra):
    """Runs the workload and returns a dict (JSON-ready, plus 'distribution':
    IO counts per 1 us, dense). qdepth: IOs in flight per worker (the
    ioworker's queue holds one more). block_bytes may be a dict size->weight.
    per_worker: a list of extra ioworker arguments, one dict per worker (e.g.
    each its own output_cmdlog_list). regions (a list of (start, end) LBA
    ranges) replaces the one region [region_start, range_lbas)."""
    lba = ns.lba_size
    size = ({b // lba: w for b, w in block_bytes.items()} if isinstance(block_bytes, dict)
            else block_bytes // lba)
    per_second = [[] for _ in range(workers)]
    ws = []
    for i in range(workers):
        kw = dict(io_size=size, lba_random=random, read_percentage=read_pct, qdepth=qdepth + 1,
                  output_io_per_second=per_second[i], **extra)
        if not extra.get("regions"):
            kw.update(region_start=region_start, region_end=range_lbas)
        kw.update(per_worker[i] if per_worker else {})
        if seconds:
            kw["time"] = seconds
        if io_count:
            kw["io_count"] = -(-io_count // workers)   # at least io_count in all
        ws.append(ns.ioworker(**kw))
    for w in ws:
        w.start()
    results = [w.close() for w in ws]
    for r in results:
        if r.error:
            raise WorkerError(f"ioworker error {r.error}: {r.error_text}")
    dist = percentiles.merge([r.latency_distribution for r in results])
    ios = sum(r.io_count_read + r.io_count_nonread for r in results)
    iops = sum(r.iops for r in results)
    longest = max((len(p) for p in per_second), default=0)
    each_second = [sum(p[i] for p in per_second if i < len(p)) for i in range(longest)]
    mean_bytes = (sum(b * w for b, w in block_bytes.items()) / sum(block_bytes.values())
                  if isinstance(block_bytes, dict) else block_bytes)
    return {
        "ios": ios, "reads": sum(r.io_count_read for r in results),
        "writes": sum(r.io_count_write for r in results),
        "seconds": max(r.mseconds for r in results) / 1000.0,
        "iops": iops, "mbps": iops * mean_bytes / 1e6,
        "lat_avg_us": percentiles.mean(dist), "lat_max_us": percentiles.maximum(dist),
        "iops_each_second": each_second, "distribution": dist,
    }


def sparse(counts):
    """[[us, count], ...] of the non-empty bins: how distributions go into JSON."""
    return [[us, n] for us, n in enumerate(counts) if n]


def dense(pairs):
    counts = [0] * ((max(us for us, _ in pairs) + 1) if pairs else 0)
    for us, n in pairs:
        counts[us] += n
    return counts
