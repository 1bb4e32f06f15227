"""The PCIe error state of a function, decoded: Device Status error bits and,
where the function has the AER capability, its uncorrectable and
correctable error status registers (PCIe Base Specification 7.5.3.5 and
7.8.4).

    from nvme.pcie_errors import pcie_errors, clear_pcie_errors
    errors = pcie_errors(pcie)            # a Pcie object, or a BDF (sysfs)
    errors.device_status                  # {'correctable', 'nonfatal', ...}
    errors.uncorrectable                  # {'Malformed TLP', ...} (AER only)
    clear_pcie_errors(pcie)               # write-1-to-clear, through sysfs (root)
"""
from collections import namedtuple

from .instruments.pcie_slot import capability, config_read, config_write, full_bdf

PcieErrors = namedtuple("PcieErrors", "device_status uncorrectable correctable has_aer")

DEVSTA_BITS = {0: "correctable", 1: "nonfatal", 2: "fatal", 3: "unsupported_request"}
UNCORRECTABLE_BITS = {
    4: "Data Link Protocol Error", 5: "Surprise Down Error", 12: "Poisoned TLP Received",
    13: "Flow Control Protocol Error", 14: "Completion Timeout", 15: "Completer Abort",
    16: "Unexpected Completion", 17: "Receiver Overflow", 18: "Malformed TLP", 19: "ECRC Error",
    20: "Unsupported Request Error", 21: "ACS Violation", 22: "Uncorrectable Internal Error",
    23: "MC Blocked TLP", 24: "AtomicOp Egress Blocked", 25: "TLP Prefix Blocked Error",
    26: "Poisoned TLP Egress Blocked"}
CORRECTABLE_BITS = {
    0: "Receiver Error", 6: "Bad TLP", 7: "Bad DLLP", 8: "REPLAY_NUM Rollover",
    12: "Replay Timer Timeout", 13: "Advisory Non-Fatal Error", 14: "Corrected Internal Error",
    15: "Header Log Overflow"}
PCI_CAP_ID_EXP, PCI_EXT_CAP_ID_ERR = 0x10, 0x01
DEVSTA, AER_UNCOR_STATUS, AER_COR_STATUS = 0x0a, 0x04, 0x10


def _decode(value, names):
    return {name for bit, name in names.items() if value >> bit & 1}


class _Config:
    """Config space of a Pcie object (through VFIO) or of a BDF (sysfs)."""

    def __init__(self, dev):
        if isinstance(dev, str):
            self.bdf = full_bdf(dev)
            self.read = lambda off, size: config_read(self.bdf, off, size)
            self.write = lambda off, size, value: config_write(self.bdf, off, size, value)
            self.cap = lambda cid: capability(self.bdf, cid)
            self.ext_cap = self._walk_extended
        else:
            self.read = dev.register
            # VFIO does not pass writes of the status registers to the device:
            # clear them through sysfs (root), as for any other function
            bdf = full_bdf(dev.addr)
            self.write = lambda off, size, value: config_write(bdf, off, size, value)
            self.cap = dev.cap_offset
            self.ext_cap = lambda cid: dev.cap_offset(cid, extended=True)

    def _walk_extended(self, cid):
        pos, seen = 0x100, 0
        while pos and seen < 96:
            header = self.read(pos, 4)
            if header in (0, 0xffffffff):
                return None
            if header & 0xffff == cid:
                return pos
            pos, seen = header >> 20 & 0xffc, seen + 1
        return None


def pcie_errors(dev):
    """The error state of `dev` (a Pcie object, or a BDF read through sysfs)."""
    cfg = _Config(dev)
    exp = cfg.cap(PCI_CAP_ID_EXP)
    if exp is None:
        raise ValueError(f"{dev}: not a PCI Express function (no PCIe capability)")
    devsta = cfg.read(exp + DEVSTA, 2)
    aer = cfg.ext_cap(PCI_EXT_CAP_ID_ERR)
    uncor = cfg.read(aer + AER_UNCOR_STATUS, 4) if aer else 0
    cor = cfg.read(aer + AER_COR_STATUS, 4) if aer else 0
    return PcieErrors(_decode(devsta, DEVSTA_BITS), _decode(uncor, UNCORRECTABLE_BITS),
                      _decode(cor, CORRECTABLE_BITS), aer is not None)


def clear_pcie_errors(dev):
    """Clears the bits pcie_errors() reports (they are write-1-to-clear)."""
    cfg = _Config(dev)
    exp = cfg.cap(PCI_CAP_ID_EXP)
    if exp is None:
        raise ValueError(f"{dev}: not a PCI Express function (no PCIe capability)")
    cfg.write(exp + DEVSTA, 1, 0x0f)
    aer = cfg.ext_cap(PCI_EXT_CAP_ID_ERR)
    if aer:
        cfg.write(aer + AER_UNCOR_STATUS, 4, 0xffffffff)
        cfg.write(aer + AER_COR_STATUS, 4, 0xffffffff)
