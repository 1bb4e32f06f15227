"""scripts/performance/perflib: the PTS steady-state rule, latency percentiles,
the block size x mix tables and the option checks, on synthetic series whose
answers are known."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "performance"))

from perflib import options, percentiles, steady_state, tables  # noqa: E402


# ---- steady state ---------------------------------------------------------

def test_flat_series_is_steady_at_the_first_full_window():
    ss = steady_state.find_steady_state([1000.0] * 8)
    assert ss.reached and ss.round == 5
    assert (ss.window.first_round, ss.window.last_round) == (1, 5)
    assert ss.window.average == 1000.0 and ss.window.slope == 0.0


def test_fewer_rounds_than_the_window_decide_nothing():
    ss = steady_state.find_steady_state([1000.0] * 4)
    assert not ss.reached and ss.window is None and ss.checks == []
    assert "fewer than 5 rounds" in ss.summary("IOPS")


def test_fresh_drive_decay_reaches_steady_state_at_a_known_round():
    # FOB burst: 3 rounds high, then a plateau at 100 from round 6 on
    series = [500, 400, 300, 150, 110, 100, 100, 101, 99, 100, 100]
    ss = steady_state.find_steady_state(series)
    # rounds 5..9 (110, 100, 100, 101, 99): data excursion 11 <= 20% of 102,
    # and the fit falls by 2.1 per round, 8.4 across the window <= 10% of 102
    assert ss.reached and ss.round == 9
    w = ss.window
    assert w.values == [110, 100, 100, 101, 99]
    assert w.average == pytest.approx(102.0)
    assert w.data_excursion == 11
    assert w.slope == pytest.approx(-2.1)
    assert w.slope_excursion == pytest.approx(8.4)
    # the window before (4..8) fails on the data excursion: 150 - 100 > 20% of 112.2
    before = ss.checks[-2]
    assert (before.first_round, before.data_ok) == (4, False)


def test_data_excursion_limit_is_inclusive():
    # values 90,110 alternate: average 100 (with 5 values: 90,110,90,110,100)
    series = [90, 110, 90, 110, 100]
    ss = steady_state.find_steady_state(series)
    w = ss.window
    assert w.average == 100 and w.data_excursion == 20 and w.data_limit == pytest.approx(20)
    assert w.data_ok
    ss = steady_state.find_steady_state([89, 110, 90, 110, 101])   # excursion 21 > 20
    assert not ss.window.data_ok and not ss.reached


def test_a_steady_slope_fails_the_slope_rule_only():
    # +3% of the average per round: excursion of the fit 4 x 3 = 12% > 10%, data 12% < 20%
    series = [94, 97, 100, 103, 106]
    ss = steady_state.find_steady_state(series)
    assert ss.window.data_ok and not ss.window.slope_ok and not ss.reached
    assert ss.window.slope == pytest.approx(3.0)


def test_never_converging_series_reports_the_last_window():
    series = [100 * (1.5 if i % 2 else 0.5) for i in range(25)]   # 50/150 forever
    ss = steady_state.find_steady_state(series)
    assert not ss.reached and ss.round == 25
    assert (ss.window.first_round, ss.window.last_round) == (21, 25)
    assert len(ss.checks) == 21
    assert "not reached by round 25" in ss.summary("IOPS")


def test_a_rising_series_never_converges():
    ss = steady_state.find_steady_state([100 * 1.05 ** i for i in range(25)])
    assert not ss.reached and not any(c.steady for c in ss.checks)


# ---- percentiles ----------------------------------------------------------

def test_percentiles_of_a_uniform_distribution():
    counts = [0] + [1] * 1000          # one IO at each of 1..1000 us
    assert percentiles.percentile(counts, 50) == 500
    assert percentiles.percentile(counts, 99) == 990
    assert percentiles.percentile(counts, 99.9) == 999
    assert percentiles.percentile(counts, 100) == 1000
    assert percentiles.mean(counts) == pytest.approx(500.5)
    assert percentiles.maximum(counts) == 1000


def test_five_nines_of_100000_ios_is_exact():
    counts = [0] * 201
    counts[10] = 99999
    counts[200] = 1                  # the single slowest IO
    assert percentiles.percentile(counts, 99.999) == 10
    counts[10], counts[100] = 99998, 1
    # 99.999% of 100,000 = 99,999 IOs: the 99,999th is at 100 us
    assert percentiles.percentile(counts, 99.999) == 100
    assert percentiles.percentile(counts, 99.99) == 10


def test_too_few_ios_make_the_tail_percentiles_the_maximum():
    counts = [0, 50, 0, 49, 0, 1]
    assert percentiles.percentiles(counts) == {99.0: 3, 99.9: 5, 99.99: 5, 99.999: 5}
    assert percentiles.ios_needed(99.999) == 100000
    assert percentiles.ios_needed(99) == 100


def test_empty_distribution_and_bad_percentile():
    assert percentiles.percentile([0, 0], 99) is None
    assert percentiles.mean([]) is None and percentiles.maximum([0]) is None
    with pytest.raises(ValueError):
        percentiles.percentile([1], 0)
    with pytest.raises(ValueError):
        percentiles.percentile([1], 100.5)


def test_merge_sums_distributions_of_different_lengths():
    assert percentiles.merge([[1, 2], [0, 1, 5], []]) == [1, 3, 5]


def test_coefficient_of_variation():
    assert percentiles.coefficient_of_variation([100, 100, 100]) == 0
    assert percentiles.coefficient_of_variation([90, 110]) == pytest.approx(10.0)
    assert percentiles.coefficient_of_variation([0, 0]) is None
    assert percentiles.coefficient_of_variation([]) is None


# ---- mix x size tables ----------------------------------------------------

def synthetic_rounds(n):
    """IOPS = bs_KiB x 1000 + read_pct x 10 + round: every cell distinct."""
    return [{"round": r, "cells": [
        {"bs": bs, "read_pct": mix, "iops": bs // 1024 * 1000 + mix * 10 + r}
        for bs in (4096, 131072) for mix in (100, 65, 0)]} for r in range(1, n + 1)]


def test_table_averages_the_measurement_window_only():
    rounds = synthetic_rounds(7)
    cols, rows = tables.mix_size_table(rounds, [4096, 131072], [100, 65, 0], "iops", {3, 4, 5, 6, 7})
    assert cols == ["block size", "R/W 100/0", "R/W 65/35", "R/W 0/100"]
    # rounds 3..7 average to +5
    assert rows[0] == ["4 KiB", 4000 + 1000 + 5, 4000 + 650 + 5, 4000 + 0 + 5]
    assert rows[1] == ["128 KiB", 128000 + 1000 + 5, 128000 + 650 + 5, 128000 + 5]


def test_table_cell_never_measured_is_none():
    rounds = synthetic_rounds(2)
    matrix = tables.mix_size_matrix(rounds, [4096, 8192], [100], "iops", {1, 2})
    assert matrix == [[4000 + 1000 + 1.5], [None]]
    assert tables.series(rounds, 4096, 0, "iops") == [4001, 4002]


# ---- options --------------------------------------------------------------

def test_sizes_mixes_and_labels():
    assert options.parse_size("4k") == 4096
    assert options.parse_size("0.5k") == 512
    assert options.parse_size("128KiB") == 131072
    assert options.parse_size("1m") == 1048576
    assert options.size_label(512) == "0.5 KiB" and options.size_label(1048576) == "1024 KiB"
    assert options.parse_mix("65/35") == 65 and options.mix_label(65) == "65/35"
    for bad in ("4x", "0", "0.3k", "-4k"):
        with pytest.raises(options.OptionError):
            options.parse_size(bad)


def test_a_mix_over_100_percent_is_refused_with_its_sum():
    with pytest.raises(options.OptionError, match="sums to 110%"):
        options.resolve("quick", ["iops_mixes=70/40"])


def test_profiles_and_overrides():
    full, given = options.resolve("full", [])
    assert full["round_time"] == 60 and full["max_rounds"] == 25 and not given
    assert len(full["iops_block_sizes"]) == 8 and len(full["iops_mixes"]) == 7
    quick, given = options.resolve("quick", ["round_time=2", "lat_block_sizes=4k"])
    assert quick["round_time"] == 2 and quick["lat_block_sizes"] == [4096]
    assert given == {"round_time", "lat_block_sizes"}
    with pytest.raises(options.OptionError, match="NAME one of"):
        options.resolve("quick", ["no_such=1"])
    with pytest.raises(options.OptionError, match="unknown profile"):
        options.resolve("long", [])
    with pytest.raises(options.OptionError, match="longer than max_rounds"):
        options.resolve("quick", ["window=6"])


def test_range_checks_against_the_namespace():
    assert options.range_lbas("50%", 1000, 512) == 500
    assert options.range_lbas("64m", 2 ** 21, 512) == 2 ** 17
    with pytest.raises(options.OptionError, match="beyond the namespace"):
        options.range_lbas("2g", 2 ** 21, 512)
    with pytest.raises(options.OptionError, match="percentage"):
        options.range_lbas("150%", 1000, 512)


def test_block_size_checks():
    kept, notes = options.check_block_sizes("x", [512, 4096, 1048576], 512, 524288, 2 ** 26, False)
    assert kept == [512, 4096] and "MDTS: 512 KiB" in notes[0]
    with pytest.raises(options.OptionError, match="MDTS"):
        options.check_block_sizes("x", [1048576], 512, 524288, 2 ** 26, True)
    with pytest.raises(options.OptionError, match="not a multiple of the namespace's LBA size"):
        options.check_block_sizes("x", [512], 4096, 0, 2 ** 26, False)
    with pytest.raises(options.OptionError, match="larger than the tested range"):
        options.check_block_sizes("x", [131072], 512, 0, 65536, False)
    with pytest.raises(options.OptionError, match="queue of 1025"):
        options.check_qdepth("q", 1024, 2048)       # the ioworker's limit: 1024 entries
    with pytest.raises(options.OptionError, match="allows 64"):
        options.check_qdepth("q", 64, 64)
    options.check_qdepth("q", 63, 64)


# ---- traces ---------------------------------------------------------------

from perflib import trace  # noqa: E402


def test_synthetic_client_trace_is_deterministic_and_in_range():
    a = trace.synthetic_client(5000, 1 << 17, 512, 524288)
    assert a == trace.synthetic_client(5000, 1 << 17, 512, 524288)
    assert all(0 <= slba and slba + nlb <= 1 << 17 for _, _, slba, nlb in a)
    info = trace.summary(a, 512)
    assert info["ios"] == 5000 and info["reads"] + info["writes"] == 5000
    assert 55 < 100 * info["writes"] / 5000 < 65
    assert 40 < 100 * info["sizes"][4096] / 5000 < 60
    assert 10 < info["sequential_pct"] < 30
    # a 4 KiB-LBA namespace with a 64 KiB MDTS: 128 KiB transfers are left out
    b = trace.synthetic_client(1000, 1 << 14, 4096, 65536)
    assert max(nlb for *_, nlb in b) == 16


def test_trace_file_is_checked_before_any_io(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("# us,op,lba,count (512 B sectors)\n0,R,0,8\n10,w,8,8\n")
    assert trace.load(str(f), 4096, 100) == [(0, 2, 0, 1), (10, 1, 1, 1)]
    assert trace.summary(trace.load(str(f), 512, 100), 512)["sequential_pct"] == 100.0
    for text, err in (("0,X,0,8", "not R or W"), ("0,R,1,8", "do not fall on"),
                      ("0,R,800,8", "beyond the namespace"), ("zero", "expected"),
                      ("# nothing", "holds no IO")):
        f.write_text(text + "\n")
        with pytest.raises(options.OptionError, match=err):
            trace.load(str(f), 4096, 100)


# ---- PTS client: ActiveRange segments, and the round loop both variants share

from perflib import pts, segments  # noqa: E402


@pytest.mark.parametrize("seed", [1, 2, 99])
def test_ptsc_segments_are_equal_sorted_apart_and_inside(seed):
    active, amount, count, grain = 1_000_000, 262_144, 2048, 8
    segs = segments.place_segments(active, amount, count, grain, seed)
    assert len(segs) == count
    assert {e - s for s, e in segs} == {amount // count}          # 128 LBAs each
    assert all(s % grain == 0 for s, _ in segs)
    assert all(a[1] < b[0] for a, b in zip(segs, segs[1:])), "touching or overlapping"
    assert segs[0][0] >= 0 and segs[-1][1] <= active
    # spread over the whole ActiveRange, not packed at its start
    assert segs[-1][1] > 0.9 * active and segs[0][0] < 0.1 * active
    assert segments.place_segments(active, amount, count, grain, seed) == segs


def test_ptsc_segments_depend_on_the_seed_and_fill_a_tight_range():
    assert segments.place_segments(10_000, 1_000, 10, 1, 1) != \
        segments.place_segments(10_000, 1_000, 10, 1, 2)
    # 4 segments of 2 grains need 4 * 2 + 3 gaps = 11 grains: exactly one layout
    assert segments.place_segments(11, 8, 4, 1, 7) == [(0, 2), (3, 5), (6, 8), (9, 11)]


@pytest.mark.parametrize("args, message", [
    ((10, 8, 4, 1), "do not fit in the ActiveRange of 10 LBAs"),
    ((1000, 3, 4, 1), "leaves less than 1 LBAs per segment"),
    ((1000, 100, 0, 1), "ptsc_segments 0 must be at least 1"),
])
def test_ptsc_segments_that_cannot_be_placed_are_refused(args, message):
    with pytest.raises(options.OptionError, match=message):
        segments.place_segments(*args, seed=1)


def test_client_options_are_checked():
    opts, _ = options.resolve("full", [])
    assert (opts["ptsc_active_range"], opts["ptsc_ar_amount"], opts["ptsc_segments"],
            opts["ptsc_workers"], opts["ptsc_qdepth"], opts["ptsc_tp_block_sizes"]) == \
        ("100%", "8g", 2048, 2, 16, [1024 * 1024])
    opts, _ = options.resolve("quick", ["ptsc_active_range=75%"])
    assert opts["ptsc_active_range"] == "75%"
    with pytest.raises(options.OptionError, match="must be a percentage of the tested range"):
        options.resolve("quick", ["ptsc_active_range=64m"])
    with pytest.raises(options.OptionError, match="range '120%'"):
        options.resolve("quick", ["ptsc_active_range=120%"])


class FakePerf:
    """What mix_size_rounds uses of PerfRun: options, progress, measure."""
    def __init__(self, iops_of_round):
        self.opts = {"round_time": 1, "max_rounds": 8, "window": 5}
        self.calls, self.round, self.iops_of_round = [], 0, iops_of_round

    def say(self, text):
        if "round" in text and "of at most" in text:
            self.round += 1

    def measure(self, workers, qdepth, bs, read_pct, seconds, **extra):
        self.calls.append((self.round + 1, bs, read_pct, workers, qdepth, extra.get("regions")))
        iops = self.iops_of_round(self.round + 1) * (1 + read_pct / 100)
        return {"iops": iops, "mbps": iops * bs / 1e6, "lat_avg_us": 1e6 / iops,
                "lat_max_us": 2e6 / iops, "ios": int(iops), "seconds": 1.0,
                "distribution": [0, 3, 1]}


def test_mix_size_rounds_order_tracking_and_regions():
    """The PTS's order in a round (mixes from writes to reads, sizes large to
    small), the tracking cell's figure per round, steady state at a known
    round, and the client's regions handed to every measurement."""
    values = {1: 500, 2: 300, 3: 200, 4: 100, 5: 100, 6: 100, 7: 100, 8: 100}
    perf = FakePerf(lambda n: values[n])
    regions = [(0, 64), (128, 192)]
    rounds, tracking, ss = pts.mix_size_rounds(perf, "client IOPS", [4096, 131072], [100, 0],
                                               2, 16, (4096, 0), "iops", regions=regions)
    assert [c[1:3] for c in perf.calls[:4]] == [(131072, 0), (4096, 0), (131072, 100), (4096, 100)]
    assert all(c[3:] == (2, 16, regions) for c in perf.calls)
    assert tracking == [values[n] for n in range(1, len(tracking) + 1)]
    assert ss.reached and ss.round == 8 and len(rounds) == 8
    assert "distribution" not in rounds[0]["cells"][0]
    # the latency test's form: QD1, the distributions kept, no regions
    perf = FakePerf(lambda n: 100)
    rounds, tracking, ss = pts.mix_size_rounds(perf, "latency", [512], [0], 1, 1, (512, 0),
                                               "lat_avg_us", keep_distribution=True)
    assert ss.round == 5 and tracking == [1e4] * 5
    assert rounds[0]["cells"][0]["distribution"] == [[1, 3], [2, 1]]
    assert all(c[3:] == (1, 1, None) for c in perf.calls)
