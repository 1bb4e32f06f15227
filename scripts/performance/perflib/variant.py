"""The two variants of the SNIA PTS tests: enterprise (PTS-E: IO over the whole
tested range, T4Q32 for IOPS) and client (PTS-C: IO confined to the
ActiveRange amount, cut into segments spread over the ActiveRange, at a lower
outstanding IO). A test asks its variant for the report, the outstanding IO
and the regions to hand the ioworker."""
from . import options, segments
from .options import size_label

VARIANTS = ("enterprise", "client")


class PtsVariant:
    def __init__(self, perf, name):
        """Checks the variant's options against the namespace (call inside
        perf.checking_options(): a bad one ends the test before any IO)."""
        if name not in VARIANTS:
            raise options.OptionError(f"PTS variant {name!r}: choose {' or '.join(VARIANTS)}")
        self.name, self.client = name, name == "client"
        self.regions = None
        o = perf.opts
        if not self.client:
            self.text = (f"enterprise (PTS-E): random IO over the whole tested range "
                         f"(LBA 0 to {perf.range_lbas - 1})")
            return
        _, pct = options.parse_range_text(o["ptsc_active_range"])
        active = max(1, int(perf.range_lbas * pct / 100))
        amount_bytes = options.parse_size(o["ptsc_ar_amount"])
        if amount_bytes > active * perf.lba_size:
            raise options.OptionError(
                f"ptsc_ar_amount {o['ptsc_ar_amount']} is larger than the ActiveRange "
                f"({o['ptsc_active_range']} of the tested range: "
                f"{size_label(active * perf.lba_size)})")
        grain = max(1, 4096 // perf.lba_size)     # segments start 4 KiB-aligned
        self.regions = segments.place_segments(active, amount_bytes // perf.lba_size,
                                               o["ptsc_segments"], grain, o["ptsc_seed"])
        self.active_lbas = active
        self.segment_bytes = (self.regions[0][1] - self.regions[0][0]) * perf.lba_size
        self.text = (f"client (PTS-C): ActiveRange {o['ptsc_active_range']} of the tested "
                     f"range (LBA 0 to {active - 1}); IO confined to the ActiveRange amount: "
                     + segments.describe(self.regions, perf.lba_size, active)
                     + f", placed at random (ptsc_seed {o['ptsc_seed']})")

    def check_block_sizes(self, sizes, what):
        """Every block size must fit in one segment."""
        if self.client:
            for bs in sizes:
                if bs > self.segment_bytes:
                    raise options.OptionError(
                        f"{what}: block size {size_label(bs)} does not fit in a client segment of "
                        f"{size_label(self.segment_bytes)}: raise ptsc_ar_amount or lower "
                        "ptsc_segments")
        return sizes

    def oio(self, perf, workers_key, qdepth_key):
        """(workers, IOs in flight each): the test's enterprise options, or the
        client's."""
        if self.client:
            return perf.opts["ptsc_workers"], perf.qdepth("ptsc_qdepth")
        return perf.opts[workers_key], perf.qdepth(qdepth_key)

    def report(self, perf, suite, title):
        """The report of `suite` ('iops', 'latency', ...) in this variant:
        pts-<suite> or pts-client-<suite>; its parameters and notes say which
        variant and which ActiveRange."""
        name = f"pts-client-{suite}" if self.client else f"pts-{suite}"
        rep = perf.report(name, f"SNIA PTS{' client' if self.client else ''} {title}")
        rep.parameters["PTS variant"] = self.name
        rep.parameters["ActiveRange"] = self.text
        rep.note(f"PTS variant: {self.text}")
        rep.data["variant"] = self.name
        if self.client:
            rep.data["active_range"] = {"lbas": self.active_lbas, "segments": self.regions,
                                        "segment_bytes": self.segment_bytes}
        return rep

    def finish(self, perf, rep):
        """perf.finish(), with every chart title of the client's report saying
        it is the client variant (its charts are told apart from the
        enterprise ones when they are looked at alone)."""
        if self.client:
            for section in rep.sections:
                for item in section.items:
                    if item["type"] == "figure" and "title" in item["spec"]:
                        item["spec"]["title"] += " (PTS client)"
        return perf.finish(rep)

    def measure_args(self):
        """Extra arguments of perf.measure(): the segments, for the client."""
        return {"regions": self.regions} if self.client else {}
