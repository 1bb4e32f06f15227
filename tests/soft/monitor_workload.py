"""A test process for pynvme-top's and the VS Code extension's tests: the
monitor on, a controller (argv[2], default a software one) with an IO queue,
and an ioworker running for argv[1] seconds. Prints "ready" once the worker
runs."""
import signal
import sys
import time

import nvme as d

# the tests stop it with Ctrl-C (SIGINT), also when the suite itself was
# started with SIGINT ignored (a background job), which this process inherits
signal.signal(signal.SIGINT, signal.default_int_handler)
seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
d.monitor.start()
pcie = d.Pcie(sys.argv[2] if len(sys.argv) > 2 else "soft:null,size=64M")
nvme0 = d.Controller(pcie)
ns = d.Namespace(nvme0, 1)
q = d.Qpair(nvme0, 16)
buf = d.Buffer(4096)
ns.write(q, buf, 0, 8).waitdone()    # one command in the IO queue's log
# throttled: a worker and a controller spinning flat out would hold both
# cores of a small machine, and the terminal under test would starve;
# output_cmdlog_list makes its queue keep a command log the views can show
w = ns.ioworker(io_size=8, lba_random=True, read_percentage=100, time=seconds, qdepth=16,
                iops=20000, output_cmdlog_list=[None] * 64)
w.start()
time.sleep(0.2)
print("ready", flush=True)
w.close()
q.delete()
ns.close()
nvme0.close()
pcie.close()
