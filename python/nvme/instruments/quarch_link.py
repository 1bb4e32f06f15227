"""The byte link to a Quarch module: TCP or serial, and bounded waits.

Quarch modules take one text command per line and answer with text lines
followed by a '>' prompt (a terminal on a serial line also sees its command
echoed). Every wait here has a deadline, so a module that stops answering or
a dropped connection becomes an exception naming the module and the
command, never a hang.
"""
import socket
import time

from .base import InstrumentError

DEFAULT_TCP_PORT = 9760   # the port Quarch modules take commands on
DEFAULT_BAUD = 19200      # the usual serial rate of Quarch modules; set yours with serial:DEV@BAUD


class QuarchError(InstrumentError):
    """Base of the Quarch errors."""


class QuarchConnectionError(QuarchError, ConnectionError):
    """No connection to the module, or it closed it."""


class QuarchTimeout(QuarchError, TimeoutError):
    """The module did not answer in time."""


def parse_address(address):
    """'tcp:HOST[:PORT]' or 'serial:DEVICE[@BAUD]' (case-insensitive scheme)
    -> ('tcp', host, port) or ('serial', device, baud)."""
    if not isinstance(address, str) or ":" not in address:
        raise ValueError(f"Quarch address must be 'tcp:HOST[:PORT]' or 'serial:DEVICE[@BAUD]', "
                         f"got {address!r}")
    scheme, rest = address.split(":", 1)
    scheme = scheme.lower()
    if scheme == "tcp":
        host, _, port = rest.partition(":")
        if not host:
            raise ValueError(f"Quarch address {address!r}: no host")
        try:
            port = int(port) if port else DEFAULT_TCP_PORT
        except ValueError:
            raise ValueError(f"Quarch address {address!r}: port {port!r} is not a number") from None
        if not 0 < port < 65536:
            raise ValueError(f"Quarch address {address!r}: port {port} out of 1..65535")
        return "tcp", host, port
    if scheme == "serial":
        device, _, baud = rest.partition("@")
        if not device:
            raise ValueError(f"Quarch address {address!r}: no serial device")
        try:
            baud = int(baud) if baud else DEFAULT_BAUD
        except ValueError:
            raise ValueError(f"Quarch address {address!r}: baud rate {baud!r} is not a number") from None
        return "serial", device, baud
    raise ValueError(f"Quarch address {address!r}: scheme must be tcp or serial, not {scheme!r}")


class _Tcp:
    def __init__(self, host, port, connect_timeout):
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except socket.timeout:
            raise QuarchConnectionError(f"tcp:{host}:{port}: no connection within "
                                        f"{connect_timeout:g} s") from None
        except OSError as e:
            raise QuarchConnectionError(f"tcp:{host}:{port}: cannot connect: {e.strerror or e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        self.sock.sendall(data)

    def read(self, wait_s):
        """Bytes that arrive within wait_s (b'' when none); raises EOFError
        when the module closed the connection."""
        self.sock.settimeout(max(wait_s, 0.001))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return b""
        if not data:
            raise EOFError
        return data

    def close(self):
        self.sock.close()


class _Serial:
    def __init__(self, device, baud, connect_timeout):
        try:
            import serial  # Debian's python3-serial; only serial links need it
        except ImportError:
            raise QuarchConnectionError("serial links need pyserial: apt-get install python3-serial") from None
        self.serial_error = serial.SerialException
        try:
            self.port = serial.Serial(device, baudrate=baud, timeout=0, write_timeout=connect_timeout)
        except (serial.SerialException, OSError) as e:
            raise QuarchConnectionError(f"serial:{device}: cannot open: {e}") from None

    def send(self, data):
        try:
            self.port.write(data)
        except self.serial_error as e:
            raise OSError(str(e)) from None

    def read(self, wait_s):
        self.port.timeout = max(wait_s, 0.001)
        try:
            return self.port.read(max(1, self.port.in_waiting))
        except self.serial_error as e:
            # pyserial reports a vanished device (USB pulled, pty closed) this way
            raise EOFError(str(e)) from None

    def close(self):
        self.port.close()


class QuarchLink:
    """One connection to a module: command(text) returns its answer text."""

    def __init__(self, address, timeout=5.0, connect_timeout=5.0):
        kind, where, arg = parse_address(address)
        self.address = address
        self.timeout = timeout
        self.transport = (_Tcp if kind == "tcp" else _Serial)(where, arg, connect_timeout)
        self.stale = False  # an answer may still arrive for a command that timed out

    def _drain(self):
        """Drops what is left of an earlier, timed-out answer."""
        end = time.monotonic() + 0.2
        while time.monotonic() < end and self.transport.read(0.05):
            pass
        self.stale = False

    def command(self, text, timeout=None):
        if self.transport is None:
            raise QuarchConnectionError(f"{self.address}: the connection is closed")
        timeout = self.timeout if timeout is None else timeout
        try:
            if self.stale:
                self._drain()
            self.transport.send(text.encode("ascii") + b"\r\n")
            reply = self._read_reply(text, time.monotonic() + timeout)
        except QuarchError:
            raise  # QuarchTimeout is a TimeoutError, an OSError: not a lost link
        except EOFError:
            self.close()
            raise QuarchConnectionError(f"{self.address}: the module closed the connection "
                                        f"while answering '{text}'") from None
        except OSError as e:
            self.close()
            raise QuarchConnectionError(f"{self.address}: connection lost sending '{text}': "
                                        f"{e.strerror or e}") from None
        return reply

    def _read_reply(self, text, deadline):
        buf = b""
        while True:
            # the answer is complete when a '>' prompt starts the last line
            stripped = buf.rstrip()
            if stripped.endswith(b">") and (len(stripped) == 1 or stripped[-2:-1] in (b"\n", b"\r")):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self.stale = True
                raise QuarchTimeout(f"{self.address}: no answer to '{text}' within "
                                    f"{self.timeout:g} s" + (f" (got {buf!r})" if buf else ""))
            buf += self.transport.read(min(left, 0.5))
        lines = [ln.strip() for ln in stripped[:-1].decode("ascii", "replace").splitlines()]
        lines = [ln for ln in lines if ln and ln != text.strip()]  # drop the echo of a terminal
        return "\n".join(lines)

    def close(self):
        if self.transport is not None:
            self.transport.close()
            self.transport = None
