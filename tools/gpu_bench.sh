#!/usr/bin/env bash
# LiveCam on an NVIDIA GPU, measured: installs the GPU flavour (livecam[gpu]: onnxruntime-gpu with
# NVIDIA's CUDA and cuDNN pip packages, plus TensorRT 10 from NVIDIA's index) into a scratch virtual
# environment, runs `livecam bench --json` with --provider cuda and tensorrt for blur, image, all
# effects and the avatar at 1280x720, 1920x1080 and 3840x2160, and prints one table.
#
#   bash tools/gpu_bench.sh            # 200 frames per row
#   FRAMES=60 bash tools/gpu_bench.sh  # quicker
#
# Environment: VENV (default /tmp/livecam-gpu-bench; kept, so a rerun skips the install), FRAMES,
# SIZES, EFFECTS, PROVIDERS ("cuda tensorrt"), THREADS (CPU threads per model, default 1),
# WHEELS (a folder of wheels for a machine without internet: pip then installs only from it),
# GPU_BENCH_ALLOW_CPU=1 (run without an NVIDIA driver, to try the script: rows then say CPU).
# Results stay in $VENV/results (one JSON and one log per provider).
# Network: pip install only (or nothing, with WHEELS); ONNX Runtime's telemetry is off in every child.
set -euo pipefail
export ORT_DISABLE_TELEMETRY=1
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-${TMPDIR:-/tmp}/livecam-gpu-bench}
frames=${FRAMES:-200}
sizes=${SIZES:-1280x720,1920x1080,3840x2160}
effects=${EFFECTS:-blur,image,all,avatar}
providers=${PROVIDERS:-cuda tensorrt}
threads=${THREADS:-1}

cuda_major=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    cuda_major=$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -n1)
elif [ "${GPU_BENCH_ALLOW_CPU:-0}" != 1 ]; then
    echo "gpu_bench: nvidia-smi finds no NVIDIA GPU, so there is nothing to measure (GPU_BENCH_ALLOW_CPU=1 runs anyway)." >&2
    exit 2
fi

pip_from=()
if [ -n "${WHEELS:-}" ]; then pip_from=(--no-index --find-links "$WHEELS"); fi
pins=()
# onnxruntime-gpu 1.27+ is built for CUDA 13 (driver 580+); older drivers need the CUDA 12 build.
if [ -n "$cuda_major" ] && [ "$cuda_major" -lt 13 ]; then pins=("onnxruntime-gpu<1.27"); fi

if [ ! -x "$venv/bin/livecam" ]; then
    echo "gpu_bench: installing livecam[gpu] into $venv …" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet ${pip_from[@]+"${pip_from[@]}"} -e "$repo[gpu]" ${pins[@]+"${pins[@]}"}
    # Optional: without TensorRT's libraries the tensorrt rows fall back to CUDA, and the table says so.
    trt_index=(--extra-index-url https://pypi.nvidia.com)
    if [ -n "${WHEELS:-}" ]; then trt_index=(); fi
    "$venv/bin/python" -m pip install --quiet ${pip_from[@]+"${pip_from[@]}"} ${trt_index[@]+"${trt_index[@]}"} \
        "tensorrt-cu${cuda_major:-13}-libs<11" > "$venv/tensorrt-install.log" 2>&1 \
        || echo "gpu_bench: TensorRT 10 could not be installed (see $venv/tensorrt-install.log); the tensorrt rows will show what they ran on." >&2
fi

out="$venv/results"
mkdir -p "$out"
"$venv/bin/livecam" doctor > "$out/doctor.txt" 2>&1 || true  # non-zero without a camera; kept for the record
for provider in $providers; do
    echo "gpu_bench: --provider $provider, $effects at $sizes, $frames frames each …" >&2
    if ! "$venv/bin/livecam" bench --json --no-baseline --provider "$provider" --threads "$threads" \
        --frames "$frames" --sizes "$sizes" --effects "$effects" > "$out/$provider.json" 2> "$out/$provider.log"; then
        echo "gpu_bench: the $provider run failed; see $out/$provider.log" >&2
        rm -f "$out/$provider.json"
    fi
done

"$venv/bin/python" - "$out" $providers <<'EOF'
"""One table: a row per effect and size, a column group per provider (median ms, p95, fps, what ran)."""
import json
import subprocess
import sys
from pathlib import Path

out, providers = Path(sys.argv[1]), sys.argv[2:]
reports = {p: json.loads((out / f"{p}.json").read_text()) for p in providers if (out / f"{p}.json").is_file()}
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=10).stdout.strip() or "no GPU"
except OSError:
    gpu = "no GPU"
import onnxruntime

print(f"GPU: {gpu}; onnxruntime {onnxruntime.__version__} ({onnxruntime.get_device()})")
rows = {}
for provider, report in reports.items():
    for r in report["results"]:
        rows.setdefault((r["effect"], r["resolution"]), {})[provider] = r
    for s in report["skipped"]:
        print(f"{provider} skipped: {s}")
head = f"{'effect':>8} {'size':>10}" + "".join(
    f" | {p + ' median':>16} {'p95':>7} {'fps':>6} {'ran on':>12}" for p in reports)
print(head)
print("-" * len(head))
order = {e: i for i, e in enumerate(["blur", "image", "all", "avatar"])}
for (effect, size), by in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), int(kv[0][1].split("x")[0]))):
    line = f"{effect:>8} {size:>10}"
    for p in reports:
        r = by.get(p)
        if r is None:
            line += f" | {'-':>16} {'-':>7} {'-':>6} {'-':>12}"
            continue
        ran = ",".join(x.replace("ExecutionProvider", "") for x in r["provider"].split(","))
        line += f" | {r['median_ms']:16.2f} {r['p95_ms']:7.2f} {r['fps']:6.1f} {ran:>12}"
    print(line)
frames = {r["frames"] for rep in reports.values() for r in rep["results"]}
print(f"(ms per frame, wall time of the whole frame path; {', '.join(map(str, sorted(frames)))} frames per row; "
      f"JSON in {out})")
EOF
