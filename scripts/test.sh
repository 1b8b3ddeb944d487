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
    touch .venv/.installed-test
fi
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
