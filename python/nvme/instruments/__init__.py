"""Fault sources behind one interface (docs/instruments.md).

    from nvme.instruments import TestBed, Quarch
    power = TestBed(pcie)                  # the emulated test bed
    # power = Quarch("tcp:192.168.1.20")   # a Quarch power module: the one line to change
    subsystem = d.Subsystem(nvme0, power)
    subsystem.power_cycle(3)
"""
from .base import PCIE_ERROR_SEVERITIES, FaultNotSupported, Instrument, InstrumentError  # noqa: F401
from .quarch import Quarch, QuarchCommandError, QuarchConnectionError, QuarchTimeout  # noqa: F401
from .soft import SoftController  # noqa: F401
from .testbed import TestBed  # noqa: F401


def open_instrument(spec, pcie):
    """The instrument a command line names (pytest's --instrument):
    'testbed', 'testbed:port' (PCIe errors at the root port), 'soft' (the
    software controller `pcie` is, docs/software-controller.md),
    'quarch:tcp:HOST[:PORT]' or 'quarch:serial:DEVICE[@BAUD]'."""
    kind, _, rest = str(spec).partition(":")
    kind = kind.lower()
    if kind == "testbed" and rest in ("", "device", "port"):
        return TestBed(pcie, errors_at=rest or "device")
    if kind == "soft" and not rest:
        return SoftController(pcie)
    if kind == "quarch" and rest:
        return Quarch(rest)
    raise ValueError(f"instrument {spec!r}: use testbed, testbed:port, soft, quarch:tcp:HOST[:PORT] "
                     "or quarch:serial:DEVICE[@BAUD]")
