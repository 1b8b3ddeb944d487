#!/usr/bin/env bash
# Installs what tests/guest needs on a fresh Debian 12 machine (run as root).
# The guest kernel, its headers and the v4l2loopback source are NOT installed
# here: build_guest.sh downloads them with `apt-get download` into its cache,
# so the host's own kernel and boot set-up are never touched.
set -euo pipefail

packages=(
    qemu-system-x86      # the guest machine (TCG when KVM cannot boot a stock kernel)
    busybox-static       # the guest's init and tools before it chroots into the host's /
    cpio                 # packs the initramfs
    kmod                 # modprobe --show-depends / depmod for the guest's modules
    build-essential      # builds v4l2loopback against the guest kernel's headers (gcc-12, as Debian's kernel)
    libelf1              # objtool, which comes prebuilt with the kernel's kbuild, links it
    ffmpeg               # first reader of the virtual camera
    v4l-utils            # v4l2-ctl: waits until the writer has configured the device
    chromium             # second reader, through getUserMedia
)

if [ "${1:-}" = --list ]; then printf '%s\n' "${packages[@]}"; exit 0; fi

missing() {
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

if [ "$(id -u)" != 0 ]; then
    todo=$(missing | tr '\n' ' ')
    [ -z "$todo" ] && { echo "ci_setup: all guest-test packages already installed"; exit 0; }
    echo "ci_setup: run as root to install $todo" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Fresh lists also let build_guest.sh find the archive's current kernel. Third-party lists on
# some machines can be unreachable; Debian's own are what matter.
apt-get update -q >/dev/null || echo "ci_setup: apt-get update reported errors; going on with the lists there are"
mapfile -t todo < <(missing)
if [ "${#todo[@]}" -eq 0 ]; then
    echo "ci_setup: all guest-test packages already installed"
    exit 0
fi
apt-get install -y -q --no-install-recommends "${todo[@]}"
echo "ci_setup: installed ${todo[*]}"
