#!/bin/busybox sh
# PID 1 of the test-bed guest. It mounts the host's root (read-only) and the
# project (writable) over 9p, binds every NVMe function to vfio-pci, then runs
# the job script inside a chroot of the host root, so the host's python3 and
# the freshly built project run unchanged in the guest.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# Loopback only (-nic none): tests talk to simulators of lab instruments on it.
ifconfig lo 127.0.0.1 up

arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline; }
fail() { echo "testbed-guest: $*"; poweroff -f; }

for m in $(cat /modules.order); do
    insmod "/modules/$m" || echo "testbed-guest: cannot load module $m"
done

PROJ=$(arg pynvme_proj)
RUNDIR=$(arg pynvme_rundir)
MODE=$(arg pynvme_mode)

mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /host \
    || fail "cannot mount the host root over 9p"
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm /host/dev/hugepages
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
mount -t hugetlbfs hugetlbfs /host/dev/hugepages
for d in /tmp /run /var/tmp /root; do mount -t tmpfs tmpfs "/host$d"; done
mkdir -p /host/run/lock
# The project last: it may live under one of the tmpfs directories above.
mkdir -p "/host$PROJ" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap proj "/host$PROJ" \
    || fail "cannot mount the project share at $PROJ"

# Hugepages make DMA buffers cheaper for the IOMMU; take what the guest can spare.
echo "$(arg pynvme_hugepages)" > /proc/sys/vm/nr_hugepages 2>/dev/null

# Every NVMe function (class 0x010802) goes to vfio-pci.
for dev in /sys/bus/pci/devices/*; do
    if [ "$(cat "$dev/class")" = "0x010802" ]; then
        echo vfio-pci > "$dev/driver_override"
        echo "${dev##*/}" > /sys/bus/pci/drivers_probe
    fi
done

# The QMP port the host relays into the guest, found by its name.
for p in /sys/class/virtio-ports/*; do
    [ -e "$p/name" ] && [ "$(cat "$p/name")" = "org.pynvme.qmp" ] && QMP="/dev/${p##*/}"
done
echo "export PYNVME_QMP=$QMP" > "/host$RUNDIR/guest.env"

if [ "$MODE" = "shell" ]; then
    echo "testbed-guest: shell in the guest; the project is at $PROJ; 'exit' powers off"
    setsid cttyhack chroot /host /bin/sh -c ". $RUNDIR/guest.env; cd $PROJ; exec /bin/bash -l"
    rc=$?
else
    chroot /host /bin/sh -c ". $RUNDIR/guest.env; . $RUNDIR/job.sh"
    rc=$?
fi
echo "$rc" > "/host$RUNDIR/rc"
sync
poweroff -f
