"""Power cycles by suspend-to-RAM (ACPI S3) with an RTC wake-up, for a host
whose NVMe slot has no power controller: the original pynvme's
Subsystem.power_cycle() did the same.

In S3 the platform cuts the main power of the PCIe slots, so the drive loses
power like in a power cut; the RTC's wake alarm brings the host back `sec`
seconds later. Subsystem.power_cycle() calls check() before telling the
driver that the device will lose power, then suspend_to_ram(); afterwards
Controller.reset() re-initialises the controller as after any power loss.

Everything goes through sysfs (root only):
    /sys/power/state                 must offer "mem"
    /sys/power/mem_sleep             "mem" must mean "deep" (S3), not s2idle,
                                     which leaves the devices powered
    /sys/class/rtc/rtc0/wakealarm    cleared, then "+<sec>" (seconds from now)
    /sys/power/state <- "mem"        returns once the host runs again
    /sys/power/suspend_stats/success grew by one: the host did suspend

$PYNVME_SYSFS replaces /sys (the tests give a directory of plain files).
"""
import math
import os
import time

from ._nvme import NvmeError

# The alarm has whole seconds, and one that passes while the host is still
# suspending never fires: the host would sleep until someone wakes it.
MIN_SECONDS = 2
WAKEALARM = "class/rtc/rtc0/wakealarm"
STATE = "power/state"
MEM_SLEEP = "power/mem_sleep"
SUCCESS = "power/suspend_stats/success"


def sysfs_root():
    return os.environ.get("PYNVME_SYSFS") or "/sys"


class SuspendToRam:
    """The S3 sequence on the sysfs under `root`."""

    def __init__(self, root=None):
        self.root = root or sysfs_root()

    def path(self, rel):
        return os.path.join(self.root, rel)

    def _read(self, rel):
        with open(self.path(rel)) as f:
            return f.read().strip()

    def _write(self, rel, text):
        # a sysfs attribute takes the whole value in one write(2): the one at close
        with open(self.path(rel), "w") as f:
            f.write(text)

    def _write_or_fail(self, rel, text, what):
        try:
            self._write(rel, text)
        except PermissionError:
            raise NvmeError(f"S3 power cycle: cannot write {self.path(rel)} ({what}): "
                            "run as root") from None
        except OSError as e:
            raise NvmeError(f"S3 power cycle: writing '{text}' to {self.path(rel)} ({what}) "
                            f"failed: {e.strerror or e} (see the kernel log, dmesg)") from None

    def check(self, sec):
        """Raises NvmeError naming what is missing when this host cannot do an
        S3 power cycle of `sec` seconds; returns the alarm's whole seconds."""
        if not isinstance(sec, (int, float)) or isinstance(sec, bool) or not math.isfinite(sec):
            raise NvmeError(f"S3 power cycle: sec must be a number of seconds, not {sec!r}")
        seconds = math.ceil(sec)
        if seconds < MIN_SECONDS:
            raise NvmeError(f"S3 power cycle: sec={sec:g} is too short: the RTC alarm counts whole "
                            f"seconds and must not pass before the host has suspended "
                            f"(at least {MIN_SECONDS})")
        try:
            states = self._read(STATE).split()
        except OSError as e:
            raise NvmeError(f"S3 power cycle: cannot read {self.path(STATE)}: "
                            f"{e.strerror or e}; no suspend support in this kernel") from None
        if "mem" not in states:
            raise NvmeError(f"S3 power cycle: this host offers no suspend to RAM ({self.path(STATE)}: "
                            f"'{' '.join(states)}'; check the firmware's ACPI S3 setting)")
        if os.path.exists(self.path(MEM_SLEEP)):
            modes = self._read(MEM_SLEEP).split()
            if "deep" not in modes and "[deep]" not in modes:
                raise NvmeError(f"S3 power cycle: {self.path(MEM_SLEEP)} offers no 'deep' (S3), only "
                                f"'{' '.join(modes)}': suspend-to-idle keeps the drive powered")
        if not os.path.exists(self.path(WAKEALARM)):
            raise NvmeError(f"S3 power cycle: no RTC wake alarm ({self.path(WAKEALARM)}): "
                            "nothing would wake the host")
        return seconds

    def suspend(self, sec):
        """Suspends the host to RAM; the RTC wakes it `sec` (whole, rounded
        up) seconds later. Returns the seconds the host was away (boot clock,
        which runs on during suspend)."""
        seconds = self.check(sec)
        if os.path.exists(self.path(MEM_SLEEP)) and "[deep]" not in self._read(MEM_SLEEP).split():
            self._write_or_fail(MEM_SLEEP, "deep", "choosing S3 for 'mem'")
        before = self._success_count()
        self._write_or_fail(WAKEALARM, "0", "clearing the RTC alarm")
        self._write_or_fail(WAKEALARM, f"+{seconds}", "setting the RTC alarm")
        start = time.clock_gettime(time.CLOCK_BOOTTIME)
        try:
            self._write_or_fail(STATE, "mem", "suspending to RAM")
        except NvmeError:
            try:
                self._write(WAKEALARM, "0")  # no alarm left behind for a later suspend
            except OSError:
                pass
            raise
        away = time.clock_gettime(time.CLOCK_BOOTTIME) - start
        after = self._success_count()
        if before is not None and after is not None and after <= before:
            raise NvmeError(f"S3 power cycle: the host did not suspend ({self.path(SUCCESS)} "
                            f"stayed at {before}; see the kernel log, dmesg)")
        return away

    def _success_count(self):
        try:
            return int(self._read(SUCCESS))
        except (OSError, ValueError):
            return None


def check(sec):
    """SuspendToRam().check(sec) on this host's sysfs."""
    return SuspendToRam().check(sec)


def suspend_to_ram(sec):
    """SuspendToRam().suspend(sec) on this host's sysfs."""
    return SuspendToRam().suspend(sec)
