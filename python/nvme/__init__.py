"""pynvme: an NVMe SSD test platform. A user-space NVMe driver in C, driven from Python.

    import nvme as d
    pcie = d.Pcie('01:00.0')
    nvme0 = d.Controller(pcie)
"""
from ._nvme import *  # noqa: F401,F403  (the classes of the API live in the C extension)
from ._nvme import NvmeError  # noqa: F401
from . import monitor  # noqa: F401  (nvme.monitor.start(): the live view's service)


class _IOWorkerResult(dict):
    """The result of IOWorker.close(): a dict whose keys are also attributes
    (r['io_count_read'] == r.io_count_read)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value
