"""The DUT's PCIe link from config space (the Link Status register of the PCI
Express capability), on a stand-in for Pcie."""
import pytest

from nvme.lab.dut import pci_facts


class ConfigSpace:
    def __init__(self, link_status, cap=0x70):
        self.regs = {0: 0x144d, cap + 0x12: link_status}
        self.cap = cap

    def register(self, offset, byte_count=4):
        return self.regs[offset]

    def cap_offset(self, cap_id):
        return self.cap if cap_id == 0x10 else None


@pytest.mark.parametrize("status, speed, width", [
    (0x1043, "8GT/s", 4),       # LNKSTA: speed 3, width 4 (bits 9:4), slot clock bit set
    (0x0081, "2.5GT/s", 8),
    (0x0104, "16GT/s", 16),
    (0x0000, None, None),       # no link trained
])
def test_link_from_link_status(status, speed, width):
    facts = pci_facts(ConfigSpace(status), "0000:01:00.0")
    assert (facts["pcie_link_speed"], facts["pcie_link_width"]) == (speed, width)
    assert facts["vendor_id"] == 0x144d and facts["pciaddr"] == "0000:01:00.0"


def test_soft_controller_has_no_link():
    facts = pci_facts(ConfigSpace(0x1043), "soft:size=64M")
    assert facts["pcie_link_speed"] is None and facts["pcie_link_width"] is None
