"""Hands near the face: the palm detector and hand landmark model find real hands, the crop geometry
maps back exactly, and the motion gate keeps both models idle while the ring around the face is still."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from livecam.analysis import hands as H

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "single"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _photo(name: str) -> np.ndarray:
    path = FACES / name
    if not path.exists():
        pytest.skip(f"shared test data absent: {path}")
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def _face_box(image: np.ndarray) -> np.ndarray:
    from livecam import settings as S
    from livecam.analysis.face_tracker import FaceTracker

    s = S.Settings()
    faces = FaceTracker(s.face, s.runtime).process(image)
    assert faces, "the face tracker found no face"
    return faces[0].box


@pytest.fixture(scope="module")
def tracker() -> H.HandTracker:
    return H.HandTracker(provider="cpu", threads=1)


@hsettings(max_examples=40, deadline=None)
@given(angle=st.floats(-math.pi, math.pi), size=st.floats(60, 300), cx=st.floats(150, 350), cy=st.floats(150, 350),
       u=st.floats(0.2, 0.8), v=st.floats(0.2, 0.8))
def test_crop_cut_and_to_frame_agree(angle, size, cx, cy, u, v):
    """A dot drawn in the frame shows in the cut square where ``to_frame`` says it came from."""
    crop = H.Crop((cx, cy), size, angle)
    out = 64
    p = crop.to_frame(np.array([[u * out, v * out]], np.float32), out)[0]
    frame = np.zeros((500, 500, 3), np.uint8)
    cv2.circle(frame, (int(round(p[0] * 16)), int(round(p[1] * 16))), 4 * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
    square = crop.cut(frame, out)[..., 0].astype(np.float64)
    assert square.sum() > 0
    ys, xs = np.mgrid[0:out, 0:out]
    seen = np.array([(xs * square).sum(), (ys * square).sum()]) / square.sum()
    assert np.abs(seen - [u * out, v * out]).max() < 0.6


def test_upright_angle_turns_the_fingers_up():
    wrist = np.array([100.0, 100.0])
    assert H.upright_angle(wrist, wrist + [0, -10]) == pytest.approx(0.0)
    # Fingers pointing right: the crop's up must be the frame's right.
    angle = H.upright_angle(wrist, wrist + [10, 0])
    crop = H.Crop((0.0, 0.0), 2.0, angle)
    up = crop.to_frame(np.array([[1.0, 0.0]], np.float32), 2)[0] - crop.to_frame(np.array([[1.0, 1.0]], np.float32), 2)[0]
    assert up == pytest.approx([1.0, 0.0], abs=1e-6)


def test_finds_the_hand_on_the_cheek(tracker):
    image = _photo("lp_d30.jpg")  # "head tilted, hand near face"
    box = _face_box(image)
    tracker.reset()
    hands = tracker.process(image, box)
    assert tracker.ran == ("palm", "hand")
    assert len(hands) == 1 and hands[0].score > 0.9
    hand = hands[0]
    fw = box[2] - box[0]
    # The hand rests against the left cheek and chin (viewer's left): the wrist below the face, the
    # fingertips up by the cheek, all of it within a face width of the face's left edge.
    assert hand.points[0, 1] > box[3] - 0.1 * fw
    assert hand.points[[8, 12], 1].min() < hand.points[0, 1] - 0.5 * fw
    assert np.all(np.abs(hand.points[:, 0] - box[0]) < fw)
    mask = H.hand_mask(hands, image.shape)
    covered = mask > 127
    # What the mask covers is skin-coloured (the hand), not the dark hair and jumper beside it.
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    assert np.median(lab[..., 0][covered]) > 150
    assert 0.1 < covered.sum() / ((box[2] - box[0]) * (box[3] - box[1])) < 0.6
    # Followed on the next frame by the landmark model alone.
    again = tracker.process(image, box)
    assert tracker.ran == ("hand",) and len(again) == 1
    assert np.abs(again[0].points - hand.points).max() < 0.15 * fw


def test_no_hand_on_a_plain_portrait(tracker):
    image = cv2.imread(str(FIXTURES / "mpl_grace_hopper.jpg"), cv2.IMREAD_COLOR)
    tracker.reset()
    assert tracker.process(image, _face_box(image)) == []
    assert H.hand_mask([], image.shape) is None


def test_still_ring_runs_no_model_and_motion_wakes_the_detector(tracker):
    image = cv2.imread(str(FIXTURES / "mpl_grace_hopper.jpg"), cv2.IMREAD_COLOR)
    box = _face_box(image)
    tracker.reset()
    tracker.process(image, box)  # the first frame always looks
    noisy = np.random.default_rng(1)
    runs = []
    for _ in range(12):
        frame = cv2.add(image, noisy.integers(0, 3, image.shape, dtype=np.uint8))  # camera noise only
        tracker.process(frame, box)
        runs.append(tracker.ran)
    assert runs == [()] * 12
    # Something enters the ring beside the face: the palm detector looks (every DETECT_EVERY-th
    # moving frame at most), and finds no hand in a grey block.
    looked = 0
    for i in range(2 * H.DETECT_EVERY):
        frame = image.copy()
        x = 40 * i
        cv2.rectangle(frame, (x, int(box[1])), (x + 80, int(box[3])), (90, 90, 90), -1)
        assert tracker.process(frame, box) == []
        looked += "palm" in tracker.ran
    assert 1 <= looked <= 2


def test_no_face_means_no_hands_and_no_models(tracker):
    tracker.reset()
    assert tracker.process(np.zeros((360, 640, 3), np.uint8), None) == []
    assert tracker.ran == ()


def test_analyzer_hands_need_and_a_failing_model(monkeypatch):
    """The Analyzer runs the hand models only for the "hands" need; a failing model loses the hands
    for that frame, never the face."""
    from livecam import settings as S
    from livecam.analysis import Analyzer

    image = _photo("lp_d30.jpg")
    analyzer = Analyzer(S.Settings())
    assert analyzer.analyze(image, {"faces"}).hands == []
    found = analyzer.analyze(image, {"faces", "hands"})
    assert len(found.faces) == 1 and len(found.hands) == 1 and "hands" in found.timings

    def broken(*_a, **_k):
        raise RuntimeError("injected ONNX Runtime fault")

    analyzer.hand_tracker.reset()
    monkeypatch.setattr(analyzer.hand_tracker.palms.session, "run", broken)
    after = analyzer.analyze(image, {"faces", "hands"})
    assert len(after.faces) == 1 and after.hands == []
    assert "hands" not in analyzer.missing


def test_a_hand_on_the_cheek_is_put_back_in_front_of_what_an_effect_drew(tracker):
    """Whatever a face effect drew (here: the whole frame changed), the live hand comes back on top
    where the hand mask is whole, blends at its soft edge, and nothing else changes."""
    image = _photo("lp_d30.jpg")
    tracker.reset()
    hands = tracker.process(image, _face_box(image))
    drawn = cv2.bitwise_not(image)  # an effect that changed every pixel
    kept = H.keep_in_front(drawn, image, hands)
    mask = H.hand_mask(hands, image.shape)
    hand, away, edge = mask == 255, mask == 0, (mask > 0) & (mask < 255)
    assert hand.sum() > 3000
    assert np.abs(kept.astype(np.int16) - image).max(axis=2)[hand].max() <= 1
    assert np.array_equal(kept[away], drawn[away])
    # At the edge each pixel lies between the two pictures, weighted by the mask.
    want = (image.astype(np.float32) * mask[..., None] + drawn.astype(np.float32) * (255 - mask[..., None])) / 255
    assert np.abs(kept[edge].astype(np.float32) - want[edge]).max() <= 1.5
    assert H.keep_in_front(drawn, image, []) is drawn
    assert H.keep_in_front(image, image, hands) is image  # nothing drawn: nothing to do


def test_face_swap_keeps_a_hand_over_the_face_in_front(tracker):
    """Wired through the effect: the swap asks for "hands", and where a hand lies over the face the
    frame that leaves shows the wearer's hand, not the photo's face (the real hand's points from
    lp_d30, moved onto the middle of the face)."""
    from livecam import settings as S
    from livecam.analysis.avatar_photo import load_avatar_photo
    from livecam.analysis.face_tracker import FaceTracker
    from livecam.effects import avatar as av
    from livecam.types import Analysis

    image = _photo("lp_d30.jpg")
    s = S.Settings()
    faces = []
    face_tracker = FaceTracker(s.face, s.runtime)
    for _ in range(3):
        faces = face_tracker.process(image)
    tracker.reset()
    real = tracker.process(image, faces[0].box)
    lm = faces[0].landmarks
    moved = real[0].points - real[0].points.mean(0) + lm[1, :2]  # centred on the nose tip
    hands = [H.Hand(moved.astype(np.float32), real[0].score)]
    swap = av.FaceSwap(load_avatar_photo(FIXTURES / "mpl_grace_hopper.jpg", store=False))
    assert "hands" in swap.needs
    plain, _ = swap.apply(image, Analysis(faces=faces))
    kept, outputs = swap.apply(image, Analysis(faces=faces, hands=hands))
    assert outputs["altered"]
    hand = H.hand_mask(hands, image.shape) == 255
    drawn = np.abs(plain.astype(np.int16) - image).max(axis=2)[hand]
    assert (drawn > 12).mean() > 0.5  # without the hand the photo's face covers it
    assert np.abs(kept.astype(np.int16) - image).max(axis=2)[hand].max() <= 1
