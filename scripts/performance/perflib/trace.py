"""IO traces for replay through the ioworker's io_sequence: a trace file, or
a synthetic client-like trace when none is given.

Trace file: one IO per line, `timestamp_us,op,lba,count` with op R or W and
lba/count in 512-byte sectors (how block traces count), `#` comments. The
JESD219A client workload is a JEDEC trace distributed with the standard;
converted to this form it replays as is. It is not shipped here.
"""
import random

from .options import OptionError

READ, WRITE = 0x02, 0x01
SECTOR = 512


def load(path, lba_size, capacity_lbas):
    """[(timestamp_us, opcode, slba, nlb)] in namespace LBAs, checked against
    the namespace before any IO."""
    out = []
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        raise OptionError(f"trace {path}: {e}") from None
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            us, op, lba, count = int(fields[0]), fields[1].upper(), int(fields[2]), int(fields[3])
        except (ValueError, IndexError):
            raise OptionError(f"trace {path}:{n}: expected timestamp_us,R|W,lba,count, got "
                              f"{line!r}") from None
        if op not in ("R", "W"):
            raise OptionError(f"trace {path}:{n}: op {op!r} is not R or W")
        if (lba * SECTOR) % lba_size or (count * SECTOR) % lba_size or count <= 0:
            raise OptionError(f"trace {path}:{n}: sectors {lba}+{count} do not fall on the "
                              f"namespace's {lba_size}-byte LBAs")
        slba, nlb = lba * SECTOR // lba_size, count * SECTOR // lba_size
        if slba + nlb > capacity_lbas:
            raise OptionError(f"trace {path}:{n}: LBA {slba}+{nlb} is beyond the namespace "
                              f"({capacity_lbas} LBAs)")
        out.append((us, READ if op == "R" else WRITE, slba, nlb))
    if not out:
        raise OptionError(f"trace {path} holds no IO")
    return out


# A client-like mix (not the JEDEC trace): mostly 4 KiB, some large sequential
# transfers, writes somewhat more than reads, a hot 10% of the range (system
# and applications) taking 70% of the IOs, and one IO in five continuing the
# previous one (files read or written in pieces).
CLIENT_SIZES = {4096: 50, 8192: 10, 16384: 10, 32768: 8, 65536: 12, 131072: 10}
CLIENT_WRITE_PCT = 60
HOT_SHARE, HOT_PCT = 0.10, 70
SEQUENTIAL_PCT = 20


def synthetic_client(count, range_lbas, lba_size, max_transfer, seed=219):
    """A deterministic client-like trace of `count` IOs (all at time 0: replayed as
    fast as the queue allows) within [0, range_lbas)."""
    rng = random.Random(seed)
    sizes = [b for b in CLIENT_SIZES if b % lba_size == 0 and (not max_transfer or b <= max_transfer)]
    if not sizes:
        raise OptionError("no transfer size of the synthetic client trace fits this namespace")
    weights = [CLIENT_SIZES[b] for b in sizes]
    align = max(1, 4096 // lba_size)
    hot_end = max(align, int(range_lbas * HOT_SHARE) // align * align)
    out, next_lba = [], 0
    for _ in range(count):
        nlb = rng.choices(sizes, weights)[0] // lba_size
        if out and rng.randrange(100) < SEQUENTIAL_PCT and next_lba + nlb <= range_lbas:
            slba = next_lba
        else:
            span = hot_end if rng.randrange(100) < HOT_PCT else range_lbas
            slba = rng.randrange(0, max(1, (span - nlb) // align)) * align
        op = WRITE if rng.randrange(100) < CLIENT_WRITE_PCT else READ
        out.append((0, op, slba, nlb))
        next_lba = slba + nlb
    return out


def summary(trace, lba_size):
    """What the trace holds: counts, bytes, the size mix and the sequential share."""
    reads = [t for t in trace if t[1] == READ]
    writes = [t for t in trace if t[1] == WRITE]
    sizes = {}
    for _, _, _, nlb in trace:
        sizes[nlb * lba_size] = sizes.get(nlb * lba_size, 0) + 1
    sequential = sum(1 for a, b in zip(trace, trace[1:]) if b[2] == a[2] + a[3])
    return {"ios": len(trace), "reads": len(reads), "writes": len(writes),
            "read_bytes": sum(t[3] for t in reads) * lba_size,
            "write_bytes": sum(t[3] for t in writes) * lba_size,
            "sizes": dict(sorted(sizes.items())),
            "sequential_pct": 100.0 * sequential / max(1, len(trace) - 1),
            "lba_span": [min(t[2] for t in trace), max(t[2] + t[3] for t in trace)],
            "timed": any(t[0] for t in trace)}
