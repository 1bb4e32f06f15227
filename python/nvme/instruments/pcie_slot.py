"""The power controller of the PCIe slot a function sits in, driven through
the port's sysfs config file (root only).

Why not the driver's own slot power (lib/slot_power.c, used by
Subsystem.poweroff() without an instrument)? An instrument works beside the
driver, not through it: it powers a slot whether or not a Controller holds
the function (the simulator of a power module does it for a script that
only speaks the module's protocol), and a brown-out (glitch) must not tell
the driver. Like the driver, it only touches Power Controller Control: power
off with the Power Indicator off tells QEMU to detach the device for good.
"""
import os
import time

from .base import InstrumentError

SYSFS_PCI = "/sys/bus/pci/devices"
PCI_CAP_ID_EXP = 0x10
PCI_EXP_FLAGS_SLOT = 0x0100      # Slot Implemented, in PCI Express Capabilities
PCI_EXP_SLTCAP_PCP = 0x0002      # Power Controller Present
PCI_EXP_SLTCTL_PCC = 0x0400      # Power Controller Control: 1 = off


def full_bdf(addr):
    """'01:00.0' or '0000:01:00.0' -> '0000:01:00.0'."""
    text = str(addr)
    if text.count(":") == 1:
        text = "0000:" + text
    parts = text.split(":")
    if len(parts) != 3 or len(parts[0]) != 4 or len(parts[1]) != 2 or "." not in parts[2]:
        raise ValueError(f"not a PCI address (dddd:bb:dd.f or bb:dd.f): {addr!r}")
    return text.lower()


def config_read(bdf, offset, size):
    with open(os.path.join(SYSFS_PCI, bdf, "config"), "rb", buffering=0) as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise InstrumentError(f"{bdf}: config space read at 0x{offset:x} returned {len(data)} bytes "
                              "(not root? the kernel shows 64 bytes to others)")
    return int.from_bytes(data, "little")


def config_write(bdf, offset, size, value):
    with open(os.path.join(SYSFS_PCI, bdf, "config"), "r+b", buffering=0) as f:
        f.seek(offset)
        f.write(int(value).to_bytes(size, "little"))


def capability(bdf, cap_id):
    """Offset of standard capability `cap_id` of `bdf`, or None."""
    pos, seen = config_read(bdf, 0x34, 1) & 0xfc, 0
    while pos and seen < 48:
        if config_read(bdf, pos, 1) == cap_id:
            return pos
        pos, seen = config_read(bdf, pos + 1, 1) & 0xfc, seen + 1
    return None


def function_answers(bdf):
    try:
        return config_read(bdf, 0, 2) != 0xffff
    except OSError:
        return False


class PcieSlot:
    """Slot power of the port above function `addr`."""

    def __init__(self, addr):
        self.function = full_bdf(addr)
        path = os.path.join(SYSFS_PCI, self.function)
        if not os.path.exists(path):
            raise InstrumentError(f"{self.function}: no such PCI function in sysfs")
        port = os.path.basename(os.path.dirname(os.path.realpath(path)))
        try:
            self.port = full_bdf(port)
        except ValueError:
            raise InstrumentError(f"{self.function}: on a root bus, no port above it to cut power") from None
        cap = capability(self.port, PCI_CAP_ID_EXP)
        if cap is None:
            raise InstrumentError(f"{self.port}: the port above {self.function} is not PCI Express")
        if not config_read(self.port, cap + 2, 2) & PCI_EXP_FLAGS_SLOT:
            raise InstrumentError(f"{self.port}: the port above {self.function} implements no slot")
        if not config_read(self.port, cap + 0x14, 4) & PCI_EXP_SLTCAP_PCP:
            raise InstrumentError(f"{self.port}: the slot above {self.function} has no power controller")
        self._sltctl = cap + 0x18

    def set_power(self, on):
        ctl = config_read(self.port, self._sltctl, 2)
        ctl = ctl & ~PCI_EXP_SLTCTL_PCC if on else ctl | PCI_EXP_SLTCTL_PCC
        config_write(self.port, self._sltctl, 2, ctl)

    def powered(self):
        return not config_read(self.port, self._sltctl, 2) & PCI_EXP_SLTCTL_PCC

    def wait_function(self, timeout_s=2.0):
        """Waits until the function answers config reads again (PCIe: 100 ms
        after power is good, then up to 1 s of Configuration Request Retry)."""
        time.sleep(0.1)
        deadline = time.monotonic() + timeout_s
        while not function_answers(self.function):
            if time.monotonic() > deadline:
                raise InstrumentError(f"{self.function}: no answer to config reads "
                                      f"{timeout_s:g} s after slot power on")
            time.sleep(0.01)
