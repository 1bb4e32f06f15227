"""The test bed's drive keeps score of power: SMART Power Cycles and Unsafe
Shutdowns (tools/testbed/qemu/0002-*.patch; QEMU 7.2 itself reports 0 power
cycles before and after any number of slot power cycles, and never an unsafe
shutdown). A dirty power cycle test checks its cut against these counters.

Unsafe shutdown (NVMe 1.4, 5.14.1.2): power lost without a Shutdown
Notification (CC.SHN) received before it, while the controller was in use
(enabled since power on or since the last notification)."""
import pytest

import nvme as d

from qmp import Qmp

pytestmark = pytest.mark.testbed  # QEMU's device, the root port's slot power

SMART_LOG = 0x02


def power_counters(nvme0):
    """(Power Cycles, Unsafe Shutdowns) from the SMART / Health log."""
    buf = d.Buffer(512)
    nvme0.getlogpage(SMART_LOG, buf, 512).waitdone()
    return buf.data(127, 112), buf.data(159, 144)


def power_cut(nvme0, subsystem):
    subsystem.power_cycle(0)
    nvme0.reset()


def test_every_slot_power_cycle_counts_once_and_in_use_cuts_are_unsafe(nvme0, subsystem):
    cycles, unsafe = power_counters(nvme0)
    assert cycles >= 1, "QEMU's start is a power on"
    for i in range(20):
        power_cut(nvme0, subsystem)      # the controller is enabled: an unsafe cut
        assert power_counters(nvme0) == (cycles + i + 1, unsafe + i + 1), f"cycle {i + 1}"


def test_power_off_after_a_normal_shutdown_is_safe(nvme0, subsystem):
    cycles, unsafe = power_counters(nvme0)
    subsystem.shutdown_notify()          # CC.SHN normal, waits for CSTS.SHST complete
    power_cut(nvme0, subsystem)
    assert power_counters(nvme0) == (cycles + 1, unsafe)
    # back in use after the power on: the next cut without notice is unsafe again
    power_cut(nvme0, subsystem)
    assert power_counters(nvme0) == (cycles + 2, unsafe + 1)


def test_a_shutdown_followed_by_a_reset_and_use_is_unsafe_again(nvme0, subsystem):
    cycles, unsafe = power_counters(nvme0)
    subsystem.shutdown_notify()
    nvme0.reset()                        # enabled again: the notification is spent
    power_cut(nvme0, subsystem)
    assert power_counters(nvme0) == (cycles + 1, unsafe + 1)


def test_resets_are_not_power_cycles(nvme0, pcie, subsystem):
    before = power_counters(nvme0)
    nvme0.reset()                        # CC.EN 1 -> 0 -> 1
    pcie.reset()                         # hot reset of the link
    pcie.flr()
    nvme0.reset()
    assert power_counters(nvme0) == before


def test_counters_are_kept_in_the_file_the_test_bed_gives_qemu(nvme0, subsystem):
    with Qmp() as qmp:
        path = qmp.qom_get("/machine/peripheral/nvme0", "smart_counters")
    assert path, "the test bed names a counter file for each controller"
    power_cut(nvme0, subsystem)
    cycles, unsafe = power_counters(nvme0)
    with open(path) as f:
        kept = dict(line.split() for line in f if line.strip())
    # enabled again by nvme0.reset(): an unannounced end of QEMU is unsafe too
    assert kept == {"power_cycles": str(cycles), "unsafe_shutdowns": str(unsafe), "dirty": "1"}
