"""The identity of the device under test, as the lab records it: PCI facts from
config space (free: no command) and Identify data (a few admin commands, once per
session)."""
import warnings

PCIE_CAP_ID = 0x10
LINK_STATUS = 0x12          # in the PCI Express capability (PCIe 4.0 §7.5.3.8)
LINK_SPEEDS = {1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s", 6: "64GT/s"}


def is_soft(pciaddr):
    return str(pciaddr).startswith("soft")


def pci_facts(pcie, pciaddr):
    """pciaddr, vendor id and the negotiated link; a soft controller has no link."""
    facts = {"pciaddr": str(pciaddr), "vendor_id": pcie.register(0, 2),
             "pcie_link_speed": None, "pcie_link_width": None}
    if is_soft(pciaddr):
        return facts
    cap = pcie.cap_offset(PCIE_CAP_ID)
    if cap is not None:
        status = pcie.register(cap + LINK_STATUS, 2)
        speed, width = status & 0xf, (status >> 4) & 0x3f
        facts["pcie_link_speed"] = LINK_SPEEDS.get(speed)
        facts["pcie_link_width"] = width or None
    return facts


def identify_facts(ctrl, max_namespaces=64):
    """model, serial, firmware (Identify Controller) and capacity_bytes: the sum of
    the active namespaces' NSZE x LBA size (Identify Namespace, NVMe 1.4 §5.15.2)."""
    with warnings.catch_warnings():
        # an error status is a warning of id_data; the identity then stays partial
        warnings.simplefilter("ignore")
        facts = {}
        idc = ctrl.id_data(4095, 0)      # one Identify Controller for the three strings
        if idc:
            raw = idc.to_bytes(4096, "little")
            for key, begin, end in (("serial", 4, 24), ("model", 24, 64), ("firmware", 64, 72)):
                facts[key] = raw[begin:end].decode("latin-1").rstrip(" \0") or None
        active = ctrl.id_data(4095, 0, cns=2)
        nsids = []
        if active:
            raw = active.to_bytes(4096, "little")
            nsids = [n for n in (int.from_bytes(raw[i:i + 4], "little")
                                 for i in range(0, 4096, 4)) if n][:max_namespaces]
        capacity = 0
        for nsid in nsids:
            ns = ctrl.id_data(383, 0, cns=0, nsid=nsid)
            if not ns:
                continue
            raw = ns.to_bytes(384, "little")
            nsze = int.from_bytes(raw[0:8], "little")
            lbaf = raw[26] & 0xf | (raw[26] >> 5 & 0x3) << 4
            lbads = raw[128 + 4 * lbaf + 2] if lbaf < 64 else 0
            capacity += nsze << lbads if lbads else 0
    facts["capacity_bytes"] = capacity or None
    return {k: v for k, v in facts.items() if v is not None or k == "capacity_bytes"}
