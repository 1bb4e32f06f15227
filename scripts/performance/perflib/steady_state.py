"""The SNIA PTS steady-state rule.

A tracking variable (e.g. the 4 KiB random write IOPS) is measured once per
round. Steady state is reached at round x when, over the measurement window of
rounds x-4..x (5 rounds):
- data excursion: max - min of the measured values is within 20% of their average;
- slope excursion: the least-squares line through the window rises or falls by
  at most 10% of the average across the window (|slope| x (rounds - 1)).
The PTS gives up after 25 rounds; the measurement window is then the last 5
rounds, and the report says steady state was not reached.
"""
from dataclasses import dataclass, field

WINDOW_ROUNDS = 5
DATA_EXCURSION = 0.20
SLOPE_EXCURSION = 0.10
MAX_ROUNDS = 25


def least_squares(xs, ys):
    """(slope, intercept) of the least-squares line through the points."""
    n = len(xs)
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, mean_y
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    return slope, mean_y - slope * mean_x


@dataclass
class WindowCheck:
    """The rule applied to one window of rounds first_round..last_round (1-based)."""
    first_round: int
    last_round: int
    values: list
    average: float
    data_excursion: float   # max - min
    slope: float
    intercept: float
    slope_excursion: float  # |slope| x (rounds in window - 1)
    data_limit: float
    slope_limit: float

    @property
    def data_ok(self):
        return self.data_excursion <= self.data_limit

    @property
    def slope_ok(self):
        return self.slope_excursion <= self.slope_limit

    @property
    def steady(self):
        return self.data_ok and self.slope_ok

    def as_dict(self):
        d = dict(self.__dict__)
        d.update(data_ok=self.data_ok, slope_ok=self.slope_ok, steady=self.steady)
        return d


def check_window(values, first_round, data_excursion=DATA_EXCURSION,
                 slope_excursion=SLOPE_EXCURSION):
    rounds = list(range(first_round, first_round + len(values)))
    average = sum(values) / len(values)
    slope, intercept = least_squares(rounds, values)
    return WindowCheck(first_round, rounds[-1], list(values), average,
                       max(values) - min(values), slope, intercept,
                       abs(slope) * (len(values) - 1),
                       data_excursion * abs(average), slope_excursion * abs(average))


@dataclass
class SteadyState:
    reached: bool
    round: int            # the round where it was reached, or the last round measured
    window: WindowCheck   # the measurement window (the last 5 rounds when not reached)
    checks: list = field(default_factory=list)  # every window evaluated, in order

    def summary(self, variable):
        def num(x):
            return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"

        if self.window is None:
            return f"steady state of {variable}: fewer than {WINDOW_ROUNDS} rounds measured"
        w = self.window
        head = (f"steady state of {variable} reached at round {self.round}" if self.reached
                else f"steady state of {variable} not reached by round {self.round}")
        return (f"{head}; measurement window rounds {w.first_round}-{w.last_round}: "
                f"average {num(w.average)}, data excursion {num(w.data_excursion)} "
                f"(limit {num(w.data_limit)}), slope excursion {num(w.slope_excursion)} "
                f"(limit {num(w.slope_limit)})")

    def as_dict(self):
        return {"reached": self.reached, "round": self.round,
                "window": self.window.as_dict() if self.window else None,
                "checks": [c.as_dict() for c in self.checks]}


def find_steady_state(values, window=WINDOW_ROUNDS, data_excursion=DATA_EXCURSION,
                      slope_excursion=SLOPE_EXCURSION):
    """Applies the rule to a series of per-round values (round 1 first): the
    first window that satisfies it, else the last window (not reached)."""
    checks = []
    for last in range(window, len(values) + 1):
        c = check_window(values[last - window:last], last - window + 1, data_excursion,
                         slope_excursion)
        checks.append(c)
        if c.steady:
            return SteadyState(True, last, c, checks)
    return SteadyState(False, len(values), checks[-1] if checks else None, checks)
