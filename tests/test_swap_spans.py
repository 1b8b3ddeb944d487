"""The face swap made over row spans (``mesh_warp.row_spans``, ``swap_kernels.relight_grain_rows`` and
``blend_rows``) gives the whole box's pixels wherever they are read: the spans' own arithmetic,
the relighting and the blend against the whole-box loops on random pictures, and the swap's frames
against the whole-box path on real frames with turned heads."""

import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import FIXTURES, picked_faces  # noqa: E402

from livecam.analysis.avatar_photo import load_avatar_photo  # noqa: E402
from livecam.effects import avatar as av  # noqa: E402
from livecam.effects import avatar_light as light  # noqa: E402
from livecam.effects import avatar_pose_shade as pose_shade  # noqa: E402
from livecam.effects import mesh_warp  # noqa: E402
from livecam.effects import swap_kernels as kernels  # noqa: E402
from livecam.types import Analysis  # noqa: E402


def _oval(rng, h, w):
    """An alpha like the face's: 0 round an oval of random size and place, soft values inside."""
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    ry, rx = rng.uniform(0.2, 0.6) * h + 0.5, rng.uniform(0.2, 0.6) * w + 0.5
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    return (inside * rng.integers(1, 256, (h, w))).astype(np.uint8)


def _box(rng, h, w):
    xs, ys = sorted(int(v) for v in rng.integers(-6, w + 6, 2)), sorted(int(v) for v in rng.integers(-6, h + 6, 2))
    return xs[0], ys[0], xs[1], ys[1]


def _shown(spans, h, w):
    """Where the spans say the face is made (columns [0, 2) of each row)."""
    cols = np.arange(w)
    return (cols >= spans[:, :1]) & (cols < spans[:, 1:2])


def test_the_spans_loop_is_the_numpy_steps(monkeypatch):
    """Sparse, empty and full alphas, any box (also off the part and empty): the same spans."""
    rng = np.random.default_rng(3)
    for trial in range(300):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        alpha = ((rng.random((h, w)) < rng.uniform(0.0, 0.3)) * rng.integers(1, 256)).astype(np.uint8)
        if trial % 3 == 0:
            alpha = _oval(rng, h, w)
        box = _box(rng, h, w) if trial % 4 else (0, 0, 0, 0)
        got = mesh_warp.row_spans(alpha, box)
        with monkeypatch.context() as patch:
            patch.setattr(mesh_warp, "kernels", None)
            expected = mesh_warp.row_spans(alpha, box)
        np.testing.assert_array_equal(got, expected)
        shown = _shown(got, h, w)
        assert shown[alpha > 0].all()
        x0, y0, x1, y1 = box
        assert shown[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)].all()


def _relight_case(rng, h, w, colours=1):
    frame = rng.integers(0, 256, (h + 9, w + 11, 3), np.uint8)
    face = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), np.uint8), (0, 0), 1.0)
    gain = rng.uniform(0.3, 2.2, (h + 5, w + 4, colours)).astype(np.float32)
    gain = np.ascontiguousarray(gain[..., 0]) if colours == 1 else gain
    offset = rng.uniform(-70, 70, (h + 5, w + 4, 3)).astype(np.float32)
    return frame, face, gain, offset, (3, 2), (7, 4)


def _relit(face, gain, offset, at, frame, origin, spans):
    h = face.shape[0]
    out = np.zeros_like(face)
    lo, hi = light.GRAIN_KEEP
    kernels.relight_grain_rows(face.reshape(h, -1), gain.reshape(gain.shape[0], -1), 1 if gain.ndim == 2 else 3,
                               offset.reshape(offset.shape[0], -1), at[0], at[1], frame.reshape(frame.shape[0], -1),
                               origin[1], origin[0], light._GRAIN_KERNEL, np.float32(hi), np.float32(1.0 / (hi - lo)),
                               spans, out.reshape(h, -1))
    return out


def test_the_relighting_over_spans_is_the_whole_boxs_there():
    """Wherever the spans make the face it is ``relight_with_grain``'s of the whole box (the gain on
    one channel or three); with the warped picture's pixels outside the spans' reach spoilt, so
    nothing there is read."""
    rng = np.random.default_rng(4)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 60, 2)) if trial < 55 else (270, 320)
        frame, face, gain, offset, at, origin = _relight_case(rng, h, w, 3 if trial % 3 == 0 else 1)
        whole = light.relight_with_grain(face, gain, offset, at, frame, origin)
        spans = mesh_warp.row_spans(_oval(rng, h, w), _box(rng, h, w) if trial % 2 else (0, 0, 0, 0))
        spoilt = face.copy()
        read = _shown(spans[:, 4:6], h, w)
        spoilt[~read] = rng.integers(0, 256, (int((~read).sum()), 3), np.uint8)
        got = _relit(spoilt, gain, offset, at, frame, origin, spans)
        shown = _shown(spans, h, w)
        np.testing.assert_array_equal(got[shown], whole[shown])


def test_a_span_short_of_the_blurs_reach_gives_other_pixels():
    """The two rows and two pixels the spans grow by are needed: one pixel less of the relit reach,
    or one row less of the blurred one, and some pixel that shows differs."""
    rng = np.random.default_rng(5)
    h, w = 120, 100
    frame, face, gain, offset, at, origin = _relight_case(rng, h, w)
    whole = light.relight_with_grain(face, gain, offset, at, frame, origin)
    spans = mesh_warp.row_spans(_oval(rng, h, w))
    shown = _shown(spans, h, w)
    for short in ("reach", "rows"):
        broken = spans.copy()
        if short == "reach":
            broken[:, 4] = np.where(broken[:, 4] > 0, broken[:, 4] + 1, broken[:, 4])
        else:
            broken[:, 2:4] = broken[:, :2]  # each row's own span, not the hull over five
            empty = broken[:, 1] <= broken[:, 0]
            broken[:, 4] = np.where(empty, w, np.maximum(broken[:, 0] - 2, 0))
            broken[:, 5] = np.where(empty, 0, np.minimum(broken[:, 1] + 2, w))
        spoilt = face.copy()
        read = _shown(broken[:, 4:6], h, w)
        spoilt[~read] = 255 - spoilt[~read]
        got = _relit(spoilt, gain, offset, at, frame, origin, broken)
        assert (got[shown] != whole[shown]).any(), short


def test_the_blend_over_spans_is_the_whole_blend():
    """Outside the spans alpha is 0, and the blend there is the frame the output already holds."""
    rng = np.random.default_rng(6)
    for trial in range(40):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        frame = rng.integers(0, 256, (h + 7, w + 9, 3), np.uint8)
        face = rng.integers(0, 256, (h, w, 3), np.uint8)
        alpha = _oval(rng, h + 2, w)[1:h + 1]  # a view, as the upsampled alpha's crop is
        y0, x0 = int(rng.integers(0, 8)), int(rng.integers(0, 10))
        expected = frame.copy()
        light.blend_face(face, alpha, frame, (x0, y0), expected)
        spans = mesh_warp.row_spans(np.ascontiguousarray(alpha))
        got = frame.copy()
        kernels.blend_rows(face.reshape(h, -1), frame.reshape(frame.shape[0], -1), alpha, spans, y0, x0,
                           got.reshape(got.shape[0], -1))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("photo", ["mpl_grace_hopper.jpg", "sk_astronaut.png"])
def test_the_swap_over_spans_draws_the_whole_boxs_frames(photo, monkeypatch):
    """Real 720p frames, heads turned both ways (lp_d3, yaw -15 to +22 degrees) and frontal, both swap
    modes: the same frames with the spans as with the whole box, the spans in use and the nose lift
    reading its crop on them."""
    frames, faces = picked_faces("lp_d3_expressions.mp4", (20, 120, 160, 210, 250, 260, 270, 280))
    picture = load_avatar_photo(FIXTURES / photo, store=False)

    def run():
        effects = [av.FaceSwap(picture), av.FaceSwap(picture, own_eyes_mouth=True)]
        return [[e.apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)] for e in effects]

    spans, lifts, made, lifted = [], [], av.row_spans, pose_shade.lift_nose_base
    with monkeypatch.context() as patch:
        patch.setattr(av, "row_spans", lambda *args: spans.append(1) or made(*args))
        patch.setattr(pose_shade, "lift_nose_base", lambda *args: lifts.append(lifted(*args)) or lifts[-1])
        fast = run()
    assert len(spans) >= len(frames) and True in lifts  # (a wide-open mouth or a faded face keeps the box)
    with monkeypatch.context() as patch:
        patch.setattr(light, "spans_fit", lambda image: False)
        whole = run()
    for a_frames, b_frames in zip(fast, whole):
        for frame, a, b in zip(frames, a_frames, b_frames):
            assert np.abs(a.astype(np.int16) - frame).max() > 60  # the effect drew a face
            np.testing.assert_array_equal(a, b)
