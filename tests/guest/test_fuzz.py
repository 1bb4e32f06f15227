"""Every public method and settable property of every class, called with wrong
types and out-of-range values: each call must return or raise a Python
exception, never kill the interpreter. The loop runs in a child interpreter
(this file run as a script) so a crash shows up as a signal or a bad exit
code instead of taking pytest down."""
import math
import os
import subprocess
import sys
import warnings

BAD = [None, "x", b"\x00", 1.5, math.nan, -1, -2**63, 2**64, 2**70, [], {}, (1, 2), object(),
       ValueError]
# calls that would really act on the device with a harmless-looking value
SKIP = {("Subsystem", "power_cycle"), ("Subsystem", "poweroff"), ("Subsystem", "poweron"),
        ("Subsystem", "shutdown_notify"), ("Subsystem", "reset")}


def arg_lists(v):
    return [(v,), (v, v), (v, v, v, v), (0, v), (0, 0, v), (1, 1, 1, v), (v, 0, 0, 0, 0, 0, 0)]


def fuzz_object(obj, cls_name, stats):
    for name in sorted(dir(obj)):
        if name.startswith("_") and name not in ("__getitem__", "__setitem__", "__call__"):
            continue
        try:
            attr = getattr(obj, name)
        except Exception:
            stats["raised"] += 1
            continue
        if callable(attr):
            if (cls_name, name) in SKIP:
                # wrong types only: anything accepted would power the drive off
                calls = [(v,) for v in (None, "x", [], object(), -1, 2**70)]
                calls += [(v, v) for v in BAD]
            else:
                calls = [args for v in BAD for args in arg_lists(v)]
            for args in calls:
                call(attr, args, {}, stats)
            for v in BAD[:6]:
                call(attr, (), {"bogus_keyword": v}, stats)
        else:
            for v in BAD:
                try:
                    setattr(obj, name, v)
                    stats["returned"] += 1
                except Exception:
                    stats["raised"] += 1


def call(fn, args, kwargs, stats):
    try:
        res = fn(*args, **kwargs)
        stats["returned"] += 1
        if hasattr(res, "close") and type(res).__name__ == "IOWorker":
            res.close()
    except Exception:
        stats["raised"] += 1


def child(bdf):
    import nvme as d

    warnings.simplefilter("ignore")
    stats = {"raised": 0, "returned": 0}
    for cls in (d.Pcie, d.Controller, d.Namespace, d.Qpair, d.Buffer, d.Subsystem, d.srand):
        for v in BAD:
            for args in [(v,), (v, v), (v, v, v)]:
                call(cls, args, {}, stats)
    p = d.Pcie(bdf)
    c = d.Controller(p)
    ns = d.Namespace(c, 1)
    q = d.Qpair(c, 16)
    b = d.Buffer(4096)
    s = d.Subsystem(c)
    w = ns.ioworker(io_size=1, io_count=10)
    for (cls, args) in [(d.Namespace, (c,)), (d.Qpair, (c,)), (d.Subsystem, (c,))]:
        for v in BAD:
            call(cls, args + (v,), {}, stats)
            call(cls, args + (1, v), {}, stats)
    for obj in (b, s, w, ns, q, c, p):
        fuzz_object(obj, type(obj).__name__, stats)
    # IO commands with a valid queue and buffer but bad LBAs, counts and flags
    for v in BAD:
        for fn in (ns.read, ns.write, ns.compare):
            call(fn, (q, b, v), {}, stats)
            call(fn, (q, b, 0, v), {}, stats)
            call(fn, (q, b, 0, 1, v), {}, stats)
            call(fn, (q, b, 0, 1, 0, v), {}, stats)
        for fn in (ns.verify, ns.write_zeroes, ns.write_uncorrectable):
            call(fn, (q, v), {}, stats)
            call(fn, (q, 0, v), {}, stats)
        call(ns.dsm, (q, b, v), {}, stats)
        call(ns.send_cmd, (v, q), {}, stats)
        call(ns.send_cmd, (2, q, b, v), {}, stats)
    # reap what was accepted, then everything must still work
    try:
        while True:
            q.waitdone()
    except ValueError:
        pass
    # (no Controller.waitdone loop: an accepted aer() never completes by design)
    for obj in (w, ns, q, c, p):
        fuzz_object(obj, type(obj).__name__, stats)        # again, after close()/delete()
        for closer in ("close", "delete"):
            if hasattr(obj, closer):
                try:
                    getattr(obj, closer)()
                except Exception:
                    pass
    print(f"fuzz: {stats['raised']} raised, {stats['returned']} returned", flush=True)


def test_fuzz_never_kills_the_interpreter(pciaddr):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), pciaddr],
                          capture_output=True, text=True, timeout=1200)
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}:\n{tail}"
    assert proc.returncode == 0, tail
    raised = int(proc.stdout.split("fuzz: ")[1].split()[0])
    assert raised > 5000, proc.stdout


if __name__ == "__main__":
    child(sys.argv[1])
