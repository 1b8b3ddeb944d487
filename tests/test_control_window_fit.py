"""The control window fits its text at 100 % and 150 % scale, on a real X server (Xvfb): the
modprobe line wraps in full and button labels keep their descenders. Screenshots go to out/."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def xvfb():
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (apt install xvfb)")
    pytest.importorskip("PySide6")
    from livecam.qt_platform import missing_libraries

    if missing_libraries():
        pytest.skip(f"Qt's X11 plugin lacks {', '.join(missing_libraries())}")
    for number in range(140, 190):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip("Xvfb did not start")
        time.sleep(0.05)
    yield f":{number}"
    proc.terminate()
    proc.wait(5)


@pytest.mark.parametrize("scale", ["1", "1.5"])
def test_control_window_fits_its_text(xvfb, scale, tmp_path):
    out = ROOT / "out" / "gui"
    out.mkdir(parents=True, exist_ok=True)
    shot = out / f"control_window_{scale.replace('.', '_')}x.png"
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb", "QT_SCALE_FACTOR": scale,
           "LIVECAM_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "control_window_probe.py"), str(shot)],
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == [], report
    assert shot.is_file() and shot.stat().st_size > 1000
