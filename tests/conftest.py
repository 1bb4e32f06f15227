pytest_plugins = ["nvme.pytest_plugin"]
