"""The SMART / Health Information log (NVMe 1.4 Figure 194) fields the
stress suites watch: power cycles and unsafe shutdowns across dirty power
cycles, data written and media errors across an endurance run."""
import nvme as d

KELVIN = 273
DATA_UNIT_BYTES = 512000   # a data unit is 1000 x 512 bytes, rounded up


def snapshot(ctrl):
    """The fields as a dict of ints (temperature in degrees Celsius)."""
    buf = d.Buffer(512)
    ctrl.getlogpage(0x02, buf, 512).waitdone()
    return {
        "critical_warning": buf.data(0),
        "temperature_c": buf.data(2, 1) - KELVIN,
        "available_spare": buf.data(3),
        "percentage_used": buf.data(5),
        "data_units_read": buf.data(47, 32),
        "data_units_written": buf.data(63, 48),
        "host_read_commands": buf.data(79, 64),
        "host_write_commands": buf.data(95, 80),
        "power_cycles": buf.data(127, 112),
        "power_on_hours": buf.data(143, 128),
        "unsafe_shutdowns": buf.data(159, 144),
        "media_errors": buf.data(175, 160),
        "error_log_entries": buf.data(191, 176),
    }
