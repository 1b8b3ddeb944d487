"""Shared fixtures: the repo's own public-domain photos, and the optional shared test data."""
from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

# Before anything imports onnxruntime (some tests import it directly, not through livecam): its
# telemetry would otherwise start in the test process.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import real_home  # noqa: E402,F401 - reads the real model folder before it is hidden below

# For the whole session, not only inside each test: a thread a test leaves running (a GUI check, a
# live loop winding down) must not fall back to the developer's real settings and models after the
# test's own folders are unset.
_SESSION_HOME = tempfile.mkdtemp(prefix="livecam-tests-")
os.environ["LIVECAM_CONFIG_DIR"] = os.path.join(_SESSION_HOME, "config")
os.environ["LIVECAM_DATA_HOME"] = os.path.join(_SESSION_HOME, "data")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data() -> Path:
    if os.environ.get("LIVECAM_DATA"):
        return Path(os.environ["LIVECAM_DATA"])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def read_frames(path: Path, count: int, size: tuple[int, int] | None = None) -> list:
    """The first ``count`` frames of a video file, each scaled to ``size`` where one is given."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        assert ok, f"{path} has fewer than {count} frames"
        frames.append(cv2.resize(frame, size) if size else frame)
    cap.release()
    return frames


def video_frames(name: str, count: int, size: tuple[int, int] | None = None) -> list:
    """``read_frames`` of the shared clip ``video/name``; the test is skipped where it is absent."""
    path = shared_data() / "video" / name
    if not path.is_file():
        pytest.skip(f"shared test data not found at {path}")
    return read_frames(path, count, size)


def picked_faces(clip: str, picks, size: tuple[int, int] = (1280, 720)) -> tuple[list, list]:
    """Frames ``picks`` of the shared clip ``video/clip`` at ``size`` and the faces one face tracker finds
    run over those frames alone (a face in every one, or the test fails)."""
    from livecam.analysis.face_tracker import FaceTracker
    from livecam.settings import FaceSettings, RuntimeSettings

    frames = video_frames(clip, max(picks) + 1, size)
    frames = [frames[i] for i in picks]
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    faces = [tracker.process(f) for f in frames]
    assert all(faces)
    return frames, faces


def tracked_frames(path: Path, count: int) -> list:
    """The first ``count`` frames of a video file, each with its faces from one face tracker run over
    the clip (as the live loop's face stage sees them)."""
    from livecam.analysis.face_tracker import FaceTracker
    from livecam.settings import FaceSettings, RuntimeSettings

    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    return [(frame, tracker.process(frame)) for frame in read_frames(path, count)]


def clip_frames(name: str, count: int) -> tuple[list, list]:
    """The first ``count`` frames of the shared clip ``name`` and their faces (``tracked_frames``),
    as two lists; the test is skipped where the shared data is absent."""
    root = shared_data()
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root}")
    pairs = tracked_frames(root / "video" / name, count)
    return [f for f, _ in pairs], [faces for _, faces in pairs]


def mask_stage_outputs(frames: list) -> list[tuple]:
    """The person-mask stage (landscape model, one CPU thread) over ``frames``: per frame, copies of
    its mask, its small mask, and its edge colour's pixel index and colour."""
    from livecam.analysis.person_mask import PersonMask
    from livecam.settings import Settings, update
    from livecam.types import Analysis

    stage = PersonMask(update(Settings(), segmentation={"model": "landscape"}, runtime={"threads": 1, "provider": "cpu"}))
    outputs = []
    for frame in frames:
        result = Analysis()
        stage.process(frame, result, True)
        outputs.append((result.mask.copy(), result.small_mask.copy(), result.foreground.index.copy(),
                        result.foreground.colour.copy()))
    return outputs


def portrait_avatar(picture: np.ndarray):
    """A photo avatar whose portrait is ``picture`` (a wearer's own frame), loaded as a user's
    photo file is, without storing anything."""
    from livecam.analysis.avatar_photo import load_avatar_photo
    from livecam.effects.avatar import PhotoAvatar

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "portrait.png"
        cv2.imwrite(str(path), picture)
        return PhotoAvatar(load_avatar_photo(path, store=False))


@pytest.fixture
def data_dir() -> Path:
    root = shared_data()
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root}")
    return root


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """Never read or write the developer's real settings, nor use the models they fetched (with rvm
    fetched, `auto` would measure it on every test; tests that want the real one point back to it)."""
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def restored_resume_time():
    """``not_running.resumed_at`` is kept for the process: a test that moved time.monotonic forward
    (StoppedClock) left it that far ahead of the real clock, and every later test's stall checks (the
    camera's "not responding", the sender's "catching up") stayed quiet for as long."""
    from livecam import not_running

    kept = not_running._resumed_at
    yield
    not_running._resumed_at = kept


@pytest.fixture(autouse=True)
def restored_log_levels():
    """``cli.setup_logging`` sets the root logger to DEBUG for the process: a test that runs the CLI in
    process left it so, and a later test's caplog caught debug and info lines it never asked for (the
    round 32 and 33 tests failed after test_red_team.py, alone they passed)."""
    loggers = [logging.getLogger(), logging.getLogger("livecam")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def qt_garbage_freed_here(request):
    """Qt objects a Qt test leaves in reference cycles are freed on this (the GUI) thread when it ends. Else
    the next collection frees them on whichever thread allocates (a later test's pipeline or control
    thread), their timers stay registered, and Qt's next timer event crashes the whole run (a segfault in
    round 36's Quit test after round 32's bare bridge; the tray app itself collects only on its GUI thread:
    livecam/gui/gc_thread.py)."""
    yield
    if {"qtbot", "qapp"} & set(request.fixturenames):
        import gc

        gc.collect()


def written_long_ago(path: Path) -> Path:
    """``path`` dated well before now, as a finished file a user wrote earlier: LiveCam waits up to
    2 x settings.SETTLE_S for a broken settings file changed in the last SETTLE_S, taking it for half
    written (round 32/33's own tests); a test of a finished file need not wait those seconds."""
    from livecam.settings import SETTLE_S

    then = time.time() - 10 * SETTLE_S
    os.utime(path, (then, then))
    return path


def blur_on_camera(**more):
    """Settings for the tray's live tests: the astronaut picture as a 512 px camera, the blur on the
    landscape mask model, no pipelining; ``more`` adds sections (an output, ...)."""
    from livecam import settings as S

    return S.update(S.Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": 512,
                                           "height": 512, "fps": 30},
                    background={"mode": "blur", "blur": 80}, segmentation={"model": "landscape"},
                    runtime={"pipelining": "off"}, **more)


@pytest.fixture
def hung_mask(monkeypatch):
    """The person mask's ORT run blocks while ``on`` is set, until ``release`` (or the test's end); the
    run guard would give it up only after a minute, so within a test the run is simply stuck."""
    import threading

    import onnxruntime as ort

    from livecam.analysis import run_guard

    monkeypatch.setattr(run_guard, "HANG_S", 60.0)
    real = ort.InferenceSession.run

    class Hang:
        on = False
        hit = threading.Event()
        release = threading.Event()

    def run(self, *args, **kwargs):
        if Hang.on and "selfie_segmentation" in self._model_path:
            Hang.hit.set()
            Hang.release.wait()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run", run)
    yield Hang
    Hang.release.set()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA portrait (public domain), BGR, 512x512: a person in front of a flag and a shuttle model."""
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def hopper() -> np.ndarray:
    image = cv2.imread(str(FIXTURES / "mpl_grace_hopper.jpg"))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def hopper_photo():
    """The Hopper portrait as an avatar photo (its fit made once per test module), nothing stored."""
    from livecam.analysis.avatar_photo import load_avatar_photo

    return load_avatar_photo(FIXTURES / "mpl_grace_hopper.jpg", store=False)


def counting_mesh_runs(tracker) -> list[int]:
    """Counts the face mesh model's runs of a FaceTracker (one per face read) in the returned one-item list."""
    runs = [0]
    run = tracker.landmarker.run

    def counted(*args, **kwargs):
        runs[0] += 1
        return run(*args, **kwargs)

    tracker.landmarker.run = counted
    return runs
