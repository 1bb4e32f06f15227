#!/bin/bash
# Installs the Debian packages pynvme needs to build and to run its emulated
# test bed, and only those that are missing (so it is quick when all are there).
set -euo pipefail
PACKAGES=(
    gcc make libc6-dev python3 python3-dev python3-pytest libcmocka-dev libnvme-dev
    qemu-system-x86 busybox-static kmod cpio file
    nvme-cli pciutils fio e2fsprogs dmsetup
    python3-serial
    tmux
    python3-matplotlib  # the performance reports' charts and PDF (scripts/performance)
    # the lab server (docs/lab-server.md), its PostgreSQL tests and browser tests
    python3-flask python3-sqlalchemy python3-alembic python3-psycopg2 postgresql
    python3-selenium chromium chromium-driver  # also the VS Code extension's webview tests
    python3-pytest-xdist  # several DUTs of one host in parallel, one worker each (docs/lab.md)
)
# The VS Code extension (vscode/pynvme-monitor) is built and tested with
# Node.js 18 or newer and npm: Debian 12's nodejs (18) and npm, unless a
# node of its own is there already (one from elsewhere bundles its npm, and
# Debian's npm package would conflict with it).
node_ok() {
    command -v node >/dev/null && command -v npm >/dev/null &&
        [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 18 ]
}
node_ok || PACKAGES+=(nodejs npm)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
