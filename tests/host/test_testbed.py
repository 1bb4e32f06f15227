"""The emulated test bed's own behaviour, checked on the host."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTBED = os.path.join(ROOT, "tools", "testbed", "testbed.py")
spec = importlib.util.spec_from_file_location("testbed", TESTBED)
testbed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(testbed)


def devices(args):
    return [args[i + 1] for i, a in enumerate(args) if a == "-device"]


def test_layout_puts_each_controller_behind_its_own_root_port(tmp_path):
    ctrls = [{"mdts": 5, "namespace": [{"size": "1M", "lba_size": 4096, "ms": 8}]},
             {"subsystem": "s0", "cmb_size_mb": 16,
              "namespace": [{"size": "2M", "backend": "file"}, {"size": "1M"}]}]
    args = testbed.qemu_devices(ctrls, str(tmp_path))
    devs = devices(args)
    assert devs[0] == "nvme-subsys,id=s0,nqn=s0", "the subsystem must exist before its controllers"
    ports = [d for d in devs if d.startswith("pcie-root-port")]
    assert len(ports) == 2
    nvmes = [d for d in devs if d.startswith("nvme,")]
    assert "bus=rp0" in nvmes[0] and "mdts=5" in nvmes[0]
    assert "bus=rp1" in nvmes[1] and "subsys=s0" in nvmes[1] and "cmb_size_mb=16" in nvmes[1]
    ns = [d for d in devs if d.startswith("nvme-ns")]
    assert len(ns) == 3
    assert "logical_block_size=4096" in ns[0] and "ms=8" in ns[0] and "bus=nvme0" in ns[0]
    assert "nsid=2" in ns[2] and "bus=nvme1" in ns[2]
    image = tmp_path / "c1n1.raw"
    assert image.stat().st_size == 2 << 20, "a file backend gets a sparse image of the asked size"


def test_state_dir_keeps_images_and_names_each_controllers_counter_file(tmp_path, capsys):
    ctrls = [{"namespace": [{"size": "1M", "backend": "file"}]}, {"namespace": [{"size": "1M"}]}]
    state = tmp_path / "drive,1"
    state.mkdir()
    (tmp_path / "run").mkdir()      # the run directory testbed.py makes (devices.json goes there)
    args = testbed.qemu_devices(ctrls, str(tmp_path / "run"), str(state), smart_counters=True)
    nvmes = [d for d in devices(args) if d.startswith("nvme,")]
    assert f"smart_counters={tmp_path}/drive,,1/nvme0.smart" in nvmes[0], "a comma is doubled"
    assert f"smart_counters={tmp_path}/drive,,1/nvme1.smart" in nvmes[1]
    image = state / "c0n1.raw"
    with open(image, "r+b") as f:
        f.write(b"kept")
    testbed.qemu_devices(ctrls, str(tmp_path / "run"), str(state))
    assert image.read_bytes()[:4] == b"kept", "an image in the state directory is reused as it is"
    ctrls[0]["namespace"][0]["size"] = "2M"
    with pytest.raises(SystemExit):
        testbed.qemu_devices(ctrls, str(tmp_path / "run"), str(state))
    assert "holds 1048576 bytes but the layout asks for 2097152" in capsys.readouterr().err
    assert not any("smart_counters" in d for d in devices(testbed.qemu_devices(ctrls[1:], str(tmp_path)))), \
        "a QEMU without the counters patch gets no such property"


def test_layout_records_each_controller_for_re_adding(tmp_path):
    """The guest puts a hot-removed controller back from devices.json: the
    same device_add texts as the command line, namespaces with their
    controller."""
    ctrls = [{"mdts": 5, "namespace": [{"size": "1M"}, {"size": "2M", "lba_size": 4096}]},
             {"namespace": [{"size": "1M"}]}]
    args = devices(testbed.qemu_devices(ctrls, str(tmp_path)))
    declared = json.loads((tmp_path / testbed.DEVICES_FILE).read_text())
    assert sorted(declared) == ["nvme0", "nvme1"]
    assert declared["nvme0"]["port"] == "rp0" and declared["nvme1"]["port"] == "rp1"
    assert declared["nvme0"]["device"] in args and "mdts=5" in declared["nvme0"]["device"]
    assert declared["nvme0"]["namespaces"] == [a for a in args if "bus=nvme0" in a and
                                               a.startswith("nvme-ns")]
    assert len(declared["nvme0"]["namespaces"]) == 2 and len(declared["nvme1"]["namespaces"]) == 1


@pytest.mark.parametrize("ctrls, message", [
    ([{"namespace": [{"size": "1M", "colour": 1}]}], "unknown keys ['colour']"),
    ([{"speed": 3}], "unknown keys ['speed']"),
    ([{"namespace": [{"size": "1M", "backend": "tape"}]}], "backend must be"),
    ([{"namespace": [{"size": "lots"}]}], "bad size 'LOTS'"),
])
def test_bad_layout_is_refused_with_a_clear_message(tmp_path, capsys, ctrls, message):
    with pytest.raises(SystemExit) as e:
        testbed.qemu_devices(ctrls, str(tmp_path))
    assert e.value.code != 0
    assert message in capsys.readouterr().err


def run_testbed(*args, timeout=300):
    return subprocess.run([sys.executable, TESTBED, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=ROOT)


def test_guest_command_output_and_exit_code_come_back():
    proc = run_testbed("run", "--", "sh", "-c",
                       "echo guest-says-hi; ls /dev/vfio | grep -qx vfio && exit 7")
    assert "guest-says-hi" in proc.stdout
    assert proc.returncode == 7, proc.stdout


def test_a_hanging_guest_is_killed_at_the_timeout():
    proc = run_testbed("run", "--timeout", "25", "--", "sleep", "600")
    assert proc.returncode == 124, proc.stdout
    assert "did not finish within 25 s" in proc.stdout


SMART_COUNTERS = ("import nvme as d; c = d.Controller(d.Pcie('01:00.0')); b = d.Buffer(512); "
                  "c.getlogpage(2, b, 512).waitdone(); print('counters', b.data(127, 112), b.data(159, 144))")


def test_state_dir_keeps_the_smart_power_counters_across_qemu_runs(tmp_path):
    """The counters of an earlier run (its guest left the controller enabled
    when QEMU ended: an unsafe shutdown for the next power on to count)."""
    state = tmp_path / "drive"
    state.mkdir()
    (state / "nvme0.smart").write_text("power_cycles 41\nunsafe_shutdowns 7\ndirty 1\n")
    proc = run_testbed("run", "--state-dir", str(state), "--", "/usr/bin/python3", "-c", SMART_COUNTERS)
    assert proc.returncode == 0, proc.stdout
    assert "counters 42 8" in proc.stdout, proc.stdout
    # this run ended the same way: enabled, no shutdown notification
    assert (state / "nvme0.smart").read_text() == "power_cycles 42\nunsafe_shutdowns 8\ndirty 1\n"


def test_run_without_a_command_is_refused():
    proc = run_testbed("run")
    assert proc.returncode == 2
    assert "run needs a command" in proc.stdout


BUILD_QEMU = os.path.join(ROOT, "tools", "testbed", "build-qemu.sh")


def qemu_path_for(tmp_path, patches):
    """The cached binary's path build-qemu.sh gives for this set of patches
    (a copy of the script beside its own qemu/ folder; nothing is built)."""
    tools = tmp_path / "tools"
    (tools / "qemu").mkdir(parents=True, exist_ok=True)
    for old in (tools / "qemu").glob("*.patch"):
        old.unlink()
    for name, text in patches.items():
        (tools / "qemu" / name).write_text(text)
    script = tools / "build-qemu.sh"
    script.write_bytes(open(BUILD_QEMU, "rb").read())
    script.chmod(0o755)
    env = dict(os.environ, PYNVME_QEMU_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([str(script), "--path"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_patched_qemu_is_rebuilt_when_a_patch_changes(tmp_path):
    one = qemu_path_for(tmp_path, {"0001-fix.patch": "--- a/x\n+++ b/x\n"})
    assert one.startswith(str(tmp_path / "cache" / "qemu-")) and one.endswith("/bin/qemu-system-x86_64")
    assert qemu_path_for(tmp_path, {"0001-fix.patch": "--- a/x\n+++ b/x\n"}) == one
    assert qemu_path_for(tmp_path, {"0001-fix.patch": "--- a/x\n+++ b/y\n"}) != one
    assert qemu_path_for(tmp_path, {}) != one


def test_the_boot_says_which_qemu_runs():
    proc = run_testbed("run", "--", "true")
    assert proc.returncode == 0, proc.stdout
    line = [l for l in proc.stdout.splitlines() if l.startswith("testbed: QEMU: ")]
    assert line, proc.stdout
    patches = sorted(os.listdir(os.path.join(ROOT, "tools", "testbed", "qemu")))
    for p in (p for p in patches if p.endswith(".patch")):
        assert p in line[0], f"{p} not named in: {line[0]}"
    assert "/var/cache/" in line[0] or "/.cache/" in line[0] or "PYNVME_QEMU" in line[0]
