"""Options of the performance suites: the specification's values (profile
"full", the default), the scaled-down "quick" profile for the emulated SSD,
parsing, and the checks against the namespace that must pass before any IO.

Every option is `name=value` (pytest: --perf name=value, repeatable). Sizes
take k/m/g suffixes (binary: 4k = 4096 B, 0.5k = 512 B); mixes are R/W
percentages ("65/35"); `qdepth` options count IOs in flight per worker
(fio's and the PTS's meaning; the ioworker's qdepth is one more).
"""
import re

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class OptionError(ValueError):
    """A bad option, found before any IO was sent."""


FULL = {
    "round_time": 60,            # s per measurement of one cell (PTS: 1 minute)
    "max_rounds": 25,            # PTS: steady state by round 25 or reported as not reached
    "window": 5,                 # rounds in the measurement window
    "range": "100%",             # tested LBA range (PTS ActiveRange), from LBA 0
    "wipc_fills": 2,             # workload-independent preconditioning: 128 KiB SEQ writes, x range
    "purge": "auto",             # auto (secure erase where claimed, else Format), format, none
    "iops_block_sizes": "0.5k,4k,8k,16k,32k,64k,128k,1024k",
    "iops_mixes": "100/0,95/5,65/35,50/50,35/65,5/95,0/100",
    "iops_workers": 4,           # PTS enterprise: T4Q32
    "iops_qdepth": 32,
    "tp_block_sizes": "128k,1024k",
    # PTS client (PTS-C): IO confined to the ActiveRange amount, cut into
    # segments spread at random over the ActiveRange (a share of the tested
    # range), at the client's lower outstanding IO
    "ptsc_active_range": "100%",   # of the tested range: 100% or 75%
    "ptsc_ar_amount": "8g",        # ActiveRange amount: what the segments add up to
    "ptsc_segments": 2048,
    "ptsc_seed": 1,                # where the segments fall (reported)
    "ptsc_workers": 2,             # client IOPS: T2Q16
    "ptsc_qdepth": 16,
    "ptsc_tp_block_sizes": "1024k",
    "tp_workers": 1,
    "tp_qdepth": 32,
    "lat_block_sizes": "0.5k,4k,8k",
    "lat_mixes": "100/0,65/35,0/100",   # at QD1, one worker
    "wsat_fills": 4,             # write saturation: 4 KiB RND writes until 4 x range ...
    "wsat_max_time": 86400,      # ... or 24 hours
    "wsat_round_time": 60,
    "wsat_workers": 4,
    "wsat_qdepth": 32,
    "qos_qdepths": "1,8,32,128",
    "qos_time": 60,
    "jedec_time": 1800,
    "jedec_workers": 4,
    "jedec_qdepth": 32,
    "jedec_read_pct": 0,         # JESD219 enterprise is a write workload
    "client_trace": "synthetic", # JESD219A client: a trace file (perflib/trace.py), or a stand-in
    "client_ios": 200000,        # IOs of the synthetic stand-in
    "client_qdepth": 32,
    "everyday_time": 60,
    "cycles": 20,                # controller resets, and power cycles
    "power_off_ms": 1000,        # how long each power cycle leaves the drive off
    "admin_repeats": 100,
}

QUICK = dict(FULL, **{
    "round_time": 1, "max_rounds": 5, "range": "64m", "wipc_fills": 2,
    "iops_block_sizes": "4k,128k", "iops_mixes": "100/0,65/35,0/100",
    "iops_workers": 2, "iops_qdepth": 16,
    "tp_qdepth": 16,
    "ptsc_ar_amount": "32m", "ptsc_segments": 16, "ptsc_qdepth": 8,
    "ptsc_tp_block_sizes": "128k,1024k",
    "lat_block_sizes": "0.5k,4k", "lat_mixes": "100/0,0/100",
    "wsat_max_time": 30, "wsat_round_time": 1, "wsat_workers": 2,
    "wsat_qdepth": 16,
    "qos_qdepths": "1,32", "qos_time": 3,
    "jedec_time": 5, "jedec_workers": 2, "jedec_qdepth": 16,
    "client_ios": 20000, "client_qdepth": 16,
    "everyday_time": 1, "cycles": 3, "admin_repeats": 10, "power_off_ms": 200,
})

PROFILES = {"full": FULL, "quick": QUICK}


def parse_size(text):
    """'4k' -> 4096, '0.5k' -> 512, '1m', '2g', '512' (bytes); KiB/MiB/GiB too."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not m:
        raise OptionError(f"size {text!r} is not a number of bytes with an optional "
                          "k/m/g suffix (e.g. 4k, 0.5k, 128KiB, 1m)")
    scale = {"": 1, "k": KIB, "m": MIB, "g": GIB, "t": 1024 * GIB}[m.group(2)]
    value = float(m.group(1)) * scale
    if value != int(value) or value <= 0:
        raise OptionError(f"size {text!r} is not a positive whole number of bytes")
    return int(value)


def size_label(nbytes):
    """512 -> '0.5 KiB', 4096 -> '4 KiB', 1048576 -> '1024 KiB' (the PTS writes KiB)."""
    kib = nbytes / KIB
    return f"{kib:g} KiB"


def parse_mix(text):
    """'65/35' -> 65 (the read percentage); the two must sum to 100."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise OptionError(f"mix {text!r} is not READ/WRITE percentages like 65/35")
    read, write = int(m.group(1)), int(m.group(2))
    if read + write != 100:
        raise OptionError(f"mix {text!r} sums to {read + write}%: reads and writes must "
                          "sum to 100%")
    return read


def mix_label(read_pct):
    return f"{read_pct}/{100 - read_pct}"


def parse_list(text, parse):
    items = [x for x in str(text).split(",") if x.strip()]
    if not items:
        raise OptionError(f"empty list {text!r}")
    return [parse(x) for x in items]


def parse_positive_int(name):
    def parse(text):
        try:
            value = int(str(text).strip())
        except ValueError:
            raise OptionError(f"{name}: {text!r} is not a whole number") from None
        if value < 1:
            raise OptionError(f"{name}: {value} must be at least 1")
        return value
    return parse


LIST_OPTIONS = {"iops_block_sizes": parse_size, "tp_block_sizes": parse_size,
                "ptsc_tp_block_sizes": parse_size,
                "lat_block_sizes": parse_size, "iops_mixes": parse_mix, "lat_mixes": parse_mix,
                "qos_qdepths": parse_positive_int("qos_qdepths")}
TEXT_OPTIONS = {"range", "purge", "client_trace", "ptsc_active_range", "ptsc_ar_amount"}


def resolve(profile, overrides):
    """The options of a run: the profile's values, then `name=value` overrides.
    Returns (options, given) where given is the set of names the user set.
    Raises OptionError for an unknown profile, name or value."""
    if profile not in PROFILES:
        raise OptionError(f"unknown profile {profile!r}: choose {' or '.join(PROFILES)}")
    raw = dict(PROFILES[profile])
    given = set()
    for item in overrides:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in raw:
            raise OptionError(f"--perf {item!r}: expected NAME=VALUE with NAME one of "
                              f"{', '.join(sorted(raw))}")
        raw[name] = value.strip()
        given.add(name)
    opts = {}
    for name, value in raw.items():
        if name in LIST_OPTIONS:
            opts[name] = parse_list(value, LIST_OPTIONS[name])
        elif name in TEXT_OPTIONS:
            opts[name] = str(value)
        elif name == "jedec_read_pct":
            opts[name] = int(value)
            if not 0 <= opts[name] <= 100:
                raise OptionError(f"jedec_read_pct {value} must be 0..100")
        else:
            opts[name] = parse_positive_int(name)(value)
    if opts["purge"] not in ("auto", "format", "none"):
        raise OptionError(f"purge {opts['purge']!r}: choose auto, format or none")
    if opts["window"] > opts["max_rounds"]:
        raise OptionError(f"window {opts['window']} is longer than max_rounds "
                          f"{opts['max_rounds']}: steady state could never be reached")
    parse_range_text(opts["range"])
    kind, _ = parse_range_text(opts["ptsc_active_range"])
    if kind != "pct":
        raise OptionError(f"ptsc_active_range {opts['ptsc_active_range']!r} must be a "
                          "percentage of the tested range, like 100% or 75%")
    parse_size(opts["ptsc_ar_amount"])
    return opts, given


def parse_range_text(text):
    """'100%' -> ('pct', 100.0); '64m' -> ('bytes', 67108864)."""
    t = str(text).strip()
    if t.endswith("%"):
        try:
            pct = float(t[:-1])
        except ValueError:
            raise OptionError(f"range {text!r} is not a percentage like 50%") from None
        if not 0 < pct <= 100:
            raise OptionError(f"range {text!r}: a percentage of the namespace must be in (0, 100]")
        return "pct", pct
    return "bytes", parse_size(t)


def range_lbas(text, capacity_lbas, lba_size):
    """The tested range as a number of LBAs from LBA 0, checked against the namespace."""
    kind, value = parse_range_text(text)
    if kind == "pct":
        return max(1, int(capacity_lbas * value / 100))
    if value % lba_size:
        raise OptionError(f"range {text!r} ({value} B) is not a multiple of the LBA size "
                          f"({lba_size} B)")
    lbas = value // lba_size
    if lbas > capacity_lbas:
        raise OptionError(f"range {text!r} ({size_label(value)}) is beyond the namespace, which "
                          f"holds {capacity_lbas} LBAs of {lba_size} B "
                          f"({size_label(capacity_lbas * lba_size)})")
    return lbas


def check_block_sizes(name, sizes, lba_size, max_transfer, range_bytes, user_given):
    """Block sizes the namespace can do. A size that is not a multiple of the
    LBA size or larger than the range is an error; one above the controller's
    MDTS is an error when the user asked for it, and is left out with a note
    when it came from the profile (a drive with MDTS < 1 MiB cannot send the
    PTS's 1024 KiB IOs as single commands). Returns (sizes, notes)."""
    kept, notes = [], []
    for bs in sizes:
        if bs % lba_size:
            raise OptionError(f"{name}: block size {size_label(bs)} ({bs} B) is not a multiple "
                              f"of the namespace's LBA size ({lba_size} B)")
        if bs > range_bytes:
            raise OptionError(f"{name}: block size {size_label(bs)} is larger than the tested "
                              f"range ({size_label(range_bytes)})")
        if max_transfer and bs > max_transfer:
            msg = (f"{name}: block size {size_label(bs)} is above the controller's maximum "
                   f"transfer size (MDTS: {size_label(max_transfer)})")
            if user_given:
                raise OptionError(msg)
            notes.append(msg + "; left out of this run")
            continue
        kept.append(bs)
    if not kept:
        raise OptionError(f"{name}: no block size left that the controller can transfer")
    return kept, notes


def check_qdepth(name, qdepth, max_queue_entries):
    """IOs in flight per worker: the ioworker's queue holds one more."""
    if qdepth + 1 > min(max_queue_entries, 1024):
        raise OptionError(f"{name}: {qdepth} IOs in flight need a queue of {qdepth + 1} "
                          f"entries; the controller allows {max_queue_entries} (CAP.MQES + 1)")
