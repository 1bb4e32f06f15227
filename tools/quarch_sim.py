#!/usr/bin/python3
"""A simulator of a Quarch power module's text protocol, for tests and for
trying scripts without the hardware.

    tools/quarch_sim.py [--port 9760] [--pty] [--slot BDF] [faults]

It listens on 127.0.0.1 (TCP) or on a pseudo-terminal (--pty, a serial link)
and prints 'listening on tcp:127.0.0.1:PORT' or 'listening on serial:PATH'
first. It keeps a module's state: outputs on/off, output mode, the voltage
of each rail, glitch settings. With --slot BDF (root, in the test bed) the
outputs really power the PCIe slot of that function, so a script written for
a Quarch module drives the emulated drive.

Modules behind an array controller are addressed by a trailing '<N>' on
each command (e.g. 'run:power down <2>'); each N gets its own state, and
--slot wires only the module without an address (or <0>).

Faults for testing a driver: --mute-after N (answers N commands, then reads
and stays silent), --drop-after N (answers N commands, then closes the
connection), --echo (echoes commands like a serial terminal).
Simulator-only query: SIM:GLITches? (how many glitches ran).
"""
import argparse
import os
import re
import socket
import sys
import threading
import time

RAILS = {"12V": 12000, "5V": 5000, "3V3": 3300}
MARGIN = 0.2  # the module refuses settings beyond +-20 % of nominal

# SCPI keywords: (long form, short form)
KEYWORDS = {k[1]: k for k in [
    ("RUN", "RUN"), ("POWER", "POW"), ("CONFIG", "CONF"), ("OUTPUT", "OUT"), ("MODE", "MODE"),
    ("SIGNAL", "SIG"), ("VOLTAGE", "VOLT"), ("GLITCH", "GLIT"), ("SETUP", "SET"),
    ("ENABLE", "ENA"), ("SIM", "SIM"), ("GLITCHES", "GLITCHES")]}


def keyword(token):
    """The long form of a SCPI keyword given in any form between its short
    and long spelling, or the token itself (rails, values)."""
    up = token.upper()
    for long_form, short in KEYWORDS.values():
        if up == long_form or (up.startswith(short) and long_form.startswith(up)):
            return long_form
    return up


class Module:
    def __init__(self, slot=None):
        self.lock = threading.Lock()
        self.power = "ON"
        self.mode = "5V"
        self.volts = dict(RAILS)
        self.glitch_enable = {r: False for r in RAILS}
        self.glitch_setup = ("1ms", 1)
        self.glitches = 0
        self.slot = slot

    def _switch(self, on):
        if self.slot is not None:
            self.slot.set_power(on)
            if on:
                self.slot.wait_function()
        self.power = "ON" if on else "OFF"

    def execute(self, line):
        """One command line -> the answer text (without the prompt)."""
        line = line.strip()
        if not line or line.startswith("#"):
            return None
        up = line.upper()
        if up == "*IDN?":
            return "Family:Torridon\nName:Power Module Simulator\nProcessor:QTL0000-SIM"
        if up == "HELLO?":
            return "Power Module Simulator"
        if up in ("*RST", "*CLR"):
            if up == "*RST":
                self.__init__(self.slot)
            return "OK"
        head, _, value = line.partition(" ")
        words = [keyword(w) for w in re.split(r"[:\s]+", head.strip()) if w]
        query = words and words[-1].endswith("?")
        if query:
            words[-1] = keyword(words[-1][:-1])
        value = value.strip().upper()
        with self.lock:
            return self._dispatch(words, query, value)

    def _dispatch(self, w, query, value):
        if w == ["RUN", "POWER"]:
            if query:
                return self.power
            if value not in ("UP", "DOWN"):
                return f"FAIL: RUN:POWer takes UP or DOWN, not '{value}'"
            self._switch(value == "UP")
            return "OK"
        if w == ["CONFIG", "OUTPUT", "MODE"]:
            if query:
                return self.mode
            if value not in ("3V3", "5V"):
                return f"FAIL: output mode must be 3V3 or 5V, not '{value}'"
            self.mode = value
            return "OK"
        if len(w) == 3 and w[0] == "SIGNAL" and w[2] == "VOLTAGE":
            rail = w[1]
            if rail not in RAILS:
                return f"FAIL: no signal {rail}"
            if query:
                return str(self.volts[rail])
            if not value.isdigit():
                return f"FAIL: voltage must be whole mV, not '{value}'"
            mv = int(value)
            if abs(mv - RAILS[rail]) > RAILS[rail] * MARGIN:
                return f"FAIL: {mv} mV is outside the {rail} margin range"
            self.volts[rail] = mv
            return "OK"
        if len(w) == 4 and w[0] == "SIGNAL" and w[2:] == ["GLITCH", "ENABLE"]:
            if w[1] not in RAILS:
                return f"FAIL: no signal {w[1]}"
            if query:
                return "ON" if self.glitch_enable[w[1]] else "OFF"
            if value not in ("ON", "OFF"):
                return f"FAIL: ENAble takes ON or OFF, not '{value}'"
            self.glitch_enable[w[1]] = value == "ON"
            return "OK"
        if w == ["GLITCH", "SETUP"]:
            if query:
                return f"{self.glitch_setup[0]} {self.glitch_setup[1]}"
            m = re.fullmatch(r"(\d+)(US|MS|S)\s+(\d+)", value)
            if not m or int(m.group(3)) < 1:
                return f"FAIL: GLITch:SETup takes an interval and a multiplier, not '{value}'"
            self.glitch_setup = (m.group(1) + m.group(2).lower(), int(m.group(3)))
            return "OK"
        if w == ["RUN", "GLITCH"] and not query:
            if value != "ONCE":
                return f"FAIL: RUN:GLITch takes ONCE here, not '{value}'"
            if not any(self.glitch_enable.values()):
                return "FAIL: no signal is enabled for glitching"
            interval, mult = self.glitch_setup
            unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[re.sub(r"\d+", "", interval)]
            seconds = int(re.sub(r"\D", "", interval)) * unit * mult
            if self.slot is not None and self.power == "ON":
                self.slot.set_power(False)
                time.sleep(seconds)
                self.slot.set_power(True)
                self.slot.wait_function()
            self.glitches += 1
            return "OK"
        if w == ["SIM", "GLITCHES"] and query:
            return str(self.glitches)
        return "FAIL: unknown command"


class Array:
    """The modules a connection reaches: '<N>' at the end of a command line
    picks module N (an array controller's port), none picks module 0."""

    def __init__(self, slot=None):
        self.modules = {0: Module(slot)}
        self.lock = threading.Lock()

    def execute(self, line):
        m = re.fullmatch(r"(.*?)\s*<(\d+)>\s*", line)
        number = int(m.group(2)) if m else 0
        with self.lock:
            module = self.modules.setdefault(number, Module())
        return module.execute(m.group(1) if m else line)


def serve_stream(module, read, write, args, close=None):
    """Answers command lines read from one connection."""
    answered = 0
    buf = b""
    while True:
        data = read()
        if not data:
            return
        buf += data
        while b"\n" in buf or b"\r" in buf:
            line, _, buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n").partition(b"\n")
            text = line.decode("ascii", "replace")
            if args.echo:
                write(line + b"\r\n")
            if not text.strip():
                continue
            if args.drop_after is not None and answered >= args.drop_after:
                if close:
                    close()
                return
            if args.mute_after is not None and answered >= args.mute_after:
                continue
            reply = module.execute(text)
            answered += 1
            write(((reply + "\r\n") if reply else "").encode() + b">")


def serve_tcp(module, args):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(4)
    print(f"listening on tcp:127.0.0.1:{srv.getsockname()[1]}", flush=True)
    while True:
        conn, _ = srv.accept()

        def one(c=conn):
            with c:
                try:
                    serve_stream(module, lambda: c.recv(4096), c.sendall, args,
                                 close=lambda: c.shutdown(socket.SHUT_RDWR))
                except OSError:
                    pass
        threading.Thread(target=one, daemon=True).start()


def serve_pty(module, args):
    import tty
    master, slave = os.openpty()
    tty.setraw(slave)
    print(f"listening on serial:{os.ttyname(slave)}", flush=True)

    def read():
        try:
            return os.read(master, 4096)
        except OSError:  # no reader opened the slave yet: wait for one
            time.sleep(0.05)
            return b" "
    serve_stream(module, read, lambda b: os.write(master, b), args, close=lambda: os.close(master))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=9760, help="TCP port (0: any free one)")
    p.add_argument("--pty", action="store_true", help="serve a pseudo-terminal (serial link) instead")
    p.add_argument("--slot", help="power the PCIe slot of this function (root, test bed)")
    p.add_argument("--mute-after", type=int, help="answer N commands, then stay silent")
    p.add_argument("--drop-after", type=int, help="answer N commands, then close the connection")
    p.add_argument("--echo", action="store_true", help="echo each command line (serial terminal)")
    args = p.parse_args()
    slot = None
    if args.slot:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
        from nvme.instruments.pcie_slot import PcieSlot
        slot = PcieSlot(args.slot)
    module = Array(slot)
    try:
        (serve_pty if args.pty else serve_tcp)(module, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
