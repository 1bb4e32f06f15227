"""StressRun: what a stress suite gets from the `stress` fixture: the device
and its fault sources (the instrument, the Subsystem powering through it),
the checked options, verified workloads with bounded waits, SMART
snapshots, and the report in the performance suites' style (nvme.report)."""
import os
import random
import time
import warnings

import nvme as d
from nvme.instruments import Instrument
from nvme.report import Report

from . import options, smart
from .data_check import describe, plant_corruption, read_back

VWC_FEATURE = 0x06


class StressRun:
    def __init__(self, pcie, ctrl, ns, instrument, profile, opts, given, out_root,
                 expect_unsafe, say):
        self.pcie, self.ctrl, self.ns = pcie, ctrl, ns
        self.instrument = instrument
        self.subsystem = d.Subsystem(ctrl, instrument) if instrument else d.Subsystem(ctrl)
        self.profile, self.opts, self.given = profile, opts, given
        self.out_root = out_root
        self.expect_unsafe = expect_unsafe
        self._say = say
        if ns.meta_size:
            raise options.OptionError(f"namespace {ns.nsid} has {ns.meta_size} bytes of metadata "
                                      "per LBA; the ioworker drives formats without metadata")
        self.region = options.region_lbas_of(opts["region"], ns.capacity, ns.lba_size)
        mqes = (ctrl.cap & 0xffff) + 1
        if opts["qdepth"] + 1 > min(mqes, 1024):
            raise options.OptionError(f"qdepth {opts['qdepth']}: needs {opts['qdepth'] + 1} queue "
                                      f"entries; the controller allows {mqes} (CAP.MQES + 1)")
        self.io_size = min(opts["io_size"], self.region)
        if ctrl.mdts and self.io_size * ns.lba_size > ctrl.mdts:
            raise options.OptionError(f"io_size {self.io_size} LBAs is above the controller's "
                                      f"maximum transfer ({ctrl.mdts} B)")
        # the moments of the faults and the order of the reset kinds (the
        # report gives the seed; the driver's own is pytest's --seed)
        self.seed = time.time_ns() & 0xffffffff
        self.rng = random.Random(self.seed)
        self.vwc_present = bool(ctrl.id_data(525, 525) & 1)
        ns.verify_enable(True)
        self.apply_write_cache()

    # ---- progress and report -------------------------------------------
    def say(self, text):
        self._say(f"[stress {time.strftime('%H:%M:%S')}] {text}")

    def report(self, name, title):
        from perflib.device import identity   # the performance suites' identity facts
        rep = Report(name, title, os.path.join(self.out_root, name))
        rep.device = identity(self.pcie, self.ctrl, self.ns)
        rep.device["fault source"] = (str(self.instrument) if self.instrument else
                                      "the driver's own (slot power control, resets)")
        rep.parameters = dict(profile=self.profile, **{
            k: (",".join(v) if isinstance(v, list) else v) for k, v in self.opts.items()})
        rep.parameters["region"] = (f"LBA 0 to {self.region - 1} "
                                    f"({self.region * self.ns.lba_size / 1e6:.1f} MB)")
        rep.parameters["volatile write cache"] = self.write_cache_text()
        rep.parameters["seed of the fault moments"] = self.seed
        self.say(f"{title}: report in {rep.out_dir}")
        return rep

    def finish(self, rep, problems):
        """Notes the problems in the report and writes it; returns them for
        the test's assertion."""
        for p in problems:
            rep.note("FAILED " + p)
        rep.data["problems"] = problems
        paths = rep.write()
        self.say(f"{rep.title}: {paths.get('html') or paths['json'] + ' (to be rendered)'}")
        return problems

    # ---- the device ------------------------------------------------------
    def write_cache_text(self):
        if not self.vwc_present:
            return "none (Identify VWC bit 0 is 0): a completed write is durable"
        if self.opts["write_cache"] == "off":
            return "present, turned off for the run (Set Features 06h): completed writes are durable"
        return ("present and kept on (write_cache=keep): a power loss may legitimately lose "
                "completed writes the drive had not flushed; they count as mismatches here")

    def apply_write_cache(self):
        """Turns the volatile write cache off (write_cache=off): a dirty power
        cycle checks that completed writes survive, which a drive with its
        cache on does not promise. Again after every reset or power-on: the
        feature comes back to its default there."""
        if self.vwc_present and self.opts["write_cache"] == "off":
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")    # a refusal: checked below
                self.ctrl.setfeatures(VWC_FEATURE, cdw11=0).waitdone()
            if self.ctrl.getfeatures(VWC_FEATURE).waitdone() & 1:
                raise options.OptionError("the drive did not turn its volatile write cache off "
                                          "(Set Features 06h); run with write_cache=keep to "
                                          "test with the cache on")

    def reinit(self):
        """Controller.reset() after a fault, then the write cache setting."""
        self.ctrl.reset()
        self.apply_write_cache()

    def smart(self):
        return smart.snapshot(self.ctrl)

    # ---- verified workloads with bounded waits -----------------------------
    def start_worker(self, read_pct, seconds, qdepth=None, region=None):
        """A verified random workload over the region (or the part
        `region` = (first LBA, end LBA) of it), started."""
        start, end = region or (0, self.region)
        return self.ns.ioworker(io_size=min(self.io_size, end - start), lba_random=True,
                                read_percentage=read_pct,
                                qdepth=(qdepth or self.opts["qdepth"]) + 1, region_start=start,
                                region_end=end, time=int(seconds) or 1).start()

    def finish_worker(self, w, bound_s=None):
        """Waits (bounded) for a worker to stop, then closes it. Returns
        (result, seconds waited, hung): hung means it still ran `bound_s`
        after it should have stopped; close() then ends it (the driver's own
        timeouts bound that too)."""
        bound_s = self.opts["fault_stop_bound"] if bound_s is None else bound_s
        t0 = time.monotonic()
        while w.running and time.monotonic() - t0 < bound_s:
            time.sleep(0.01)
        waited = time.monotonic() - t0
        hung = w.running
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")   # "ioworker host ERROR ...": in the result
            r = w.close()
        return r, round(waited, 3), hung

    def usable(self, ios=256):
        """The drive takes verified mixed IO after a fault: returns a text
        naming the problem, or None."""
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            r = self.ns.ioworker(io_size=self.io_size, lba_random=True, read_percentage=50,
                                 qdepth=min(8, self.opts["qdepth"]) + 1, region_end=self.region,
                                 io_count=ios).start().close()
        if r.error:
            return f"verified IO after the fault failed: {r.error_text or r.error}"
        if r.io_count_read + r.io_count_write != ios:
            return f"only {r.io_count_read + r.io_count_write} of {ios} IOs completed after the fault"
        return None

    def check_data(self):
        """Plants a corruption first when the self-check asks for it, then
        reads the region back. Returns (found, text)."""
        if self.opts["plant"] == "corrupt":
            lbas = plant_corruption(self.ctrl, self.ns, self.region)
            self.say(f"plant=corrupt: overwrote LBAs {lbas} behind the verification table")
        found = read_back(self.ns, self.region, qdepth=min(16, self.opts["qdepth"]))
        return found, describe(found)

    def random_pause(self, low, high):
        pause = self.rng.uniform(low, high)
        time.sleep(pause)
        return round(pause, 3)

    def in_flight(self, r):
        """IOs the worker sent that did not complete successfully: at a fault,
        those cut off (the driver completed them with an error)."""
        return max(0, r.submitted - r.io_count_read - r.io_count_nonread)

    def supports(self, fault):
        return self.instrument is not None and self.instrument.supports(fault)

    def unsupported_text(self, fault):
        if self.instrument is None:
            return f"no instrument given (--instrument): cannot {Instrument._FAULTS[fault][1]}"
        return f"instrument {self.instrument} cannot {Instrument._FAULTS[fault][1]}"
