"""Building blocks of the performance suites (scripts/performance): the PTS
steady-state rule, latency percentiles, the block size x mix tables, the
options and profiles, and running a measurement on the device."""
