#!/usr/bin/env bash
# Set up everything the tests need (a virtual environment in .venv, and on a root Debian machine the
# apt packages for headless Qt and the virtual-camera guest test) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    bash tests/system_packages.sh
fi
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed-test ]; then
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
