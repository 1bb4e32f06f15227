"""Who is the device under test: identity, capabilities and controller capabilities.

The first thing the main job prints; each fact is also checked for sanity, so a
device that does not answer (all ones) or is not an NVMe function fails here.
"""
import logging

log = logging.getLogger("pynvme.summary")


def test_pcie_identity(pcie):
    """PCIe base spec 7.5.1.1: Vendor ID, Device ID and Class Code of the function."""
    vid_did = pcie.register(0, 4)
    assert vid_did != 0xffffffff, "the function reads all ones: not present or powered off"
    class_code = pcie.register(9, 3)
    assert class_code == 0x010802, f"class code {class_code:#08x} is not NVMe (0x010802)"
    caps = {name: pcie.cap_offset(cid) for name, cid in
            (("PM", 0x01), ("MSI", 0x05), ("PCIe", 0x10), ("MSI-X", 0x11))}
    print(f"\nPCIe {pcie.addr}: vendor {vid_did & 0xffff:#06x} device {vid_did >> 16:#06x}, "
          "capabilities: " + ", ".join(f"{n}@{o:#x}" for n, o in caps.items() if o is not None))
    assert caps["PCIe"] is not None, "an NVMe function must have the PCI Express capability"


def test_controller_capabilities(pcie):
    """NVMe base spec 3.1.3.1 (CAP) and 3.1.3.2 (VS) as the controller reports them."""
    cap = pcie.mem_dword_read(0) | pcie.mem_dword_read(4) << 32
    vs = pcie.mem_dword_read(8)
    mqes = (cap & 0xffff) + 1
    timeout_ms = ((cap >> 24) & 0xff) * 500
    dstrd = 4 << ((cap >> 32) & 0xf)
    mpsmin = 4096 << ((cap >> 48) & 0xf)
    print(f"\nNVMe {vs >> 16}.{(vs >> 8) & 0xff}.{vs & 0xff}: queues up to {mqes} entries, "
          f"ready timeout {timeout_ms} ms, doorbell stride {dstrd} B, min page {mpsmin} B, "
          f"NSSR {'yes' if cap >> 36 & 1 else 'no'}, CMB/PMR {'yes' if cap >> 57 & 1 else 'no'}"
          f"/{'yes' if cap >> 56 & 1 else 'no'}")
    assert mqes >= 2, f"CAP.MQES allows only {mqes} entries; the spec requires at least 2"
    assert vs >= 0x10000, f"VS {vs:#x} is below NVMe 1.0"
