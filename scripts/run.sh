#!/usr/bin/env bash
# Set up LiveCam on first use (a virtual environment in .venv) and run it. Extra arguments go to
# `livecam`, e.g. `bash scripts/run.sh run --source 0 --blur 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/livecam ] || [ pyproject.toml -nt .venv/.installed ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[gui]"
    touch .venv/.installed
fi
exec .venv/bin/livecam "$@"
