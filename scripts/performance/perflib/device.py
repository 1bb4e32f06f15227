"""The device side of every suite: who the drive is, purge, the
workload-independent preconditioning, and the SMART write counters."""
import time
import warnings

import nvme as d

from .options import KIB

# What the JEDEC reports say (as a note, so it shows at the top) about write
# amplification: media writes are only in vendor logs.
WRITE_AMPLIFICATION_UNAVAILABLE = ("write amplification not available: the drive reports host "
                                   "writes (SMART) but no media writes in a log pynvme knows")

LINK_SPEED_GTS = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}


def pcie_link(pcie):
    """'PCIe 8 GT/s x4 (capable of 16 GT/s x4)' from the Link Status and
    Link Capabilities registers of the PCI Express capability."""
    cap = pcie.cap_offset(0x10)
    if cap is None:
        return "no PCI Express capability"
    status = pcie.register(cap + 0x12, 2)
    capable = pcie.register(cap + 0x0c, 4)

    def text(speed, width):
        return f"{LINK_SPEED_GTS.get(speed, '?')} GT/s x{width}"
    return (f"PCIe {text(status & 0xf, (status >> 4) & 0x3f)} (capable of "
            f"{text(capable & 0xf, (capable >> 4) & 0x3f)})")


def identity(pcie, ctrl, ns):
    """What the report's reader needs to know which drive this was."""
    vs = ctrl[8]
    return {
        "model": ctrl.id_data(63, 24, type=str),
        "serial": ctrl.id_data(23, 4, type=str),
        "firmware": ctrl.id_data(71, 64, type=str),
        "PCI address": pcie.addr,
        "PCI vendor:device": f"{pcie.register(0, 2):04x}:{pcie.register(2, 2):04x}",
        "PCIe link": pcie_link(pcie),
        "NVMe version": f"{vs >> 16}.{(vs >> 8) & 0xff}.{vs & 0xff}",
        "namespace": ns.nsid,
        "capacity (GB)": round(ns.capacity * ns.lba_size / 1e9, 3),
        "capacity (LBAs)": ns.capacity,
        "LBA size (B)": ns.lba_size,
        "max transfer (MDTS, KiB)": ctrl.mdts // KIB if ctrl.mdts else "no limit",
        "max queue entries (CAP.MQES+1)": (ctrl.cap & 0xffff) + 1,
    }


def purge(ctrl, ns, mode):
    """The PTS's purge through Format NVM: with Secure Erase Settings 1 (User
    Data Erase) when mode is 'auto' and the controller accepts it, else a plain
    Format; 'none' skips it. Returns the sentence the report prints."""
    if mode == "none":
        return "no purge (purge=none): results depend on what the drive held before"
    if not ctrl.id_data(257, 256) & 0x2:
        return ("no purge: the controller does not support Format NVM (OACS bit 1 is 0); "
                "results depend on what the drive held before")
    lba_size = ns.lba_size
    if mode == "auto":
        crypto = bool(ctrl.id_data(524, 524) & 0x4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.monotonic()
            ns.format(lba_size, 0, 1)
        refused = [str(w.message) for w in caught if "ERROR status" in str(w.message)]
        if not refused:
            return (f"purge: Format NVM with Secure Erase Settings 1 (User Data Erase), "
                    f"{time.monotonic() - t0:.1f} s (FNA: cryptographic erase "
                    f"{'supported' if crypto else 'not claimed'})")
        fallback = f" (User Data Erase refused: {refused[0]})"
    else:
        fallback = ""
    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ns.format(lba_size, 0, 0)
    refused = [str(w.message) for w in caught if "ERROR status" in str(w.message)]
    if refused:
        raise RuntimeError(f"purge: Format NVM failed: {refused[0]}")
    return f"purge: Format NVM without secure erase, {time.monotonic() - t0:.1f} s{fallback}"


def precondition_sequential(ns, range_lbas, fills, block_bytes, qdepth=32, progress=None):
    """Workload-independent preconditioning: sequential writes of block_bytes
    over [0, range) `fills` times (one ioworker pass each). Returns a dict for
    the report."""
    nlb = max(1, block_bytes // ns.lba_size)
    t0 = time.monotonic()
    for n in range(fills):
        if progress:
            progress(f"preconditioning: sequential {block_bytes // KIB} KiB writes, "
                     f"pass {n + 1} of {fills} over {range_lbas * ns.lba_size / 1e9:.3f} GB")
        r = ns.ioworker(io_size=nlb, lba_random=False, read_percentage=0, qdepth=qdepth + 1,
                        region_start=0, region_end=range_lbas).start().close()
        if r.error:
            raise RuntimeError(f"preconditioning write failed: {r.error_text or r.error}")
    seconds = time.monotonic() - t0
    written = fills * range_lbas * ns.lba_size
    return {"block_bytes": nlb * ns.lba_size, "fills": fills, "bytes": written,
            "seconds": round(seconds, 2), "MB/s": round(written / 1e6 / seconds, 1) if seconds else None}


def smart_host_writes(ctrl):
    """(Data Units Written in bytes, Host Write Commands) from the SMART / Health
    log (NVMe 1.4 Figure 194: a data unit is 1000 x 512 bytes, rounded up)."""
    buf = d.Buffer(512)
    ctrl.getlogpage(0x02, buf, 512).waitdone()
    return buf.data(63, 48) * 512000, buf.data(95, 80)
