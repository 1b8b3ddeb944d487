"""Hands near the face: the palm detector and hand landmark model find real hands, the crop geometry
maps back exactly, and the motion gate keeps both models idle while the ring around the face is still."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from livecam.analysis import hands as H
from livecam.effects.compositing import keep_in_front

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
    cv2.circle(frame, (round(p[0] * 16), round(p[1] * 16)), 4 * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
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
    kept = keep_in_front(drawn, image, hands)
    mask = H.hand_mask(hands, image.shape)
    hand, away, edge = mask == 255, mask == 0, (mask > 0) & (mask < 255)
    assert hand.sum() > 3000
    assert np.abs(kept.astype(np.int16) - image).max(axis=2)[hand].max() <= 1
    assert np.array_equal(kept[away], drawn[away])
    # At the edge each pixel lies between the two pictures, weighted by the mask.
    want = (image.astype(np.float32) * mask[..., None] + drawn.astype(np.float32) * (255 - mask[..., None])) / 255
    assert np.abs(kept[edge].astype(np.float32) - want[edge]).max() <= 1.5
    assert keep_in_front(drawn, image, []) is drawn
    assert keep_in_front(image, image, hands) is image  # nothing drawn: nothing to do


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


# ------------------------------------------------------------ faults (red team): a hand model's
# garbage, odd frames and odd face boxes never raise, never take long and never make a mask that
# puts the live picture back over more than a hand at the face.


def _garbage(kind: str, seed: int):
    """What a faulty hand model could return instead of its real outputs, at the ORT boundary."""
    rng = np.random.default_rng(seed)

    def wrap(real_run):
        def run(names, feeds, *args, **kwargs):
            out = real_run(names, feeds, *args, **kwargs)
            if kind == "shape":
                return [np.zeros((1, 3), o.dtype) for o in out]
            if kind in ("nan", "inf"):
                return [np.full_like(o, np.nan if kind == "nan" else np.inf) for o in out]
            if kind == "exception":
                raise RuntimeError("injected ONNX Runtime fault")
            if kind == "scatter":  # finite points anywhere, a confident flag
                return [rng.uniform(-5000, 5000, o.shape).astype(o.dtype) if o.size > 1 else np.ones_like(o) for o in out]
            value = {"huge": 3e9, "negative": -1e7, "ones": 1.0, "zeros": 0.0}[kind]
            return [np.full_like(o, value) for o in out]
        return run
    return wrap


FAULTS = ["shape", "nan", "inf", "exception", "scatter", "huge", "negative", "ones", "zeros"]


def _box(kind: str, h: int, w: int, rng) -> np.ndarray:
    s = max(2.0, 0.3 * min(h, w))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    return {"normal": np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], np.float32),
            "point": np.array([cx, cy, cx, cy], np.float32),
            "nan": np.array([np.nan, 0, 10, 10], np.float32),
            "inf": np.array([0, 0, np.inf, 10], np.float32),
            "huge": np.array([-1e9, -1e9, 1e9, 1e9], np.float32),
            "outside": np.array([w + 500, h + 500, w + 700, h + 700], np.float32),
            "inverted": np.array([cx + s, cy + s, cx, cy], np.float32)}[kind]


@hsettings(max_examples=60, deadline=None, database=None)
@given(fault=st.sampled_from(FAULTS), model=st.sampled_from(["palm", "hand", "both"]),
       box=st.sampled_from(["normal", "point", "nan", "inf", "huge", "outside", "inverted"]),
       size=st.sampled_from([(1, 1), (2, 3), (120, 160), (900, 600), (2160, 3840)]), seed=st.integers(0, 2**16))
def test_no_hand_model_fault_raises_stalls_or_uncovers_more_than_a_hand(tracker, monkeypatch_module, fault, model,
                                                                        box, size, seed):
    import time

    rng = np.random.default_rng(seed)
    h, w = size
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    face_box = _box(box, h, w, rng)
    sessions = {"palm": [tracker.palms.session.session], "hand": [tracker.landmarks.session.session],
                "both": [tracker.palms.session.session, tracker.landmarks.session.session]}[model]
    for ort_session in sessions:
        monkeypatch_module.setattr(ort_session, "run", _garbage(fault, seed)(type(ort_session).run.__get__(ort_session)))
    try:
        tracker.reset()
        t0 = time.perf_counter()
        for _ in range(3):  # detection, then following
            try:
                hands = tracker.process(image, face_box)
            except Exception as exc:  # noqa: BLE001 - the Analyzer catches model errors; only those are allowed
                from livecam.analysis.runtime import ModelOutputError

                assert isinstance(exc, (ModelOutputError, RuntimeError)) and fault in ("shape", "nan", "inf", "exception")
                tracker.reset()
                hands = []
            region = H.face_region(face_box)
            for hand in hands:
                assert H.plausible(hand, region)
                assert hand.width <= H.MAX_WIDTH * region.size / H.WATCH_SPAN
            drawn = cv2.bitwise_not(image)
            kept = keep_in_front(drawn, image, hands)
            assert kept.shape == image.shape and kept.dtype == np.uint8
            mask = H.hand_mask(hands, image.shape)
            if mask is not None:
                # Nothing is put back beyond a hand's reach from the watched square around the face.
                reach = region.size / 2 + (H.MAX_REACH + 1) * H.MAX_WIDTH * region.size / H.WATCH_SPAN
                x0, y0 = np.floor(np.array(region.centre) - reach).astype(int)
                x1, y1 = np.ceil(np.array(region.centre) + reach).astype(int)
                outside = mask.copy()
                outside[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0
                assert outside.max() == 0
                assert np.array_equal(kept[mask == 0], drawn[mask == 0])
        assert time.perf_counter() - t0 < 5.0
    finally:
        monkeypatch_module.undo()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_scattered_landmarks_no_longer_put_the_whole_live_frame_back(tracker, monkeypatch):
    """Before: finite garbage from the landmark model (points spread over +-2000 px, flag 1) was a
    "hand" whose mask covered 100 % of lp_d30, so the face swap's keep_in_front put the wearer's
    whole live frame (face included) back over the swap; now it is no hand."""
    image = _photo("lp_d30.jpg")
    box = _face_box(image)
    session = tracker.landmarks.session.session
    monkeypatch.setattr(session, "run", _garbage("scatter", 0)(type(session).run.__get__(session)))
    tracker.reset()
    assert tracker.process(image, box) == []
    assert tracker.ran == ("palm", "hand")  # the real palm was found; its points were refused


def test_a_hand_wholly_outside_the_frame_leaves_the_effect_as_drawn():
    """Before: keep_in_front raised ValueError (min of an empty array) for hands whose points all lay
    outside the frame (constant model outputs did this every frame), so the swap failed and the
    frame went out concealed."""
    image = np.full((120, 160, 3), 90, np.uint8)
    drawn = cv2.bitwise_not(image)
    pts = np.array([[400 + 10 * (i % 5), 300 + 10 * (i // 5)] for i in range(21)], np.float32)
    assert keep_in_front(drawn, image, [H.Hand(pts, 0.9)]) is drawn


def test_real_hand_is_plausible(tracker):
    image = _photo("lp_d30.jpg")
    box = _face_box(image)
    tracker.reset()
    hands = tracker.process(image, box)
    assert len(hands) == 1 and H.plausible(hands[0], H.face_region(box))


def test_the_lower_face_is_not_taken_for_a_hand():
    """Shown the lower half of a face, the hand models read a hand there (lp_d9 stretched to 720p:
    93 of 300 frames, scores as high as real hands'); kept in front, it would put the wearer's own
    mouth back over a face swap. The Analyzer, which knows the face's outline, finds none."""
    from livecam import settings as S
    from livecam.analysis import Analyzer

    clip = FACES.parents[1] / "video" / "lp_d9_webcam_room.mp4"
    if not clip.exists():
        pytest.skip(f"shared test data absent: {clip}")
    capture = cv2.VideoCapture(str(clip))
    analyzer = Analyzer(S.update(S.Settings(), runtime={"threads": 1, "provider": "cpu"}))
    looked = 0
    for i in range(100):
        ok, frame = capture.read()
        assert ok
        if i < 60:
            continue  # frames 70-100 showed the false hand before
        found = analyzer.analyze(cv2.resize(frame, (1280, 720)), {"faces", "hands"})
        looked += "hand" in analyzer.hand_tracker.ran
        assert found.faces and found.hands == [], f"frame {i}: a hand on the face"
    assert looked > 0  # the models did look, and what they saw was refused
    capture.release()


def test_a_close_up_hand_is_softened_quickly_and_like_before(tracker):
    """Before: the whole frame was blurred at the hand's full width; a 1500 px hand of a 4K close-up
    (k = 179) took 151 ms of CPU per frame. Up to 31 taps the mask is the full-frame blur exactly."""
    import time

    image = _photo("lp_d30.jpg")
    tracker.reset()
    hand = tracker.process(image, _face_box(image))[0]
    drawn = H.hand_mask([hand], image.shape)
    mask = np.zeros(image.shape[:2], np.uint8)
    for h in [hand]:
        pts = np.round(h.points * 4).astype(np.int32)
        finger = max(int(h.width * 0.32), 2)
        cv2.fillConvexPoly(mask, cv2.convexHull(pts[list(H.PALM)]), 255, cv2.LINE_AA, shift=2)
        for a, b in H.BONES:
            cv2.line(mask, tuple(pts[a]), tuple(pts[b]), 255, finger, cv2.LINE_AA, shift=2)
        for tip in (4, 8, 12, 16, 20):
            cv2.circle(mask, tuple(pts[tip]), finger * 2, 255, -1, cv2.LINE_AA, shift=2)
    k = int(hand.width * 0.12) | 1
    assert 3 <= k <= H.MAX_TAPS and np.array_equal(drawn, cv2.GaussianBlur(mask, (k, k), 0))
    big = H.Hand((hand.points - hand.points.mean(0)) * 22 + [1900, 1100], hand.score)
    t0 = time.thread_time()
    wide = H.hand_mask([big], (2160, 3840, 3))
    assert time.thread_time() - t0 < 0.06
    soft = (wide > 0) & (wide < 255)
    assert (wide == 255).sum() > 1e6 and soft.sum() > 1e5  # a whole hand with a soft edge
    assert wide[:, :200].max() == 0  # nothing far from it


@pytest.mark.parametrize("fault", ["scatter", "ones", "huge", "nan", "shape", "exception"])
def test_the_face_swap_keeps_running_through_a_hand_model_fault(monkeypatch, fault):
    """Through the whole pipeline (face swap alone): with the hand models returning garbage or
    failing, every frame still leaves swapped, none is hidden, and none puts the live face back."""
    from livecam import settings as S
    from livecam.pipeline import Pipeline

    image = _photo("lp_d30.jpg")
    s = S.update(S.Settings(), runtime={"provider": "cpu", "threads": 1}, background={"mode": "off"},
                 avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")})
    pipeline = Pipeline(s)
    try:
        clean = pipeline.process(image, 0.0)
        tracker = pipeline.analyzer.hand_tracker
        assert pipeline.concealed == 0 and not np.array_equal(clean, image)
        for session in (tracker.palms.session.session, tracker.landmarks.session.session):
            monkeypatch.setattr(session, "run", _garbage(fault, 1)(type(session).run.__get__(session)))
        tracker.reset()
        for i in range(1, 7):
            frame = np.ascontiguousarray(np.roll(image, 4 * (i % 2), axis=1))  # the ring moves: the models run
            out = pipeline.process(frame, i / 30)
            assert pipeline.concealed == 0
            x0, y0, x1, y1 = _face_box(frame).astype(int)
            face = np.abs(out[y0:y1, x0:x1].astype(np.int16) - frame[y0:y1, x0:x1]).max(axis=2)
            assert (face > 12).mean() > 0.3  # the photo's face is drawn over most of the wearer's
    finally:
        pipeline.close()


def test_a_corrupt_hand_model_costs_the_hands_alone_in_one_sentence(tmp_path, monkeypatch, astronaut):
    """A damaged palm model file: the Analyzer says why in one sentence and never retries per frame,
    and the face swap goes on (swapped, not hidden, never the raw face)."""
    from livecam import settings as S
    from livecam.analysis import runtime
    from livecam.pipeline import Pipeline

    spec = runtime.model_spec("palm_detection_lite")
    (tmp_path / spec["file"]).write_bytes((runtime.models_dir() / spec["file"]).read_bytes()[:-100] + b"x" * 100)
    real = runtime.load_model
    monkeypatch.setattr(H, "load_model", lambda name, **kw: real(name, directory=tmp_path, **kw))
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"},
                                 avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")}))
    try:
        for _ in range(4):
            out = pipeline.process(astronaut)
        message = pipeline.analyzer.broken["hands"]
        assert "corrupt" in message and "reinstall" in message.lower() and "\n" not in message
        assert pipeline.gate.hidden == 0 and pipeline.last_analysis.faces
        x0, y0, x1, y1 = pipeline.last_analysis.faces[0].box.astype(int)
        face = (slice(y0, y1), slice(x0, x1))
        assert np.abs(out[face].astype(np.int16) - astronaut[face]).mean() > 10  # the swap still shows
    finally:
        pipeline.close()
