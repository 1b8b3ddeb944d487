#!/usr/bin/env bash
# Builds the test guest once and caches it: Debian's stock kernel, v4l2loopback built against
# that kernel's headers, and a busybox initramfs holding init.sh and the modules it loads.
#
#   build_guest.sh [CACHE_DIR]     -> last line of stdout is the guest folder
#
# CACHE_DIR defaults to ${LIVECAM_GUEST_CACHE:-$HOME/.cache/livecam-guest}. The guest folder's
# name includes the kernel ABI, the v4l2loopback version and a hash of this script and
# init.sh, so a Debian kernel update or an edit here builds a new guest instead of reusing a
# stale one. LIVECAM_GUEST_KERNEL=6.1.0-NN-amd64 pins the kernel. Nothing is installed on
# the host: packages are fetched with `apt-get download` and unpacked in the cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:-${LIVECAM_GUEST_CACHE:-$HOME/.cache/livecam-guest}}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

log() { echo "build_guest: $*" >&2; }
need() { command -v "$1" >/dev/null || { log "missing $1 (install it with: bash tests/guest/ci_setup.sh)"; exit 3; }; }
for tool in apt-get apt-cache dpkg-deb depmod modprobe make gcc cpio gzip sha256sum flock; do need "$tool"; done
# The initramfs has no libc, so only the static busybox will run there.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
    || { log "missing the static busybox (install it with: bash tests/guest/ci_setup.sh)"; exit 3; }

# One build at a time per cache (parallel pytest workers share it).
exec 9>"$cache/.lock"
flock 9

kver=${LIVECAM_GUEST_KERNEL:-}
if [ -z "$kver" ]; then
    kver=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n1)
    [ -n "$kver" ] || { log "apt knows no linux-image-amd64; run apt-get update"; exit 3; }
fi
lbver=$(apt-cache show v4l2loopback-dkms 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
[ -n "$lbver" ] || { log "apt knows no v4l2loopback-dkms; run apt-get update"; exit 3; }
recipe=$(cat "$here/build_guest.sh" "$here/init.sh" | sha256sum | cut -c1-12)
guest="$cache/$kver-v4l2loopback-$lbver-$recipe"

if [ -f "$guest/complete" ]; then
    echo "$guest"
    exit 0
fi

log "building guest $guest"
rm -rf "$guest" "$cache"/*.work  # half-built guests of interrupted runs (we hold the lock)
work="$guest.work"
mkdir -p "$work/debs" "$work/root"
cd "$work/debs"
fetch() {
    local deps headers_common kbuild
    deps=$(apt-cache depends "linux-headers-$kver" 2>/dev/null) || return 1
    headers_common=$(sed -n 's/.*Depends: \(linux-headers-.*-common\)$/\1/p' <<< "$deps" | head -n1)
    kbuild=$(sed -n 's/.*Depends: \(linux-kbuild-.*\)$/\1/p' <<< "$deps" | head -n1)
    [ -n "$headers_common" ] && [ -n "$kbuild" ] || return 1
    apt-get download -q "linux-image-$kver" "linux-headers-$kver" "$headers_common" "$kbuild" v4l2loopback-dkms \
        2> >(grep -v 'unsandboxed' >&2) >/dev/null
}
if ! fetch; then
    rm -rf "$work"
    # Package lists older than the archive name versions that are gone: refresh them once and
    # start over, since the kernel ABI itself may have moved on.
    if [ -z "${LIVECAM_GUEST_REFRESHED:-}" ] && [ "$(id -u)" = 0 ] && apt-get update -q >&2; then
        cd /
        LIVECAM_GUEST_REFRESHED=1 exec bash "$here/build_guest.sh" "$cache"
    fi
    log "cannot download the guest kernel packages (no access to the Debian archive, or stale apt lists: run apt-get update)"
    exit 3
fi
for deb in *.deb; do dpkg-deb -x "$deb" "$work/root"; done

root="$work/root"
hdr="$root/usr/src/linux-headers-$kver"
# The headers' Makefile includes the common half by absolute path; point it into the cache.
sed -i "s#^include /usr/src/#include $root/usr/src/#" "$hdr/Makefile"
src=$(echo "$root"/usr/src/v4l2loopback-*)
make -s -C "$hdr" M="$src" modules >&2
mkdir -p "$root/lib/modules/$kver/updates"
cp "$src/v4l2loopback.ko" "$root/lib/modules/$kver/updates/"
depmod -b "$root" "$kver"

# The initramfs: busybox, init, and just the modules the guest loads, in dependency order.
initrd="$work/initrd"
mkdir -p "$initrd"/{bin,etc,proc,sys,dev,lib/modules/$kver}
cp /bin/busybox "$initrd/bin/busybox"
cp "$here/init.sh" "$initrd/init"
chmod 755 "$initrd/init" "$initrd/bin/busybox"
: > "$initrd/etc/boot-modules"
for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
    rel=${ko#"$root/lib/modules/$kver/"}
    echo "$rel" >> "$initrd/etc/boot-modules"
done
# The job loads v4l2loopback later with the host's modprobe, so all its dependencies ship too.
for m in virtio_pci 9pnet_virtio 9p overlay v4l2loopback; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | sort -u | while read -r ko; do
    rel=${ko#"$root/lib/modules/$kver/"}
    mkdir -p "$initrd/lib/modules/$kver/$(dirname "$rel")"
    cp "$ko" "$initrd/lib/modules/$kver/$rel"
done
cp "$root/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$initrd/lib/modules/$kver/"
depmod -b "$initrd" "$kver"

mkdir -p "$guest"
(cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$guest/initrd.img"
cp "$root/boot/vmlinuz-$kver" "$guest/vmlinuz"
echo "$kver" > "$guest/kernel-release"
echo "$lbver" > "$guest/v4l2loopback-version"
rm -rf "$work"
touch "$guest/complete"
log "guest ready ($(du -sh "$guest" | cut -f1))"
echo "$guest"
