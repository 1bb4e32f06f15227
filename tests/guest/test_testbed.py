"""The test bed itself: the guest sees the emulated NVMe functions bound to vfio-pci."""
import os

from nvme.pytest_plugin import vfio_nvme_functions
import pytest

pytestmark = pytest.mark.testbed  # the test bed itself


def test_nvme_functions_bound_to_vfio():
    funcs = vfio_nvme_functions()
    assert len(funcs) >= 1, "the test bed should expose at least one NVMe function"
    for bdf in funcs:
        group = os.path.basename(os.readlink(f"/sys/bus/pci/devices/{bdf}/iommu_group"))
        assert os.path.exists(f"/dev/vfio/{group}"), f"{bdf}: no /dev/vfio/{group}"


def test_qmp_port_present():
    port = os.environ.get("PYNVME_QMP", "")
    assert port.startswith("/dev/vport"), f"QMP port not found in the guest: {port!r}"
