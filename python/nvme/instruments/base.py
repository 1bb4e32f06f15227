"""The instrument interface: one class for every fault source a script uses.

A script names the faults it wants (cut power, pull the drive, inject a PCIe
error, margin a rail, raise a temperature warning) and the instrument behind
it decides how: the emulated test bed through QEMU's monitor, a Quarch power
module over TCP or serial, a lab's own tool. Changing instruments is one line
of the script; a fault the instrument has no way to make raises
FaultNotSupported naming the instrument and the fault, never a silent no-op.

Each public method checks its arguments here, once for every instrument, and
then calls the underscored method a subclass implements.
"""
import time

PCIE_ERROR_SEVERITIES = ("correctable", "nonfatal", "fatal")


class InstrumentError(Exception):
    """An instrument failed to do what it was asked (it can, but it did not)."""


class FaultNotSupported(InstrumentError, NotImplementedError):
    """The instrument has no way to make this fault."""

    def __init__(self, instrument, fault, reason=""):
        self.instrument = str(instrument)
        self.fault = fault
        text = f"instrument {self.instrument} cannot {fault}"
        super().__init__(text + (f": {reason}" if reason else ""))


def _number(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


class Instrument:
    """Base of every fault source. Subclasses set `name` and implement the
    underscored methods of the faults they can make."""

    name = "instrument"

    # What each public fault calls, for supports() and the error text.
    _FAULTS = {
        "power_off": ("_power_off", "power off"),
        "power_on": ("_power_on", "power on"),
        "set_power_ramp": ("_set_power_ramp", "set a power ramp"),
        "glitch": ("_glitch", "glitch the power"),
        "surprise_removal": ("_surprise_removal", "remove the device"),
        "orderly_removal": ("_orderly_removal", "hot-remove the device in order (OS told)"),
        "reinsert": ("_reinsert", "re-insert the device"),
        "inject_pcie_error": ("_inject_pcie_error", "inject a PCIe error"),
        "set_voltage": ("_set_voltage", "set a rail voltage"),
        "voltage": ("_voltage", "read a rail voltage"),
        "set_temperature": ("_set_temperature", "set the temperature"),
        "critical_warning": ("_critical_warning", "raise a SMART critical warning"),
    }

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"

    # Faults a subclass makes with its own power switch, for want of a native
    # way: a glitch is power off, a wait, power on; a surprise removal is a
    # power cut nobody is told about, re-insertion is power on. A subset of
    # ("glitch", "surprise_removal", "reinsert"). Opt-in, because a power cut
    # is a removal for the driver only where the instrument powers the slot
    # itself (the test bed's slot power, a software controller); a bench
    # supply beside a hot-swap bay is not one.
    FAULTS_BY_POWER = ()

    def supports(self, fault):
        """True when this instrument implements `fault` (a public method name,
        e.g. 'surprise_removal'), so a script can skip what its bench lacks."""
        if fault not in self._FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(self._FAULTS))}")
        impl = self._FAULTS[fault][0]
        if getattr(type(self), impl) is not getattr(Instrument, impl):
            return True
        return fault in self.FAULTS_BY_POWER and self.supports("power_off") and \
            self.supports("power_on")

    def _unsupported(self, fault, reason=""):
        raise FaultNotSupported(self, self._FAULTS[fault][1], reason)

    # ---- power --------------------------------------------------------------
    def power_off(self):
        """Cuts the drive's power. Returns when the power is off."""
        self._power_off()

    def power_on(self):
        """Restores the drive's power. Returns when the power is good."""
        self._power_on()

    def power_cycle(self, hold_s=1.0):
        """power_off(), `hold_s` seconds without power, power_on(). The driver
        is not told: a script that keeps using the controller passes this
        instrument to nvme.Subsystem and calls Subsystem.power_cycle()."""
        _number("hold_s", hold_s, 0, 86400)
        self.power_off()
        try:
            time.sleep(hold_s)
        finally:
            self.power_on()

    def set_power_ramp(self, rise_ms=None, fall_ms=None):
        """How fast the rails rise at power_on and fall at power_off (ms from
        0 to 100 % and back); None keeps the instrument's default."""
        for name, value in (("rise_ms", rise_ms), ("fall_ms", fall_ms)):
            if value is not None:
                _number(name, value, 0, 60000)
        self._set_power_ramp(rise_ms, fall_ms)

    def glitch(self, duration_ms, rails=None):
        """Drops power for `duration_ms` and restores it by itself; `rails`
        (e.g. ['12V']) limits it where the instrument switches rails apart.
        The driver is not told, as with a real brown-out."""
        _number("duration_ms", duration_ms, 0.001, 60000)
        self._glitch(duration_ms, self._rails(rails) if rails is not None else None)

    # ---- hot plug -------------------------------------------------------------
    def surprise_removal(self):
        """Pulls the drive out without warning the host (no attention button,
        no eject): the driver has to find out by itself."""
        self._surprise_removal()

    def orderly_removal(self):
        """Hot-removes the drive the orderly way (the OS is told first, as by
        a slot's attention button or an eject): the OS asks the driver for the
        device back, the driver fails what is outstanding, stops its ioworkers
        and lets go (Pcie.removed names the removal; every later command
        raises naming it), then the device leaves. Returns once it is gone."""
        self._orderly_removal()

    def reinsert(self):
        """Puts the drive back after surprise_removal() or orderly_removal().
        After a surprise removal the function comes back from reset (BARs
        cleared): nvme.Pcie.reset(instrument.reinsert) brings it back to the
        driver, then Controller.reset(). After an orderly removal it is a new
        device to the OS: reinsert() returns once it is ready for the driver,
        and the script opens it again (nvme.Pcie(addr), nvme.Controller)."""
        self._reinsert()

    # ---- PCIe errors ----------------------------------------------------------
    def inject_pcie_error(self, severity, error=None):
        """Makes the device report a PCIe error of `severity` ('correctable',
        'nonfatal' or 'fatal'); `error` names a specific error where the
        instrument offers several (its docstring lists them)."""
        if severity not in PCIE_ERROR_SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(PCIE_ERROR_SEVERITIES)}, "
                             f"got {severity!r}")
        if error is not None and not isinstance(error, str):
            raise TypeError(f"error must be a name (str) or None, not {type(error).__name__}")
        self._inject_pcie_error(severity, error)

    # ---- power rails ----------------------------------------------------------
    RAILS = ("12V", "5V", "3V3")

    def _rails(self, rails):
        if isinstance(rails, str):
            rails = [rails]
        out = []
        for rail in rails:
            if not isinstance(rail, str) or rail.upper() not in self.RAILS:
                raise ValueError(f"rail must be one of {', '.join(self.RAILS)}, got {rail!r}")
            out.append(rail.upper())
        return out

    def set_voltage(self, rail, millivolts):
        """Margins `rail` ('12V', '5V', '3V3') to `millivolts`."""
        rail = self._rails(rail)[0]
        _number("millivolts", millivolts, 0, 20000)
        self._set_voltage(rail, int(round(millivolts)))

    def voltage(self, rail):
        """The setting of `rail` in millivolts."""
        return self._voltage(self._rails(rail)[0])

    # ---- thermal and health -------------------------------------------------------
    def set_temperature(self, celsius):
        """Drives the drive's temperature (a thermal chamber or the emulated
        sensor) to `celsius`."""
        _number("celsius", celsius, -273, 200)
        self._set_temperature(celsius)

    def critical_warning(self, bits):
        """Raises the SMART / Health Critical Warning bits `bits` (bit 0 spare,
        1 temperature, 2 reliability, 3 read-only, 4 volatile backup)."""
        if isinstance(bits, bool) or not isinstance(bits, int) or not 0 < bits <= 0xff:
            raise ValueError(f"bits must be an int in 1..0xff, got {bits!r}")
        self._critical_warning(bits)

    # ---- life cycle -----------------------------------------------------------
    def close(self):
        """Releases the connection to the instrument (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- what subclasses implement (default: not supported) ---------------------
    def _power_off(self):
        self._unsupported("power_off")

    def _power_on(self):
        self._unsupported("power_on")

    def _set_power_ramp(self, rise_ms, fall_ms):
        self._unsupported("set_power_ramp")

    def _glitch(self, duration_ms, rails):
        if "glitch" not in self.FAULTS_BY_POWER:
            self._unsupported("glitch")
        if rails is not None:
            raise FaultNotSupported(self, "glitch single rails",
                                    "its power switch cuts all rails at once; glitch(ms) without rails")
        self._power_off()
        try:
            time.sleep(duration_ms / 1000)
        finally:
            self._power_on()

    def _surprise_removal(self):
        if "surprise_removal" not in self.FAULTS_BY_POWER:
            self._unsupported("surprise_removal")
        self._power_off()

    def _orderly_removal(self):
        self._unsupported("orderly_removal")

    def _reinsert(self):
        if "reinsert" not in self.FAULTS_BY_POWER:
            self._unsupported("reinsert")
        self._power_on()

    def _inject_pcie_error(self, severity, error):
        self._unsupported("inject_pcie_error")

    def _set_voltage(self, rail, millivolts):
        self._unsupported("set_voltage")

    def _voltage(self, rail):
        self._unsupported("voltage")

    def _set_temperature(self, celsius):
        self._unsupported("set_temperature")

    def _critical_warning(self, bits):
        self._unsupported("critical_warning")
