"""The emulated test bed as an instrument: faults made by QEMU, asked for
from inside the guest through its monitor ($PYNVME_QMP), and by the slot's
power controller.

What each fault is here, and why (QEMU 7.2, measured in the test bed):
- power off/on, glitch: the root port's slot power (Power Controller
  Control). Without power the function reads all ones; with power back it
  comes from reset (command register 0, BARs cleared).
- surprise removal / re-insertion: the same slot power cut, without telling
  anyone. A hot-plug of the QEMU device cannot serve: `device_del` of a
  function vfio-pci holds only asks the guest to eject it (ACPI hot-plug), and
  the guest kernel waits for the user of the device to let it go ("No device
  request channel registered, blocked until released by user"), so the
  driver never sees it leave; unrealizing the device makes it vanish, but
  QEMU 7.2 aborts when it is realized again. For the driver the two are the
  same event: its function stops answering, later it answers from reset.
- PCIe errors: `pcie_aer_inject_error` of the human monitor, into the NVMe
  function (default) or its root port. QEMU's NVMe function has no AER
  capability: an error sets its Device Status bits (correctable, non-fatal,
  fatal). At the root port (AER capable) the guest kernel's AER driver
  handles it, and for a fatal error it resets the link below the port.
- SMART critical warning: QEMU's `smart_critical_warning` property, which
  also sends the asynchronous event the host enabled (Set Features 0Bh).
- temperature: not settable in QEMU 7.2 (a fixed 323 K); a temperature
  warning is critical_warning(0x2).
"""
import os
import time

from .base import FaultNotSupported, Instrument, InstrumentError
from .pcie_slot import PcieSlot, function_answers
from .qmp import Qmp

# QEMU's error names by the severity they get without an AER capability
# (the PCIe defaults of Uncorrectable Error Severity); others are non-fatal.
CORRECTABLE_ERRORS = ("RCVR", "BAD_TLP", "BAD_DLLP", "REP_ROLL", "REP_TIMER", "ADV_NONFATAL",
                      "CORR_INTERNAL", "HL_OVERFLOW")
FATAL_ERRORS = ("DLP", "SDN", "FCP", "RX_OVER", "MALF_TLP")
DEFAULT_ERROR = {"correctable": "RCVR", "nonfatal": "COMP_ABORT", "fatal": "MALF_TLP"}


def _severity_of(error):
    if error in CORRECTABLE_ERRORS:
        return "correctable"
    return "fatal" if error in FATAL_ERRORS else "nonfatal"


class TestBed(Instrument):
    """TestBed(pcie_or_addr, qmp_path=None, errors_at='device')

    The QEMU NVMe device at `pcie_or_addr` (a Pcie object or a BDF) as a
    fault source. `errors_at` is where inject_pcie_error() lands: 'device'
    (the NVMe function) or 'port' (its root port)."""

    __test__ = False  # a class named Test*: not a pytest test
    # glitch, surprise removal and re-insertion: the base class's, made of
    # slot power (see the module's docstring for why removal is slot power)
    FAULTS_BY_POWER = ("glitch", "surprise_removal", "reinsert")

    def __init__(self, pcie_or_addr, qmp_path=None, errors_at="device"):
        addr = getattr(pcie_or_addr, "addr", pcie_or_addr)
        if errors_at not in ("device", "port"):
            raise ValueError(f"errors_at must be 'device' or 'port', got {errors_at!r}")
        if not (qmp_path or os.environ.get("PYNVME_QMP")):
            raise InstrumentError("testbed: no QMP port ($PYNVME_QMP is not set): "
                                  "not inside the test bed guest?")
        self.slot = PcieSlot(addr)
        self.errors_at = errors_at
        self.name = f"testbed({self.slot.function})"
        self.qmp = Qmp(qmp_path)
        try:
            self.device_id, self.port_id = self._find_qemu_device()
        except Exception:
            self.qmp.close()
            raise
        self.name = f"testbed({self.slot.function}, QEMU device {self.device_id})"

    def _find_qemu_device(self):
        """The ids of the QEMU nvme device at our BDF and of its root port:
        the port is on bus 0 at the port's devfn, the function at its own."""
        def devfn(bdf):
            dev, fn = bdf.split(":")[2].split(".")
            return int(dev, 16) << 3 | int(fn)
        seen = []
        for child in self.qmp.command("qom-list", {"path": "/machine/peripheral"}):
            if child.get("type") != "child<nvme>":
                continue
            path = "/machine/peripheral/" + child["name"]
            port_path = self.qmp.qom_get(path, "parent_bus").rsplit("/", 1)[0]
            port_addr = self.qmp.qom_get(port_path, "addr")
            addr = self.qmp.qom_get(path, "addr")
            seen.append(f"{child['name']} (port devfn 0x{port_addr:x}, devfn 0x{addr:x})")
            if (self.slot.port.split(":")[1] == "00" and port_addr == devfn(self.slot.port)
                    and addr == devfn(self.slot.function)):
                return child["name"], port_path.rsplit("/", 1)[1]
        raise InstrumentError(f"{self.name}: no QEMU nvme device at this address; QEMU has "
                              f"{', '.join(seen) or 'none'}")

    def close(self):
        if getattr(self, "qmp", None):
            self.qmp.close()
            self.qmp = None

    # ---- power ------------------------------------------------------------------
    def _power_off(self):
        self.slot.set_power(False)
        deadline = time.monotonic() + 1
        while function_answers(self.slot.function):
            if time.monotonic() > deadline:
                raise InstrumentError(f"{self.name}: the function still answers 1 s after "
                                      "slot power off")
            time.sleep(0.01)

    def _power_on(self):
        self.slot.set_power(True)
        self.slot.wait_function()

    # ---- PCIe errors ------------------------------------------------------------
    def _inject_pcie_error(self, severity, error):
        name = (error or DEFAULT_ERROR[severity]).upper()
        if _severity_of(name) != severity:
            raise ValueError(f"{self.name}: QEMU injects {name} as a {_severity_of(name)} error, "
                             f"not {severity}")
        target = self.device_id if self.errors_at == "device" else self.port_id
        flag = "-c " if severity == "correctable" else ""
        command = f"pcie_aer_inject_error {flag}{target} {name}"
        out = self.qmp.human(command).strip()
        if not out.startswith("OK"):
            raise InstrumentError(f"{self.name}: QEMU refused '{command}': {out}")

    # ---- health -------------------------------------------------------------------
    def _critical_warning(self, bits):
        self.qmp.qom_set(f"/machine/peripheral/{self.device_id}", "smart_critical_warning", bits)

    def clear_critical_warning(self):
        """Clears the SMART critical warning bits (no event is sent)."""
        self.qmp.qom_set(f"/machine/peripheral/{self.device_id}", "smart_critical_warning", 0)

    def _set_temperature(self, celsius):
        raise FaultNotSupported(self, "set the temperature",
                                "QEMU 7.2's NVMe device reports a fixed 323 K; "
                                "critical_warning(0x2) raises a temperature warning")
