"""The Quarch driver (nvme.instruments.Quarch) against the project's
simulator of the module protocol (tools/quarch_sim.py), over real TCP
sockets and a real pseudo-terminal: commands, margining, glitches, and the
failures of a real lab (bad commands, a module that stops answering, a
dropped connection), each a clear error within a bounded wait."""
import socket
import time

import pytest

from quarch_sim_fixture import Simulator
from nvme.instruments import (FaultNotSupported, Quarch, QuarchCommandError,
                              QuarchConnectionError, QuarchTimeout)


@pytest.fixture
def sim():
    s = Simulator()
    yield s
    s.stop()


@pytest.fixture
def module(sim):
    with Quarch(sim.address, timeout=2) as q:
        yield q


def test_connects_and_identifies(module, sim):
    assert "Power Module Simulator" in module.identity
    assert module.name == f"quarch({sim.address})"


def test_power_down_and_up(module):
    assert module.power_state() == "ON"
    module.power_off()
    assert module.query("run:pow?") == "OFF", "the module itself reports the outputs off"
    module.power_on()
    assert module.query("RUN:POWER?") == "ON"


def test_power_cycle_holds_the_power_off(module):
    start = time.monotonic()
    module.power_cycle(0.3)
    assert time.monotonic() - start >= 0.3
    assert module.power_state() == "ON"


def test_voltage_margining(module):
    module.set_voltage("12V", 11400)
    module.set_voltage("3v3", 3465)
    assert module.voltage("12V") == 11400 and module.voltage("3V3") == 3465
    assert module.query("sig:12v:volt?") == "11400"
    with pytest.raises(QuarchCommandError, match=r"'SIGnal:12V:VOLTage 9000' failed: FAIL: 9000 mV is outside") as e:
        module.set_voltage("12V", 9000)
    assert e.value.command == "SIGnal:12V:VOLTage 9000" and e.value.reply.startswith("FAIL")
    assert module.voltage("12V") == 11400, "a refused setting leaves the rail as it was"


def test_output_mode(module):
    module.set_output_mode("3v3")
    assert module.query("conf:out:mode?") == "3V3"
    with pytest.raises(ValueError, match="output mode must be '3V3' or '5V'"):
        module.set_output_mode("12V")


def test_glitch_sets_up_the_engine_and_runs_once(module):
    module.glitch(20, rails=["12V"])
    assert module.query("GLITch:SETup?") == "1ms 20"
    assert module.query("SIGnal:12V:GLITch:ENAble?") == "ON"
    assert module.query("SIGnal:5V:GLITch:ENAble?") == "OFF"
    assert module.query("SIM:GLITCHES?") == "1"
    module.glitch(0.5)
    assert module.query("GLITch:SETup?") == "1us 500"
    assert all(module.query(f"SIGnal:{r}:GLITch:ENAble?") == "ON" for r in ("12V", "5V", "3V3"))
    assert module.query("SIM:GLITCHES?") == "2"


def test_faults_the_module_cannot_make(module):
    for call, fault in [(lambda: module.surprise_removal(), "remove the device"),
                        (lambda: module.inject_pcie_error("fatal"), "inject a PCIe error"),
                        (lambda: module.critical_warning(2), "raise a SMART critical warning"),
                        (lambda: module.set_power_ramp(rise_ms=5), "set a power ramp")]:
        with pytest.raises(FaultNotSupported, match=f"instrument quarch\\(tcp:127.0.0.1:\\d+\\) cannot {fault}"):
            call()


def test_bad_command_is_a_clear_error_and_the_link_goes_on(module):
    with pytest.raises(QuarchCommandError, match=r"'conf:frobnicate 3' failed: FAIL: unknown command"):
        module.command("conf:frobnicate 3")
    with pytest.raises(ValueError, match="one non-empty line"):
        module.command("run:power up\nrun:power down")
    with pytest.raises(ValueError, match="a query ends with"):
        module.query("run:power")
    assert module.power_state() == "ON"


@pytest.mark.parametrize("address, text", [
    ("192.168.1.2", "must be 'tcp:HOST"),
    ("tcp:", "no host"),
    ("tcp:host:port", "port 'port' is not a number"),
    ("tcp:host:70000", "out of 1..65535"),
    ("usb:QTL1999", "scheme must be tcp or serial"),
    ("serial:/dev/ttyS0@fast", "baud rate 'fast'"),
])
def test_bad_address(address, text):
    with pytest.raises(ValueError, match=text):
        Quarch(address)


def test_nothing_listening_is_a_connection_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    start = time.monotonic()
    with pytest.raises(QuarchConnectionError, match=f"tcp:127.0.0.1:{port}: cannot connect"):
        Quarch(f"tcp:127.0.0.1:{port}")
    assert time.monotonic() - start < 2


def test_module_that_does_not_answer_times_out():
    sim = Simulator("--mute-after", "1")  # answers *IDN? at connect, then nothing
    try:
        q = Quarch(sim.address, timeout=0.5)
        start = time.monotonic()
        with pytest.raises(QuarchTimeout, match=r"no answer to 'RUN:POWer DOWN' within 0.5 s"):
            q.power_off()
        assert 0.5 <= time.monotonic() - start < 1.5
        with pytest.raises(TimeoutError):  # also the built-in kind
            q.power_state()
        q.close()
    finally:
        sim.stop()


def test_silent_module_at_connect_times_out():
    sim = Simulator("--mute-after", "0")
    try:
        start = time.monotonic()
        with pytest.raises(QuarchTimeout, match=r"no answer to '\*IDN\?'"):
            Quarch(sim.address, timeout=0.5)
        assert time.monotonic() - start < 1.5
    finally:
        sim.stop()


def test_dropped_connection_is_a_connection_error():
    sim = Simulator("--drop-after", "2")  # *IDN?, one command, then hangs up
    try:
        q = Quarch(sim.address, timeout=2)
        q.set_voltage("5V", 5100)
        start = time.monotonic()
        with pytest.raises(QuarchConnectionError, match="closed the connection while answering 'RUN:POWer DOWN'"):
            q.power_off()
        assert time.monotonic() - start < 1
        with pytest.raises(QuarchConnectionError, match="the connection is closed"):
            q.power_state()
    finally:
        sim.stop()


def test_simulator_killed_mid_session():
    sim = Simulator()
    q = Quarch(sim.address, timeout=1)
    sim.stop()
    with pytest.raises((QuarchConnectionError, QuarchTimeout)):
        q.power_off()


def test_serial_link_over_a_pty_with_echo():
    pytest.importorskip("serial", reason="python3-serial (tools/install-deps.sh) is not installed")
    sim = Simulator("--pty", "--echo")
    try:
        assert sim.address.startswith("serial:/dev/pts/")
        with Quarch(sim.address, timeout=2) as q:
            assert "Power Module Simulator" in q.identity
            q.power_off()
            assert q.power_state() == "OFF", "the echoed command line is not taken for the answer"
            q.power_on()
            q.set_voltage("12V", 12600)
            assert q.voltage("12V") == 12600
    finally:
        sim.stop()


def test_serial_device_missing():
    pytest.importorskip("serial", reason="python3-serial (tools/install-deps.sh) is not installed")
    with pytest.raises(QuarchConnectionError, match="serial:/dev/nonexistent-tty: cannot open"):
        Quarch("serial:/dev/nonexistent-tty")


def test_modules_behind_an_array_controller(sim):
    with Quarch(sim.address, timeout=2, module=2) as two, Quarch(sim.address, timeout=2, module=5) as five:
        assert two.name.endswith("<2>)")
        two.power_off()
        assert two.power_state() == "OFF" and five.power_state() == "ON", "each port its own module"
        five.set_voltage("12V", 11000)
        assert five.voltage("12V") == 11000 and two.voltage("12V") == 12000
        two.power_on()
    with pytest.raises(ValueError, match="module must be an array port number"):
        Quarch(sim.address, module=-1)
