"""Red team round 21: the analysis stage's faces and held results around a failed model, a new source,
and a stale model file (``livecam/analysis/__init__.py``, ``livecam/analysis/runtime.py``).

Each test failed on the start tree (8c32dbe) unless it says it is a guard. tmp folders only; no
timed tests."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import video_frames
from hypothesis import given, settings
from hypothesis import strategies as st

from livecam import settings as S
from livecam.analysis import Analyzer, runtime
from livecam.analysis.face_measures import face_width

REPO = Path(__file__).resolve().parents[1]
SIZE = (640, 360)


def _raises(*_args, **_kwargs):
    raise RuntimeError("device lost")


# -------------------------------------------------------------- a new source (reset_temporal)

def test_after_a_source_switch_the_old_mask_never_stands_in_for_a_failed_one(astronaut, hopper):
    """Before: the held mask of the old source stood in for a failed inference on the new one's
    first three frames. Blur: 98.5 % of the old person's outline over the new room (51339 px of
    lp_s18 after lp_d18 at 640x360) left sharp, the raw room, and the gate let it out."""
    old, new = cv2.resize(astronaut, SIZE), cv2.resize(hopper, SIZE)
    analyzer = Analyzer(S.Settings())
    for _ in range(3):
        assert analyzer.analyze(old, {"mask"}).mask is not None
    analyzer.reset()
    analyzer.person.process = _raises
    for _ in range(3):
        result = analyzer.analyze(new, {"mask"})
        # No mask: the pipeline hides the frame (the start-up path, test_pipeline's corrupt model).
        assert result.mask is None


def test_after_a_source_switch_the_old_faces_never_stand_in_for_a_failed_read(astronaut, hopper):
    """Before: the old source's faces were this source's for three frames (drawn where the old
    face was), and where there were none the empty list read as "no face in view": not missing, so
    a face swap let the wearer's face out."""
    old, new = cv2.resize(astronaut, SIZE), cv2.resize(hopper, SIZE)
    for needs in ({"faces"}, {"faces_carried"}):
        analyzer = Analyzer(S.Settings())
        assert analyzer.analyze(old, needs).faces
        analyzer.reset()
        analyzer.tracker.process = _raises
        for _ in range(4):
            result = analyzer.analyze(new, needs)
            assert result.faces == [] and "faces" in analyzer.missing and needs <= analyzer.missing | {"faces"}


def test_a_still_frame_after_missing_faces_is_not_taken_for_no_face(astronaut):
    """Before: once the faces were missing (the reads failed past the grace), a still frame reused
    that frame's empty list through the motion gate: "no face in view", not missing, so a face swap
    beside a background effect let the wearer's face out."""
    analyzer = Analyzer(S.Settings())
    needs = {"mask", "faces"}
    moving = [np.roll(astronaut, 6 * i, axis=1) for i in range(8)]  # the motion gate reads each one
    for frame in moving[:3]:
        assert analyzer.analyze(frame, needs).faces
    analyzer.tracker.process = _raises
    held = [bool(analyzer.analyze(frame, needs).faces) for frame in moving[3:]]
    assert held == [True, True, True, False, False] and "faces" in analyzer.missing  # the grace, then missing
    stills = 0
    for _ in range(12):  # until the held mask has settled and the motion gate reuses it
        result = analyzer.analyze(moving[-1], needs)
        stills += analyzer.person.still  # the picture has not changed: the motion gate's path
        assert result.faces == [] and "faces" in analyzer.missing
    assert stills


def test_after_a_source_switch_the_first_faces_are_the_new_sources_own():
    """Before: the old source's face crop and jitter filter carried over a source switch (a new
    camera, a clip), and the first faces of lp_d20 after lp_d12 were 0.37 of the face's width off
    what the new source alone gives (0.12 on the second frame)."""
    old, new = video_frames("lp_d12_talking_indoor.mp4", 8, SIZE), video_frames("lp_d20_talking_dim.mp4", 2, SIZE)
    switched, fresh = Analyzer(S.Settings()), Analyzer(S.Settings())
    for frame in old:
        switched.analyze(frame, {"faces_carried"})
    switched.reset()
    for frame in new:
        a, b = switched.analyze(frame, {"faces_carried"}).faces, fresh.analyze(frame, {"faces_carried"}).faces
        assert len(a) == len(b) == 1
        assert np.abs(a[0].landmarks[:, :2] - b[0].landmarks[:, :2]).max() < 0.01 * face_width(b[0].landmarks)


# -------------------------------------------------------------- a face model that cannot open

def test_a_face_model_that_cannot_open_is_missing_on_that_very_frame(astronaut, monkeypatch):
    """Before: on the frame the face model failed to open, the faces came back as an empty list and
    nothing was missing (the gate let the frame out); only from the next frame on were they missing."""
    from livecam.analysis import face_tracker

    def cannot_open(*_args, **_kwargs):
        raise runtime.ModelError("Model file face_landmark.onnx is corrupt; reinstall LiveCam.")

    monkeypatch.setattr(face_tracker.FaceTracker, "__init__", cannot_open)
    for needs in ({"faces"}, {"faces_carried"}, {"faces_carried", "iris"}):
        analyzer = Analyzer(S.Settings())
        assert analyzer.analyze(astronaut, needs).faces == []
        assert analyzer.missing == {"faces"} | (needs & {"faces_carried"})
        analyzer.analyze(astronaut, needs)
        assert analyzer.missing == {"faces"} | (needs & {"faces_carried"})  # and on the next (as before)


# -------------------------------------------------------------- a stale model file

def _file_at(commit: str, path: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{path}"], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        done = None
    if done is None or done.returncode:
        pytest.skip("no git history here to take an older release's model file from")
    return done.stdout


@pytest.mark.parametrize("name,commit", [("selfie_segmentation_landscape", "7bc61b0"), ("face_landmark", "cfb817c")])
def test_a_model_file_from_an_older_version_is_named_so_not_corrupt(tmp_path, name, commit):
    """Before: "Model file … is corrupt (its checksum does not match the manifest)" for an older
    release's own file (a partial upgrade, a models folder copied across)."""
    spec = runtime.model_spec(name)
    shutil.copytree(runtime.models_dir(), tmp_path / "models")
    (tmp_path / "models" / spec["file"]).write_bytes(_file_at(commit, f"models/{spec['file']}"))
    runtime.verified_path.cache_clear()
    try:
        with pytest.raises(runtime.ModelError) as caught:
            runtime.verified_path(name, tmp_path / "models")
    finally:
        runtime.verified_path.cache_clear()
    said = str(caught.value)
    assert "older version of LiveCam" in said and "reinstall LiveCam" in said and "corrupt" not in said


def test_a_damaged_model_file_is_still_called_corrupt(tmp_path):
    """Guard: only an older release's own checksum is named so."""
    shutil.copytree(runtime.models_dir(), tmp_path / "models")
    (tmp_path / "models" / "selfie_segmentation_landscape.onnx").write_bytes(b"garbage")
    runtime.verified_path.cache_clear()
    try:
        with pytest.raises(runtime.ModelError, match="is corrupt"):
            runtime.verified_path("selfie_segmentation_landscape", tmp_path / "models")
    finally:
        runtime.verified_path.cache_clear()


def test_no_model_this_version_ships_is_listed_as_an_older_one():
    """Guard: a checksum of this version's manifest in the history would call a whole file stale."""
    from livecam.analysis import model_history

    models = runtime.manifest()["models"]
    assert set(model_history.EARLIER) <= set(models)
    for name, spec in models.items():
        assert spec["sha256"] not in model_history.EARLIER.get(name, ())


def test_every_model_file_an_earlier_version_shipped_is_listed():
    """Guard: the manifest's git history against the list (a model replaced without its old checksum
    added would be called corrupt again)."""
    import json

    from livecam.analysis import model_history

    log = subprocess.run(["git", "-C", str(REPO), "log", "--format=%H", "--", "models/manifest.json"],
                         capture_output=True, text=True, timeout=60)
    if log.returncode or not log.stdout.split():
        pytest.skip("no git history of models/manifest.json here")
    current = runtime.manifest()["models"]
    for commit in log.stdout.split():
        for name, spec in json.loads(_file_at(commit, "models/manifest.json"))["models"].items():
            if name in current and spec["sha256"] != current[name]["sha256"]:
                assert spec["sha256"] in model_history.EARLIER.get(name, ()), (commit, name)


# -------------------------------------------------------------- guards: this stop's kernels and badge

@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(2, 40), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_the_compiled_halving_gives_opencvs_bytes_at_any_size_and_layout(h, w, strided, seed):
    """Guard (passed before): odd, tiny and strided pictures give OpenCV's INTER_AREA bytes."""
    from livecam.analysis.temporal import halve

    picture = np.random.default_rng(seed).integers(0, 256, (h, 2 * w if strided else w, 3), np.uint8)
    if strided:
        picture = picture[:, ::2]
    assert np.array_equal(halve(picture), cv2.resize(picture, (w // 2, h // 2), interpolation=cv2.INTER_AREA))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from([(720, 1280), (360, 640), (48, 64), (8, 8)]),
                          st.sampled_from([None, True, False])), min_size=1, max_size=60))
def test_every_altered_frame_carries_the_badge_through_toggles_and_size_changes(steps):
    """Guard (passed before): the hold (e172ff8) never leaves an altered frame without its label,
    whatever the badge switches and frame sizes in between."""
    from livecam.effects import BadgeSettings
    from livecam.effects.badge import Badge
    from livecam.types import Analysis

    badge = Badge()
    for altered, (h, w), switch in steps:
        if switch is not None:
            badge.update(BadgeSettings(enabled=switch))
        frame = np.full((h, w, 3), 128, np.uint8)
        out, _ = badge.apply(frame.copy(), Analysis(altered=altered))
        if altered and badge.visible:
            x0, y0, x1, y1 = badge.position((w, h))
            assert (out[y0:y1, x0:x1] != 128).any()
