"""Dirty power cycle: verified random writes at depth, power cut at a random
moment through the instrument (no shutdown notification), power back, then:

- every LBA whose last write completed before the cut reads back its data
  (the driver's verification table is the record of completed writes: LBA
  stamp and CRC; writes cut off are unknown, the drive may hold either);
- the cut was reported: the worker stopped with an error, within a bound;
- SMART's Unsafe Shutdowns grew by exactly one (unless the drive is known
  not to count: --stress-expect-unsafe-shutdowns=no, said in the report);
- the drive is usable: verified mixed IO runs clean.
"""
import time

from stresslib.verdicts import fault_problems


def test_dirty_power_cycle(stress):
    o = stress.opts
    rep = stress.report("dirty-power-cycle", "Dirty power cycle under verified random writes")
    cycles = []
    before = stress.smart()
    worker_time = int(o["power_run_max"] + o["fault_stop_bound"]) + 2
    for n in range(1, o["power_cycles"] + 1):
        w = stress.start_worker(read_pct=0, seconds=worker_time)
        ran = stress.random_pause(o["power_run_min"], o["power_run_max"])
        running_at_fault = w.running
        if o["plant"] != "no_fault":
            stress.subsystem.poweroff()
        r, stop_s, hung = stress.finish_worker(w)
        time.sleep(o["power_off_time"])
        stress.subsystem.poweron()
        stress.reinit()
        after = stress.smart()
        found, found_text = stress.check_data()
        unusable = stress.usable()
        c = {"cycle": n, "run_s": ran, "writes_completed": r.io_count_write,
             "writes_in_flight": stress.in_flight(r), "stop_s": stop_s, "hung": hung,
             "running_at_fault": running_at_fault, "reported": r.error != 0,
             "worker_error": r.error_text or r.error, "lbas_checked": found["checked"],
             "mismatches": len(found["mismatches"]), "mismatch_list": found["mismatches"],
             "readback_reads": found["reads"],
             "read_errors": found["read_errors"], "check": found_text,
             "unsafe_before": before["unsafe_shutdowns"], "unsafe_after": after["unsafe_shutdowns"],
             "power_cycles_before": before["power_cycles"],
             "power_cycles_after": after["power_cycles"], "usable": unusable or "yes"}
        cycles.append(c)
        stress.say(f"cycle {n}: cut after {ran:.2f} s with {c['writes_in_flight']} writes in "
                   f"flight ({r.io_count_write} completed); {found_text}; unsafe shutdowns "
                   f"{c['unsafe_before']} -> {c['unsafe_after']}")
        before = after
    rep.data["cycles"] = cycles
    problems = problems_of(cycles, stress.expect_unsafe)
    fill_report(rep, cycles, stress)
    assert not stress.finish(rep, problems), "; ".join(problems[:10])


def problems_of(cycles, expect_unsafe):
    problems = []
    for c in cycles:
        n = c["cycle"]
        problems += fault_problems(c, f"cycle {n}", "the power cut")
        if c["usable"] != "yes":
            problems.append(f"cycle {n}: {c['usable']}")
        if expect_unsafe and c["unsafe_after"] != c["unsafe_before"] + 1:
            problems.append(f"cycle {n}: SMART Unsafe Shutdowns went {c['unsafe_before']} -> "
                            f"{c['unsafe_after']}, expected +1 (a drive known not to count: "
                            "--stress-expect-unsafe-shutdowns=no)")
    return problems


def fill_report(rep, cycles, stress):
    total = len(cycles)
    unsafe = sum(c["unsafe_after"] - c["unsafe_before"] for c in cycles)
    power = sum(c["power_cycles_after"] - c["power_cycles_before"] for c in cycles)
    s = rep.section("Summary", (
        f"{total} power cuts at a random moment of verified random writes at QD"
        f"{stress.opts['qdepth']} ({stress.io_size}-LBA IOs over the region), each followed by "
        f"{stress.opts['power_off_time']:g} s without power, a controller reset and a read-back of "
        "the region. 'LBAs checked' are those the driver's verification table holds a checksum "
        "for: their last write completed before the cut. Writes in flight at the cut are the "
        "worker's IOs sent and not completed; their LBAs are not checked (the drive may hold "
        "the old or the new data)."))
    s.table(["cycles", "writes completed", "writes in flight at the cuts", "LBAs checked (last)",
             "read-back reads", "mismatches", "hangs", "cuts not reported",
             "unsafe shutdowns counted", "power cycles counted"],
            [[total, sum(c["writes_completed"] for c in cycles),
              sum(c["writes_in_flight"] for c in cycles),
              cycles[-1]["lbas_checked"] if cycles else 0,
              sum(c["readback_reads"] for c in cycles),
              sum(c["mismatches"] for c in cycles), sum(c["hung"] for c in cycles),
              sum(not c["reported"] for c in cycles), unsafe, power]], caption="All cycles")
    s.text("Unsafe Shutdowns: " + (
        "asserted: each cut must add exactly one." if stress.expect_unsafe else
        "NOT asserted (--stress-expect-unsafe-shutdowns=no: the drive is known not to count "
        f"them); counted {unsafe} for {total} cuts."))
    t = rep.section("Each cycle")
    t.table(["cycle", "cut after (s)", "writes completed", "writes in flight", "worker stop (s)",
             "reported", "LBAs checked", "mismatches", "unsafe shutdowns", "power cycles",
             "usable"],
            [[c["cycle"], c["run_s"], c["writes_completed"], c["writes_in_flight"], c["stop_s"],
              "yes" if c["reported"] else "NO", c["lbas_checked"], c["mismatches"],
              f"{c['unsafe_before']} -> {c['unsafe_after']}",
              f"{c['power_cycles_before']} -> {c['power_cycles_after']}", c["usable"]]
             for c in cycles], caption="Per cycle (worker stop: seconds from the cut until the "
                                       "worker had stopped)")
    x = [c["cycle"] for c in cycles]
    t.chart("line_chart", "in_flight_and_mismatches", caption="Writes in flight at each cut "
            "(their LBAs are not checked) and mismatches found after it (0 expected).", x=x,
            series={"writes in flight at the cut": [c["writes_in_flight"] for c in cycles],
                    "mismatches": [c["mismatches"] for c in cycles]},
            title="Dirty power cycles: writes cut off, data lost", xlabel="cycle", ylabel="count")
    t.chart("line_chart", "lbas_checked", caption="LBAs whose last write completed before the "
            "cut, read back after it.", x=x,
            series={"LBAs checked": [c["lbas_checked"] for c in cycles]},
            title="Dirty power cycles: LBAs checked after each cut", xlabel="cycle",
            ylabel="LBAs")
    t.chart("line_chart", "smart_counters", caption="SMART counters after each cycle, and the "
            "Unsafe Shutdowns a drive keeping score reaches.", x=x,
            series={"Unsafe Shutdowns": [c["unsafe_after"] for c in cycles],
                    "Unsafe Shutdowns expected (one per cut)":
                        [cycles[0]["unsafe_before"] + c["cycle"] for c in cycles],
                    "Power Cycles": [c["power_cycles_after"] for c in cycles]},
            title="SMART Unsafe Shutdowns and Power Cycles", xlabel="cycle", ylabel="count")
