"""Which frames an effect may write into: only one the chain alone holds (pipeline.owned). The camera's
frame, frames that already left, and a frame an effect or the analysis keeps are never written;
an effect that raises while writing into its frame hides that frame; and writing in place gives
the bytes the copying path gives."""
import json

import numpy as np
import pytest
from conftest import video_frames

from livecam import settings as S
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import badge as badge_module
from livecam.effects import eye_contact as eye_contact_module
from livecam.effects import touch_up as touch_up_module
from livecam.effects.badge import Badge
from livecam.effects.base import NO_OUTPUTS, EffectBase
from livecam.effects.eye_contact import EyeContact
from livecam.effects.touch_up import TouchUp
from livecam.pipeline import Pipeline, owned
from livecam.effects import EyeContactSettings, TouchUpSettings
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis

# The registry's "all": every effect but the avatar.
ALL = {"low_light": {"mode": "auto"}, "touch_up": {"strength": 60}, "eye_contact": {"enabled": True},
       "background": {"mode": "blur", "blur": 60}, "key_light": {"strength": 70}, "auto_frame": {"enabled": True}}


def test_owned_only_for_an_array_one_variable_alone_holds():
    frame = np.zeros((8, 8, 3), np.uint8)
    assert owned(frame)
    kept = [frame]
    assert not owned(frame), "a list holds it too"
    kept.clear()
    assert owned(frame)
    view = frame[1:]
    assert not owned(view), "a view of another array"
    assert not owned(frame), "the view holds it"
    del view
    locked = np.zeros((8, 8, 3), np.uint8)
    locked.flags.writeable = False
    assert not owned(locked)
    assert not owned(np.zeros((8, 8, 3), np.uint8, order="F"))
    assert not owned(None) and not owned([1, 2])


class _Giver(EffectBase):
    """A fresh copy out, kept (``keep``) or not."""

    def __init__(self, keep: bool):
        self.keep, self.kept = keep, []

    def apply(self, image, analysis):
        out = image.copy()
        if self.keep:
            self.kept.append(out)
        return out, NO_OUTPUTS


class _Writer(EffectBase):
    """Writes 7 into the top-left pixel of the frame it owns (a copy otherwise); raises after the
    write when ``fail``."""

    in_place = True
    provides = frozenset({"altered"})

    def __init__(self, fail: bool = False):
        self.given, self.fail = [], fail

    def apply(self, image, analysis, own=False):
        self.given.append(own)
        out = image if own else image.copy()
        out[0, 0] = 7
        if self.fail:
            raise RuntimeError("injected after the write")
        return out, NO_OUTPUTS


def _chain(monkeypatch, first, second):
    monkeypatch.setattr(touch_up_module, "TouchUp", lambda *a: first)
    monkeypatch.setattr(eye_contact_module, "EyeContact", lambda *a: second)
    return Pipeline(S.update(S.Settings(), background={"mode": "off"}, touch_up={"strength": 60},
                             eye_contact={"enabled": True}, badge={"enabled": True}))


@pytest.mark.parametrize("keep", [False, True])
def test_an_effect_writes_into_its_frame_only_when_no_one_else_keeps_it(monkeypatch, keep):
    giver, writer = _Giver(keep), _Writer()
    pipeline = _chain(monkeypatch, giver, writer)
    camera = np.full((48, 64, 3), 100, np.uint8)
    for _ in range(3):
        out = pipeline.process(camera)
        assert out[0, 0].tolist() == [7, 7, 7]
    assert writer.given == [not keep] * 3
    assert (camera == 100).all(), "the camera's frame is never written"
    assert all((k == 100).all() for k in giver.kept), "a frame an effect keeps is never written"


def test_the_first_effect_after_the_camera_is_never_given_the_camera_frame(monkeypatch):
    writer, second = _Writer(), _Writer()
    pipeline = _chain(monkeypatch, writer, second)
    camera = np.full((48, 64, 3), 100, np.uint8)
    pipeline.process(camera)
    assert writer.given == [False] and second.given == [True]
    assert (camera == 100).all()


def test_an_effect_that_raises_while_writing_into_its_frame_hides_it(monkeypatch):
    pipeline = _chain(monkeypatch, _Giver(False), _Writer(fail=True))
    camera = np.full((48, 64, 3), 100, np.uint8)
    camera[::2] = 200  # detail for the concealment to take away
    pipeline.process(camera)
    assert pipeline.concealed == 1, "a half-written frame does not leave as it is"
    assert pipeline.gate.reasons == {"a chosen effect could not run": 1}
    # Given a copy, the same failure only skips the effect (fault isolation as before).
    pipeline = _chain(monkeypatch, _Giver(True), _Writer(fail=True))
    out = pipeline.process(camera)
    assert pipeline.concealed == 0 and np.array_equal(out, camera)


def test_all_effects_never_write_the_camera_frame_or_a_frame_that_left(monkeypatch):
    """The registry's "all" on a real clip: the camera's frames and every frame that left stay as they
    were while later frames are made, and eye contact and the badge were given frames to write into."""
    given = []
    for cls in (TouchUp, EyeContact, Badge):
        apply = cls.apply

        def spy(self, image, analysis, own=False, _apply=apply, _name=cls.__name__):
            given.append((_name, own))
            return _apply(self, image, analysis, own=own)

        monkeypatch.setattr(cls, "apply", spy)
    changes = json.loads(json.dumps(ALL))
    changes["segmentation"] = {"model": "landscape"}
    pipeline = Pipeline(S.update(S.Settings(), **changes))
    frames = video_frames("lp_s18_room_landscape.mp4", 24, (1280, 720))
    cameras = [f.copy() for f in frames]
    outs = [pipeline.process(f) for f in frames]
    held = [o.copy() for o in outs]
    for f in frames:  # the same frames again, written by nobody
        pipeline.process(f)
    assert all(np.array_equal(f, c) for f, c in zip(frames, cameras)), "a camera frame was written"
    assert all(np.array_equal(o, h) for o, h in zip(outs, held)), "a frame that left was written"
    assert ("EyeContact", True) in given and ("Badge", True) in given
    assert ("TouchUp", True) not in given  # the camera's frame (low light passes it on unchanged here)
    assert pipeline.concealed == 0


def _faces_with_irises(frames):
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    return [tracker.process(f, want_iris=True) for f in frames]


def test_writing_in_place_gives_the_copying_paths_bytes():
    """Touch-up, eye contact and the badge, each as two instances on the same real frames: one given
    copies to own, one given the frames: the same bytes out, and the given frames untouched."""
    frames = video_frames("lp_s18_room_landscape.mp4", 30, (1280, 720))
    faces = _faces_with_irises(frames)
    pairs = [(TouchUp(TouchUpSettings(strength=60)), TouchUp(TouchUpSettings(strength=60))),
             (EyeContact(EyeContactSettings(enabled=True)), EyeContact(EyeContactSettings(enabled=True))),
             (Badge(), Badge())]
    moved = 0
    for frame, found in zip(frames, faces):
        analysis = Analysis(faces=found, altered=True)
        for in_place, copying in pairs:
            before = frame.copy()
            theirs, outputs = copying.apply(frame, analysis)
            assert np.array_equal(frame, before)
            mine, my_outputs = in_place.apply(frame.copy(), analysis, own=True)
            assert np.array_equal(mine, theirs) and dict(my_outputs) == dict(outputs)
            moved += bool(outputs)
    assert moved >= 10, "eye contact moved eyes on the clip"
