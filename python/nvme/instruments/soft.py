"""The software controller (Pcie('soft...'), docs/software-controller.md) as
an instrument, so a script written for instruments also runs on the host,
without a test bed or a lab.

Its faults are the controller's own: power off and surprise removal make
config space and registers read all ones (inject('all_ones')); an orderly
removal also releases the Pcie object as the OS taking a VFIO device back
does (inject('remove'): Pcie.removed names it, the script opens the device
again after reinsert()); power on and re-insertion bring it back in its
power-on state (inject_clear(), which also disarms the per-command faults).
It has no PCIe link, rails or sensor.
"""
from .base import Instrument, InstrumentError


class SoftController(Instrument):
    """SoftController(pcie): `pcie` is an open Pcie of a software controller."""

    # glitch, surprise removal and re-insertion: the base class's, made of
    # the power faults below (the device cannot tell them apart)
    FAULTS_BY_POWER = ("glitch", "surprise_removal", "reinsert")

    def __init__(self, pcie):
        addr = getattr(pcie, "addr", None)
        if not isinstance(addr, str) or not addr.startswith("soft"):
            raise InstrumentError(f"SoftController needs a Pcie of a software controller "
                                  f"('soft...'), not {pcie!r}")
        self.pcie = pcie
        self.name = f"soft({addr})"

    def _power_off(self):
        self.pcie.inject("all_ones")

    def _power_on(self):
        self.pcie.inject_clear()

    def _orderly_removal(self):
        self.pcie.inject("remove")
