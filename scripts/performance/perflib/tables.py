"""The block size x R/W mix tables of the PTS reports, from per-round
measurements. A round is {"round": n, "cells": [{"bs": bytes, "read_pct": r,
<metric>: value, ...}, ...]}; a table cell is the metric's average over the
rounds of the measurement window."""
from .options import mix_label, size_label


def window_average(rounds, bs, read_pct, metric, window_rounds):
    """Average of one cell's metric over the given rounds (None if never measured)."""
    values = [c[metric] for r in rounds if r["round"] in window_rounds
              for c in r["cells"] if c["bs"] == bs and c["read_pct"] == read_pct
              and c.get(metric) is not None]
    return sum(values) / len(values) if values else None


def mix_size_matrix(rounds, block_sizes, mixes, metric, window_rounds):
    """matrix[i][j] = window average of metric at block_sizes[i], mixes[j]."""
    return [[window_average(rounds, bs, mix, metric, window_rounds) for mix in mixes]
            for bs in block_sizes]


def mix_size_table(rounds, block_sizes, mixes, metric, window_rounds):
    """(columns, rows) for Section.table: one row per block size, one column per mix."""
    matrix = mix_size_matrix(rounds, block_sizes, mixes, metric, window_rounds)
    columns = ["block size"] + [f"R/W {mix_label(m)}" for m in mixes]
    rows = [[size_label(bs)] + row for bs, row in zip(block_sizes, matrix)]
    return columns, rows


def series(rounds, bs, read_pct, metric):
    """One cell's metric in every round, in round order (None where missing)."""
    out = []
    for r in rounds:
        v = [c[metric] for c in r["cells"] if c["bs"] == bs and c["read_pct"] == read_pct]
        out.append(v[0] if v else None)
    return out
