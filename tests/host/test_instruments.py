"""The instrument interface (nvme.instruments.base): argument checks shared
by every instrument, and the error of a fault an instrument cannot make."""
import pytest

import quarch_sim_fixture  # noqa: F401  (puts python/ on the path)
from nvme.instruments import FaultNotSupported, Instrument, InstrumentError


class PowerOnly(Instrument):
    """An instrument that can switch power and nothing else."""
    name = "power-only"

    def __init__(self):
        self.calls = []

    def _power_off(self):
        self.calls.append("off")

    def _power_on(self):
        self.calls.append("on")


def test_unsupported_fault_names_instrument_and_fault():
    inst = PowerOnly()
    cases = [(inst.surprise_removal, (), "remove the device"),
             (inst.reinsert, (), "re-insert the device"),
             (inst.inject_pcie_error, ("fatal",), "inject a PCIe error"),
             (inst.set_voltage, ("12V", 11400), "set a rail voltage"),
             (inst.voltage, ("5V",), "read a rail voltage"),
             (inst.glitch, (10,), "glitch the power"),
             (inst.set_power_ramp, (5, 5), "set a power ramp"),
             (inst.set_temperature, (70,), "set the temperature"),
             (inst.critical_warning, (2,), "raise a SMART critical warning")]
    for method, args, fault in cases:
        with pytest.raises(FaultNotSupported, match=f"instrument power-only cannot {fault}") as e:
            method(*args)
        assert isinstance(e.value, InstrumentError) and isinstance(e.value, NotImplementedError)
        assert e.value.instrument == "power-only" and e.value.fault == fault
    assert inst.calls == []


def test_supports_tells_what_is_implemented():
    inst = PowerOnly()
    assert inst.supports("power_off") and inst.supports("power_on")
    assert not inst.supports("surprise_removal") and not inst.supports("inject_pcie_error")
    with pytest.raises(ValueError, match="unknown fault 'teleport'"):
        inst.supports("teleport")


def test_power_cycle_holds_and_always_powers_on_again(monkeypatch):
    inst = PowerOnly()
    slept = []
    monkeypatch.setattr("nvme.instruments.base.time.sleep", slept.append)
    inst.power_cycle(2.5)
    assert inst.calls == ["off", "on"] and slept == [2.5]

    def interrupted(_):
        raise KeyboardInterrupt
    monkeypatch.setattr("nvme.instruments.base.time.sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        inst.power_cycle(10)
    assert inst.calls[-2:] == ["off", "on"], "power comes back even when the hold is interrupted"


@pytest.mark.parametrize("call, error, text", [
    (lambda i: i.inject_pcie_error("minor"), ValueError, "severity must be one of correctable"),
    (lambda i: i.inject_pcie_error("fatal", 3), TypeError, "error must be a name"),
    (lambda i: i.set_voltage("7V", 7000), ValueError, "rail must be one of 12V, 5V, 3V3"),
    (lambda i: i.set_voltage("12V", -1), ValueError, "millivolts must be in 0..20000"),
    (lambda i: i.set_voltage("12V", "12000"), TypeError, "millivolts must be a number"),
    (lambda i: i.glitch(0), ValueError, "duration_ms must be in"),
    (lambda i: i.glitch(5, rails=["12V", "48V"]), ValueError, "rail must be one of"),
    (lambda i: i.power_cycle(-1), ValueError, "hold_s must be in 0..86400"),
    (lambda i: i.set_power_ramp(rise_ms=True), TypeError, "rise_ms must be a number"),
    (lambda i: i.critical_warning(0), ValueError, "bits must be an int in 1..0xff"),
    (lambda i: i.critical_warning(0x100), ValueError, "bits must be an int in 1..0xff"),
    (lambda i: i.set_temperature(500), ValueError, "celsius must be in"),
])
def test_bad_arguments_are_refused_before_the_instrument_acts(call, error, text):
    inst = PowerOnly()
    with pytest.raises(error, match=text):
        call(inst)
    assert inst.calls == []


def test_context_manager_closes():
    closed = []

    class Closing(PowerOnly):
        def close(self):
            closed.append(True)
    with Closing() as inst:
        inst.power_off()
    assert closed == [True]


@pytest.mark.parametrize("spec", ["usb:QTL1999", "quarch", "testbed:slot", "", "quarch:"])
def test_open_instrument_refuses_unknown_specs(spec):
    from nvme.instruments import open_instrument
    with pytest.raises(ValueError, match="use testbed, testbed:port, soft, quarch:tcp:HOST"):
        open_instrument(spec, None)


def test_open_instrument_quarch_goes_to_the_address():
    from nvme.instruments import QuarchConnectionError, open_instrument
    with pytest.raises(QuarchConnectionError, match="tcp:127.0.0.1:1: cannot connect"):
        open_instrument("quarch:tcp:127.0.0.1:1", None)


class SlotPowered(PowerOnly):
    """Powers the slot itself: removal and glitches are its power switch."""
    name = "slot-powered"
    FAULTS_BY_POWER = ("glitch", "surprise_removal", "reinsert")


def test_faults_built_on_the_power_switch(monkeypatch):
    inst = SlotPowered()
    slept = []
    monkeypatch.setattr("nvme.instruments.base.time.sleep", slept.append)
    assert inst.supports("glitch") and inst.supports("surprise_removal") and inst.supports("reinsert")
    assert not inst.supports("inject_pcie_error")
    inst.glitch(20)
    assert inst.calls == ["off", "on"] and slept == [0.02]
    inst.surprise_removal()
    inst.reinsert()
    assert inst.calls == ["off", "on", "off", "on"]
    with pytest.raises(FaultNotSupported, match="instrument slot-powered cannot glitch single rails"):
        inst.glitch(5, rails=["12V"])
    assert len(inst.calls) == 4, "a refused glitch leaves the power alone"
