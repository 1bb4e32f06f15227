"""What the PTS tests share: rounds until steady state, a cell of the block
size x mix matrix, and the steady-state section of the report."""
from . import steady_state
from .options import mix_label, size_label


def cell(result, bs, read_pct, keep_distribution=False):
    """The JSON record of one measurement in a round."""
    from .measure import sparse
    c = {"bs": bs, "read_pct": read_pct, "iops": result["iops"], "mbps": result["mbps"],
         "lat_avg_us": result["lat_avg_us"], "lat_max_us": result["lat_max_us"],
         "ios": result["ios"], "seconds": result["seconds"]}
    if keep_distribution:
        c["distribution"] = sparse(result["distribution"])
    return c


def rounds_to_steady_state(perf, label, run_round, tracking_of):
    """Runs rounds (run_round(n) -> list of cells) until the tracking variable
    (tracking_of(cells)) reaches steady state or max_rounds. Returns
    (rounds, tracking values, SteadyState)."""
    o = perf.opts
    rounds, tracking = [], []
    ss = None
    for n in range(1, o["max_rounds"] + 1):
        cells = run_round(n)
        rounds.append({"round": n, "cells": cells})
        tracking.append(tracking_of(cells))
        ss = steady_state.find_steady_state(tracking, o["window"])
        perf.say(f"{label}: round {n} of at most {o['max_rounds']}: tracking variable "
                 f"{tracking[-1]:.4g}; " + (f"steady state reached (window rounds "
                                             f"{ss.window.first_round}-{n})" if ss.reached
                                             else "not steady yet"))
        if ss.reached:
            break
    return rounds, tracking, ss


def mix_size_rounds(perf, label, sizes, mixes, workers, qdepth, track, key,
                    keep_distribution=False, regions=None):
    """The rounds of the IOPS and latency tests (both variants): each round
    runs every block size x R/W mix cell in the PTS's order (mixes from writes
    to reads, block sizes large to small) for round_time, random IO with
    `workers` x `qdepth` IOs in flight (in `regions` when given: the client's
    ActiveRange segments), until the cell `track` = (bs, read_pct) reaches
    steady state in its `key` figure. Returns (rounds, tracking values,
    SteadyState)."""
    order = [(bs, mix) for mix in sorted(mixes) for bs in sorted(sizes, reverse=True)]
    extra = {"regions": regions} if regions else {}

    def one_round(n):
        cells = []
        for i, (bs, mix) in enumerate(order):
            perf.say(f"{label} round {n}: {cell_name(bs, mix)} ({i + 1} of {len(order)})")
            r = perf.measure(workers, qdepth, bs, mix, perf.opts["round_time"], **extra)
            cells.append(cell(r, bs, mix, keep_distribution=keep_distribution))
        return cells

    def tracking_of(cells):
        return next(c[key] for c in cells if (c["bs"], c["read_pct"]) == track)
    return rounds_to_steady_state(perf, label, one_round, tracking_of)


def window_rounds(ss):
    return set(range(ss.window.first_round, ss.window.last_round + 1)) if ss.window else set()


def steady_state_section(rep, ss, tracking, variable, unit, others=None):
    """Steady-state summary, the convergence chart and the window's figures."""
    s = rep.section("Steady state", ss.summary(variable))
    if not ss.reached:
        rep.note(ss.summary(variable))
    rounds = list(range(1, len(tracking) + 1))
    if ss.window:
        w = ss.window
        s.table(["measurement window", "average", "data excursion", "limit (20%)",
                 "slope excursion", "limit (10%)", "steady"],
                [[f"rounds {w.first_round}-{w.last_round}", w.average, w.data_excursion,
                  w.data_limit, w.slope_excursion, w.slope_limit, w.steady]],
                caption=f"PTS steady-state rule on {variable} ({unit})")
    s.chart("steady_state_chart", "steady_state",
            caption="Per-round tracking variable; over the measurement window its average, "
                    "the +-10% band and the least-squares line.",
            rounds=rounds, values=tracking, window=ss.window.as_dict() if ss.window else None,
            title=f"Steady-state convergence: {variable}", ylabel=unit, others=others)
    rep.data["steady_state"] = ss.as_dict()
    rep.data["tracking"] = {"variable": variable, "unit": unit, "values": tracking}
    return s


def cell_name(bs, read_pct):
    return f"{size_label(bs)} R/W {mix_label(read_pct)}"
