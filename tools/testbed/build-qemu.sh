#!/bin/bash
# Builds the test bed's QEMU: Debian's own qemu source package (the version of
# the installed qemu-system-x86), with the patches of tools/testbed/qemu/
# applied, only the x86_64 system emulator and only the features the test bed
# uses. The result is cached outside the clone, in
#     ${PYNVME_QEMU_CACHE:-/var/cache/pynvme}/qemu-<key>/bin/qemu-system-x86_64
# where <key> hashes the Debian version, the configure options and the
# patches: a change to any of them builds afresh, anything else reuses it.
#
#   build-qemu.sh            build if needed; prints the binary's path on stdout
#   build-qemu.sh --path     prints the path it would have, builds nothing
#   build-qemu.sh --info     prints the key's inputs (version, patches, options)
#
# Progress goes to stderr. Needs root (or sudo) only to install the build
# dependencies that are missing. Firmware (SeaBIOS, option ROMs) stays
# Debian's: the binary looks in /usr/share/qemu and /usr/share/seabios, which
# the qemu-system-x86 package fills.
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
PATCH_DIR=$HERE/qemu
BUILD_DEPS=(gcc make ninja-build meson pkg-config python3 dpkg-dev patch xz-utils
            libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev libcap-ng-dev)
# Everything off unless the test bed needs it: TCG (KVM for --kvm), virtio-9p
# for the host shares (it needs cap-ng and attr), fdt (the x86_64 target
# requires it). Default devices stay: q35, intel-iommu, pcie-root-port, nvme,
# virtio-serial and their dependencies come from them.
CONFIGURE_OPTS=(--target-list=x86_64-softmmu --without-default-features
                --enable-tcg --enable-kvm --enable-virtfs --enable-cap-ng --enable-attr
                --enable-fdt=system --disable-docs --disable-tools --disable-guest-agent
                --disable-install-blobs --disable-werror
                --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu)

say() { echo "build-qemu: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

source_version() {
    local v
    v=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null || true)
    [ -n "$v" ] || die "qemu-system-x86 is not installed (tools/install-deps.sh installs it)"
    echo "$v"
}

patches() {
    find "$PATCH_DIR" -maxdepth 1 -name '*.patch' -type f 2>/dev/null | LC_ALL=C sort
}

key_inputs() {
    echo "debian-source qemu $1"
    echo "configure ${CONFIGURE_OPTS[*]}"
    local p
    for p in $(patches); do
        echo "patch $(basename "$p") $(sha256sum <"$p" | cut -c1-64)"
    done
}

cache_root() {
    local root=${PYNVME_QEMU_CACHE:-/var/cache/pynvme}
    if ! mkdir -p "$root" 2>/dev/null || [ ! -w "$root" ]; then
        [ -z "${PYNVME_QEMU_CACHE:-}" ] || die "cache directory $root is not writable"
        root=${XDG_CACHE_HOME:-$HOME/.cache}/pynvme
        mkdir -p "$root"
    fi
    echo "$root"
}

install_build_deps() {
    local missing=() p
    for p in "${BUILD_DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing build dependencies: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >&2
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# `apt-get source` through a private apt configuration whose deb-src entries
# mirror the Debian repositories the machine already uses: the system's apt
# sources stay untouched, and the source matches the installed binary.
fetch_source() {
    local version=$1 dest=$2 apt=$3
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts"
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(ORIGIN)' \
            'Identifier: Packages' | awk '$4 == "Debian" { print $1, $2, $3 }' | sort -u |
        while read -r uri suite comp; do
            if [ -r /usr/share/keyrings/debian-archive-keyring.gpg ]; then
                echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite $comp"
            else
                echo "deb-src $uri $suite $comp"
            fi
        done >"$apt/sources.list"
    [ -s "$apt/sources.list" ] || die "no Debian repository found in the apt sources (apt-get indextargets)"
    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
                -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
                -o "APT::Sandbox::User=root")
    say "fetching Debian's source of qemu $version"
    apt-get "${opts[@]}" update -q >"$apt/fetch.log" 2>&1 ||
        { tail -20 "$apt/fetch.log" >&2; die "apt-get update (deb-src) failed"; }
    (cd "$dest" && apt-get "${opts[@]}" source -q "qemu=$version" >>"$apt/fetch.log" 2>&1) ||
        { tail -20 "$apt/fetch.log" >&2; die "apt-get source qemu=$version failed (if the archive no longer has that version, upgrade qemu-system-x86 first)"; }
}

WORK=""
cleanup() { [ -z "$WORK" ] || rm -rf "$WORK"; }

main() {
    local mode=${1:-build}
    local version key root out
    version=$(source_version)
    case "$mode" in
        --info) key_inputs "$version"; return 0 ;;
        build|--path) ;;
        *) die "usage: $0 [--path|--info]" ;;
    esac
    key=$(key_inputs "$version" | sha256sum | cut -c1-16)
    root=$(cache_root)
    out=$root/qemu-$key
    if [ "$mode" = --path ] || [ -x "$out/bin/qemu-system-x86_64" ]; then
        echo "$out/bin/qemu-system-x86_64"
        return 0
    fi
    # one build per key at a time, however many test beds start at once
    exec 9>"$root/qemu-$key.lock"
    flock 9
    if [ -x "$out/bin/qemu-system-x86_64" ]; then
        echo "$out/bin/qemu-system-x86_64"
        return 0
    fi
    local start=$SECONDS
    say "building QEMU (Debian $version + $(patches | wc -l) patch(es)) into $out; this takes a while once"
    install_build_deps
    WORK=$(mktemp -d "$root/qemu-$key.build.XXXXXX")
    trap cleanup EXIT
    local work=$WORK
    chmod 755 "$work"
    fetch_source "$version" "$work" "$work/apt"
    local src
    src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -1)
    [ -n "$src" ] || die "no unpacked source in $work"
    local p
    for p in $(patches); do
        say "applying $(basename "$p")"
        patch -d "$src" -p1 --batch --forward --quiet <"$p" >&2 || die "patch $(basename "$p") does not apply to Debian's qemu $version"
    done
    mkdir -p "$work/build" "$work/out/bin"
    say "configuring"
    (cd "$work/build" && "$src/configure" --prefix="$out" "${CONFIGURE_OPTS[@]}" >"$work/configure.log" 2>&1) ||
        { tail -30 "$work/configure.log" >&2; die "configure failed"; }
    say "compiling (ninja -j$(nproc))"
    (cd "$work/build" && nice ninja -j"$(nproc)" qemu-system-x86_64 >"$work/build.log" 2>&1) ||
        { tail -30 "$work/build.log" >&2; die "build failed"; }
    cp "$work/build/qemu-system-x86_64" "$work/out/bin/"
    cp "$work/configure.log" "$work/build.log" "$work/out/"
    for p in $(patches); do cp "$p" "$work/out/"; done
    { key_inputs "$version"; echo "build-seconds $((SECONDS - start))"; } >"$work/out/info"
    "$work/out/bin/qemu-system-x86_64" -device help 2>/dev/null | grep -q '"nvme"' ||
        die "the built binary has no nvme device"
    rm -rf "$out"
    mv "$work/out" "$out"
    say "built in $((SECONDS - start)) s: $out"
    echo "$out/bin/qemu-system-x86_64"
}

main "$@"
