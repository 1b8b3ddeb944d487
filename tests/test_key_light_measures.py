"""The key light measures each face's centre and width once a frame (at tracking) instead of in
every step that reads them: the same bytes as the code that measured them afresh each time, kept
here as the reference, on a talking clip (a face that moves a lot), two faces at once and a face
lost and found again (a light fading on its last landmarks)."""
import dataclasses

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, clip_frames

from livecam import settings as S
from livecam.analysis import Analyzer
from livecam.analysis.face_measures import face_width
from livecam.effects import BackgroundSettings, KeyLightSettings
from livecam.effects import key_light as K
from livecam.types import Analysis


class _Measured(K.KeyLight):
    """The key light as it was before the measures were kept: each step measures them afresh."""

    def _track(self, faces) -> None:
        seen = []
        for face in faces:
            centre = face.landmarks[:, :2].mean(0)
            best = min((l for l in self._lights if l not in seen),
                       key=lambda l: np.linalg.norm(l.landmarks[:, :2].mean(0) - centre), default=None)
            if best is None or np.linalg.norm(best.landmarks[:, :2].mean(0) - centre) > face_width(face.landmarks):
                best = K._Light(face.landmarks)
                self._lights.append(best)
            best.landmarks = face.landmarks
            best.opacity = min(1.0, best.opacity + K.FADE)
            seen.append(best)
        for light in self._lights:
            if light not in seen:
                light.opacity = max(0.0, light.opacity - K.FADE)
        self._lights = [l for l in self._lights if l in seen or l.opacity > 0.0]

    @staticmethod
    def _room_lights(lights):
        """Each face's centre and reach for the room's gain, measured afresh."""
        return np.array([(*light.landmarks[:, :2].mean(0), K.ROOM_KEEP * face_width(light.landmarks), light.opacity)
                         for light in lights], np.float64)

    def _room_gain(self, xs, ys, lights):
        keep = np.zeros(xs.shape, np.float32)
        for light in lights:
            fw = face_width(light.landmarks)
            cx, cy = light.landmarks[:, :2].mean(0)
            r = K.ROOM_KEEP * fw
            dy = ys - cy
            dy = np.where(dy > 0, dy / 2.0, dy)
            near = np.exp(-((xs - cx) ** 2 + dy ** 2) / (2 * r * r)) * light.opacity
            keep = np.maximum(keep, near)
        dim = (1.0 - K.ROOM_DIM * self.strength) ** (1.0 / K.GAMMA)
        return (1.0 - (1.0 - dim) * (1.0 - keep)).astype(np.float32)


def _both(background: str = "off"):
    settings, room = KeyLightSettings(strength=70), BackgroundSettings(mode=background)
    return K.KeyLight(settings, room), _Measured(settings, room)


def _same_frames(frames, analyses, background: str = "off") -> int:
    kept, measured = _both(background)
    lit = 0
    for frame, analysis in zip(frames, analyses):
        a, _ = kept.apply(frame, analysis)
        b, _ = measured.apply(frame, analysis)
        assert np.array_equal(a, b)
        lit += a is not frame and not np.array_equal(a, frame)
        for light in kept._lights:  # what the kept measures stand for
            assert np.array_equal(light.centre, light.landmarks[:, :2].mean(0))
            assert light.width == face_width(light.landmarks)
    return lit


def test_a_talking_face_gets_the_light_the_fresh_measures_give():
    frames, faces = clip_frames("lp_d12_talking_indoor.mp4", 40)
    analyses = [Analysis(faces=list(f)) for f in faces]
    assert _same_frames(frames, analyses) >= 30
    assert _same_frames(frames, analyses, background="image") >= 30  # no room dimming: the light alone


@pytest.fixture(scope="module")
def portrait():
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    analysis = Analyzer(S.Settings()).analyze(image, {"faces"})
    assert analysis.faces
    return image, analysis.faces[0]


def test_two_faces_and_a_face_lost_and_found(portrait):
    image, face = portrait
    w = image.shape[1]
    pair = np.ascontiguousarray(np.hstack([image, image]))
    twin = dataclasses.replace(face, box=face.box + [w, 0, w, 0], landmarks=face.landmarks + [w, 0, 0])
    both = Analysis(faces=[face, twin])
    right_only = Analysis(faces=[twin])
    none = Analysis(faces=[])
    # Both faces fade in, the left one is lost (its light fades on its last landmarks), the right one
    # too, then both come back.
    analyses = [both] * 5 + [right_only] * 3 + [none] * 2 + [both] * 4
    assert _same_frames([pair] * len(analyses), analyses) >= 10
