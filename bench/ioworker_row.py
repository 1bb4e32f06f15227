"""One benchmark row (qdepth is the queue size: QD IOs in flight need QD + 1): the ioworker from Python
(Namespace.ioworker). argv: BDF BS QD SECONDS rand|seq VERIFY(0/1)."""
import json
import sys
import warnings

import nvme as d

bdf, bs, qd, secs, kind, verify = sys.argv[1:7]
bs, qd, secs, verify = int(bs), int(qd), int(secs), verify == "1"
p = d.Pcie(bdf)
c = d.Controller(p)
ns = d.Namespace(c, 1)
lba = ns.lba_size
if verify:
    # the null backend reads zeroes: record the whole namespace as zeroes with
    # one write-zeroes pass, so that every read is checked
    ns.verify_enable(True)
    ns.ioworker(op_percentage={8: 100}, io_size=bs // lba, lba_random=False,
                qdepth=32).start().close()
pct = {99.9: None}
with warnings.catch_warnings():
    warnings.simplefilter("error")
    r = ns.ioworker(io_size=bs // lba, qdepth=qd + 1, time=secs, lba_random=kind == "rand",
                    output_percentile_latency=pct).start().close()
ios = r.io_count_read + r.io_count_nonread
print(json.dumps({"iops": ios * 1000.0 / r.mseconds, "lat_mean_us": r.latency_average_us,
                  "lat_p999_us": r.latency_percentiles_us[99.9],   # pct[] holds whole us
                  "cpu_ns_per_io": r.cpu_ns / max(ios, 1),
                  "mmio_per_io": (r.sq_doorbells + r.cq_doorbells) / max(ios, 1),
                  "error": r.error}))
ns.close()
c.close()
p.close()
