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
