"""Building blocks of the stress suites (scripts/stress): options and
profiles, the StressRun a suite drives (faults, verified workloads with
bounded waits, the report), reading data back after a fault, SMART, the
reset kinds and the illegal admin commands."""
