#!/bin/busybox sh
# PID 1 of the test guest (runs from the initramfs that build_guest.sh packs).
#
# The guest borrows its whole userland from the host: the host's / arrives read-only over
# virtio-9p (tag "hostroot") and the job folder read-write (tag "job"). We chroot into the
# host's / so ffmpeg, Chromium and the project's virtual environment run unchanged, at the
# same absolute paths as on the host. The job's run.sh does the work; its exit status is
# written to the job folder, then the guest powers off.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

KVER=$(uname -r)
say() { echo "livecam-guest: $*" > /dev/console; }
die() { say "FAILED: $*"; sync; poweroff -f; }

# Module order comes from `modprobe --show-depends` at build time; busybox insmod cannot
# resolve dependencies itself.
while read -r ko; do
    insmod "/lib/modules/$KVER/$ko" || die "insmod $ko"
done < /etc/boot-modules

mkdir -p /job /lower /upper /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job /job || die "mount job share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower \
    || die "mount host root"
# Writes land in a tmpfs layered over the host's read-only /, so /tmp, /run and even
# /lib/modules are writable in the guest while everything on the host stays visible and
# untouched (a plain tmpfs over /tmp would hide a checkout that lives there).
mount -t tmpfs tmpfs /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot \
    || die "mount overlay root"

mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm

# The host's kmod then finds the guest kernel's modules (v4l2loopback included), so the job
# loads v4l2loopback with the same `modprobe` line a user types.
mkdir -p "/newroot/lib/modules/$KVER"
mount --bind "/lib/modules/$KVER" "/newroot/lib/modules/$KVER"

mkdir -p /newroot/tmp/job
mount --bind /job /newroot/tmp/job
ip link set lo up

say "userland ready after $(cut -d' ' -f1 /proc/uptime) s"
chroot /newroot /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp/home \
    /bin/sh /tmp/job/run.sh > /job/guest.log 2>&1
echo $? > /job/exit-status
say "job finished with status $(cat /job/exit-status) after $(cut -d' ' -f1 /proc/uptime) s"
sync
poweroff -f
