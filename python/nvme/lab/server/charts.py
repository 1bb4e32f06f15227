"""The trend charts as PNG (matplotlib's Agg canvas, no pyplot: safe in the
server's threads): firmware on the x axis in the order the lab first saw it."""
import functools
import io
import json

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _png(fig):
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def _figure(title, xlabel, ylabel):
    fig = Figure(figsize=(8.0, 3.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _firmware_axis(ax, firmwares):
    ax.set_xticks(range(len(firmwares)))
    ax.set_xticklabels(firmwares, rotation=30 if len(firmwares) > 6 else 0, ha="right"
                       if len(firmwares) > 6 else "center", fontsize=8)
    ax.set_xlim(-0.5, len(firmwares) - 0.5)


def _empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])


def _legend(ax, title=None):
    # beside the plot, never over a line
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title=title, title_fontsize=8)


def thousands(value, _pos):
    return f"{value:,.0f}"


def iops_chart(rows, title):
    """Mean IOPS per firmware with the range (lowest to highest run) as a band."""
    fig, ax = _figure(title, "firmware (first seen, left to right)", "IOPS (IO/s)")
    if not rows:
        _empty(ax, "no runs of this workload")
        return _png(fig)
    fws = [r["firmware"] or "?" for r in rows]
    xs = range(len(rows))
    ax.fill_between(xs, [r["low"] for r in rows], [r["high"] for r in rows], color=COLORS[0],
                    alpha=0.15, linewidth=0, label="lowest to highest run")
    ax.plot(xs, [r["mean"] for r in rows], marker="o", color=COLORS[0], label="mean of the runs")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_ylim(bottom=0)
    _firmware_axis(ax, fws)
    _legend(ax)
    return _png(fig)


def latency_chart(curves, title):
    """One line per percentile: the mean over the runs of each firmware."""
    fig, ax = _figure(title, "firmware (first seen, left to right)", "latency (µs)")
    order = []
    for c in curves:
        for r in c["firmwares"]:
            if r["firmware"] not in order:
                order.append(r["firmware"])
    if not order:
        _empty(ax, "no latency percentiles recorded for this workload")
        return _png(fig)
    order.sort(key=lambda fw: min(r["first_seen"] for c in curves for r in c["firmwares"]
                                  if r["firmware"] == fw))
    index = {fw: i for i, fw in enumerate(order)}
    for i, c in enumerate(curves):
        pts = sorted((index[r["firmware"]], r["mean"]) for r in c["firmwares"])
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=COLORS[i % len(COLORS)],
                label=f"p{c['percentile']:g}")
    values = [r["mean"] for c in curves for r in c["firmwares"] if r["mean"] and r["mean"] > 0]
    if values and max(values) / min(values) > 20:
        # p50 to p99.99 spans decades: a log axis, labelled with plain numbers at
        # 1, 2, 5 x 10^n (a reader compares microseconds, not exponents)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.6g}"))
    _firmware_axis(ax, [fw or "?" for fw in order])
    _legend(ax, title="percentile")
    return _png(fig)


def series_chart(points, title, unit):
    """A metric's time series of one run: value over seconds."""
    fig, ax = _figure(title, "time (s)", unit or "value")
    ax.plot([p[0] for p in points], [p[1] for p in points], color=COLORS[0], linewidth=1.2)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.6g}"))
    return _png(fig)


@functools.lru_cache(maxsize=64)
def _drawn(kind, title, data_json):
    data = json.loads(data_json)
    return iops_chart(data["iops"], title) if kind == "iops" else latency_chart(data["latency"], title)


def cached_chart(kind, title, trend):
    """The trend chart ('iops' or 'latency') as PNG; drawn again only when the data
    changed (matplotlib takes 100+ ms a chart, the query a few)."""
    return _drawn(kind, title, json.dumps(trend, sort_keys=True, default=str))
