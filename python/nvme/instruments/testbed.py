"""The emulated test bed as an instrument: faults made by QEMU, asked for
from inside the guest through its monitor ($PYNVME_QMP), and by the slot's
power controller.

What each fault is here, and why (QEMU 7.2, measured in the test bed):
- power off/on, glitch: the root port's slot power (Power Controller
  Control). Without power the function reads all ones; with power back it
  comes from reset (command register 0, BARs cleared).
- surprise removal / re-insertion: the same slot power cut, without telling
  anyone: the function stops answering (all ones), nobody asks the driver to
  let go, later it answers from reset. A real surprise removal differs only
  in that the host's hot-plug driver notices the card is gone: the test bed's
  slot keeps its presence, so only the driver can find out.
- orderly removal: QMP `device_del` of the nvme device, as the slot's
  attention button or an eject would: QEMU asks the guest (ACPI hot-plug), the
  guest kernel asks vfio-pci's user for the device (the device request
  eventfd, lib/vfio_pci.h), the driver fails what is outstanding and lets go,
  the kernel removes the function and QEMU unplugs the device with its
  namespaces. re-insertion: `device_add` of the controller and its namespaces
  with the test bed's own declarations ($PYNVME_TESTBED_DEVICES, written by
  tools/testbed/testbed.py), then the new function is bound to vfio-pci (new
  functions are not probed meanwhile: drivers_autoprobe off) for the script to
  open again. QEMU 7.2 takes namespaces hot-plugged only with the test bed's
  patch tools/testbed/qemu/0003-hw-nvme-hot-pluggable-namespaces.patch.
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
import json
import os
import time

from .base import FaultNotSupported, Instrument, InstrumentError
from .pcie_slot import SYSFS_PCI, PcieSlot, function_answers
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
    # glitch: the base class's, made of slot power; surprise removal (a slot
    # power cut nobody is told of) and re-insertion are its own (below), since
    # re-insertion must know whether device_del or slot power took the device
    FAULTS_BY_POWER = ("glitch",)

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
        self.removed = None  # 'surprise' or 'orderly' while the device is out

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

    # ---- hot plug (see the module's docstring) -----------------------------------
    # A TCG guest takes a few seconds for an ACPI hot-plug; a minute means it
    # is stuck (the guest never released the device).
    HOTPLUG_TIMEOUT_S = 60

    def _surprise_removal(self):
        self._power_off()
        self.removed = "surprise"

    def _orderly_removal(self):
        if self.removed:
            raise InstrumentError(f"{self.name}: the device is out already ({self.removed} "
                                  "removal): reinsert() first")
        # refuse before the device is gone, not when putting it back
        if self._declaration()["namespaces"] and not self._namespaces_hot_pluggable():
            raise FaultNotSupported(self, "hot-remove the device in order",
                                    "this QEMU cannot hot-plug its namespaces back (the nvme "
                                    "device is no hot-plug handler: tools/testbed/qemu/"
                                    "0003-hw-nvme-hot-pluggable-namespaces.patch is missing)")
        self.qmp.command("device_del", {"id": self.device_id})
        self.removed = "orderly"
        self._wait(lambda: not self._qemu_has_device() and not self._in_sysfs(),
                   f"QEMU still has {self.device_id} (or the guest its function) after device_del: "
                   "the guest did not release it (does the process that holds it through "
                   "VFIO answer the device request? lib/vfio_pci.h)")

    def _reinsert(self):
        if self.removed == "orderly":
            self._add_back()
        else:
            self._power_on()
        self.removed = None

    def _declaration(self):
        path = os.environ.get("PYNVME_TESTBED_DEVICES")
        if not path:
            raise FaultNotSupported(self, "hot-remove the device in order",
                                    "the test bed's device declarations are unknown "
                                    "($PYNVME_TESTBED_DEVICES is not set; tools/testbed/testbed.py "
                                    "sets it)")
        with open(path) as f:
            declared = json.load(f)
        if self.device_id not in declared:
            raise FaultNotSupported(self, "hot-remove the device in order",
                                    f"{path} does not declare {self.device_id}")
        return declared[self.device_id]

    def _namespaces_hot_pluggable(self):
        types = self.qmp.command("qom-list-types", {"implements": "hotplug-handler"})
        return any(t.get("name") == "nvme" for t in types)

    def _qemu_has_device(self):
        children = self.qmp.command("qom-list", {"path": "/machine/peripheral"})
        return any(child.get("name") == self.device_id for child in children)

    def _in_sysfs(self):
        return os.path.exists(os.path.join(SYSFS_PCI, self.slot.function))

    def _wait(self, done, what):
        deadline = time.monotonic() + self.HOTPLUG_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise InstrumentError(f"{self.name}: {what} ({self.HOTPLUG_TIMEOUT_S} s)")
            time.sleep(0.05)

    def _device_add(self, text):
        out = self.qmp.human(f"device_add {text}").strip()
        if out:
            hint = (" (QEMU without tools/testbed/qemu/0003-hw-nvme-hot-pluggable-namespaces.patch"
                    " cannot hot-plug namespaces)" if "does not support hotplugging" in out else "")
            raise InstrumentError(f"{self.name}: QEMU refused 'device_add {text}': {out}{hint}")

    def _add_back(self):
        """device_add of the controller and its namespaces, then the new
        function to vfio-pci. While it comes up no driver may probe it (the
        guest's nvme driver, were it loaded, would take it first)."""
        decl = self._declaration()
        autoprobe = os.path.join("/sys/bus/pci", "drivers_autoprobe")
        with open(autoprobe) as f:
            before = f.read().strip()
        with open(autoprobe, "w") as f:
            f.write("0")
        try:
            self._device_add(decl["device"])
            try:
                for ns in decl["namespaces"]:
                    self._device_add(ns)
            except InstrumentError:
                # not half a device: the controller goes again, and the
                # error is the namespace's
                self.qmp.command("device_del", {"id": self.device_id}, check=False)
                self._wait(lambda: not self._qemu_has_device(), "the half re-added controller "
                           "did not go")
                raise
            self._wait(self._in_sysfs, f"{self.slot.function} did not appear after device_add")
            function = os.path.join(SYSFS_PCI, self.slot.function)
            with open(os.path.join(function, "driver_override"), "w") as f:
                f.write("vfio-pci")
            with open("/sys/bus/pci/drivers_probe", "w") as f:
                f.write(self.slot.function)
            self._wait(lambda: os.path.basename(os.path.realpath(os.path.join(function, "driver")))
                       == "vfio-pci", f"{self.slot.function} was not bound to vfio-pci")
        finally:
            with open(autoprobe, "w") as f:
                f.write(before)

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
