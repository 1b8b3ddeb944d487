"""`python -m livecam.jit` (run by scripts/run.sh after it installs) leaves every loop compiled on
disk, so the first start does not wait for numba."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livecam import jit

ROOT = Path(__file__).resolve().parents[1]


def test_every_kernel_module_is_found_by_name_and_holds_its_loops():
    on_disk = sorted("livecam." + ".".join(p.relative_to(ROOT / "livecam").with_suffix("").parts)
                     for p in (ROOT / "livecam").rglob("*_kernels.py"))
    found = jit.kernel_modules()
    assert found == on_disk and len(found) >= 5
    for name in found:
        module = importlib.import_module(name)
        assert any(isinstance(v, jit.Kernels) for v in vars(module).values()), name


@pytest.mark.skipif(jit.njit is None, reason="numba is not installed")
def test_precompile_leaves_every_module_cached(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "livecam.jit"], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"compiled loops are ready ({len(jit.kernel_modules())} modules" in done.stdout
    assert "numpy instead" not in done.stderr and "cannot use its cache" not in done.stderr
    indexes = [p.name for p in tmp_path.rglob("*.nbi")]
    for name in jit.kernel_modules():
        stem = name.rsplit(".", 1)[-1]
        assert any(i.startswith(stem + ".") for i in indexes), (stem, indexes)
    # A second run finds them all on disk: it compiles nothing new.
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.nbc")}
    again = subprocess.run([sys.executable, "-m", "livecam.jit"], env=env, capture_output=True, text=True,
                           timeout=600, cwd=tmp_path)
    assert again.returncode == 0 and {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.nbc")} == before
