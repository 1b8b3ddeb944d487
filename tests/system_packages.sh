#!/usr/bin/env bash
# Debian packages the test suite uses: the libraries headless Qt loads, strace, ffmpeg, and (via
# tests/guest/ci_setup.sh) QEMU and Chromium for the virtual-camera guest test. Quick when everything is installed.
set -uo pipefail
cd "$(dirname "$0")/.."
# The second line: what Qt's X11 plugin links against (the tray app and the control-window test under
# Xvfb); `livecam doctor` names any that are missing.
packages=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core
          xvfb xauth libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
          libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxcb-xfixes0 libxcb-sync1 libxcb-shm0
          strace   # tests/test_no_network.py traces a live session's network calls
          ffmpeg)  # `livecam render` and recording encode through it (tests/test_cli.py, test_recording*.py)
if [ "${1:-}" = --list ]; then printf '%s\n' "${packages[@]}"; exit 0; fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" || echo "system_packages: could not install ${missing[*]}; Qt tests may skip"
fi
# The guest test skips with its reason when these cannot be installed, so a failure here is not fatal.
# LIVECAM_GUEST_PACKAGES=0 (scripts/test.sh -m "not guest") leaves them out.
[ "${LIVECAM_GUEST_PACKAGES:-1}" = 0 ] && exit 0
bash tests/guest/ci_setup.sh || echo "system_packages: guest-test packages unavailable; the guest test will skip"
