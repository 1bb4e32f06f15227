"""Quarch power modules (Programmable Power Modules, hot-plug drive control
modules) as an instrument, over their text command protocol.

The protocol, from Quarch's published command references: SCPI-like commands,
not case-sensitive, levels separated by ':' (short forms such as POW for
POWer), queries end in '?', commands that return nothing answer 'OK' or
'FAIL' with a reason. What this driver sends:
    RUN:POWer UP | DOWN, RUN:POWer?          outputs on/off (ON, OFF, PULLED)
    CONFig:OUTput:MODE 3V3 | 5V              the drive's low rail
    SIGnal:<rail>:VOLTage <mV>, ...?         voltage margining (12V, 5V, 3V3)
    SIGnal:<rail>:GLITch:ENAble ON | OFF     rails a glitch cuts
    GLITch:SETup <interval> <multiplier>     glitch length (e.g. 1ms 20 = 20 ms)
    RUN:GLITch ONCE                          one glitch
    *IDN?                                    identity (checked at connect)
tools/quarch_sim.py is a simulator of this protocol the tests run against.
"""
import re
import time

from .base import FaultNotSupported, Instrument
from .quarch_link import (QuarchConnectionError, QuarchError, QuarchLink,  # noqa: F401
                          QuarchTimeout, parse_address)


class QuarchCommandError(QuarchError):
    """The module refused a command (FAIL, or not the answer expected)."""

    def __init__(self, module, command, reply):
        self.command = command
        self.reply = reply
        super().__init__(f"{module}: '{command}' failed: {reply or '(empty answer)'}")


class Quarch(Instrument):
    """Quarch(address, timeout=5.0, connect_timeout=5.0, power_timeout=10.0, module=None)

    `address` is 'tcp:HOST[:PORT]' (port 9760 by default) or
    'serial:DEVICE[@BAUD]'; `module` is the port number of a module behind an
    array controller (sent as '<N>' after each command). Every command waits at most `timeout` s for its
    answer; power_on/power_off wait at most `power_timeout` s for the outputs
    to report their new state."""

    def __init__(self, address, timeout=5.0, connect_timeout=5.0, power_timeout=10.0, module=None):
        parse_address(address)  # a bad address is a ValueError before any I/O
        if module is not None and (isinstance(module, bool) or not isinstance(module, int)
                                   or not 0 <= module <= 255):
            raise ValueError(f"module must be an array port number 0..255 or None, got {module!r}")
        self.module = module
        self.name = f"quarch({address})" if module is None else f"quarch({address} <{module}>)"
        self.power_timeout = power_timeout
        self.link = QuarchLink(address, timeout, connect_timeout)
        try:
            self.identity = self.query("*IDN?")
        except Exception:
            self.link.close()
            raise

    def close(self):
        self.link.close()

    # ---- the protocol -----------------------------------------------------------
    def command(self, text):
        """Sends one command line and returns the module's answer; a FAIL
        answer raises QuarchCommandError."""
        if not isinstance(text, str) or not text.strip() or "\n" in text or "\r" in text:
            raise ValueError(f"a Quarch command is one non-empty line, got {text!r}")
        line = text.strip() if self.module is None else f"{text.strip()} <{self.module}>"
        reply = self.link.command(line)
        if reply.upper().startswith("FAIL"):
            raise QuarchCommandError(self.name, text, reply)
        return reply

    def query(self, text):
        if not text.rstrip().endswith("?"):
            raise ValueError(f"a query ends with '?': {text!r}")
        return self.command(text)

    def _set(self, text):
        reply = self.command(text)
        if reply.upper() != "OK":
            raise QuarchCommandError(self.name, text, reply)

    # ---- outputs ------------------------------------------------------------------
    def power_state(self):
        """'ON', 'OFF' or what the module says (e.g. 'PULLED')."""
        return self.query("RUN:POWer?").upper()

    def _wait_power(self, want):
        deadline = time.monotonic() + self.power_timeout
        while (state := self.power_state()) != want:
            if time.monotonic() > deadline:
                raise QuarchTimeout(f"{self.name}: outputs still {state}, not {want}, "
                                    f"{self.power_timeout:g} s after the command")
            time.sleep(0.05)

    def _power_off(self):
        self._set("RUN:POWer DOWN")
        self._wait_power("OFF")

    def _power_on(self):
        self._set("RUN:POWer UP")
        self._wait_power("ON")

    def set_output_mode(self, mode):
        """The drive's low rail: '3V3' or '5V' (modules with a drive fixture
        may decide it themselves and refuse)."""
        mode = str(mode).upper()
        if mode not in ("3V3", "5V"):
            raise ValueError(f"output mode must be '3V3' or '5V', got {mode!r}")
        self._set(f"CONFig:OUTput:MODE {mode}")

    def _set_power_ramp(self, rise_ms, fall_ms):
        raise FaultNotSupported(self, "set a power ramp",
                                "the command set used here has no rise/fall time; "
                                "step set_voltage() for a slow ramp")

    # ---- margining ------------------------------------------------------------------
    def _set_voltage(self, rail, millivolts):
        self._set(f"SIGnal:{rail}:VOLTage {millivolts}")

    def _voltage(self, rail):
        reply = self.query(f"SIGnal:{rail}:VOLTage?")
        m = re.fullmatch(r"\s*(\d+)\s*(mV)?\s*", reply, re.IGNORECASE)
        if not m:
            raise QuarchCommandError(self.name, f"SIGnal:{rail}:VOLTage?", reply)
        return int(m.group(1))

    # ---- glitches -------------------------------------------------------------------
    def _glitch(self, duration_ms, rails):
        rails = rails or list(self.RAILS)
        # the glitch engine counts a base interval times a multiplier
        if duration_ms >= 1:
            interval, count = "1ms", round(duration_ms)
        else:
            interval, count = "1us", round(duration_ms * 1000)
        for rail in self.RAILS:
            self._set(f"SIGnal:{rail}:GLITch:ENAble {'ON' if rail in rails else 'OFF'}")
        self._set(f"GLITch:SETup {interval} {count}")
        self._set("RUN:GLITch ONCE")
