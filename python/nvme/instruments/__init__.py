"""Fault sources behind one interface (docs/instruments.md).

    from nvme.instruments import TestBed, Quarch
    power = TestBed(pcie)                  # the emulated test bed
    # power = Quarch("tcp:192.168.1.20")   # a Quarch power module: the one line to change
    subsystem = d.Subsystem(nvme0, power)
    subsystem.power_cycle(3)
"""
from .base import PCIE_ERROR_SEVERITIES, FaultNotSupported, Instrument, InstrumentError  # noqa: F401
from .quarch import Quarch, QuarchCommandError, QuarchConnectionError, QuarchTimeout  # noqa: F401
from .testbed import TestBed  # noqa: F401
