#!/usr/bin/env bash
# Set up LiveCam on first use (a virtual environment in .venv) and run it. Extra arguments go to
# `livecam`, e.g. `bash scripts/run.sh run --source 0 --blur 60`.
# With an NVIDIA driver present it installs the GPU flavour (livecam[gpu]: CUDA and cuDNN from pip);
# LIVECAM_GPU=0 keeps the CPU flavour, LIVECAM_GPU=1 forces the GPU one.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="gui"
pins=()
gpu="${LIVECAM_GPU:-auto}"
if [ "$gpu" = auto ]; then
    gpu=0
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi
fi
if [ "$gpu" = 1 ]; then
    extras="gui,gpu"
    # onnxruntime-gpu 1.27+ is built for CUDA 13, which needs driver 580+; older drivers get the CUDA 12 build.
    cuda_major=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -n1)
    if [ -n "$cuda_major" ] && [ "$cuda_major" -lt 13 ]; then pins=("onnxruntime-gpu<1.27"); fi
fi
flavour="$extras ${pins[*]:-}"

if [ ! -x .venv/bin/livecam ] || [ pyproject.toml -nt .venv/.installed ] \
    || [ "$(cat .venv/.installed 2>/dev/null)" != "$flavour" ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[$extras]" ${pins[@]+"${pins[@]}"}
    # onnxruntime and onnxruntime-gpu write the same folder; a venv made by an older LiveCam (or a
    # package that wants onnxruntime) can leave both, and then either can break the other. Keep one.
    runtimes=$(.venv/bin/python -m pip list --format=freeze 2>/dev/null | grep -ciE '^onnxruntime(-gpu)?==' || true)
    if [ "$runtimes" -gt 1 ]; then
        echo "Two ONNX Runtime packages were installed; reinstalling just the one this machine needs." >&2
        .venv/bin/python -m pip uninstall --quiet -y onnxruntime onnxruntime-gpu
        .venv/bin/python -m pip install --quiet -e ".[$extras]" ${pins[@]+"${pins[@]}"}
    fi
    echo "$flavour" > .venv/.installed
    rm -f .venv/.compiled
fi
# A question about LiveCam itself (--help, --version, at any level) starts no camera: it is answered
# at once, not after the compile below (about 20 s, which made the README's first command look stuck).
for arg in "$@"; do
    case "$arg" in -h|--help|--version) exec .venv/bin/livecam "$@" ;; esac
done
# numba compiles LiveCam's image loops on first use and keeps them on disk; doing it here, once per
# install or kernel change, spares the first start a 10-20 s wait on a black camera.
if [ ! -e .venv/.compiled ] || [ -n "$(find livecam -name '*_kernels.py' -newer .venv/.compiled -print -quit)" ]; then
    echo "Preparing LiveCam's compiled image loops (once, about 20 s)..."
    .venv/bin/python -m livecam.jit && touch .venv/.compiled
fi
exec .venv/bin/livecam "$@"
