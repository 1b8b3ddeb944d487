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
    build-essential      # builds v4l2loopback against the guest kernel's headers
    libelf-dev           # kbuild needs it for modules of a kernel built with ORC unwinding
    xz-utils zstd        # unpack .deb payloads and compressed modules
    ffmpeg               # first reader of the virtual camera
    v4l-utils            # v4l2-ctl: waits until the writer has configured the device
    chromium             # second reader, through getUserMedia
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "ci_setup: all guest-test packages already installed"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Third-party lists on some machines can be unreachable; Debian's own are what matter.
apt-get update -q || echo "ci_setup: apt-get update reported errors; trying the install anyway"
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "ci_setup: installed ${missing[*]}"
