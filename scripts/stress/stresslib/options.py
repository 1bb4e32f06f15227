"""Options of the stress suites: the "full" profile (a real drive, hours),
the "short" one (what the emulated test bed and the software controller run
inside the project's test command, seconds per suite), `name=value`
overrides, and the checks that must pass before any IO.

Sizes take k/m/g suffixes (binary); `region` is a size or a percentage of
the namespace, from LBA 0: every suite writes and checks data there only.
"""
import re

FULL = {
    "region": "16g",             # LBAs the suites write and check, from LBA 0 (or "100%")
    "io_size": 8,                # LBAs per IO of the verified workloads
    "qdepth": 64,                # IOs in flight per worker (+1 queue entry)
    "write_cache": "off",        # off: Volatile Write Cache disabled (completed = durable); keep
    # dirty power cycle
    "power_cycles": 1000,
    "power_run_min": 2.0,        # s of verified writes before the cut: random in [min, max]
    "power_run_max": 30.0,
    "power_off_time": 5.0,       # s without power
    # reset under IO
    "reset_loops": 1000,
    "reset_kinds": "controller,nssr,flr,hot_reset,slot_power",
    "reset_run_min": 1.0,
    "reset_run_max": 10.0,
    # hot plug and PCIe errors under IO
    "hotplug_loops": 100,
    "hotplug_out_time": 5.0,     # s the drive stays out
    "pcie_error_loops": 99,      # severities taken in turn: correctable, nonfatal, fatal
    # illegal admin commands under IO
    "illegal_commands": 100000,  # at most, sent while the workers run
    "illegal_time": 600,         # s the workers run
    "illegal_workers": 2,
    # endurance / marathon
    "endurance_time": 28800,     # s of mixed verified IO (8 hours)
    "smart_interval": 600,       # s between SMART snapshots
    "endurance_read_pct": 50,
    # bounds: nothing waits longer than this for a worker to stop after a fault
    "fault_stop_bound": 60.0,
    # a self-check of the suites (docs/stress.md): none; corrupt (data lost behind the
    # driver's back); no_fault (the fault is not made: must count as unreported);
    # drop (software controller: an illegal command is never answered)
    "plant": "none",
}

SHORT = dict(FULL, **{
    "region": "32m", "qdepth": 16,
    "power_cycles": 3, "power_run_min": 0.3, "power_run_max": 1.0, "power_off_time": 0.2,
    "reset_loops": 10, "reset_run_min": 0.2, "reset_run_max": 0.8,
    "hotplug_loops": 2, "hotplug_out_time": 0.2, "pcie_error_loops": 3,
    "illegal_commands": 300, "illegal_time": 4, "illegal_workers": 2,
    "endurance_time": 12, "smart_interval": 3,
    "fault_stop_bound": 30.0,
})

PROFILES = {"full": FULL, "short": SHORT}
RESET_KINDS = ("controller", "nssr", "flr", "hot_reset", "slot_power")
PLANTS = ("none", "corrupt", "no_fault", "drop")
FLOATS = {"power_run_min", "power_run_max", "power_off_time", "reset_run_min", "reset_run_max",
          "hotplug_out_time", "fault_stop_bound"}
TEXTS = {"region", "write_cache", "reset_kinds", "plant"}


class OptionError(ValueError):
    """A bad option, found before any IO was sent."""


def parse_size(text):
    """'32m' -> 33554432, '4k', '1g', '512' (bytes)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not m:
        raise OptionError(f"size {text!r} is not a whole number of bytes with an optional "
                          "k/m/g/t suffix (e.g. 32m, 1g)")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30,
                              "t": 1 << 40}[m.group(2)]


def _number(name, text, kind):
    try:
        value = kind(str(text).strip())
    except ValueError:
        raise OptionError(f"{name}: {text!r} is not a{'n integer' if kind is int else ' number'}") \
            from None
    if value < 0 or (kind is int and value == 0 and name not in ("endurance_read_pct",)):
        raise OptionError(f"{name}: {value} must be {'at least 1' if kind is int else '>= 0'}")
    return value


def resolve(profile, overrides):
    """(options, given): the profile's values with `name=value` overrides,
    checked. Raises OptionError naming what is wrong."""
    if profile not in PROFILES:
        raise OptionError(f"unknown profile {profile!r}: choose {' or '.join(PROFILES)}")
    raw, given = dict(PROFILES[profile]), set()
    for item in overrides:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in raw:
            raise OptionError(f"--stress {item!r}: expected NAME=VALUE with NAME one of "
                              f"{', '.join(sorted(raw))}")
        raw[name] = value.strip()
        given.add(name)
    opts = {}
    for name, value in raw.items():
        if name in TEXTS:
            opts[name] = str(value).strip()
        elif name in FLOATS:
            opts[name] = _number(name, value, float)
        else:
            opts[name] = _number(name, value, int)
    kinds = [k.strip() for k in opts["reset_kinds"].split(",") if k.strip()]
    bad = [k for k in kinds if k not in RESET_KINDS]
    if bad or not kinds:
        raise OptionError(f"reset_kinds {opts['reset_kinds']!r}: choose among "
                          f"{', '.join(RESET_KINDS)}")
    opts["reset_kinds"] = kinds
    if opts["write_cache"] not in ("off", "keep"):
        raise OptionError(f"write_cache {opts['write_cache']!r}: choose off or keep")
    if opts["plant"] not in PLANTS:
        raise OptionError(f"plant {opts['plant']!r}: choose {', '.join(PLANTS)}")
    if opts["endurance_read_pct"] > 100:
        raise OptionError(f"endurance_read_pct {opts['endurance_read_pct']} must be 0..100")
    for low, high in (("power_run_min", "power_run_max"), ("reset_run_min", "reset_run_max")):
        if opts[low] > opts[high]:
            raise OptionError(f"{low} {opts[low]:g} is above {high} {opts[high]:g}")
    region_lbas_of(opts["region"], 1 << 40, 512)   # the text, before the namespace is known
    return opts, given


def region_lbas_of(text, capacity, lba_size):
    """The region as a number of LBAs from 0, checked against the namespace."""
    t = str(text).strip()
    if t.endswith("%"):
        try:
            pct = float(t[:-1])
        except ValueError:
            raise OptionError(f"region {text!r} is not a percentage like 50%") from None
        if not 0 < pct <= 100:
            raise OptionError(f"region {text!r}: a percentage must be in (0, 100]")
        return max(1, int(capacity * pct / 100))
    size = parse_size(t)
    if size % lba_size or size == 0:
        raise OptionError(f"region {text!r} ({size} B) is not a positive multiple of the LBA "
                          f"size ({lba_size} B)")
    if size // lba_size > capacity:
        raise OptionError(f"region {text!r} is beyond the namespace ({capacity} LBAs of "
                          f"{lba_size} B)")
    return size // lba_size
