"""The suspend-to-RAM power cycle (python/nvme/s3.py) on a fake sysfs: the
order of the writes, and a clear error for each thing a host may lack."""
import errno

import pytest

import nvme as d
from nvme import s3


class FakeKernel(s3.SuspendToRam):
    """Plain files for sysfs; a write of "mem" to power/state acts like the
    kernel: it counts a successful suspend (unless told to refuse)."""

    def __init__(self, root, refuse=None, suspends=True):
        super().__init__(str(root))
        self.writes = []
        self.refuse = refuse
        self.suspends = suspends

    def _write(self, rel, text):
        self.writes.append((rel, text))
        if rel == s3.STATE:
            if self.refuse:
                raise OSError(self.refuse, "Device or resource busy")
            if self.suspends:
                count = int(self._read(s3.SUCCESS))
                super()._write(s3.SUCCESS, str(count + 1))
            return
        super()._write(rel, text)


@pytest.fixture
def sysfs(tmp_path):
    files = {s3.STATE: "freeze mem disk", s3.MEM_SLEEP: "[s2idle] deep",
             s3.WAKEALARM: "", s3.SUCCESS: "3"}
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return tmp_path


def test_sequence_chooses_s3_sets_the_alarm_then_suspends(sysfs):
    k = FakeKernel(sysfs)
    away = k.suspend(4.2)
    assert k.writes == [(s3.MEM_SLEEP, "deep"),       # 'mem' must mean S3, not s2idle
                        (s3.WAKEALARM, "0"),           # an old alarm would refuse the new one
                        (s3.WAKEALARM, "+5"),          # whole seconds, rounded up
                        (s3.STATE, "mem")]
    assert away >= 0
    assert (sysfs / s3.SUCCESS).read_text().strip() == "4"


def test_deep_already_chosen_is_not_written_again(sysfs):
    (sysfs / s3.MEM_SLEEP).write_text("s2idle [deep]\n")
    k = FakeKernel(sysfs)
    k.suspend(2)
    assert [w[0] for w in k.writes] == [s3.WAKEALARM, s3.WAKEALARM, s3.STATE]


def test_a_host_that_did_not_suspend_is_an_error(sysfs):
    k = FakeKernel(sysfs, suspends=False)
    with pytest.raises(d.NvmeError, match="did not suspend .*stayed at 3"):
        k.suspend(3)


def test_kernel_refusal_is_reported_and_the_alarm_cleared(sysfs):
    k = FakeKernel(sysfs, refuse=errno.EBUSY)
    with pytest.raises(d.NvmeError, match="writing 'mem' to .*power/state.*Device or resource busy"):
        k.suspend(3)
    assert k.writes[-1] == (s3.WAKEALARM, "0")


@pytest.mark.parametrize("change, message", [
    ({s3.STATE: "freeze disk"}, "offers no suspend to RAM .*'freeze disk'"),
    ({s3.MEM_SLEEP: "[s2idle]"}, "offers no 'deep' \\(S3\\), only '\\[s2idle\\]'"),
    ({s3.WAKEALARM: None}, "no RTC wake alarm"),
    ({s3.STATE: None}, "cannot read .*power/state"),
])
def test_missing_s3_is_named_before_anything_is_written(sysfs, change, message):
    for rel, text in change.items():
        if text is None:
            (sysfs / rel).unlink()
        else:
            (sysfs / rel).write_text(text + "\n")
    k = FakeKernel(sysfs)
    with pytest.raises(d.NvmeError, match=message):
        k.suspend(5)
    assert k.writes == []


@pytest.mark.parametrize("sec, message", [(1, "too short"), (0, "too short"),
                                          ("5", "must be a number"), (float("nan"), "must be a number")])
def test_bad_durations_are_refused(sysfs, sec, message):
    with pytest.raises(d.NvmeError, match=message):
        FakeKernel(sysfs).suspend(sec)


def test_module_functions_use_pynvme_sysfs(sysfs, monkeypatch):
    monkeypatch.setenv("PYNVME_SYSFS", str(sysfs))
    assert s3.check(2.5) == 3
    (sysfs / s3.STATE).write_text("freeze\n")
    with pytest.raises(d.NvmeError, match=str(sysfs)):
        s3.check(3)
