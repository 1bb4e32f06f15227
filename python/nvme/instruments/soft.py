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
import time

from .base import FaultNotSupported, Instrument, InstrumentError


class SoftController(Instrument):
    """SoftController(pcie): `pcie` is an open Pcie of a software controller."""

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

    def _glitch(self, duration_ms, rails):
        if rails is not None:
            raise FaultNotSupported(self, "glitch single rails", "a software controller has no rails")
        self._power_off()
        try:
            time.sleep(duration_ms / 1000)
        finally:
            self._power_on()

    def _surprise_removal(self):
        self._power_off()

    def _orderly_removal(self):
        self.pcie.inject("remove")

    def _reinsert(self):
        self._power_on()
