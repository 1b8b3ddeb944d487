"""Key light: a real face is lit (brighter, same colour, nothing clipped), the real room dims a
little, a replaced background never does, and the effect fails closed and updates in place."""
import dataclasses

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam import cli
from livecam import settings as S
from livecam.analysis import Analyzer
from livecam.analysis import face_regions as regions
from livecam.effects import SPECS, BackgroundSettings, KeyLightSettings, build_effect, sections_for
from livecam.effects.key_light import TOP, KeyLight, Scratch, lit
from livecam.types import Analysis


@pytest.fixture(scope="module")
def portrait():
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    analysis = Analyzer(S.Settings()).analyze(image, {"faces"})
    assert analysis.faces
    return image, analysis


def _oval(image, landmarks):
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.rint(landmarks[list(regions.FACE_OVAL), :2]).astype(np.int32)], 255)
    return cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0


def _lit(image, analysis, strength=70, background="off", frames=5):
    effect = KeyLight(KeyLightSettings(strength=strength), BackgroundSettings(mode=background))
    for _ in range(frames):  # the light fades in over a few frames
        out, outputs = effect.apply(image, analysis)
    assert not outputs and out is not image and out.shape == image.shape and out.dtype == np.uint8
    return out


def test_the_face_is_brighter_with_the_same_colour_and_nothing_clipped(portrait):
    image, analysis = portrait
    out = _lit(image, analysis)
    face = _oval(image, analysis.faces[0].landmarks)
    y0 = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[face].astype(float)
    y1 = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[face].astype(float)
    assert np.median(y1) >= 1.08 * np.median(y0)
    lab0 = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[face]
    lab1 = cv2.cvtColor(out.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[face]
    shift = np.median(lab1[:, 1:], axis=0) - np.median(lab0[:, 1:], axis=0)
    assert np.hypot(*shift) <= 2.0  # lightness aside, the skin keeps its colour
    assert (out[face].max(1) >= 254).mean() <= max(0.005, (image[face].max(1) >= 254).mean())


def test_the_real_room_dims_a_little_and_a_replaced_one_not_at_all(portrait):
    image, analysis = portrait
    box = analysis.faces[0].box
    h, w = image.shape[:2]
    far = np.zeros((h, w), bool)
    far[:, : max(1, int(box[0]) - 60)] = True  # the room well left of the face
    real = _lit(image, analysis, background="off").astype(int)
    assert (real[far] <= image[far]).all()  # never brighter
    assert real[far].mean() < image[far].mean() - 1  # a little darker
    for mode in ("image", "color"):
        replaced = _lit(image, analysis, background=mode)
        outside = np.ones((h, w), bool)
        x0, y0, x1, y1 = box.astype(int)
        fw = x1 - x0
        outside[max(0, y0 - fw): y1 + fw, max(0, x0 - fw): x1 + fw] = False
        assert (replaced[outside] == image[outside]).all()


def test_no_halo_at_the_outline(portrait):
    """The light fades out inside the face outline: the ring just outside the face oval gains next to
    nothing, while the cheeks gain clearly."""
    image, analysis = portrait
    landmarks = analysis.faces[0].landmarks
    out = _lit(image, analysis, background="image")  # no room dimming: only the face light counts
    oval = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.rint(landmarks[list(regions.FACE_OVAL), :2]).astype(np.int32)], 255)
    ring = (cv2.dilate(oval, np.ones((15, 15), np.uint8)) > 0) & (oval == 0)
    inner = cv2.erode(oval, np.ones((41, 41), np.uint8)) > 0
    gain = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(float) - cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert gain[inner].mean() > 8
    assert gain[ring].mean() < 0.15 * gain[inner].mean()


def test_the_shoulder_never_clips_and_keeps_hue():
    values = np.array([[[200, 220, 250], [40, 80, 120], [250, 250, 250]]], np.uint8)
    for k in (1.0, 1.3, 2.0, 4.0):
        out = lit(values, np.full(values.shape[:2], k, np.float32)).astype(int)
        assert out.max() < 255
        assert (out >= values - 1).all()  # a gain never darkens
        # Hue: the channel order and the rough balance stay (chroma held, not shifted).
        assert np.argsort(out[0, 1]).tolist() == [0, 1, 2]
    gray = np.full((4, 4, 3), 100, np.uint8)
    out = lit(gray, np.full((4, 4), 1.2, np.float32))
    assert (out == out[..., :1]).all() and out[0, 0, 0] == 120  # neutral stays neutral, scaled by the gain


def test_flag_toggle_and_registry():
    parse = lambda *argv: cli.settings_from_args(cli.build_parser().parse_args(["run", *argv]))  # noqa: E731
    assert parse("--key-light", "70").key_light.strength == 70
    spec = SPECS["key_light"]
    names = list(SPECS)  # chain order
    assert names.index("key_light") > names.index("background")  # lights the person as they will be seen
    assert "background" in spec.reads and not spec.alters_face and spec.on_failure == "skip"
    assert [t.key for t in spec.toggles] == ["key_light"] and "key_light.strength" in spec.controls
    assert build_effect(spec, S.Settings()) is None  # 0 = off
    assert "key_light" in spec.bench


def test_sliders_update_in_place(portrait):
    image, analysis = portrait
    settings = S.update(S.Settings(), key_light={"strength": 30}, background={"mode": "off"})
    effect = build_effect(SPECS["key_light"], settings)
    weak = [effect.apply(image, analysis)[0] for _ in range(5)][-1]
    stronger = S.update(settings, key_light={"strength": 90}, background={"mode": "image"})
    assert effect.update(*sections_for(SPECS["key_light"], stronger)) is True
    assert effect.strength == 0.9 and not effect.real_room
    strong = effect.apply(image, analysis)[0]  # no fade-in again: the light is already on
    face = _oval(image, analysis.faces[0].landmarks)
    assert strong[face].mean() > weak[face].mean() + 3


def test_a_failing_key_light_shows_the_frame_without_it(portrait, monkeypatch):
    from livecam.pipeline import Pipeline

    image, _ = portrait
    base = S.update(S.Settings(), background={"mode": "off"}, output={"kind": "null"})
    plain = Pipeline(base)
    broken = Pipeline(S.update(base, key_light={"strength": 70}))
    try:
        monkeypatch.setattr(KeyLight, "gain_grid", lambda *a: 1 / 0)
        expected = plain.process(image)
        out = broken.process(image)
        assert (out == expected).all()
        assert broken.failure_counts() == {"key_light": 1}
    finally:
        plain.close()
        broken.close()


def test_no_face_no_change(portrait):
    image, _ = portrait
    from livecam.types import Analysis

    effect = KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
    assert effect.apply(image, Analysis())[0] is image


def _float_lit(values, gain):
    """The light in plain float arithmetic, as the shoulder's formula reads (the 8-bit version must match it)."""
    y = cv2.cvtColor(values, cv2.COLOR_BGR2GRAY).astype(np.float64)
    room = np.maximum(TOP - values.max(2).astype(np.float64), 1e-3)
    delta = y * (gain - 1.0)
    t = np.maximum(delta, 0.0) / room
    delta = np.where(delta > 0, room * t / np.sqrt(1.0 + t * t), delta)
    return np.clip(values.astype(np.int16) + np.rint(delta).astype(np.int16)[..., None], 0, 255)


def test_the_reused_buffers_give_the_same_light_as_the_formula(portrait):
    """One Scratch through boxes that grow, shrink and move (views of its buffers, gains above and
    below 1): every result matches the float formula to a rounding step."""
    image, _ = portrait
    rng = np.random.default_rng(3)
    scratch = Scratch()
    for h, w in ((120, 90), (160, 130), (60, 200), (161, 131)):
        y0, x0 = rng.integers(0, image.shape[0] - h), rng.integers(0, image.shape[1] - w)
        values = image[y0:y0 + h, x0:x0 + w]  # a view into the frame, as the effect passes it
        coarse = rng.uniform(0.85, 2.2, (6, 5)).astype(np.float32)
        gain = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        out = lit(values, gain, scratch).astype(int)
        assert np.abs(out - _float_lit(values, gain)).max() <= 1
        assert ((out.max(2) < 254) | (values.max(2) >= 254)).all()  # the shoulder holds
    same = lit(image[:50, :50], np.ones((50, 50), np.float32), scratch)
    assert (same == image[:50, :50]).all()  # no light, not a level of change


def test_the_room_dimming_follows_the_face(portrait):
    """The full-size room gain is reused while the face stays put; when the face moves, the room around
    its new place is spared as if the effect had started there."""
    image, analysis = portrait
    face = analysis.faces[0]
    shift = image.shape[1] // 3
    moved_image = np.roll(image, -shift, axis=1)
    moved = Analysis(faces=[dataclasses.replace(face, box=face.box - [shift, 0, shift, 0],
                                                landmarks=face.landmarks - [shift, 0, 0])])
    travelled = KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
    for _ in range(5):
        travelled.apply(image, analysis)
    fresh = KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
    for _ in range(5):
        a = travelled.apply(moved_image, moved)[0].astype(int)
        b = fresh.apply(moved_image, moved)[0].astype(int)
    assert np.abs(a - b).max() <= 1


def test_a_face_that_barely_moves_keeps_its_drawn_shape_and_the_same_light(portrait):
    """The face's shape on the grid is redrawn only once a landmark has moved MOVE_CELLS of a cell:
    a face moved by half that gets the kept shape, and its light differs from a freshly drawn one
    by a few levels at most, more than two in a few pixels only (where the feathered outline and
    the eyes' shading are steepest); moved by twice that, the shape is drawn anew."""
    from livecam.analysis.face_measures import face_width
    from livecam.effects.key_light import GRID, MOVE_CELLS

    image, analysis = portrait
    face = analysis.faces[0]
    cell = face_width(face.landmarks) / GRID
    effect = KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
    for _ in range(5):
        effect.apply(image, analysis)
    drawn = effect._lights[0].geometry
    m = np.float32([[1, 0, 0.5 * MOVE_CELLS * cell], [0, 1, 0]])
    shifted = cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    landmarks = face.landmarks.copy()
    landmarks[:, 0] += 0.5 * MOVE_CELLS * cell
    moved = Analysis(faces=[dataclasses.replace(face, landmarks=landmarks)])
    kept, _ = effect.apply(shifted, moved)
    assert effect._lights[0].geometry is drawn
    fresh_effect = KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
    for _ in range(5):
        fresh, _ = fresh_effect.apply(shifted, moved)
    diff = np.abs(kept.astype(int) - fresh).max(2)
    assert diff.max() <= 5 and (diff > 2).mean() < 0.001
    landmarks = landmarks.copy()
    landmarks[:, 0] += 2 * MOVE_CELLS * cell
    effect.apply(shifted, Analysis(faces=[dataclasses.replace(face, landmarks=landmarks)]))
    assert effect._lights[0].geometry is not drawn


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5])
def test_a_box_one_pixel_wide_is_lit_as_any_other(rows):
    """OpenCV took a (1, 1) or (4, 1) float array for a Scalar: the fallback's one-column box came out black.
    Each column of a box is lit on its own, so one column alone must give what it gives in a wider box."""
    rng = np.random.default_rng(rows)
    values = rng.integers(0, 256, (rows, 3, 3), dtype=np.uint8)
    gain = rng.uniform(0.7, 1.4, (rows, 3)).astype(np.float32)
    wide = lit(values, gain).copy()
    for col in range(3):
        one = lit(np.ascontiguousarray(values[:, col:col + 1]), np.ascontiguousarray(gain[:, col:col + 1]))
        np.testing.assert_array_equal(one, wide[:, col:col + 1])
