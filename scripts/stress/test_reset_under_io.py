"""Reset under IO: every reset kind (CC.EN controller reset, NSSR where
CAP.NSSRS claims it, FLR where claimed, PCIe hot reset, slot power) injected
at a random moment into verified mixed IO, N loops, kinds in a shuffled
rotation. After each: the worker stopped within a bound, every command it
had outstanding completed (with an error) or the fault was reported, the
region's data reads back (completed writes only), the drive takes IO."""
import time

from stresslib import resets
from stresslib.verdicts import fault_problems


def test_reset_under_io(stress):
    o = stress.opts
    rep = stress.report("reset-under-io", "Resets of every kind under verified IO")
    kinds, skipped = [], {}
    for kind in o["reset_kinds"]:
        why = resets.availability(stress, kind)
        (skipped.__setitem__(kind, why) if why else kinds.append(kind))
    assert kinds, f"no reset kind can be injected here: {skipped}"
    for kind, why in skipped.items():
        rep.note(f"reset kind {kind} left out: {why}")
        stress.say(f"reset kind {kind} left out: {why}")
    loops, order = [], []
    worker_time = int(o["reset_run_max"] + o["fault_stop_bound"]) + 2
    for n in range(1, o["reset_loops"] + 1):
        if not order:
            order = list(kinds)
            stress.rng.shuffle(order)
        kind = order.pop()
        w = stress.start_worker(read_pct=50, seconds=worker_time)
        at = stress.random_pause(o["reset_run_min"], o["reset_run_max"])
        running_at_fault = w.running
        t0 = time.monotonic()
        if o["plant"] == "no_fault":
            done, error = True, None
        else:
            done, error = resets.bounded(lambda: resets.inject(stress, kind, o["power_off_time"]),
                                         o["fault_stop_bound"])
        reset_s = round(time.monotonic() - t0, 3)
        r, stop_s, hung = stress.finish_worker(w)
        loop = {"loop": n, "kind": kind, "at_s": at, "reset_s": reset_s,
                "reset_returned": done, "reset_error": repr(error) if error else None,
                "running_at_fault": running_at_fault, "ios_completed":
                r.io_count_read + r.io_count_nonread, "in_flight": stress.in_flight(r),
                "stop_s": stop_s, "hung": hung, "reported": r.error != 0,
                "worker_error": r.error_text or r.error}
        if done and not error:
            stress.reinit()
            found, text = stress.check_data()
            loop.update(lbas_checked=found["checked"], mismatches=len(found["mismatches"]),
                        read_errors=found["read_errors"], check=text,
                        mismatch_list=found["mismatches"], readback_reads=found["reads"])
        else:
            loop.update(lbas_checked=0, mismatches=0, read_errors=[], check="not checked")
        loops.append(loop)
        stress.say(f"loop {n}: {kind} after {at:.2f} s, {loop['in_flight']} IOs cut off, worker "
                   f"stopped in {stop_s:.2f} s ({'reported' if loop['reported'] else 'NOT reported'}); "
                   f"{loop['check']}")
        if not done or error:
            break     # the device is in an unknown state: stop here, report what happened
    unusable = stress.usable() if loops and loops[-1]["reset_returned"] else "not tried"
    rep.data["loops"] = loops
    rep.data["skipped_kinds"] = skipped
    problems = problems_of(loops) + ([f"after the last loop: {unusable}"] if unusable else [])
    fill_report(rep, loops, kinds, stress)
    assert not stress.finish(rep, problems), "; ".join(problems[:10])


def problems_of(loops):
    problems = []
    for x in loops:
        n, kind = x["loop"], x["kind"]
        if not x["reset_returned"]:
            problems.append(f"loop {n}: {kind} did not return within the bound (a hang)")
        elif x["reset_error"]:
            problems.append(f"loop {n}: {kind} failed: {x['reset_error']}")
        else:
            problems += fault_problems(x, f"loop {n}", f"the {kind} reset")
    return problems


def fill_report(rep, loops, kinds, stress):
    s = rep.section("Summary", (
        f"Each loop starts verified 50/50 random IO at QD{stress.opts['qdepth']} over the region, "
        f"waits a random {stress.opts['reset_run_min']:g}-{stress.opts['reset_run_max']:g} s, "
        "injects one reset, waits (bounded) for the worker to stop, re-initialises the controller "
        "and reads the region back: every LBA whose last write completed must match. 'IOs cut "
        "off' were outstanding at the reset and completed with an error (by the device or the "
        "driver)."))
    rows = []
    for kind in kinds:
        mine = [x for x in loops if x["kind"] == kind]
        rows.append([kind, len(mine), sum(x["ios_completed"] for x in mine),
                     sum(x.get("readback_reads", 0) for x in mine),
                     sum(x["in_flight"] for x in mine), sum(x["reported"] for x in mine),
                     sum(x["hung"] or not x["reset_returned"] for x in mine),
                     sum(x["mismatches"] for x in mine),
                     max((x["stop_s"] for x in mine), default=0)])
    s.table(["reset kind", "loops", "IOs completed (verified)", "read-back reads",
             "IOs cut off", "faults reported", "hangs",
             "mismatches", "slowest stop (s)"], rows, caption="By reset kind")
    t = rep.section("Each loop")
    t.table(["loop", "kind", "reset after (s)", "reset took (s)", "IOs completed", "IOs cut off",
             "worker stop (s)", "reported", "LBAs checked", "mismatches", "worker's error"],
            [[x["loop"], x["kind"], x["at_s"], x["reset_s"], x["ios_completed"], x["in_flight"],
              x["stop_s"], "yes" if x["reported"] else "NO", x["lbas_checked"], x["mismatches"],
              str(x["worker_error"])[:50]] for x in loops], caption="Per loop")
    t.chart("bar_chart", "stop_time_by_kind", caption="Slowest and mean time from the reset "
            "until the worker had stopped, per kind.", categories=kinds,
            series={"mean (s)": [round(sum(x["stop_s"] for x in loops if x["kind"] == k) /
                                       max(1, sum(1 for x in loops if x["kind"] == k)), 3)
                                 for k in kinds],
                    "slowest (s)": [max((x["stop_s"] for x in loops if x["kind"] == k), default=0)
                                    for k in kinds]},
            title="Worker stop after each reset kind", xlabel="reset kind", ylabel="seconds")
    t.chart("line_chart", "ios_per_loop", caption="IOs completed before each reset, and IOs "
            "cut off by it.", x=[x["loop"] for x in loops],
            series={"IOs completed": [x["ios_completed"] for x in loops],
                    "IOs cut off": [x["in_flight"] for x in loops]},
            title="IOs per loop", xlabel="loop", ylabel="IOs")
