"""Hot plug and PCIe errors under verified IO, through the instrument.

Hot plug: surprise removal at a random moment of verified mixed IO (no
warning to the host), the drive out for a while, re-inserted; the worker
must stop with an error within a bound (never a hang), the driver brings
the function back (Pcie.reset(instrument.reinsert), Controller.reset()) and
every LBA whose last write completed reads back.

PCIe errors: correctable, non-fatal and fatal in turn, injected at a random
moment of verified IO; the error must show in the function's (or, with
AER, its port's) decoded error status; the IO either goes on without a data
error or stops with a reported error (then the function is reset); the
region's data is checked after each.
"""
import time

import pytest

from nvme.instruments import PCIE_ERROR_SEVERITIES
from nvme.pcie_errors import pcie_errors
from stresslib.verdicts import fault_problems


def test_hot_plug_under_io(stress):
    o = stress.opts
    if not (stress.supports("surprise_removal") and stress.supports("reinsert")):
        pytest.skip(stress.unsupported_text("surprise_removal"))
    inst = stress.instrument
    rep = stress.report("hot-plug-under-io", "Surprise removal and re-insertion under verified IO")
    loops = []
    worker_time = int(o["reset_run_max"] + o["fault_stop_bound"]) + 2
    for n in range(1, o["hotplug_loops"] + 1):
        w = stress.start_worker(read_pct=50, seconds=worker_time)
        at = stress.random_pause(o["reset_run_min"], o["reset_run_max"])
        running = w.running
        if o["plant"] != "no_fault":
            inst.surprise_removal()
        r, stop_s, hung = stress.finish_worker(w)
        time.sleep(o["hotplug_out_time"])
        stress.pcie.reset(inst.reinsert)
        stress.reinit()
        found, text = stress.check_data()
        loops.append({"loop": n, "at_s": at, "running_at_fault": running,
                      "ios_completed": r.io_count_read + r.io_count_nonread,
                      "in_flight": stress.in_flight(r), "stop_s": stop_s, "hung": hung,
                      "reported": r.error != 0, "worker_error": r.error_text or r.error,
                      "lbas_checked": found["checked"], "mismatches": len(found["mismatches"]),
                      "read_errors": found["read_errors"], "check": text,
                      "readback_reads": found["reads"]})
        stress.say(f"removal {n} after {at:.2f} s: {loops[-1]['in_flight']} IOs cut off, worker "
                   f"stopped in {stop_s:.2f} s; {text}")
    unusable = stress.usable()
    rep.data["loops"] = loops
    problems = [p for x in loops for p in fault_problems(x, f"removal {x['loop']}",
                                                          "the surprise removal")]
    problems += [f"after the last re-insertion: {unusable}"] if unusable else []
    s = rep.section("Each removal", (
        f"Surprise removal ({inst}) at a random {o['reset_run_min']:g}-{o['reset_run_max']:g} s "
        f"of verified 50/50 random IO, {o['hotplug_out_time']:g} s out, re-inserted, the "
        "controller re-initialised and the region read back."))
    s.table(["removal", "after (s)", "IOs completed", "IOs cut off", "worker stop (s)", "reported",
             "LBAs checked", "mismatches", "worker's error"],
            [[x["loop"], x["at_s"], x["ios_completed"], x["in_flight"], x["stop_s"],
              "yes" if x["reported"] else "NO", x["lbas_checked"], x["mismatches"],
              str(x["worker_error"])[:50]] for x in loops], caption="Per removal")
    s.chart("line_chart", "removal_stop_time", caption="Seconds from the removal until the "
            "worker had stopped with an error.", x=[x["loop"] for x in loops],
            series={"worker stop (s)": [x["stop_s"] for x in loops]},
            title="Surprise removal: time to notice", xlabel="removal", ylabel="seconds")
    assert not stress.finish(rep, problems), "; ".join(problems[:10])


def test_pcie_errors_under_io(stress):
    o = stress.opts
    if not stress.supports("inject_pcie_error"):
        pytest.skip(stress.unsupported_text("inject_pcie_error"))
    inst = stress.instrument
    port = getattr(getattr(inst, "slot", None), "port", None) \
        if getattr(inst, "errors_at", "device") == "port" else None
    rep = stress.report("pcie-errors-under-io", "PCIe errors under verified IO")
    loops = []
    for n in range(1, o["pcie_error_loops"] + 1):
        severity = PCIE_ERROR_SEVERITIES[(n - 1) % len(PCIE_ERROR_SEVERITIES)]
        w = stress.start_worker(read_pct=50, seconds=int(o["reset_run_max"]) + 2)
        at = stress.random_pause(o["reset_run_min"], o["reset_run_max"])
        running = w.running
        if o["plant"] != "no_fault":
            inst.inject_pcie_error(severity)
        seen = pcie_errors(port or stress.pcie)
        decoded = sorted(seen.device_status | seen.uncorrectable | seen.correctable)
        r, stop_s, hung = stress.finish_worker(w)
        if r.error:
            stress.pcie.reset()     # the function may have been reset behind the driver's back
        stress.reinit()
        found, text = stress.check_data()
        loops.append({"loop": n, "severity": severity, "at_s": at, "running_at_fault": running,
                      "decoded": decoded, "status_shows_it": severity in seen.device_status or
                      bool(seen.uncorrectable if severity != "correctable" else seen.correctable),
                      "ios_completed": r.io_count_read + r.io_count_nonread,
                      "in_flight": stress.in_flight(r), "stop_s": stop_s, "hung": hung,
                      "worker_error": r.error_text or r.error, "lbas_checked": found["checked"],
                      "mismatches": len(found["mismatches"]), "read_errors": found["read_errors"],
                      "check": text, "readback_reads": found["reads"]})
        stress.say(f"{severity} error {n} after {at:.2f} s: status {decoded}; worker "
                   f"{'stopped: ' + str(r.error_text) if r.error else 'went on'}; {text}")
    unusable = stress.usable()
    rep.data["loops"] = loops
    problems = []
    for x in loops:
        if x["hung"]:
            problems.append(f"error {x['loop']} ({x['severity']}): the worker still ran "
                            f"{x['stop_s']} s after its end (a hang)")
        if not x["status_shows_it"]:
            problems.append(f"error {x['loop']} ({x['severity']}): not in the decoded error "
                            f"status (found {x['decoded'] or 'nothing'}): unreported")
        if x["mismatches"] or x["read_errors"]:
            problems.append(f"error {x['loop']} ({x['severity']}): data lost: {x['check']}")
    problems += [f"after the last error: {unusable}"] if unusable else []
    s = rep.section("Each error", (
        f"Errors injected by {inst} into {port or 'the NVMe function'} at a random moment of "
        "verified 50/50 random IO; the decoded status is read right after (Device Status, and "
        "the AER registers where the function has them)."))
    s.table(["error", "severity", "after (s)", "decoded status", "IOs completed", "worker",
             "LBAs checked", "mismatches"],
            [[x["loop"], x["severity"], x["at_s"], ", ".join(x["decoded"]) or "none",
              x["ios_completed"], str(x["worker_error"])[:70] if x["worker_error"] else "went on",
              x["lbas_checked"], x["mismatches"]] for x in loops], caption="Per error")
    s.chart("bar_chart", "ios_by_severity", caption="IOs completed in the loops of each severity.",
            categories=list(PCIE_ERROR_SEVERITIES),
            series={"IOs completed": [sum(x["ios_completed"] for x in loops if x["severity"] == sev)
                                      for sev in PCIE_ERROR_SEVERITIES]},
            title="Verified IO around PCIe errors", xlabel="severity", ylabel="IOs")
    assert not stress.finish(rep, problems), "; ".join(problems[:10])
