# The device fixtures come from pynvme's own plugin. Host-only tests (tests/host)
# run without the extension on the path, so the plugin is loaded only where the
# nvme package can be imported; any other import failure is a real error.
try:
    import nvme  # noqa: F401
except ModuleNotFoundError as e:
    if e.name != "nvme":
        raise
else:
    pytest_plugins = ["nvme.pytest_plugin"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "testbed: needs the emulated test bed itself (QEMU, sysfs, QMP, the kernel "
        "driver); deselected when the suite runs on a software controller")
