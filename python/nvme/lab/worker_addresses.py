"""Several DUTs on one host: `--pciaddr=A,B` (or --pciaddr repeated) gives each
pytest-xdist worker its own device, gw0 -> A, gw1 -> B (docs/lab.md)."""
import re

# where a new address starts in a comma-separated list: a BDF or a software
# controller ("soft", "soft:..."); anything else continues the previous address
# (a software controller's options are comma-separated too: soft:size=64M,mdts=7)
ADDRESS_START = re.compile(r"^(?:soft(?::|$)|(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$)")


def split_addresses(value):
    """'0000:01:00.0,0000:02:00.0' -> both; 'soft:size=64M,mdts=7,soft:size=64M' -> two
    software controllers; None -> []."""
    if not value:
        return []
    out = []
    for token in str(value).split(","):
        token = token.strip()
        if not token:
            continue
        if out and not ADDRESS_START.match(token):
            out[-1] += "," + token
        else:
            out.append(token)
    return out


def worker_index(workerid):
    m = re.fullmatch(r"gw(\d+)", workerid or "")
    if not m:
        raise ValueError(f"pytest-xdist worker id {workerid!r} is not gwN")
    return int(m.group(1))


def address_for_worker(value, workerid):
    """This worker's address from the list; a clear error when the list is short."""
    addrs = split_addresses(value)
    i = worker_index(workerid)
    if len(addrs) == 1 and addrs[0].startswith("soft"):
        return addrs[0]     # a software controller lives in each worker's own process
    if i >= len(addrs):
        raise ValueError(f"--pciaddr lists {len(addrs)} device(s) ({', '.join(addrs)}) but "
                         f"worker {workerid} needs device #{i + 1}: give one address per "
                         f"xdist worker (-n {len(addrs)})")
    return addrs[i]
