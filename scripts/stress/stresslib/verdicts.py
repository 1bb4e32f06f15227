"""What makes a fault loop fail, the same for every suite: the workload
must have been running when the fault came, the worker must have stopped
within the bound (else a hang) and with an error (else the fault went
unreported), and the region must read back (else data was lost)."""


def fault_problems(loop, label, fault):
    """Texts of what went wrong in one loop. `loop` holds running_at_fault,
    hung, stop_s, reported, worker_error, mismatches, read_errors, check;
    `label` names the loop ('cycle 3'), `fault` the fault ('the power cut')."""
    if not loop["running_at_fault"]:
        yield f"{label}: the workload had stopped before {fault} ({loop['worker_error']})"
    if loop["hung"]:
        yield (f"{label}: the worker still ran {loop['stop_s']} s after {fault}: outstanding IO "
               "neither completed nor reported (a hang)")
    elif not loop["reported"]:
        yield f"{label}: the worker ended without an error: {fault} went unreported"
    if loop["mismatches"] or loop["read_errors"]:
        yield f"{label}: data lost after {fault}: {loop['check']}"
