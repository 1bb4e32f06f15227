"""Asynchronous events (NVMe 1.4 §5.2 Asynchronous Event Request, §5.21.1.11
Asynchronous Event Configuration, §5.14.1.2 SMART / Health): SMART critical
warnings raise an event of the right type and information, an event type stays
masked until its log page is read, and a disabled event is not reported.
Raising a warning needs the platform's help (QEMU's monitor in the test bed);
elsewhere these tests skip."""
import pytest

import nvme as d
from conformance_lib import AER_SEEN, EventInjector, expect, log_page, run, wait_aer

# SMART critical warning bit -> AER information (NVMe 1.4 Figure 148)
WARNINGS = {0: (0x02, "available spare below threshold"),
            1: (0x01, "temperature threshold"),
            2: (0x00, "NVM subsystem reliability degraded")}


@pytest.fixture
def events(nvme0, pciaddr):
    inj = EventInjector(pciaddr)
    run(nvme0, "setfeatures", 0x0b, cdw11=0xff)
    AER_SEEN.clear()
    yield inj
    inj.close()
    log_page(nvme0, d, 0x02, size=512)          # unmask SMART events again
    AER_SEEN.clear()


@pytest.mark.parametrize("bit", sorted(WARNINGS), ids=["spare", "temperature", "reliability"])
def test_smart_warning_raises_event(nvme0, events, bit):
    """NVMe 1.4 §5.2 (Figure 145/148): a SMART critical warning completes an outstanding
    AER with event type 001b (SMART / Health status), the matching information
    (02h spare, 01h temperature, 00h reliability) and log page 02h; the SMART log
    shows the warning bit."""
    info, name = WARNINGS[bit]
    events.critical_warning(1 << bit)
    dw0 = wait_aer(nvme0)
    expect(dw0 is not None, "NVMe 1.4 §5.2", f"an AER for a SMART warning ({name})", "sent none in 5 s")
    expect(dw0 & 7 == 1 and (dw0 >> 8) & 0xff == info and (dw0 >> 16) & 0xff == 2,
           "NVMe 1.4 §5.2 (Figure 145, 148)",
           f"type 001b, information {info:02x}h ({name}), log page 02h",
           f"sent dword0 0x{dw0:08x}")
    _, smart = log_page(nvme0, d, 0x02, size=512)
    expect(smart(0) & (1 << bit), "NVMe 1.4 §5.14.1.2", f"Critical Warning bit {bit} set",
           f"reports 0x{smart(0):02x}")


def test_smart_event_masked_until_log_read(nvme0, events):
    """NVMe 1.4 §5.2 (an event type is masked once reported, until the host reads the
    log page named in the completion with RAE = 0): a second SMART warning is not
    reported before log page 02h is read, and is reported once it has been read."""
    events.critical_warning(1)
    first = wait_aer(nvme0)
    assert first is not None, "no AER for the first SMART warning"
    events.critical_warning(1 | 4)
    early = wait_aer(nvme0, 1.5)
    expect(early is None, "NVMe 1.4 §5.2", "no new SMART event before log page 02h is read",
           lambda: f"sent dword0 0x{early:08x}")
    log_page(nvme0, d, 0x02, size=512)
    later = wait_aer(nvme0)
    expect(later is not None and later & 7 == 1, "NVMe 1.4 §5.2",
           "a new SMART event once the log page has been read", f"sent {later}")


def test_disabled_event_not_reported(nvme0, events):
    """NVMe 1.4 §5.21.1.11 (Asynchronous Event Configuration): with the SMART warning
    bits cleared, a critical warning raises no asynchronous event."""
    run(nvme0, "setfeatures", 0x0b, cdw11=0)
    events.critical_warning(1)
    dw0 = wait_aer(nvme0, 2)
    run(nvme0, "setfeatures", 0x0b, cdw11=0xff)
    expect(dw0 is None, "NVMe 1.4 §5.21.1.11", "no AER for a disabled SMART warning",
           lambda: f"sent dword0 0x{dw0:08x}")
