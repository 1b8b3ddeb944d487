"""The photo avatar on a torn mesh (a landmark fault: points scrambled across the frame).

Drawn, a torn mesh spread the mouth transplant, the far-side fill and the shut lids over the whole
stage (up to ~100 ms a 720p frame, photo9's report). Now such a mesh is no face: the portrait relaxes
from the last whole face exactly as when no face is found, so its cost is that of an ordinary frame.
Real faces (open mouths, winks, turns) are never taken for torn ones.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import FIXTURES, clip_frames, portrait_avatar

from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.effects import avatar as av
from livecam.types import Analysis


def _torn(landmarks: np.ndarray, size, kind: str, seed: int) -> np.ndarray:
    w, h = size
    lm = landmarks.astype(np.float32).copy()
    rng = np.random.default_rng(seed)
    if kind == "scrambled":  # a third of the points anywhere in the frame
        torn = rng.random(len(lm)) < 0.3
        lm[torn, :2] = rng.uniform(0, 1, (int(torn.sum()), 2)) * (w, h)
        return lm
    # one point (a lip's, or a pose point: the rigid fit's own) thrown to the frame's far corner
    point = 13 if kind == "mouth" else av.POSE_INDICES[seed % len(av.POSE_INDICES)]
    x, y = lm[point, :2]
    lm[point, :2] = (0.0 if x > w / 2 else w - 1.0, 0.0 if y > h / 2 else h - 1.0)
    return lm


@pytest.mark.parametrize("kind", ["scrambled", "mouth", "pose"])
def test_a_torn_mesh_relaxes_the_portrait_as_no_face_does(kind):
    frames, faces = clip_frames("lp_s18_room_landscape.mp4", 10)
    photo = load_avatar_photo(FIXTURES / "sk_astronaut.png", store=False)  # a tuning-side photo
    mask = av.person_mask(photo.image)
    torn, missing = av.PhotoAvatar(photo, mask=mask), av.PhotoAvatar(photo, mask=mask)
    size = (frames[0].shape[1], frames[0].shape[0])
    differs = 0
    for i, (image, found) in enumerate(zip(frames, faces)):
        if i < 4:  # whole faces: both the same
            a, oa = torn.apply(image, Analysis(faces=list(found)))
            b, ob = missing.apply(image, Analysis(faces=list(found)))
            continue
        face = replace(found[0], landmarks=_torn(found[0].landmarks, size, kind, i), raw_landmarks=None)
        assert not torn.whole(face.landmarks)
        a, oa = torn.apply(image, Analysis(faces=[face]))
        b, ob = missing.apply(image, Analysis(faces=[]))
        assert np.array_equal(a, b) and np.array_equal(oa["mask"], ob["mask"])
        assert oa["altered"]
        differs += int(np.abs(a.astype(np.int16) - frames[0]).mean() > 1.0)
    assert differs > 0  # the portrait was drawn (relaxing), not the wearer's frame


def test_real_faces_are_never_taken_for_torn_ones():
    """lp_d3 (a tuning-side wearer) winks, opens her mouth wide and turns ~23 degrees (frames 250-279):
    every face is whole against her own portrait and against another person's."""
    frames, faces = clip_frames("lp_d3_expressions.mp4", 280)
    own = portrait_avatar(frames[0])
    other = av.PhotoAvatar(load_avatar_photo(FIXTURES / "sk_astronaut.png", store=False))
    seen = [f[0].landmarks for f in faces if f]
    assert len(seen) > 250
    assert all(own.whole(lm) and other.whole(lm) for lm in seen)
    # and the bound is not loose by orders: a single point off by the face's width is torn
    lm = seen[0].copy()
    lm[152, 1] += 1.5 * av.face_width(lm)
    assert not own.whole(lm)
