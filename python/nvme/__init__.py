"""pynvme: an NVMe SSD test platform. A user-space NVMe driver in C, driven from Python.

    import nvme as d
    pcie = d.Pcie('01:00.0')
    nvme0 = d.Controller(pcie)
"""
from ._nvme import *  # noqa: F401,F403  (the classes of the API live in the C extension)
from ._nvme import NvmeError  # noqa: F401
