"""Red team, round 52: a person model answering confidently but wrong, injected at ONNX Runtime's ``run``
and judged by how much of the room the frame that leaves shows.

1. The mask inverted (person 0, room 1): its coverage stays near the person's and it is decided
   everywhere, so the gate let it out, and the background blur showed the room sharp where the mask
   claimed the person (on 1744be2, 27 of the 30 faulty frames below). The gate now also checks that the
   mask does not surround the room (livecam.mask_check).
2. Known, not fixed (strict xfail): a mask shifted sideways by a quarter of the frame or mirrored (25-27
   of 30 frames let the room out), an old frame's mask stuck while the person walks away (17 of 30).
   maskcheck49's outline-contrast check caught them with no false hide on the shared clips and photos,
   but hid a person who walked in front of a wall of their shirt's colour for as long as they stayed.
3. Guards: no frame of the shared clean clips is hidden; nor is that person in front of that wall.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from livecam import settings as S
from livecam.pipeline import Pipeline

from conftest import read_frames, shared_data, video_frames
from live_doubles import ModelAnswers

SIZE = (640, 360)
CLIP = "st_WDA_AlexandriaOcasioCortez_000.mp4"  # tuning half (clips sorted by name, even index)
START = 20  # the fault starts here: in the frames before, the check learns the stream's outline contrast
FRAMES = 50
# A pixel "leaves as the camera saw it" within SAME levels; the room counts where the genuine blur
# changes the picture by over CHANGED (a plain wall looks the same blurred or not).
SAME, CHANGED = 3, 8
# A frame lets the room out when over this share of that room (the genuine mask's room, eroded past its
# edge) leaves as the camera saw it.
ROOM_OUT = 0.2
# Frames of room allowed to leave as a fault starts or ends: the brief's "a frame or two".
ALLOWED = 2


@pytest.fixture
def person_model(monkeypatch):
    return ModelAnswers(monkeypatch, ("selfie_segmentation",))


def _blur() -> Pipeline:
    return Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 60},
                             segmentation={"model": "landscape"}, runtime={"threads": 1, "provider": "cpu"}))


def _shifted(outs):
    out = np.zeros_like(outs[0])
    quarter = out.shape[2] // 4
    out[:, :, quarter:] = outs[0][:, :, :-quarter]
    return [out, *outs[1:]]


class _Stuck:
    """The model's first answer given again at every later run."""

    def __init__(self) -> None:
        self.kept = None

    def __call__(self, outs):
        if self.kept is None:
            self.kept = [np.array(o) for o in outs]
        return [o.copy() for o in self.kept]


NOT_CAUGHT = pytest.mark.xfail(strict=True, reason="a mask moved off the person keeps its shape; the one cheap "
                                                   "signal tried (the outline's contrast) also hid a person in "
                                                   "front of a wall of their shirt's colour, for good")
FAULTS = {
    "inverted": lambda outs: [np.float32(1) - outs[0], *outs[1:]],
    "shifted a quarter": _shifted,
    "mirrored": lambda outs: [np.ascontiguousarray(outs[0][:, :, ::-1]), *outs[1:]],
}
CASES = [pytest.param(name, marks=() if name == "inverted" else NOT_CAUGHT) for name in sorted(FAULTS)]


def _room_out(out: np.ndarray, genuine: np.ndarray, frame: np.ndarray, mask: np.ndarray) -> float:
    """The share of the room (where the genuine ``mask`` says room, away from its edge, and the genuine
    output hid it visibly) that ``out`` shows as the camera saw it."""
    room = cv2.erode((mask < 16).view(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    room &= np.abs(genuine.astype(np.int16) - frame).max(2) > CHANGED
    if room.sum() < 100:
        return 0.0
    return float((np.abs(out.astype(np.int16) - frame).max(2) <= SAME)[room].mean())


def _genuine(frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    pipeline = _blur()
    try:
        return [(pipeline.process(f), pipeline.last_analysis.mask.copy()) for f in frames]
    finally:
        pipeline.close()


def _room_frames(person_model, frames: list[np.ndarray], fault,
                 end: int | None = None) -> tuple[list[int], list[bool]]:
    """With ``fault`` answering from START (to ``end``): the frames that let the room out, and which
    frames were hidden. No frame before START may be hidden."""
    genuine = _genuine(frames)
    pipeline = _blur()
    leaked, hidden = [], []
    try:
        for i, frame in enumerate(frames):
            person_model.answer = fault if START <= i < (end or len(frames)) else None
            before = pipeline.gate.hidden
            out = pipeline.process(frame)
            hidden.append(pipeline.gate.hidden > before)
            if hidden[-1]:
                assert pipeline.problems(), i  # the user is told why in a plain sentence
            if not hidden[-1] and _room_out(out, genuine[i][0], frame, genuine[i][1]) > ROOM_OUT:
                leaked.append(i)
    finally:
        person_model.answer = None
        pipeline.close()
    assert not any(hidden[:START]), hidden
    return leaked, hidden


# ------------------------------------------------------------------ 1. confidently wrong

@pytest.mark.parametrize("fault", CASES)
def test_a_confidently_wrong_person_mask_lets_at_most_a_frame_or_two_of_room_out(person_model, fault):
    frames = video_frames(CLIP, FRAMES, SIZE)
    leaked, _ = _room_frames(person_model, frames, FAULTS[fault])
    assert len(leaked) <= ALLOWED, leaked


@pytest.mark.parametrize("fault", CASES)
def test_the_picture_comes_back_when_the_model_answers_right_again(person_model, fault):
    frames = video_frames(CLIP, FRAMES + 20, SIZE)
    leaked, hidden = _room_frames(person_model, frames, FAULTS[fault], end=FRAMES)
    assert len(leaked) <= ALLOWED and any(hidden[START:FRAMES]), (leaked, hidden)
    assert not any(hidden[-10:]), hidden


def _walking_away(count: int, room_of=None, start_x: int | None = None) -> list[np.ndarray]:
    """The green-screen clip's person over a room (a background photo, or what ``room_of(room, person,
    alpha)`` makes of it), still until START, then walking to the right by 1.5 % of the width a frame."""
    root = shared_data()
    clip = root / "video" / "lp_d0_greenscreen.mp4"
    keys = root / "video" / "masks_chromakey" / "lp_d0_greenscreen"
    room_file = root / "backgrounds" / "1280x720" / "kde_Path.jpg"
    if not (clip.is_file() and keys.is_dir() and room_file.is_file()):
        pytest.skip(f"shared test data not found at {root}")
    w, h = SIZE
    room = cv2.resize(cv2.imread(str(room_file)), SIZE, interpolation=cv2.INTER_AREA)
    frames = []
    for i, frame in enumerate(read_frames(clip, count)):
        if room_of is not None and i == 0:
            first = cv2.imread(str(keys / "00000.png"), cv2.IMREAD_GRAYSCALE)
            room = room_of(room, cv2.resize(frame, (h, h), interpolation=cv2.INTER_AREA),
                           cv2.resize(first, (h, h), interpolation=cv2.INTER_AREA))
        key = cv2.imread(str(keys / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE)
        side = h  # the square clip as tall as the room
        person = cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = cv2.resize(key, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
        x = ((w - side) // 2 if start_x is None else start_x) + max(0, i - START) * round(0.015 * w)
        out = room.astype(np.float32)
        visible = min(side, w - x)
        a = alpha[:, :visible]
        out[:, x:x + visible] = a * person[:, :visible] + (1 - a) * out[:, x:x + visible]
        frames.append(out.round().astype(np.uint8))
    return frames


@NOT_CAUGHT
def test_an_old_mask_stuck_while_the_person_walks_away_lets_at_most_a_frame_or_two_of_room_out(person_model):
    frames = _walking_away(FRAMES)
    leaked, _ = _room_frames(person_model, frames, _Stuck())
    assert len(leaked) <= ALLOWED, leaked


# ------------------------------------------------------------------ 2. guard

GUARD_FRAMES = 75  # the shortest clip has 78


def test_no_frame_of_the_shared_clean_clips_is_hidden():
    """Guard: the genuine model's mask on every shared clip (its first GUARD_FRAMES frames) is never
    taken for a wrong one. (All frames of every clip and the masks/dev photos: see maskcheck49's report.)"""
    clips = sorted((shared_data() / "video").glob("*.mp4"))
    if not clips:
        pytest.skip("shared test data not found")
    for clip in clips:
        pipeline = _blur()
        try:
            for frame in read_frames(clip, GUARD_FRAMES):
                pipeline.process(frame)
            assert pipeline.gate.hidden == 0, (clip.name, pipeline.gate.reasons)
        finally:
            pipeline.close()


def _shirt_wall(room: np.ndarray, person: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The room's right half a plain wall of the colour of the person's clothes."""
    h = person.shape[0]
    body = person[int(0.7 * h):][alpha[int(0.7 * h):] > 230]
    room = room.copy()
    room[:, room.shape[1] // 2:] = np.median(body, axis=0).round().astype(np.uint8)
    return room


def test_a_person_walking_in_front_of_a_wall_of_their_shirts_colour_is_not_hidden():
    """Guard: their outline's contrast falls there as a shifted mask's does (maskcheck49's outline check hid
    every frame from the wall on, for as long as they stayed); the mask is right, and the frames leave."""
    frames = _walking_away(75, _shirt_wall, start_x=SIZE[0] // 16)  # from the room's side into the wall
    pipeline = _blur()
    try:
        for frame in frames:
            pipeline.process(frame)
        assert pipeline.gate.hidden == 0, pipeline.gate.reasons
    finally:
        pipeline.close()


def test_a_close_up_that_fills_the_picture_is_not_taken_for_an_inverted_mask():
    """Guard: a face leaning into the camera is person on all four edges; an inverted mask of someone at a
    desk is person on the top and sides, and room at the bottom's middle."""
    from livecam.mask_check import MaskCheck

    close_up = np.ones((144, 256), np.float32)
    close_up[:20, :10] = close_up[:20, -10:] = 0.0  # the room in the top corners, past the hair
    person = np.zeros((144, 256), np.float32)
    person[40:, 80:176] = 1.0  # at a desk: from the bottom edge up
    check = MaskCheck()
    assert all(check.judge(close_up) is None for _ in range(10))
    assert check.judge(np.float32(1) - person) == "inverted"
