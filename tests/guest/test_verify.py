"""Data verification of Namespace read/write (verify_enable / the `verify`
fixture): the driver stamps written LBAs, records a CRC32C per LBA at write
completion and checks every read at completion; data changed behind the
driver's back warns 'ERROR status: 02/81'."""
import warnings

import pytest

import nvme as d



def quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


def test_stamp_and_clean_reads(nvme0n1, qpair, verify):
    assert verify is True and nvme0n1.verifying
    w = d.Buffer(8 * 512, ptype=0xbeef, pvalue=100)
    quiet(lambda: nvme0n1.write(qpair, w, 100, 8).waitdone())
    for i in range(8):
        # LBA number in the first 8 bytes of every LBA
        assert w.data(512 * i + 7, 512 * i) == 100 + i
    tokens = {w.data(512 * i + 511, 512 * i + 504) for i in range(8)}
    assert len(tokens) == 1 and tokens != {0}
    r = d.Buffer(8 * 512)
    quiet(lambda: nvme0n1.read(qpair, r, 100, 8).waitdone())
    assert r[:] == w[:]
    # rewriting the same data changes the token, so stale data is caught
    quiet(lambda: nvme0n1.write(qpair, w, 100, 8).waitdone())
    assert w.data(511, 504) not in tokens


def test_corruption_behind_the_driver_is_caught(nvme0n1, qpair, verify):
    w = d.Buffer(16 * 512, ptype=0xbeef, pvalue=100)
    nvme0n1.write(qpair, w, 2000, 16).waitdone()
    # a write the driver does not know about: raw, straight on the queue
    evil = d.Buffer(512, ptype=32, pvalue=0xdeadbeef)
    qpair.send_cmd(0x01, evil, nsid=1, cdw10=2005).waitdone()
    r = d.Buffer(16 * 512)
    seen = []
    nvme0n1.read(qpair, r, 2000, 16, cb=lambda cdw0, status1: seen.append(status1))
    with pytest.warns(UserWarning, match=r"ERROR status: 02/81.*LBA 0x7d5"):
        qpair.waitdone()
    # the callback sees the status the verification gave the read
    assert (seen[0] >> 1) & 0xff == 0x81 and (seen[0] >> 9) & 7 == 2
    # LBAs around it still verify
    quiet(lambda: nvme0n1.read(qpair, r, 2000, 5).waitdone())
    quiet(lambda: nvme0n1.read(qpair, r, 2006, 10).waitdone())


def test_stale_data_is_caught(nvme0n1, qpair, verify):
    # the same LBA written twice: replaying the first version is caught too
    old = d.Buffer(512, ptype=0xbeef, pvalue=100)
    nvme0n1.write(qpair, old, 3000).waitdone()
    snapshot = d.Buffer(512)
    snapshot[:] = old[:]
    nvme0n1.write(qpair, old, 3000).waitdone()
    qpair.send_cmd(0x01, snapshot, nsid=1, cdw10=3000).waitdone()
    with pytest.warns(UserWarning, match="ERROR status: 02/81"):
        nvme0n1.read(qpair, d.Buffer(512), 3000).waitdone()


def test_write_zeroes_updates_the_table(nvme0n1, qpair, verify):
    w = d.Buffer(4096, ptype=0xbeef, pvalue=100)
    nvme0n1.write(qpair, w, 4000, 8).waitdone()
    nvme0n1.write_zeroes(qpair, 4000, 8).waitdone()
    quiet(lambda: nvme0n1.read(qpair, d.Buffer(4096), 4000, 8).waitdone())
    # data where zeroes are expected is caught
    qpair.send_cmd(0x01, d.Buffer(512, ptype=32, pvalue=1), nsid=1, cdw10=4003).waitdone()
    with pytest.warns(UserWarning, match="expected zeroes"):
        nvme0n1.read(qpair, d.Buffer(4096), 4000, 8).waitdone()


def test_trim_updates_the_table(null_addr):
    # on the null backend deallocated LBAs read zeroes, as DLFEAT promises
    p = d.Pcie(null_addr)
    c = d.Controller(p)
    ns = d.Namespace(c, 1, nlba_verify=1024)
    q = d.Qpair(c, 8)
    assert ns.verify_enable(True) and ns.nlba_verify == 1024
    assert ns.id_data(33) & 7 == 1
    ranges = d.Buffer(4096)
    ranges.set_dsm_range(0, 10, 4)
    quiet(lambda: ns.dsm(q, ranges, 1).waitdone())
    quiet(lambda: ns.read(q, d.Buffer(4 * 4096), 10, 4).waitdone())
    q.delete()
    ns.close()
    c.close()
    p.close()


def test_nlba_verify_bounds_the_table(nvme0, qpair):
    ns = d.Namespace(nvme0, 1, nlba_verify=100)
    ns.verify_enable(True)
    assert ns.nlba_verify == 100
    w = d.Buffer(512 * 8, ptype=0xbeef, pvalue=100)
    ns.write(qpair, w, 96, 8).waitdone()
    qpair.send_cmd(0x01, d.Buffer(512), nsid=1, cdw10=101).waitdone()   # outside: not checked
    quiet(lambda: ns.read(qpair, d.Buffer(4096), 96, 8).waitdone())
    qpair.send_cmd(0x01, d.Buffer(512), nsid=1, cdw10=97).waitdone()    # inside: caught
    with pytest.warns(UserWarning, match="02/81"):
        ns.read(qpair, d.Buffer(4096), 96, 8).waitdone()
    ns.close()


def test_table_shared_with_ioworker(nvme0n1, qpair, verify):
    # the worker's writes are recorded in the namespace's table ...
    r = nvme0n1.ioworker(io_size=8, lba_random=False, read_percentage=0, region_start=8192,
                         region_end=8192 + 256, qdepth=8).start().close()
    assert r.error == 0 and r.io_count_write == 32
    quiet(lambda: nvme0n1.read(qpair, d.Buffer(256 * 512), 8192, 256).waitdone())
    # ... and the script's writes are checked by the worker's reads
    w = d.Buffer(512 * 8, ptype=0xbeef, pvalue=100)
    nvme0n1.write(qpair, w, 8192, 8).waitdone()
    qpair.send_cmd(0x01, d.Buffer(512), nsid=1, cdw10=8192 + 3).waitdone()
    with pytest.warns(UserWarning, match="02/81"):
        r = nvme0n1.ioworker(io_size=8, lba_random=False, region_start=8192, region_end=8192 + 8,
                             qdepth=2).start().close()
    assert r.error == 0x0281


def test_verification_off_checks_nothing(nvme0n1, qpair):
    assert not nvme0n1.verifying
    w = d.Buffer(512, ptype=0xbeef, pvalue=100)
    before = w[:]
    nvme0n1.write(qpair, w, 5000).waitdone()
    assert w[:] == before          # no stamping without verification
    qpair.send_cmd(0x01, d.Buffer(512), nsid=1, cdw10=5000).waitdone()
    quiet(lambda: nvme0n1.read(qpair, d.Buffer(512), 5000).waitdone())
