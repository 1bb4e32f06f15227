"""PerfRun: what a suite gets from the `perf` fixture: the device, the checked
options, the report it fills, progress lines, and the user's targets."""
import contextlib
import os
import time

import pytest

from nvme.report import Report

from . import device, measure, options
from .options import OptionError


class PerfRun:
    def __init__(self, pcie, ctrl, ns, profile, opts, given, out_root, targets, say):
        self.pcie, self.ctrl, self.ns = pcie, ctrl, ns
        self.profile, self.opts, self.given = profile, opts, given
        self.out_root = out_root
        self.targets = targets            # suite name -> {metric: {"min":..,"max":..}}
        self._say = say
        self.lba_size = ns.lba_size
        if ns.meta_size:
            raise OptionError(f"namespace {ns.nsid} is formatted with {ns.meta_size} bytes of "
                              "metadata per LBA; the ioworker drives formats without metadata")
        self.range_lbas = options.range_lbas(opts["range"], ns.capacity, ns.lba_size)
        self.range_bytes = self.range_lbas * ns.lba_size
        self.max_queue_entries = (ctrl.cap & 0xffff) + 1
        self.notes = []

    # ---- options checked against this namespace, before any IO ----------
    @contextlib.contextmanager
    def checking_options(self):
        """Wraps a suite's option checks: a bad one fails the test with its
        message alone, before any IO is sent."""
        try:
            yield
        except OptionError as e:
            pytest.fail(f"performance options: {e}", pytrace=False)

    def block_sizes(self, name):
        sizes, notes = options.check_block_sizes(name, self.opts[name], self.lba_size,
                                                 self.ctrl.mdts, self.range_bytes,
                                                 name in self.given)
        self.notes += notes
        return sizes

    def qdepth(self, name):
        options.check_qdepth(name, self.opts[name], self.max_queue_entries)
        return self.opts[name]

    # ---- the run --------------------------------------------------------
    def say(self, text):
        """A progress line on the terminal, also while pytest captures output."""
        self._say(f"[perf {time.strftime('%H:%M:%S')}] {text}")

    def report(self, name, title):
        rep = Report(name, title, os.path.join(self.out_root, name))
        rep.device = device.identity(self.pcie, self.ctrl, self.ns)
        rep.parameters = dict(profile=self.profile, **{
            k: ([options.size_label(v) for v in val] if k.endswith("block_sizes") else
                [options.mix_label(v) for v in val] if k.endswith("mixes") else val)
            for k, val in self.opts.items()})
        rep.parameters["tested range"] = (f"LBA 0 to {self.range_lbas - 1} "
                                          f"({self.range_bytes / 1e9:.3f} GB)")
        for n in self.notes:
            rep.note(n)
        self.say(f"{title}: report in {rep.out_dir}")
        return rep

    def estimate(self, rep, what, round_seconds, repeats=1):
        """Says (and notes) how long the rounds will take: window to max_rounds
        rounds of round_seconds each, `repeats` times (purge and
        preconditioning come on top: they depend on the drive's speed)."""
        o = self.opts

        def hours(sec):
            return f"{sec / 3600:.1f} h" if sec >= 3600 else f"{sec / 60:.0f} min" \
                if sec >= 60 else f"{sec:.0f} s"
        low = o["window"] * round_seconds * repeats
        high = o["max_rounds"] * round_seconds * repeats
        text = (f"{what}: {o['window']} to {o['max_rounds']} rounds of {hours(round_seconds)}"
                f"{f' x {repeats}' if repeats > 1 else ''}: {hours(low)} to {hours(high)}, "
                "plus purge and preconditioning")
        self.say("estimate: " + text)
        rep.data["estimate"] = {"min_s": low, "max_s": high, "text": text}

    def purge(self, rep):
        self.say("purge")
        text = device.purge(self.ctrl, self.ns, self.opts["purge"])
        rep.note(text)
        return text

    def precondition(self, rep, fills=None):
        fills = self.opts["wipc_fills"] if fills is None else fills
        block = min(128 * options.KIB, self.ctrl.mdts or 128 * options.KIB)
        info = device.precondition_sequential(self.ns, self.range_lbas, fills, block,
                                              qdepth=min(32, self.max_queue_entries - 1),
                                              progress=self.say)
        rep.note(f"workload-independent preconditioning: sequential "
                 f"{options.size_label(info['block_bytes'])} writes, {fills} x the tested range "
                 f"({info['bytes'] / 1e9:.3f} GB in {info['seconds']} s)")
        rep.data["preconditioning"] = info
        return info

    def measure(self, workers, qdepth, block_bytes, read_pct, seconds, random=True, **kw):
        return measure.run(self.ns, workers, qdepth, block_bytes, read_pct, seconds,
                           self.range_lbas, random=random, **kw)

    # ---- targets and the end of a suite ---------------------------------
    def metric(self, rep, name, value, unit):
        """Publishes a figure of the suite; if the user set a target for it, the
        report records pass/fail."""
        rep.data.setdefault("metrics", {})[name] = {"value": value, "unit": unit}
        t = self.targets.get(rep.name, {}).get(name)
        if t is not None:
            rep.target(name, value, unit, minimum=t.get("min"), maximum=t.get("max"))

    def finish(self, rep):
        """Writes the report; returns the failed targets' messages (the test
        asserts there are none)."""
        known = rep.data.get("metrics", {})
        problems = [f"target {name!r}: no such metric in {rep.name} (its metrics: "
                    f"{', '.join(sorted(known)[:8])}, ...)"
                    for name in self.targets.get(rep.name, {}) if name not in known]
        problems += [f"target {t['metric']}: {t['value']} {t['unit']} (min {t['minimum']}, "
                     f"max {t['maximum']})" for t in rep.targets if not t["passed"]]
        for p in problems:
            rep.note("FAILED " + p)
        paths = rep.write()
        self.say(f"{rep.title}: {paths.get('html') or paths['json'] + ' (to be rendered)'}")
        return problems
