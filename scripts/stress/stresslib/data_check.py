"""Reading a region back after a fault and saying what was found.

What must read back comes from the driver's own record, the namespace's
verification table (lib/verify_table.h): an LBA gets the checksum of its
data when its write *completes*; a write that failed, or was cut off by a
reset or a power loss (the driver completes those itself, with an error),
makes its LBAs unknown, since the drive may hold the old data or the new.
So after a fault, every LBA the table holds a checksum for is one whose last
write completed before the fault, and a verified read of it must match:
Namespace.verify_counts() counts them ("LBAs checked"), a sequential pass
of verified reads over the region checks them.

A worker stops at its first mismatch (in completion order: reads of lower
LBAs may have been in flight); the LBAs on both sides of it are then read
again, so every mismatch is found (up to `max_listed`, then the count says
"at least").
"""
import warnings

MISCOMPARE = 0x0281


def read_back(ns, region_lbas, qdepth=16, chunk_lbas=64, max_listed=32):
    """Reads LBAs [0, region_lbas) with verification on. Returns a dict:
    checked (LBAs whose data is known: written or zeroes), unknown,
    mismatches (a list of {lba, expected_crc, found_crc}), read_errors (a list
    of texts: errors other than a mismatch, e.g. the drive failing reads),
    complete (False when the pass stopped early: too many mismatches or a
    read error), reads (read commands completed)."""
    if not ns.verifying:
        raise RuntimeError("read_back needs verification on (Namespace.verify_enable(True))")
    counts = ns.verify_counts(0, region_lbas)
    found = {"checked": counts["written"] + counts["zeroes"], "unknown": counts["unknown"],
             "mismatches": [], "read_errors": [], "complete": True, "reads": 0}
    todo = [(0, region_lbas)]          # ranges still to read, [start, end)
    while todo:
        start, end = todo.pop()
        if start >= end:
            continue
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")   # the worker's own warning is in the result
            r = ns.ioworker(io_size=min(chunk_lbas, end - start), lba_random=False,
                            read_percentage=100, region_start=start, region_end=end,
                            lba_start=start, qdepth=qdepth).start().close()
        found["reads"] += r.io_count_read
        if r.error == 0:
            continue
        if r.error == MISCOMPARE and "mismatch_lba" in r:
            m = r.mismatch_lba
            found["mismatches"].append({"lba": m, "expected_crc": r.mismatch_expected_crc,
                                        "found_crc": r.mismatch_found_crc})
            if len(found["mismatches"]) >= max_listed:
                found["complete"] = False
                break
            # reads of lower LBAs were in flight too and a mismatch among them
            # went unrecorded (the worker keeps its first error): both sides again
            todo += [(m + 1, end), (start, m)]
            continue
        found["read_errors"].append(f"reads of LBAs {start}-{end - 1}: {r.error_text or r.error}")
        found["complete"] = False
        break
    found["mismatches"].sort(key=lambda x: x["lba"])
    return found


def describe(found):
    """One line for the report and the assertion message."""
    n = len(found["mismatches"])
    text = (f"{found['checked']} LBAs checked, {n}{'' if found['complete'] else '+'} "
            f"mismatch{'es' if n != 1 else ''}")
    if found["mismatches"]:
        first = found["mismatches"][0]
        text += (f" (first LBA {first['lba']}: expected CRC 0x{first['expected_crc']:08x}, "
                 f"found 0x{first['found_crc']:08x})")
    if found["read_errors"]:
        text += "; " + "; ".join(found["read_errors"])
    return text


def plant_corruption(ctrl, ns, region_lbas, how_many=3):
    """The suite's self-check (plant=corrupt): overwrites `how_many` LBAs whose
    completed writes the table holds, through a second Namespace object that
    does not verify, as a drive losing data would. The check must then find
    them. Returns the LBAs it overwrote."""
    import nvme as d
    victims = []
    step = max(1, region_lbas // 64)
    other = d.Namespace(ctrl, ns.nsid)
    q = d.Qpair(ctrl, 4)
    try:
        buf = d.Buffer(ns.lba_size, pvalue=0xdeadbeef, ptype=32)
        for lba in range(0, region_lbas, step):
            if ns.verify_counts(lba, 1)["written"]:
                other.write(q, buf, lba, 1).waitdone()
                victims.append(lba)
                if len(victims) == how_many:
                    break
    finally:
        q.delete()
        other.close()
    return victims
