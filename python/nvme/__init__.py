"""pynvme: an NVMe SSD test platform. A user-space NVMe driver in C, driven from Python.

    import nvme as d
    pcie = d.Pcie('01:00.0')
    nvme0 = d.Controller(pcie)
"""
from ._nvme import *  # noqa: F401,F403  (the classes of the API live in the C extension)
from ._nvme import NvmeError  # noqa: F401
from . import monitor  # noqa: F401  (nvme.monitor.start(): the live view's service)


# Called as hook(result) for every ioworker result (nvme.lab.record registers one:
# the lab keeps every ioworker's figures); a hook's error never reaches the script.
_ioworker_result_hooks = []


class _IOWorkerResult(dict):
    """The result of IOWorker.close(): a dict whose keys are also attributes
    (r['io_count_read'] == r.io_count_read)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for hook in list(_ioworker_result_hooks):
            try:
                hook(self)
            except Exception:  # noqa: BLE001
                pass

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value
