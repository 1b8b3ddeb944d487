"""The pipeline on real frames of a person (the public-domain astronaut portrait, real model)."""
import shutil

import cv2
import numpy as np
import pytest

from livecam import settings as S
from livecam.analysis import runtime
from livecam.pipeline import Pipeline


def _person_and_background(pipeline: Pipeline):
    mask = pipeline.last_analysis.mask
    assert mask is not None
    return mask == 255, mask == 0


def test_image_background_replaces_background_pixels_and_keeps_the_person(astronaut, tmp_path):
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[:] = (30, 200, 60)
    path = tmp_path / "green.png"
    cv2.imwrite(str(path), picture)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "image", "image": str(path)}))
    out = pipeline.process(astronaut)
    person, background = _person_and_background(pipeline)
    # The model finds a person-sized region around the face and suit, and a real background.
    assert 0.2 < person.mean() < 0.8 and background.mean() > 0.1
    assert (pipeline.last_analysis.mask[80:150, 180:270] > 200).mean() > 0.95, "the face must be person"
    assert np.array_equal(out[person], astronaut[person])
    assert np.abs(out[background].astype(int) - (30, 200, 60)).max() <= 1


def test_blur_zero_changes_nothing(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 0}))
    assert np.array_equal(pipeline.process(astronaut), astronaut)


def test_blur_blurs_background_and_keeps_person(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 80}))
    out = pipeline.process(astronaut)
    person, background = _person_and_background(pipeline)
    assert np.array_equal(out[person], astronaut[person])
    lap = lambda im: np.abs(cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.CV_32F))  # noqa: E731
    assert lap(out)[background].mean() < 0.3 * lap(astronaut)[background].mean()


def test_off_passes_frames_through(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"}))
    assert np.array_equal(pipeline.process(astronaut), astronaut)
    assert pipeline.needs() == set()


def test_settings_change_reaches_the_next_frame(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"}))
    first = pipeline.process(astronaut)
    pipeline.apply(S.update(pipeline.settings, background={"mode": "color", "color": "#0000ff"}))
    second = pipeline.process(astronaut)
    _, background = _person_and_background(pipeline)
    assert np.array_equal(first, astronaut)
    assert (second[background] == (255, 0, 0)).all()


def test_unreadable_background_keeps_last_good_setting(astronaut, tmp_path):
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "color", "color": "#ff0000"}))
    pipeline.process(astronaut)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    pipeline.apply(S.update(pipeline.settings, background={"mode": "image", "image": str(bad)}))
    out = pipeline.process(astronaut)
    _, background = _person_and_background(pipeline)
    assert (out[background] == (0, 0, 255)).all(), "the red background must stay"
    assert any(str(bad) in p for p in pipeline.problems())


def test_corrupt_model_keeps_frames_flowing_with_a_clear_problem(astronaut, tmp_path, monkeypatch):
    shutil.copytree(runtime.models_dir(), tmp_path / "models")
    (tmp_path / "models" / "selfie_segmentation_landscape.onnx").write_bytes(b"garbage")
    monkeypatch.setattr(runtime, "models_dir", lambda: tmp_path / "models")
    runtime.verified_path.cache_clear()
    try:
        pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 50}))
        out = pipeline.process(astronaut)
        out2 = pipeline.process(astronaut)
    finally:
        runtime.verified_path.cache_clear()
    # Fail closed: without a person mask the blur cannot hide the room, so the whole frame is hidden.
    detail = lambda im: np.abs(np.float32(im) - cv2.GaussianBlur(np.float32(im), (0, 0), 4)).mean()  # noqa: E731
    for frame in (out, out2):
        assert frame.shape == astronaut.shape and detail(frame) < 0.05 * detail(astronaut)
    problems = pipeline.problems()
    assert len(problems) == 1 and "corrupt" in problems[0]


def test_video_background_loops_behind_the_person(astronaut, tmp_path):
    path = tmp_path / "bg.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), (0, 0, 250), np.uint8))
    writer.release()
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "video", "video": str(path)}))
    try:
        out = pipeline.process(astronaut)
        _, background = _person_and_background(pipeline)
        assert np.abs(out[background].astype(int) - (0, 0, 250)).mean() < 8
    finally:
        pipeline.close()


@pytest.mark.parametrize("model", ["landscape", "general"])
def test_both_segmentation_models_find_the_person(astronaut, model):
    pipeline = Pipeline(S.update(S.Settings(), segmentation={"model": model}, background={"mode": "blur"}))
    pipeline.process(astronaut)
    mask = pipeline.last_analysis.mask
    assert (mask[80:150, 180:270] > 200).mean() > 0.95, "the face is person"
    assert (mask[:50, 460:] < 50).mean() > 0.95, "the top-right corner is the wall"


def test_recapture_reaches_the_photo_avatar_and_its_mask_replaces_the_wearers(astronaut):
    from conftest import FIXTURES

    from livecam.effects.avatar import PhotoAvatar

    settings = S.update(S.Settings(), background={"mode": "color", "color": "#00ff00"},
                        avatar={"mode": "animate", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")})
    pipeline = Pipeline(settings)
    try:
        assert not pipeline.problems()
        avatar = next(e for e in pipeline.effects if isinstance(e, PhotoAvatar))
        assert "mask" not in pipeline.needs(), "the wearer's segmentation is superseded by the avatar's mask"
        calls = []
        avatar.recapture = lambda: calls.append(True)
        pipeline.recapture_neutral()
        assert calls == [True]
        out = pipeline.process(astronaut)
        assert pipeline.last_analysis.mask is None, "the analyzer did not segment the wearer"
        green = (np.abs(out.astype(int) - (0, 255, 0)).max(axis=2) < 8).mean()
        assert green > 0.2, "the avatar's own mask put the chosen background behind it"
    finally:
        pipeline.close()
