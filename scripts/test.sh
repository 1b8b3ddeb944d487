#!/usr/bin/env bash
# Set up everything the tests need (a virtual environment in .venv, and on a root Debian machine the
# apt packages for headless Qt and the virtual-camera guest test) and run the test suite. Arguments
# go to pytest: `bash scripts/test.sh -m "not guest"` is the quick suite (no QEMU guest boots, and
# no QEMU/Chromium/compiler packages installed for them). LIVECAM_NO_APT=1 installs no apt packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# The guest tests are the only users of QEMU, Chromium and the compiler: a run that deselects them
# does not install those (ffmpeg is in the quick suite's list: render and recording encode through it).
with_guest=1
case " $* " in *"not guest"*) with_guest=0 ;; esac

announce_apt() {
    # Name the packages and their size before installing anything, so nobody is surprised by a
    # browser and an emulator arriving on their machine.
    local wanted=() missing=() p
    mapfile -t wanted < <(bash tests/system_packages.sh --list
                          if [ "$with_guest" = 1 ]; then bash tests/guest/ci_setup.sh --list; fi)
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null 2>&1 || true
    local sizes
    sizes=$(LC_ALL=C apt-get install --assume-no --no-install-recommends "${missing[@]}" 2>/dev/null \
            | sed -n -e 's/^Need to get \(.*\) of archives\./\1 to download/p' \
                     -e 's/^After this operation, \(.*\) of additional disk space will be used\./\1 on disk/p' \
            | paste -sd, - | sed 's/,/, /') || true
    echo "test.sh: running as root, so installing ${#missing[@]} Debian packages the tests use${sizes:+ ($sizes)}:"
    echo "  ${missing[*]}"
    if [ "$with_guest" = 1 ]; then
        echo "  (QEMU, Chromium and a compiler are for the virtual-camera guest tests; the quick suite,"
        echo "  bash scripts/test.sh -m \"not guest\", needs none of them; LIVECAM_NO_APT=1 installs nothing)"
    fi
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${LIVECAM_NO_APT:-0}" != 1 ]; then
    announce_apt
    LIVECAM_GUEST_PACKAGES=$with_guest bash tests/system_packages.sh
fi
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed-test ]; then
    echo "test.sh: setting up .venv (pip packages from pyproject's test extra)"
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test]"
    # An older checkout installed the CPU package; two ONNX Runtime packages write the same folder.
    if [ "$(.venv/bin/python -m pip list --format=freeze | grep -ciE '^onnxruntime(-gpu)?==')" -gt 1 ]; then
        .venv/bin/python -m pip uninstall --quiet -y onnxruntime onnxruntime-gpu
        .venv/bin/python -m pip install --quiet -e ".[test]"
    fi
    touch .venv/.installed-test
fi
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
