"""Controller: initialisation, registers, identify, building blocks, several
controllers, closing, and a fuzz loop of wrong arguments."""
import random
import warnings

import pytest

import nvme as d

# tools/testbed/configs/test.toml
SERIALS = {"0000:01:00.0": "PYNVME0001", "0000:02:00.0": "PYNVME0002"}
MDTS = {"0000:01:00.0": 7}


def full_bdf(addr):
    return addr if addr.count(":") == 2 else "0000:" + addr


def test_standard_init_leaves_controller_ready(nvme0):
    cap = nvme0.cap
    assert cap == nvme0[0] | nvme0[4] << 32
    cc = nvme0[0x14]
    assert cc & 1 == 1, "CC.EN"
    assert (cc >> 16) & 0xf == 6, "CC.IOSQES = 64 bytes"
    assert (cc >> 20) & 0xf == 4, "CC.IOCQES = 16 bytes"
    assert (cc >> 7) & 0xf == (cap >> 48) & 0xf, "CC.MPS = CAP.MPSMIN"
    assert (cc >> 14) & 3 == 0, "no shutdown requested"
    csts = nvme0[0x1c]
    assert csts & 1 == 1, "CSTS.RDY"
    assert csts & 2 == 0, "CSTS.CFS"
    # admin queue registers point at 256-entry queues
    assert nvme0[0x24] == (255 << 16) | 255
    assert nvme0[0x28] | nvme0[0x2c] << 32 != 0


@pytest.mark.testbed  # QEMU's ids, model and per-controller serials
def test_identify_controller_fields(nvme0, pciaddr):
    buf = d.Buffer(4096)
    assert nvme0.identify(buf).waitdone() == 0
    assert buf.data(1, 0) == 0x1b36, "PCI vendor id of QEMU"
    assert buf.data(3, 2) == 0x1af4
    bdf = full_bdf(pciaddr)
    if bdf in SERIALS:
        assert buf.data(23, 4, str) == SERIALS[bdf]
        assert nvme0.id_data(23, 4, str) == SERIALS[bdf]
    assert nvme0.id_data(63, 24, str).startswith("QEMU NVMe")
    mdts = buf[77]
    if bdf in MDTS:
        assert mdts == MDTS[bdf]
    page = 4096 << ((nvme0.cap >> 48) & 0xf)
    assert nvme0.mdts == (page << mdts if mdts else 2 * 1024 * 1024)
    nn = nvme0.id_data(519, 516)
    assert nn >= 1
    # the same bytes through both paths
    assert nvme0.id_data(77) == mdts
    assert nvme0.id_data(1, 0) == 0x1b36


def test_identify_active_namespaces(nvme0, pciaddr):
    buf = d.Buffer(4096)
    nvme0.identify(buf, nsid=0, cns=2).waitdone()
    nsids = []
    for i in range(0, 4096, 4):
        v = buf.data(i + 3, i)
        if v == 0:
            break
        nsids.append(v)
    assert nsids == sorted(nsids)
    if full_bdf(pciaddr) == "0000:01:00.0":
        assert nsids == [1, 2]
    # identify namespace 1: NSZE > 0 and an LBA format
    nvme0.identify(buf, nsid=1, cns=0).waitdone()
    assert buf.data(7, 0) > 0


def test_register_write_and_read(nvme0):
    # INTMS/INTMC are not for MSI-X, so use a harmless one: write CC back unchanged
    cc = nvme0[0x14]
    nvme0[0x14] = cc
    assert nvme0[0x14] == cc
    with pytest.raises(IndexError):
        nvme0[0x3]
    with pytest.raises(IndexError):
        nvme0[1 << 40]
    with pytest.raises(TypeError):
        nvme0["cc"]
    with pytest.raises(ValueError):
        nvme0[0x14] = 1 << 32


def test_timeout_property(nvme0):
    assert nvme0.timeout == 10000
    nvme0.timeout = 2500
    assert nvme0.timeout == 2500
    with pytest.raises(ValueError):
        nvme0.timeout = -1
    with pytest.raises(TypeError):
        nvme0.timeout = "1s"


def test_user_init_function(pcie, pci_vendor):
    steps = []

    def init(ctrl):
        ctrl[0x14] = 0
        while ctrl[0x1c] & 1:
            pass
        ctrl.init_adminq()
        ctrl[0x14] = 0x00460001
        while not ctrl[0x1c] & 1:
            pass
        buf = d.Buffer(4096)
        ctrl.identify(buf).waitdone()
        steps.append(buf.data(1, 0))
        ctrl.init_ns()
        ctrl.setfeatures(7, cdw11=0x00030003).waitdone()
        cdw0 = ctrl.getfeatures(7).waitdone()
        ctrl.init_queues(cdw0)
        steps.append(cdw0)

    nvme0 = d.Controller(pcie, init)
    assert steps[0] == pci_vendor
    assert nvme0[0x14] & 1
    # at least the 4 asked for; QEMU grants its maximum at the first request
    assert steps[1] & 0xffff >= 3
    q = d.Qpair(nvme0, 8)
    q.send_cmd(0).waitdone()
    q.delete()
    # reset repeats the user's initialisation
    nvme0.reset()
    assert len(steps) == 4
    nvme0.close()


def test_no_init(pcie):
    nvme0 = d.Controller(pcie, True)
    # registers work, commands need an admin queue first
    assert nvme0.cap & 0xffff > 0
    nvme0[0x14] = 0
    while nvme0[0x1c] & 1:
        pass
    with pytest.raises(d.NvmeError, match="init_adminq"):
        nvme0.getfeatures(7)
    nvme0.init_adminq()
    nvme0[0x14] = 0x00460001
    while not nvme0[0x1c] & 1:
        pass
    assert nvme0.getfeatures(7).waitdone() & 0xffff >= 0
    nvme0.close()


def test_wrong_init_func(pcie):
    with pytest.raises(TypeError, match="nvme_init_func"):
        d.Controller(pcie, 3)
    with pytest.raises(TypeError):
        d.Controller("01:00.0")
    with pytest.raises(ZeroDivisionError):
        d.Controller(pcie, lambda c: 1 / 0)
    # still usable afterwards
    d.Controller(pcie).close()


def test_close_and_context_manager(pcie):
    with d.Controller(pcie) as nvme0:
        q = d.Qpair(nvme0, 4)
        nvme0.getfeatures(7).waitdone()
    with pytest.raises(ValueError, match="closed"):
        nvme0.getfeatures(7)
    with pytest.raises(ValueError, match="closed"):
        nvme0[0]
    # the qpair was deleted with its controller
    with pytest.raises(ValueError, match="deleted"):
        q.send_cmd(0)
    q.delete()  # harmless
    nvme0.close()  # twice is harmless
    assert "closed" in repr(nvme0)
    # closing disabled the controller so it no longer touches freed memory
    c2 = d.Controller(pcie, True)
    assert c2[0x14] & 1 == 0
    c2.close()


@pytest.mark.testbed  # test.toml's two controllers by serial
def test_two_controllers_at_once():
    p1, p2 = d.Pcie("0000:01:00.0"), d.Pcie("0000:02:00.0")
    c1, c2 = d.Controller(p1), d.Controller(p2)
    assert c1.id_data(23, 4, str) == "PYNVME0001"
    assert c2.id_data(23, 4, str) == "PYNVME0002"
    q1, q2 = d.Qpair(c1, 64), d.Qpair(c2, 64)
    for i in range(50):
        c1.getfeatures(7)
        c2.getfeatures(7)
        q1.send_cmd(0)
        q2.send_cmd(0)
    c2.waitdone(50)
    q1.waitdone(50)
    c1.waitdone(50)
    q2.waitdone(50)
    # commands of one controller are not reaped by the other
    c1.getfeatures(7)
    with pytest.raises(ValueError, match="outstanding"):
        c2.waitdone()
    c1.waitdone()
    q1.delete()
    q2.delete()
    c1.close()
    c2.close()
    p1.close()
    p2.close()


def test_cmdname_and_supports(nvme0):
    assert nvme0.cmdname(6) == "Identify"
    assert nvme0.cmdname(0x80) == "Format NVM"
    assert nvme0.supports(0x06) is True
    assert nvme0.supports(0x0a) is True
    assert nvme0.supports(0xff) is False
    with pytest.raises(ValueError):
        nvme0.supports(256)


VALUES = [None, -1, 0, 1, 7, 0xff, 0xffff, 0xffffffff, 1 << 64, 1.5, "x", b"", [], {}, object(),
          True]


def test_fuzz_controller_methods(nvme0, pci_vendor):
    """Wrong types and out-of-range values give exceptions or warnings, never a crash."""
    rng = random.Random(1234)
    buf = d.Buffer(512)
    values = VALUES + [buf, d.Buffer(4096)]
    methods = ["identify", "id_data", "getfeatures", "setfeatures", "getlogpage", "abort",
               "cmdname", "supports", "cmdlog", "waitdone", "dst", "fw_download",
               "security_receive", "mi_receive", "init_queues", "__getitem__"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(3000):
            name = rng.choice(methods)
            args = [rng.choice(values) for _ in range(rng.randint(0, 4))]
            kwargs = {}
            if rng.random() < 0.3:
                kwargs[rng.choice(["nsid", "cdw11", "size", "cb", "offset", "sel", "cns",
                                   "type", "expected", "bogus"])] = rng.choice(values)
            try:
                getattr(nvme0, name)(*args, **kwargs)
            except (TypeError, ValueError, IndexError, OverflowError, RuntimeError,
                    d.NvmeError):
                pass
        # reap whatever was submitted
        while True:
            try:
                nvme0.waitdone()
            except ValueError:
                break
    # the controller still works
    assert nvme0.id_data(1, 0) == pci_vendor


def test_fuzz_qpair(nvme0):
    rng = random.Random(99)
    values = VALUES + [d.Buffer(512), nvme0]
    q = d.Qpair(nvme0, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(500):
            args = [rng.choice(values) for _ in range(rng.randint(0, 4))]
            try:
                d.Qpair(*args).delete()
            except (TypeError, ValueError, OverflowError, d.NvmeError):
                pass
            name = rng.choice(["send_cmd", "waitdone", "cmdlog", "msix_isset", "msix_clear"])
            try:
                r = getattr(q, name)(*args[:2])
                if r is q:
                    q.waitdone()
            except (TypeError, ValueError, OverflowError, RuntimeError, d.NvmeError):
                pass
    q.send_cmd(0).waitdone()
    q.delete()
