"""The compiled loops compile on a thread after import (livecam.jit): a first start with an empty
numba cache sends its first frames through the numpy paths while they compile, and the frames are
the same bytes as a run with the loops compiled at import, before and after they swap in."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

_RUN = """
import json, logging, sys, time
t0 = time.perf_counter()
logging.basicConfig(level=logging.WARNING)
import numpy as np
from livecam import settings as S
from livecam.jit import Kernels
from livecam.pipeline import Pipeline
from livecam.analysis import mask_kernels
from livecam.effects import composite_kernels
frames = np.load(sys.argv[1])
h, w = frames.shape[1:3]
settings = S.update(S.Settings(), segmentation={"model": "landscape"}, runtime={"provider": "cpu", "threads": 1},
                    background={"mode": "blur", "blur": 60}, capture={"width": int(w), "height": int(h)})
pipeline = Pipeline(settings)
first = pipeline.process(frames[0], 0.0)
said = {"first_s": time.perf_counter() - t0, "ready_at_first": [mask_kernels.READY, composite_kernels.READY]}
out = [first] + [pipeline.process(f, i / 30) for i, f in enumerate(frames[1:3], 1)]
said["waited"] = Kernels.wait_ready(240)
said["ready_after"] = [mask_kernels.READY, composite_kernels.READY]
out += [pipeline.process(f, i / 30) for i, f in enumerate(frames[3:], 3)]
np.save(sys.argv[2], np.stack(out))
said["problems"] = pipeline.problems()
print(json.dumps(said))
pipeline.close()
"""


# A compile that fails on the thread (LLVM out of memory, a numba bug): the loops stay out for good.
_COMPILE_FAILS = ("import numba.core.dispatcher as d\n"
                  "def fail(self, sig):\n"
                  "    raise MemoryError('LLVM ran out of memory')\n"
                  "d.Dispatcher.compile = fail\n")


def _run(frames, tmp_path, name: str, jit: str, prelude: str = "") -> tuple[np.ndarray, dict]:
    src, dst, script = tmp_path / "in.npy", tmp_path / f"{name}.npy", tmp_path / "run.py"
    np.save(src, frames)
    script.write_text(prelude + _RUN)
    cache = tmp_path / f"cache_{name}"
    cache.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), LIVECAM_JIT=jit,
               NUMBA_CACHE_DIR=str(cache))
    done = subprocess.run([sys.executable, str(script), str(src), str(dst)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    said["numpy_told"] = done.stderr.count("with numpy instead")
    return np.load(dst), said


@pytest.fixture(scope="module")
def frames(astronaut) -> np.ndarray:
    still = cv2.resize(astronaut, (320, 240))
    return np.stack([np.roll(still, 5 * i, axis=1) for i in range(6)])


@pytest.fixture(scope="module")
def usual(frames, tmp_path_factory) -> np.ndarray:
    out, said = _run(frames, tmp_path_factory.mktemp("usual"), "import", "import")
    assert said["ready_at_first"] == [True, True] and said["problems"] == [], said
    return out


def test_a_cold_start_sends_frames_while_the_loops_compile_and_the_same_bytes(frames, usual, tmp_path):
    cold, said = _run(frames, tmp_path, "background", "background")
    # The first frame went out through the numpy paths: the loops were still compiling.
    assert said["ready_at_first"] == [False, False], said
    assert said["waited"] and said["ready_after"] == [True, True], said
    assert said["problems"] == [] and said["numpy_told"] == 0, said
    assert np.array_equal(cold, usual)


@pytest.mark.parametrize("fault", ["unreadable_cache", "no_cache_folder", "no_numba", "compile_fails"])
def test_numba_faults_on_the_thread_keep_the_same_bytes(frames, usual, tmp_path, fault):
    """A cache numba cannot read or write: the thread compiles afresh and the loops swap in. No
    numba, or a compile that fails on the thread: READY stays False, the log says so once per
    module, and the numpy paths make the same frames."""
    from test_red_team_faults import _BROKEN_NUMBA

    prelude = _COMPILE_FAILS if fault == "compile_fails" else _BROKEN_NUMBA[fault]
    out, said = _run(frames, tmp_path, fault, "background", prelude)
    assert said["waited"] and said["problems"] == [], said
    compiles = fault in ("unreadable_cache", "no_cache_folder")
    assert said["ready_after"] == [compiles, compiles], said
    assert said["numpy_told"] == (0 if compiles else 2), said  # the mask's and the compositing loops
    assert np.array_equal(out, usual)
