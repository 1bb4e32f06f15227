"""Endurance / marathon: mixed verified random IO over the region for
`endurance_time` seconds, in segments of `smart_interval` with a SMART
snapshot after each: Data Units Written against what the host wrote (the
workers' completed writes), Media and Data Integrity Errors, temperature,
Critical Warning. Every read of the run is verified; the region is read
back at the end.

Data Units Written counts 1000 x 512 bytes, rounded up (NVMe 1.4 Figure
194), so between two snapshots it may differ from the host's bytes by one
unit; more than that, or any new media error, fails the run."""
import math
import time

from stresslib.smart import DATA_UNIT_BYTES


def test_endurance(stress):
    o = stress.opts
    rep = stress.report("endurance", "Endurance: mixed verified IO with SMART snapshots")
    first = stress.smart()
    snapshots = [{"elapsed_s": 0.0, "host_bytes_written": 0, "ios": 0, "iops": 0.0,
                  "error": None, **first}]
    host_bytes, t0 = 0, time.monotonic()
    segments = max(1, math.ceil(o["endurance_time"] / o["smart_interval"]))
    for n in range(segments):
        seconds = min(o["smart_interval"], o["endurance_time"] - n * o["smart_interval"])
        w = stress.start_worker(o["endurance_read_pct"], max(1, int(round(seconds))))
        r, _, hung = stress.finish_worker(w, bound_s=seconds + o["fault_stop_bound"])
        host_bytes += r.io_count_write * stress.io_size * stress.ns.lba_size
        snap = stress.smart()
        ios = r.io_count_read + r.io_count_nonread
        snapshots.append({"elapsed_s": round(time.monotonic() - t0, 1),
                          "host_bytes_written": host_bytes, "ios": ios,
                          "iops": round(ios * 1000 / r.mseconds, 1) if r.mseconds else 0.0,
                          "error": (r.error_text or r.error) if r.error else None,
                          "hung": hung, **snap})
        stress.say(f"segment {n + 1}/{segments}: {ios} IOs, host wrote "
                   f"{host_bytes / 1e6:.1f} MB, SMART data units written "
                   f"{snap['data_units_written'] - first['data_units_written']} "
                   f"({(snap['data_units_written'] - first['data_units_written']) * DATA_UNIT_BYTES / 1e6:.1f} MB), "
                   f"{snap['temperature_c']} C")
        if r.error or hung:
            break
    found, found_text = stress.check_data()
    problems = problems_of(snapshots, first)
    if found["mismatches"] or found["read_errors"]:
        problems.append(f"data lost: {found_text}")
    rep.data.update(snapshots=snapshots, check=found)
    fill_report(rep, snapshots, first, found_text, stress)
    assert not stress.finish(rep, problems), "; ".join(problems[:10])


def units_delta(snap, first):
    return snap["data_units_written"] - first["data_units_written"]


def problems_of(snapshots, first):
    problems = []
    for s in snapshots[1:]:
        at = f"at {s['elapsed_s']} s"
        if s["error"]:
            problems.append(f"{at}: the workload failed: {s['error']}")
        if s["hung"]:
            problems.append(f"{at}: the workload did not end within its bound (a hang)")
        expected = s["host_bytes_written"] / DATA_UNIT_BYTES
        if abs(units_delta(s, first) - expected) > 1:
            problems.append(f"{at}: SMART Data Units Written grew by {units_delta(s, first)} "
                            f"units, the host wrote {expected:.1f} units "
                            f"({s['host_bytes_written']} B): more than the one unit of rounding")
        if s["media_errors"] != first["media_errors"]:
            problems.append(f"{at}: Media and Data Integrity Errors went "
                            f"{first['media_errors']} -> {s['media_errors']}")
        if s["critical_warning"]:
            problems.append(f"{at}: SMART Critical Warning 0x{s['critical_warning']:02x}")
    return problems


def fill_report(rep, snaps, first, found_text, stress):
    last = snaps[-1]
    s = rep.section("Summary", (
        f"Mixed random IO ({stress.opts['endurance_read_pct']}% reads, QD{stress.opts['qdepth']}, "
        f"{stress.io_size}-LBA IOs, every read verified) for {last['elapsed_s']} s with a SMART "
        f"snapshot every {stress.opts['smart_interval']} s; the region read back at the end: "
        f"{found_text}."))
    s.table(["run (s)", "IOs", "host wrote (MB)", "SMART data units written (MB)",
             "media errors", "temperature (C, min-max)", "critical warning"],
            [[last["elapsed_s"], sum(x["ios"] for x in snaps),
              round(last["host_bytes_written"] / 1e6, 2),
              round(units_delta(last, first) * DATA_UNIT_BYTES / 1e6, 2),
              f"{first['media_errors']} -> {last['media_errors']}",
              f"{min(x['temperature_c'] for x in snaps)}-{max(x['temperature_c'] for x in snaps)}",
              f"0x{last['critical_warning']:02x}"]], caption="The run")
    t = rep.section("SMART snapshots")
    t.table(["elapsed (s)", "IOPS", "host wrote (MB)", "data units written (delta)",
             "host reads", "host writes", "media errors", "temperature (C)", "critical warning"],
            [[x["elapsed_s"], x["iops"], round(x["host_bytes_written"] / 1e6, 2),
              units_delta(x, first), x["host_read_commands"], x["host_write_commands"],
              x["media_errors"], x["temperature_c"], f"0x{x['critical_warning']:02x}"]
             for x in snaps], caption="Each snapshot")
    xs = [x["elapsed_s"] for x in snaps]
    t.chart("xy_chart", "written_host_vs_smart", caption="What the host wrote against what "
            "SMART counts (Data Units Written x 512,000 B).",
            series={"host (completed writes)": (xs, [x["host_bytes_written"] / 1e6 for x in snaps]),
                    "SMART Data Units Written": (xs, [units_delta(x, first) * DATA_UNIT_BYTES / 1e6
                                                      for x in snaps])},
            title="Data written: host against SMART", xlabel="time (s)", ylabel="MB")
    t.chart("xy_chart", "temperature_and_errors", caption="Composite temperature and media errors "
            "at each snapshot.",
            series={"temperature (C)": (xs, [x["temperature_c"] for x in snaps]),
                    "media errors": (xs, [x["media_errors"] for x in snaps])},
            title="Temperature and media errors", xlabel="time (s)", ylabel="C / count")
    t.chart("xy_chart", "iops_per_segment", caption="IOPS of each segment between snapshots.",
            series={"IOPS": (xs[1:], [x["iops"] for x in snaps[1:]])},
            title="IOPS between snapshots", xlabel="time (s)", ylabel="IOPS")
