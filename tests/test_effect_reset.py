"""A new or resumed source starts every effect afresh (``Effect.reset``, called by
``Pipeline.reset_temporal``), and a face swap that faded out with nobody in view forgets the wearer:
nothing learned about one person (their glasses, their eye shape, their usual lid gap) is drawn
onto the next."""
import cv2
import numpy as np
import pytest
from conftest import FIXTURES, shared_data, tracked_frames

from livecam import settings as S
from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.effects import avatar as av
from livecam.pipeline import Pipeline
from livecam.types import Analysis

GLASSES = "video/lp_d19_frontal_glasses.mp4"  # tuning half: a man in thin metal glasses
PLAIN = "video/lp_d18_frontal_plain.mp4"  # tuning half: the same man without them


@pytest.fixture(scope="module")
def astronaut():
    return load_avatar_photo(FIXTURES / "sk_astronaut.png", store=False)


@pytest.fixture(scope="module")
def clips():
    root = shared_data()
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root}")
    return tracked_frames(root / GLASSES, 16), tracked_frames(root / PLAIN, 12)


def _run(swap, frames):
    return [swap.apply(frame, Analysis(faces=faces))[0] for frame, faces in frames]


def _nobody(swap, frames, count=30):
    """``count`` frames with no face in view (the swap fades out)."""
    return [swap.apply(frames[i % len(frames)][0], Analysis(faces=[]))[0] for i in range(count)]


def test_a_reset_swap_draws_the_next_wearer_as_a_fresh_one(clips, astronaut):
    glasses, plain = clips
    fresh = _run(av.FaceSwap(astronaut), plain)
    swap = av.FaceSwap(astronaut)
    _run(swap, glasses)
    assert swap._glasses.wearing  # it learned that this wearer has glasses
    swap.reset()
    for got, want in zip(_run(swap, plain), fresh):
        assert np.array_equal(got, want)
    # Without the reset the glasses wearer's state reaches the next frames (the check above is not empty).
    carried = av.FaceSwap(astronaut)
    _run(carried, glasses)
    assert any(not np.array_equal(a, b) for a, b in zip(_run(carried, plain), fresh))


def test_a_swap_that_faded_out_with_nobody_in_view_forgets_the_wearer(clips, astronaut):
    """Somebody in glasses, then nobody, then somebody without: drawn exactly as when the first
    person had been the one without glasses all along."""
    glasses, plain = clips
    swap = av.FaceSwap(astronaut)
    _run(swap, glasses)
    _nobody(swap, glasses)
    after_glasses = _run(swap, plain)
    reference = av.FaceSwap(astronaut)
    _run(reference, plain[:1])
    _nobody(reference, plain)
    after_plain = _run(reference, plain)
    for got, want in zip(after_glasses, after_plain):
        assert np.array_equal(got, want)


def test_a_face_turned_away_is_not_forgotten(clips, astronaut, monkeypatch):
    """Only a fade-out with no face at all forgets: a face that is there but turned too far (the swap
    fades for it) is still the same wearer."""
    glasses, _plain = clips
    swap = av.FaceSwap(astronaut)
    _run(swap, glasses)
    monkeypatch.setattr(av.FaceSwap, "target_opacity", lambda self, *_: 0.0)
    _run(swap, glasses)
    assert swap._glasses.wearing


def test_reset_temporal_starts_each_effect_afresh(data_dir):
    """Auto-framing zoomed in on one picture starts from the whole frame after a new source, as
    when switched on, instead of gliding from the old framing."""
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"}, auto_frame={"enabled": True},
                                 runtime={"threads": 1, "provider": "cpu"}))
    framer = next(e for e in pipeline.effects if type(e).__name__ == "AutoFrame")
    cap = cv2.VideoCapture(str(data_dir / PLAIN))
    frames = [cap.read()[1] for _ in range(60)]
    cap.release()
    for frame in frames:
        pipeline.process(frame)
    zoomed = framer.framing.zoom
    assert zoomed > 1.2
    pipeline.reset_temporal()
    pipeline.process(frames[-1])
    assert framer.framing.zoom < 1.0 + 0.1 * (zoomed - 1.0)
    pipeline.close()


def test_a_reset_photo_avatar_reads_the_next_wearers_lids_afresh(clips, astronaut):
    """The portrait's blinks are read against the wearer's usual open lid gaps: after a reset (a new
    source, maybe somebody else) the first face starts them again, as on a fresh photo avatar."""
    glasses, plain = clips
    fresh = av.PhotoAvatar(astronaut)
    fresh.lid_reading.read(plain[0][1][0].landmarks)
    avatar = av.PhotoAvatar(astronaut)
    _run(avatar, glasses)
    assert avatar.lid_reading._open != fresh.lid_reading._open  # the first wearer's gaps were learned
    avatar.reset()
    avatar.lid_reading.read(plain[0][1][0].landmarks)
    assert avatar.lid_reading._open == fresh.lid_reading._open
