"""The charts a storage engineer expects, as matplotlib Figures (Agg backend,
no display needed). Every function labels its axes with units; the caller
passes them in words ("IOPS", "latency (us)") because only it knows them.
Add the Figure to a report with Section.figure(fig, name)."""
import math

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

SIZE = (9, 5)
COLORS = plt.get_cmap("tab10").colors


def _axes(title, xlabel, ylabel, size=SIZE):
    fig, ax = plt.subplots(figsize=size)
    ax.set_title(title, fontsize=13)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.35)
    return fig, ax


def _thousands(ax, axis="y"):
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 or v == 0 else f"{v:g}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _log_axis_plain(ax):
    """A log y axis labelled 8,000 / 10,000 rather than 8x10^3 / 10^4."""
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    low, high = ax.get_ylim()
    # within about a decade every minor tick needs its label, else 2 and 5 suffice
    narrow = low > 0 and high / low < 20
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:,.0f}" if narrow or f"{v:.0e}"[0] in "25" else ""))
    ax.grid(True, which="minor", alpha=0.15)


def line_chart(x, series, title, xlabel, ylabel, logx=False, logy=False, markers=True):
    """series: label -> y values (same length as x)."""
    fig, ax = _axes(title, xlabel, ylabel)
    for i, (label, y) in enumerate(series.items()):
        ax.plot(x[:len(y)], y, marker="o" if markers else None, markersize=3,
                linewidth=1.4, label=label, color=COLORS[i % len(COLORS)])
    if logx:
        ax.set_xscale("log")
    elif x and all(isinstance(v, int) for v in x):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # rounds, cycles, seconds
    if logy:
        _log_axis_plain(ax)
    else:
        ax.set_ylim(bottom=0)
        _thousands(ax)
    if len(series) > 1:
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def time_series(series, title, ylabel, xlabel="time (s)"):
    """series: label -> one value per second (IOPS of every second, ...)."""
    longest = max((len(v) for v in series.values()), default=0)
    return line_chart(list(range(1, longest + 1)), series, title, xlabel, ylabel,
                      markers=longest <= 60)


def steady_state_chart(rounds, values, window, title, ylabel, others=None):
    """The PTS convergence plot: the tracking variable per round, and over the
    measurement window its average, the +-10% band (data excursion within 20%)
    and the least-squares line (slope excursion within 10%).
    window: dict with first_round, last_round, average, slope, intercept (the
    steady_state module's WindowCheck.as_dict()), or None."""
    fig, ax = _axes(title, "round", ylabel)
    for i, (label, y) in enumerate((others or {}).items()):
        ax.plot(rounds[:len(y)], y, marker=".", linewidth=0.9, alpha=0.55, label=label,
                color=COLORS[(i + 1) % len(COLORS)])
    ax.plot(rounds, values, marker="o", linewidth=2, color=COLORS[0], label="tracking variable")
    if window:
        x0, x1 = window["first_round"], window["last_round"]
        avg = window["average"]
        ax.hlines(avg, x0, x1, colors="black", linewidth=1.6, label="window average")
        ax.hlines([avg * 1.1, avg * 0.9], x0, x1, colors="black", linestyles="dashed",
                  linewidth=1, label="average +-10%")
        ax.plot([x0, x1], [window["slope"] * x0 + window["intercept"],
                           window["slope"] * x1 + window["intercept"]],
                color="red", linewidth=1.4, label="least-squares fit")
        ax.axvspan(x0 - 0.3, x1 + 0.3, color="green", alpha=0.07)
    ax.set_ylim(bottom=0)
    ax.set_xticks(rounds if len(rounds) <= 30 else rounds[::max(1, len(rounds) // 25)])
    _thousands(ax)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def bar_chart(categories, series, title, xlabel, ylabel, logy=False):
    """Grouped bars: series label -> one value per category."""
    fig, ax = _axes(title, xlabel, ylabel)
    n = max(1, len(series))
    width = 0.8 / n
    for i, (label, values) in enumerate(series.items()):
        xs = [c + (i - (n - 1) / 2) * width for c in range(len(categories))]
        bars = ax.bar(xs, values, width, label=label, color=COLORS[i % len(COLORS)])
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 1
                                   else f"{v:.2g}" for v in values], fontsize=8, padding=2)
    ax.set_xticks(range(len(categories)))
    crowded = len(categories) > 4 and max(len(c) for c in categories) > 12
    # long names side by side overlap: slant them
    ax.set_xticklabels(categories, rotation=25 if crowded else 0, ha="right" if crowded else "center",
                       fontsize=8 if crowded else 10)
    if logy:
        _log_axis_plain(ax)
        # bars on a log axis must start at a round decade, or their heights lie
        positive = [v for values in series.values() for v in values if v and v > 0]
        if positive:
            # headroom above the tallest bar for its label and the legend
            ax.set_ylim(10 ** math.floor(math.log10(min(positive))), max(positive) * 3)
    else:
        _thousands(ax)
        tallest = max((v for values in series.values() for v in values if v), default=0)
        if tallest > 0:   # room above the tallest bar's label for the legend's row
            ax.set_ylim(0, tallest * (1.3 if len(series) > 1 else 1.15))
    if len(series) > 1:
        # one row across the top, above the bars' labels (a corner legend covered them)
        ax.legend(fontsize=9, loc="upper center", ncol=min(len(series), 4))
    fig.tight_layout()
    return fig


def heatmap(matrix, row_labels, col_labels, title, xlabel, ylabel, value_label):
    """matrix[row][col], each cell annotated with its value."""
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(col_labels) + 3),
                                    max(3.5, 0.55 * len(row_labels) + 2)))
    flat = [v for row in matrix for v in row if v is not None]
    image = ax.imshow([[v if v is not None else math.nan for v in row] for row in matrix],
                      cmap="viridis", aspect="auto", origin="lower")
    cbar = fig.colorbar(image, ax=ax)
    cbar.set_label(value_label)
    ax.set_xticks(range(len(col_labels)))
    ax.set_xticklabels(col_labels)
    ax.set_yticks(range(len(row_labels)))
    ax.set_yticklabels(row_labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=13)
    mid = (max(flat) + min(flat)) / 2 if flat else 0
    for r, row in enumerate(matrix):
        for c, v in enumerate(row):
            if v is not None:
                ax.text(c, r, f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2g}", ha="center",
                        va="center", fontsize=8, color="black" if v > mid else "white")
    fig.tight_layout()
    return fig


def bars_3d(matrix, row_labels, col_labels, title, xlabel, ylabel, zlabel):
    """The datasheet's 3D bar chart: matrix[row][col] as bar heights."""
    fig = plt.figure(figsize=(9, 6.5))
    ax = fig.add_subplot(projection="3d")
    for r, row in enumerate(matrix):
        for c, v in enumerate(row):
            if v is not None:
                ax.bar3d(c, r, 0, 0.6, 0.6, v, color=COLORS[r % len(COLORS)], alpha=0.85,
                         shade=True)
    ax.set_xticks([c + 0.3 for c in range(len(col_labels))])
    ax.set_xticklabels(col_labels, fontsize=8)
    ax.set_yticks([r + 0.3 for r in range(len(row_labels))])
    ax.set_yticklabels(row_labels, fontsize=8)
    ax.set_xlabel(xlabel, labelpad=8)
    ax.set_ylabel(ylabel, labelpad=8)
    ax.set_zlabel(zlabel, labelpad=10)
    ax.zaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(title, fontsize=13)
    ax.view_init(elev=25, azim=-55)
    fig.subplots_adjust(left=0, right=0.95, bottom=0.05, top=0.93)  # tight_layout ignores 3D
    return fig


def _log_bins(counts, per_decade=20):
    """Re-bins 1-us latency counts into log-spaced bins: (left edge us, right
    edge us, count), empty bins included so gaps show as gaps."""
    out = {}
    for us, n in enumerate(counts):
        if n:
            key = math.floor(math.log10(max(us, 1)) * per_decade)
            out[key] = out.get(key, 0) + n
    if not out:
        return []
    return [(10 ** (k / per_decade), 10 ** ((k + 1) / per_decade), out.get(k, 0))
            for k in range(min(out), max(out) + 1)]


def latency_histogram(distributions, title):
    """distributions: label -> IO counts per 1 us of latency (the ioworker's
    latency_distribution). Log axes: latency spans decades, and the tail
    holds few IOs."""
    fig, ax = _axes(title, "latency (us)", "IOs per bin (20 bins per decade)")
    for i, (label, counts) in enumerate(distributions.items()):
        bins = _log_bins(counts)
        if bins:
            ax.bar([b[0] for b in bins], [b[2] for b in bins], width=[b[1] - b[0] for b in bins],
                   align="edge", label=label, color=COLORS[i % len(COLORS)],
                   alpha=0.8 if len(distributions) == 1 else 0.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    if len(distributions) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def qos_curve(distributions, title):
    """The QoS (percentile) curve: for each latency, the share of IOs slower
    than it, on a log scale labelled in percentiles (90%, 99%, ... 99.9999%)."""
    fig, ax = _axes(title, "latency (us)", "percentile of IOs completed within")
    floor = 1.0
    for i, (label, counts) in enumerate(distributions.items()):
        total = sum(counts)
        if not total:
            continue
        xs, ys, done = [], [], 0
        for us, n in enumerate(counts):
            if n:
                done += n
                slower = (total - done) / total
                xs.append(max(us, 0.5))
                ys.append(max(slower, 0.5 / total))
        floor = min(floor, 0.5 / total)
        ax.step(xs, ys, where="post", label=f"{label} ({total:,} IOs)",
                color=COLORS[i % len(COLORS)], linewidth=1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(max(floor, 1e-7), 1.0)
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _: f"{100 * (1 - v):.{max(0, round(-math.log10(v)) - 2)}f}%" if 0 < v < 1 else ""))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def xy_chart(series, title, xlabel, ylabel, steps=False):
    """series: label -> (x values, y values), e.g. IOPS against GB written.
    steps: each y holds until the next x (a cumulative distribution)."""
    fig, ax = _axes(title, xlabel, ylabel)
    for i, (label, (xs, ys)) in enumerate(series.items()):
        if steps and xs:   # from 0 at the first x, a step up at each point
            xs, ys = [xs[0]] + list(xs), [0] + list(ys)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.3, label=label,
                color=COLORS[i % len(COLORS)], drawstyle="steps-post" if steps else "default")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    _thousands(ax)
    if len(series) > 1:
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
