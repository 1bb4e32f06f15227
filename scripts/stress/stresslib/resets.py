"""The reset kinds a stress loop injects into IO, what each needs from the
device, and how the driver is brought back afterwards.

    controller  CC.EN 1 -> 0 -> 1 (Controller.reset(), which re-initialises)
    nssr        NVM Subsystem Reset (Subsystem.reset()), where CAP.NSSRS claims it
    flr         Function Level Reset (Pcie.flr()), where Device Capabilities claims it
    hot_reset   secondary bus reset of the port above (Pcie.reset())
    slot_power  power off and on (Subsystem.power_cycle(), through the instrument)

Every injection runs in a helper thread joined with a bound: a reset that
never returns is reported as a hang instead of stopping the run for good.
"""
import threading

PCI_CAP_ID_EXP = 0x10
DEVCAP_FLR = 1 << 28


def flr_claimed(pcie):
    cap = pcie.cap_offset(PCI_CAP_ID_EXP)
    return cap is not None and bool(pcie.register(cap + 4, 4) & DEVCAP_FLR)


def availability(stress, kind):
    """None when `kind` can be injected here, else the reason it cannot."""
    if kind == "nssr" and not (stress.ctrl.cap >> 36) & 1:
        return "CAP.NSSRS is 0: the controller does not claim NVM Subsystem Reset"
    if kind == "flr" and not flr_claimed(stress.pcie):
        return "Device Capabilities: Function Level Reset not claimed"
    if kind == "slot_power" and stress.instrument is not None and \
            not stress.instrument.supports("power_off"):
        return stress.unsupported_text("power_off")
    return None


def inject(stress, kind, hold_s):
    """Resets the device the `kind` way (the driver's side included where the
    call does it); returns when done. Raises what the call raised."""
    if kind == "controller":
        stress.ctrl.reset()
    elif kind == "nssr":
        stress.subsystem.reset()
    elif kind == "flr":
        stress.pcie.flr()
    elif kind == "hot_reset":
        stress.pcie.reset()
    elif kind == "slot_power":
        stress.subsystem.power_cycle(hold_s)
    else:
        raise ValueError(f"unknown reset kind {kind!r}")


def bounded(call, bound_s):
    """Runs call() in a thread; returns (finished, exception or None)."""
    box = {}

    def run():
        try:
            call()
        except BaseException as e:      # handed to the caller, who reports it
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(bound_s)
    return not t.is_alive(), box.get("error")
