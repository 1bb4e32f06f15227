#!/usr/bin/python3
"""The emulated NVMe test bed.

Boots a small QEMU guest whose NVMe controllers are QEMU's own emulation, each
behind its own PCIe root port, binds them to vfio-pci and runs a command in the
guest (chrooted into this machine's root, so the same python3 and the freshly
built project run there), streaming its output and exiting with its exit code.

    testbed.py run [options] -- COMMAND...   run COMMAND in the guest
    testbed.py shell [options]               interactive shell in the guest
    testbed.py prepare                       fetch and build what the guest needs

Everything it needs (Debian packages, the guest kernel, the initramfs) is
prepared on first use and cached under build/testbed/. The emulator is Debian's
QEMU with the fixes of tools/testbed/qemu/*.patch, built by build-qemu.sh on
first use and cached outside the clone (/var/cache/pynvme/qemu-<key>);
--stock-qemu runs Debian's unpatched binary instead, $PYNVME_QEMU another one.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

PROJECT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The guest kernel and initramfs; shareable between work trees of the project.
CACHE = os.environ.get("PYNVME_TESTBED_CACHE") or os.path.join(PROJECT, "build", "testbed")
# Per-run files the guest writes (exit code): must be inside the project share.
RUNS = os.path.join(PROJECT, "build", "testbed-runs")
HOST_PACKAGES = {  # command -> Debian package that provides it
    "qemu-system-x86_64": "qemu-system-x86",
    "cpio": "cpio",
    "depmod": "kmod",
    "dpkg-deb": "dpkg",
}
BUSYBOX = "/bin/busybox"  # from busybox-static: the guest's init needs no libc
# Modules the initramfs loads (with their dependencies, in order).
GUEST_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "virtio_console",
                 "vfio_iommu_type1", "vfio-pci"]
NVME_CLASS = "0x010802"
QEMU_BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build-qemu.sh")


def die(msg, code=2):
    print(f"testbed: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def say(msg):
    print(f"testbed: {msg}", file=sys.stderr, flush=True)


def run_quiet(cmd, what):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        die(f"{what} failed ({' '.join(cmd)}):\n{proc.stdout.strip()}")
    return proc.stdout


# ---------------------------------------------------------------- preparation

def ensure_packages():
    missing = sorted({pkg for cmd, pkg in HOST_PACKAGES.items() if not shutil.which(cmd)})
    busybox = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "busybox-static"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if "install ok installed" not in busybox.stdout:
        missing.append("busybox-static")
    if not missing:
        return
    if os.geteuid() != 0:
        die(f"missing Debian packages: {' '.join(missing)}; run: sudo apt-get install {' '.join(missing)}")
    say(f"installing {' '.join(missing)}")
    run_quiet(["apt-get", "update", "-q"], "apt-get update")
    run_quiet(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
              "apt-get install")


def guest_kernel():
    """Returns (vmlinuz, module root, version), fetching the Debian kernel once."""
    kdir = os.path.join(CACHE, "kernel")
    stamp = os.path.join(kdir, "ready")
    if not os.path.exists(stamp):
        deps = run_quiet(["apt-cache", "depends", "linux-image-amd64"], "apt-cache depends")
        names = [l.split(":", 1)[1].strip() for l in deps.splitlines()
                 if l.strip().startswith("Depends:") and "linux-image-" in l]
        if not names:
            run_quiet(["apt-get", "update", "-q"], "apt-get update")
            deps = run_quiet(["apt-cache", "depends", "linux-image-amd64"], "apt-cache depends")
            names = [l.split(":", 1)[1].strip() for l in deps.splitlines()
                     if l.strip().startswith("Depends:") and "linux-image-" in l]
        if not names:
            die("cannot find the guest kernel package (apt-cache depends linux-image-amd64)")
        say(f"fetching the guest kernel {names[0]}")
        shutil.rmtree(kdir, ignore_errors=True)
        os.makedirs(kdir)
        dl = tempfile.mkdtemp(dir=CACHE)
        os.chmod(dl, 0o777)  # apt's sandbox user writes here
        run_quiet(["sh", "-c", f"cd {dl} && apt-get download {names[0]}"], "apt-get download")
        deb = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
        run_quiet(["dpkg-deb", "-x", os.path.join(dl, deb), kdir], "dpkg-deb -x")
        shutil.rmtree(dl)
        version = os.listdir(os.path.join(kdir, "lib", "modules"))[0]
        run_quiet(["depmod", "-b", kdir, version], "depmod")
        with open(stamp, "w") as f:
            f.write(version)
    version = open(stamp).read().strip()
    return os.path.join(kdir, "boot", f"vmlinuz-{version}"), kdir, version


def initramfs(kroot, version):
    """Builds (once per init.sh change) a busybox initramfs with the needed modules."""
    out = os.path.join(CACHE, "initramfs.cpio.gz")
    init_src = os.path.join(os.path.dirname(__file__), "init.sh")
    if os.path.exists(out) and os.path.getmtime(out) > os.path.getmtime(init_src):
        return out
    root = tempfile.mkdtemp(dir=CACHE)
    for d in ("bin", "proc", "sys", "dev", "modules"):
        os.makedirs(os.path.join(root, d))
    shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
    shutil.copy(init_src, os.path.join(root, "init"))
    os.chmod(os.path.join(root, "init"), 0o755)
    order = []
    for mod in GUEST_MODULES:
        text = run_quiet(["modprobe", "-d", kroot, "-S", version, "--show-depends", mod],
                         f"modprobe --show-depends {mod}")
        for line in text.splitlines():
            parts = line.split()
            if parts and parts[0] == "insmod":
                name = os.path.basename(parts[1])
                if name not in order:
                    order.append(name)
                    shutil.copy(parts[1], os.path.join(root, "modules", name))
    with open(os.path.join(root, "modules.order"), "w") as f:
        f.write("\n".join(order) + "\n")
    run_quiet(["sh", "-c", f"cd {root} && find . | cpio -o -H newc --quiet | gzip -1 > {out}.tmp"],
              "cpio")
    os.rename(out + ".tmp", out)
    shutil.rmtree(root)
    return out


def qemu_binary(stock=False):
    """(path, description) of the emulator to boot. The patched build is the
    default and is built when missing: a test bed that quietly ran the stock
    binary would bring back the crashes the patches fix."""
    override = os.environ.get("PYNVME_QEMU")
    if override:
        if not os.access(override, os.X_OK):
            die(f"PYNVME_QEMU={override} is not an executable")
        return override, f"{override} (from $PYNVME_QEMU)"
    if stock:
        path = shutil.which("qemu-system-x86_64")
        return path, f"{path} (Debian's stock build, unpatched: --stock-qemu)"
    proc = subprocess.run([QEMU_BUILD], stdout=subprocess.PIPE, text=True)  # progress on stderr
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        die(f"building the test bed's patched QEMU failed ({QEMU_BUILD}, exit {proc.returncode}); "
            f"see the messages above (--stock-qemu boots Debian's unpatched QEMU instead)")
    path = lines[-1]
    if not os.access(path, os.X_OK):
        die(f"{QEMU_BUILD} gave {path}, which is not an executable")
    info = os.path.join(os.path.dirname(os.path.dirname(path)), "info")
    what = []
    try:
        with open(info) as f:
            for line in f:
                word, _, rest = line.strip().partition(" ")
                if word == "debian-source":
                    what.insert(0, f"Debian {rest}")
                elif word == "patch":
                    what.append(rest.split()[0])
    except OSError:
        pass
    return path, f"{path} ({' + '.join(what) or 'patched'})"


def prepare(stock_qemu=False):
    os.makedirs(CACHE, exist_ok=True)
    ensure_packages()
    vmlinuz, kroot, version = guest_kernel()
    qemu = qemu_binary(stock_qemu)
    return vmlinuz, initramfs(kroot, version), kroot, qemu


# --------------------------------------------------------------- guest layout

def parse_size(text):
    text = str(text).strip().upper()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    try:
        if text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except (ValueError, IndexError):
        die(f"bad size '{text}' (examples: 512M, 1G, 4096)")


def layout_from_args(args):
    """The controllers to emulate: a config file, or the command-line shorthand."""
    if args.config:
        try:
            with open(args.config, "rb") as f:
                conf = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            die(f"cannot read config {args.config}: {e}")
        ctrls = conf.get("controller", [])
        if not ctrls:
            die(f"config {args.config} has no [[controller]]")
        return ctrls
    ns = {"size": args.ns_size, "lba_size": args.lba_size, "ms": args.ms,
          "backend": args.backend}
    return [{"mdts": args.mdts, "max_ioqpairs": args.max_ioqpairs, "cmb_size_mb": args.cmb_mb,
             "subsystem": args.subsystem, "namespace": [dict(ns) for _ in range(args.namespaces)]}
            for _ in range(args.controllers)]


CTRL_KEYS = {"mdts", "max_ioqpairs", "cmb_size_mb", "subsystem", "namespace", "serial",
             "msix_qsize", "sriov_max_vfs", "extra"}
NS_KEYS = {"size", "lba_size", "ms", "pi", "backend", "zoned", "extra"}


def qemu_option_value(text):
    """A value inside QEMU's comma-separated options: a comma is doubled."""
    return str(text).replace(",", ",,")


def file_image(path, size, kept):
    """A sparse image of `size` bytes at `path`; in a state directory an image
    of that size is kept as it is (data written by earlier runs)."""
    if kept and os.path.exists(path):
        have = os.path.getsize(path)
        if have != size:
            die(f"{path} holds {have} bytes but the layout asks for {size}: "
                f"remove it or use another --state-dir")
        return
    with open(path, "wb") as f:
        f.truncate(size)


DEVICES_FILE = "devices.json"  # in the run directory; $PYNVME_TESTBED_DEVICES in the guest


def qemu_devices(ctrls, rundir, state_dir=None, smart_counters=False):
    """QEMU's -device/-blockdev arguments for the controllers. Images live in
    `state_dir` when given (kept between runs), else in `rundir`. With
    `smart_counters` (a QEMU with tools/testbed/qemu/0002-*.patch), each
    controller keeps its SMART power counters in nvme<i>.smart beside them.
    Also writes DEVICES_FILE into `rundir`: each controller's `device_add` text
    and its namespaces', by QEMU id, so the guest can put a hot-removed
    controller back as it was declared (nvme.instruments.TestBed.reinsert)."""
    args = []
    where = state_dir or rundir
    subsystems = set()
    declared = {}
    for i, c in enumerate(ctrls):
        unknown = set(c) - CTRL_KEYS
        if unknown:
            die(f"controller {i}: unknown keys {sorted(unknown)} (known: {sorted(CTRL_KEYS)})")
        rp = f"rp{i}"
        args += ["-device", f"pcie-root-port,id={rp},slot={i + 1},chassis={i + 1}"]
        opts = [f"id=nvme{i}", f"serial={c.get('serial', f'PYNVME{i:04d}')}", f"bus={rp}"]
        for key in ("mdts", "max_ioqpairs", "msix_qsize", "cmb_size_mb", "sriov_max_vfs"):
            if c.get(key) is not None:
                opts.append(f"{key}={int(c[key])}")
        if c.get("subsystem"):
            sub = str(c["subsystem"])
            if sub not in subsystems:
                subsystems.add(sub)
                args = ["-device", f"nvme-subsys,id={sub},nqn={sub}"] + args
            opts.append(f"subsys={sub}")
        if smart_counters:
            counters = os.path.join(where, f"nvme{i}.smart")
            opts.append(f"smart_counters={qemu_option_value(counters)}")
        if c.get("extra"):
            opts.append(c["extra"])
        args += ["-device", "nvme," + ",".join(opts)]
        declared[f"nvme{i}"] = {"port": rp, "device": "nvme," + ",".join(opts), "namespaces": []}
        for j, n in enumerate(c.get("namespace", [])):
            unknown = set(n) - NS_KEYS
            if unknown:
                die(f"controller {i} namespace {j + 1}: unknown keys {sorted(unknown)}")
            node = f"c{i}n{j + 1}"
            size = parse_size(n.get("size", "1G"))
            backend = n.get("backend", "null")
            if backend == "null":
                args += ["-blockdev", f"driver=null-co,node-name={node},size={size},read-zeroes=on"]
            elif backend == "file":
                image = os.path.join(where, f"{node}.raw")
                file_image(image, size, kept=bool(state_dir))
                args += ["-blockdev", f"driver=raw,node-name={node},discard=unmap,file.driver=file,"
                                      f"file.filename={qemu_option_value(image)}"]
            else:
                die(f"controller {i} namespace {j + 1}: backend must be 'null' or 'file'")
            lbs = int(n.get("lba_size", 512))
            nsopts = [f"drive={node}", f"nsid={j + 1}", f"bus=nvme{i}",
                      f"logical_block_size={lbs}", f"physical_block_size={lbs}"]
            for key in ("ms", "pi"):
                if n.get(key):
                    nsopts.append(f"{key}={int(n[key])}")
            if n.get("zoned"):
                nsopts.append("zoned=on")
            if n.get("extra"):
                nsopts.append(n["extra"])
            args += ["-device", "nvme-ns," + ",".join(nsopts)]
            declared[f"nvme{i}"]["namespaces"].append("nvme-ns," + ",".join(nsopts))
    with open(os.path.join(rundir, DEVICES_FILE), "w") as f:
        json.dump(declared, f, indent=1)
    return args


def qemu_has_property(qemu_path, device, prop):
    """Whether this QEMU's `device` takes `prop` (Debian's stock binary and a
    $PYNVME_QEMU may lack the project's patches)."""
    try:
        proc = subprocess.run([qemu_path, "-device", f"{device},help"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.strip().startswith(f"{prop}=") for line in proc.stdout.splitlines())


# ------------------------------------------------------------------ QMP relay

def relay_qmp(port_path, qmp_path, stop):
    """Connects the guest's virtio-serial port to a QMP monitor, byte for byte,
    so tests inside the guest can raise SMART events, hot-plug, etc."""
    def connect(path):
        for _ in range(200):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                return s
            except OSError:
                time.sleep(0.05)
        return None
    a, b = connect(port_path), connect(qmp_path)
    if not a or not b:
        return

    def pump(src, dst):
        try:
            while not stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
    threading.Thread(target=pump, args=(a, b), daemon=True).start()
    threading.Thread(target=pump, args=(b, a), daemon=True).start()


# -------------------------------------------------------------------- running

def boot(args, interactive):
    vmlinuz, initrd, kroot, (qemu_path, qemu_what) = prepare(args.stock_qemu)
    os.makedirs(RUNS, exist_ok=True)
    rundir = tempfile.mkdtemp(prefix="run-", dir=RUNS)
    sockdir = tempfile.mkdtemp(prefix="pynvme-testbed-")
    ctrls = layout_from_args(args)
    state_dir = None
    if args.state_dir:
        state_dir = os.path.realpath(args.state_dir)
        try:
            os.makedirs(state_dir, exist_ok=True)
        except OSError as e:
            die(f"cannot create --state-dir {args.state_dir}: {e}")
    with open(os.path.join(rundir, "job.sh"), "w") as f:
        env = {"PYNVME_IN_GUEST": "1", "PYNVME_GUEST_MODULES": kroot,
               "PYNVME_TESTBED_DEVICES": os.path.join(rundir, DEVICES_FILE),
               "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": os.path.join(PROJECT, "python"), "HOME": "/root", "TERM": os.environ.get("TERM", "dumb"),
               "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        if not interactive and not sys.stdout.isatty():
            env.update({"TERM": "dumb", "PY_COLORS": "0", "NO_COLOR": "1"})
        for k, v in env.items():
            f.write(f"export {k}={shlex.quote(v)}\n")
        for k in args.env or []:
            if "=" not in k:
                die(f"--env takes NAME=VALUE, not '{k}'")
            name, value = k.split("=", 1)
            f.write(f"export {name}={shlex.quote(value)}\n")
        f.write(f"cd {shlex.quote(os.getcwd())}\n")
        if not interactive:
            f.write(" ".join(shlex.quote(a) for a in args.command) + "\n")
    qmp = args.qmp or os.path.join(sockdir, "qmp.sock")
    accel = "kvm" if args.kvm else "tcg"
    cmdline = (f"console=ttyS0 panic=-1 quiet intel_iommu=on pynvme_proj={PROJECT} "
               f"pynvme_rundir={rundir} pynvme_mode={'shell' if interactive else 'run'} "
               f"pynvme_hugepages={args.hugepages}")
    qemu = [qemu_path,
            "-machine", f"q35,accel={accel},kernel-irqchip=split",
            "-device", "intel-iommu,intremap=on,aw-bits=48",
            "-cpu", "host" if args.kvm else "max", "-m", str(args.mem), "-smp", str(args.smp),
            "-no-reboot", "-nic", "none",
            "-kernel", vmlinuz, "-initrd", initrd, "-append", cmdline,
            "-fsdev", "local,id=fshost,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=fshost,mount_tag=host,ioeventfd=off",
            "-fsdev", f"local,id=fsproj,path={PROJECT},security_model=none,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=fsproj,mount_tag=proj,ioeventfd=off",
            "-qmp", f"unix:{qmp},server=on,wait=off",
            "-qmp", f"unix:{sockdir}/guest-qmp.sock,server=on,wait=off",
            "-chardev", f"socket,id=gqmp,path={sockdir}/guest-port.sock,server=on,wait=off",
            "-device", "virtio-serial-pci,max_ports=2,ioeventfd=off",
            "-device", "virtserialport,chardev=gqmp,name=org.pynvme.qmp",
            ] + qemu_devices(ctrls, rundir, state_dir,
                             smart_counters=qemu_has_property(qemu_path, "nvme", "smart_counters"))
    if interactive:
        qemu += ["-nographic"]
    else:
        qemu += ["-display", "none", "-serial", "stdio", "-monitor", "none"]
    if args.verbose:
        say(" ".join(shlex.quote(a) for a in qemu))
    say(f"QEMU: {qemu_what}")
    say(f"booting the guest ({len(ctrls)} controller(s), {accel}); QMP at {qmp}")
    stop = threading.Event()
    proc = subprocess.Popen(qemu, stdin=None if interactive else subprocess.DEVNULL,
                            stdout=None if interactive else subprocess.PIPE,
                            stderr=None if interactive else subprocess.STDOUT,
                            start_new_session=not interactive)
    threading.Thread(target=relay_qmp, daemon=True,
                     args=(f"{sockdir}/guest-port.sock", f"{sockdir}/guest-qmp.sock", stop)).start()
    timed_out = []

    def on_timeout():
        timed_out.append(True)
        proc.kill()
    timer = threading.Timer(args.timeout, on_timeout) if args.timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        if not interactive:
            out = sys.stdout.buffer
            for line in iter(proc.stdout.readline, b""):
                if b"reboot: Power down" not in line:
                    out.write(line.replace(b"\r\n", b"\n").replace(b"\r", b""))
                out.flush()
        proc.wait()
    except KeyboardInterrupt:
        proc.kill()
        proc.wait()
        die("interrupted; guest killed", 130)
    finally:
        stop.set()
        if timer:
            timer.cancel()
    rc_file = os.path.join(rundir, "rc")
    rc = int(open(rc_file).read().strip() or 1) if os.path.exists(rc_file) else None
    if not args.keep:
        shutil.rmtree(rundir, ignore_errors=True)
    shutil.rmtree(sockdir, ignore_errors=True)
    if timed_out:
        die(f"the guest did not finish within {args.timeout} s and was killed "
            f"(raise it with --timeout)", 124)
    if rc is None and proc.returncode < 0:
        die(f"QEMU itself died of {signal.Signals(-proc.returncode).name} (a crash of the "
            f"emulator, not of the guest or the device under test); see the output above", 125)
    if rc is None:
        die(f"the guest ended without reporting an exit code (QEMU exit {proc.returncode}): "
            f"it failed to boot or crashed; see the output above", 125)
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    sub.add_parser("prepare", help="fetch and build what the guest needs")
    for name in ("run", "shell"):
        p = sub.add_parser(name)
        p.add_argument("--config", help="TOML file with [[controller]] and [[controller.namespace]]")
        p.add_argument("--controllers", type=int, default=1)
        p.add_argument("--namespaces", type=int, default=1)
        p.add_argument("--ns-size", default="1G")
        p.add_argument("--lba-size", type=int, default=512)
        p.add_argument("--ms", type=int, default=0, help="metadata bytes per LBA")
        p.add_argument("--backend", choices=("null", "file"), default="null")
        p.add_argument("--mdts", type=int, default=None)
        p.add_argument("--max-ioqpairs", type=int, default=None)
        p.add_argument("--cmb-mb", type=int, default=None)
        p.add_argument("--subsystem", default=None, help="put the controllers in this NVM subsystem")
        p.add_argument("--mem", type=int, default=2048, help="guest memory, MiB")
        p.add_argument("--smp", type=int, default=2)
        p.add_argument("--hugepages", type=int, default=256, help="2 MiB hugepages in the guest")
        p.add_argument("--kvm", action="store_true", help="use KVM (nested KVM hangs on some hosts)")
        p.add_argument("--stock-qemu", action="store_true",
                       help="boot Debian's unpatched QEMU instead of the patched build")
        p.add_argument("--timeout", type=int, default=3600 if name == "run" else 0,
                       help="kill the guest after this many seconds (0: never)")
        p.add_argument("--qmp", help="path of the host's QMP socket")
        p.add_argument("--env", action="append", help="NAME=VALUE exported in the guest")
        p.add_argument("--keep", action="store_true", help="keep the run directory")
        p.add_argument("--state-dir", help="keep the namespaces' file images and the controllers' SMART "
                       "counters here, from one run to the next (the same drive across runs)")
        p.add_argument("-v", "--verbose", action="store_true")
        if name == "run":
            p.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if args.action == "prepare":
        prepare()
        say("ready")
        return 0
    if args.action == "run":
        if args.command and args.command[0] == "--":
            args.command = args.command[1:]
        if not args.command:
            die("run needs a command: testbed.py run -- COMMAND...")
    if args.kvm and not os.path.exists("/dev/kvm"):
        die("--kvm asked for but /dev/kvm does not exist")
    return boot(args, args.action == "shell")


if __name__ == "__main__":
    sys.exit(main())
