"""The output gate on its own: what it lets out, what it hides, and that its last resort cannot raise."""
import logging

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from livecam import output_gate as G
from livecam import settings as S
from livecam.analysis import Analyzer, runtime
from livecam.live_runner import LiveRunner
from livecam.output_gate import OutputGate, Provenance
from livecam.types import Frame

BLUR = S.update(S.Settings(), background={"mode": "blur"})
OFF = S.update(S.Settings(), background={"mode": "off"})
H, W = 144, 256
FRAME = np.random.default_rng(1).integers(0, 255, (H, W, 3), np.uint8)


def _mask(coverage: float) -> np.ndarray:
    """A person mask covering ``coverage`` of the frame: full-height columns from the left."""
    mask = np.zeros((H, W), np.uint8)
    mask[:, :round(coverage * W)] = 255
    return mask


def _proof(coverage: float | None = 0.4, applied=("background",), **kw) -> Provenance:
    return Provenance(shape=FRAME.shape, applied={name: frozenset({"mask"}) for name in applied},
                      mask=None if coverage is None else _mask(coverage), **kw)


def _passes(gate: OutputGate, proof: Provenance, settings=BLUR) -> bool:
    return gate.check(FRAME, settings, proof) is FRAME


def test_a_proven_frame_leaves_as_it_is_and_an_unproven_one_concealed():
    gate = OutputGate()
    assert _passes(gate, _proof())
    hidden = gate.check(FRAME, BLUR, _proof(applied=()))  # the background did not run
    assert hidden.shape == FRAME.shape and not np.array_equal(hidden, FRAME)
    assert not _passes(gate, _proof(failed=True))
    assert not _passes(gate, _proof(coverage=None))  # no mask: the room was never cut out
    assert gate.hidden == 3 and gate.reasons["a chosen effect did not run"] == 1
    # Background off: nothing is promised, the frame leaves whatever the mask says.
    assert _passes(OutputGate(), _proof(coverage=None, applied=()), OFF)


def test_the_avatar_needs_its_faces_and_its_badge():
    gate = OutputGate()
    swap = S.update(S.Settings(), background={"mode": "off"}, avatar={"mode": "swap"})
    applied = {"avatar": frozenset({"faces"}), "badge": frozenset()}
    assert _passes(gate, Provenance(shape=FRAME.shape, applied=applied), swap)
    assert not _passes(gate, Provenance(shape=FRAME.shape, applied=applied, missing={"faces"}), swap)
    assert not _passes(gate, Provenance(shape=FRAME.shape, applied={"avatar": frozenset({"faces"})}), swap)


def test_a_malformed_picture_or_mask_is_hidden():
    gate = OutputGate()
    assert gate.check(FRAME[:, :-1], BLUR, _proof()).shape == FRAME.shape  # an effect changed the size
    nan = np.full((32, 64), np.nan, np.float32)
    assert not _passes(gate, _proof(small_mask=nan))
    assert not _passes(gate, _proof(small_mask=np.full((32, 64), 1.5, np.float32)))
    bad = _proof()
    bad.mask = _mask(0.4).astype(np.float32)
    assert not _passes(gate, bad)


def test_a_mask_that_jumps_to_all_person_is_hidden_until_it_settles():
    gate = OutputGate()
    for _ in range(10):
        assert _passes(gate, _proof(0.35))
    for _ in range(30):  # a model fault: the whole picture is "person", so the raw room would show
        assert not _passes(gate, _proof(1.0))
    assert gate.problem and "covered most of the picture" in gate.problem
    # Recovering: the smoothed mask falls back over a few frames; frames leave once it is steady.
    outcome = [_passes(gate, _proof(c)) for c in (0.8, 0.6, 0.45, 0.35, 0.35, 0.35, 0.35, 0.35)]
    assert outcome == [False] * (3 + G.SETTLE) + [True] * 2
    assert gate.problem is None


def test_a_sudden_rise_short_of_everything_is_hidden_until_steady():
    gate = OutputGate()
    for _ in range(5):
        assert _passes(gate, _proof(0.45))
    # One frame from a saturating model: 0.96 of the picture "person", most of the room raw.
    outcome = [_passes(gate, _proof(c)) for c in (0.85, 0.85, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5)]
    assert outcome == [False] * (4 + G.SETTLE - 1) + [True] * 2


def test_a_close_up_that_fills_the_frame_gradually_is_not_a_fault():
    gate = OutputGate()
    coverages = list(np.linspace(0.3, 1.0, 40)) + [1.0] * 30 + list(np.linspace(1.0, 0.3, 40))
    assert all(_passes(gate, _proof(c)) for c in coverages)
    assert gate.hidden == 0


def test_a_jump_to_nothing_is_hidden_for_a_moment_then_taken_as_an_empty_room():
    gate = OutputGate()
    for _ in range(5):
        assert _passes(gate, _proof(0.4))
    outcome = [_passes(gate, _proof(0.0)) for _ in range(G.EMPTY_ACCEPT + 5)]
    assert not any(outcome[:G.EMPTY_ACCEPT]) and all(outcome[G.EMPTY_ACCEPT + 1:])


def test_a_new_stream_that_starts_all_person_is_not_proven():
    gate = OutputGate()
    assert not _passes(gate, _proof(1.0))
    gate.reset()
    assert _passes(gate, _proof(0.5))


def test_concealing_that_raises_gives_a_solid_card_of_the_frame_size(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise cv2.error("injected")

    monkeypatch.setattr(cv2, "resize", broken)
    gate = OutputGate()
    with caplog.at_level(logging.ERROR):
        outs = [gate.check(FRAME, BLUR, _proof(applied=())) for _ in range(3)]
    for out in outs:
        assert out.shape == FRAME.shape and out.dtype == np.uint8
        assert (out == G.CARD_BGR).all()
    assert gate.cards == 3 and caplog.text.count("plain card") == 1


def test_the_card_has_the_last_good_size_when_the_frame_has_none(monkeypatch):
    gate = OutputGate()
    assert _passes(gate, _proof())
    for junk in (None, "not a picture", np.zeros((5,), np.uint8), np.zeros((H, W), np.float64)):
        out = gate.safe(junk)
        assert out.shape == FRAME.shape and (out == G.CARD_BGR).all()
    # The card's own allocation failing still leaves the preallocated card.
    monkeypatch.setattr(np, "full", lambda *a, **k: (_ for _ in ()).throw(MemoryError()))
    assert gate.card(shape=(10, 10, 3)).shape == FRAME.shape


def test_the_live_runner_falls_back_to_the_card_when_everything_fails(monkeypatch):
    monkeypatch.setattr(cv2, "GaussianBlur", lambda *a, **k: (_ for _ in ()).throw(cv2.error("injected")))

    class Source:
        i = 0

        def latest(self, after=-1, timeout=0.5):
            self.i += 1
            return Frame(FRAME, self.i, 0.0)

    class Pipe:
        gate = OutputGate()

        def process(self, image, t=None):
            raise RuntimeError("boom")

    sent = []

    class Sender:
        def submit(self, image, t):
            sent.append(image)

    runner = LiveRunner(Source(), Pipe(), Sender(), frames=5).start()
    assert runner.wait(10) and runner.error is None and runner.processed == 5
    assert all(f.shape == FRAME.shape and (f == G.CARD_BGR).all() for f in sent)


# ---------------------------------------------------------------- model outputs (runtime.py)

@pytest.mark.parametrize("fault", ["nan", "inf", "shape", "count"])
def test_unusable_model_outputs_raise_one_sentence(fault, monkeypatch):
    session = runtime.load_model("selfie_segmentation_landscape", provider="cpu")
    real = ort.InferenceSession.run

    def run(self, names, feeds, *args, **kwargs):
        out = real(self, names, feeds, *args, **kwargs)
        if fault == "nan":
            out[0][0, 5, 5, 0] = np.nan
        elif fault == "inf":
            out[0][0, 5, 5, 0] = np.inf
        elif fault == "shape":
            out[0] = out[0][:, :-1]
        else:
            out.append(out[0])
        return out

    x = np.zeros(session.input_shape, np.float32)
    assert np.isfinite(session.run(x)[0]).all()
    monkeypatch.setattr(ort.InferenceSession, "run", run)
    with pytest.raises(runtime.ModelOutputError) as caught:
        session.run(x)
    text = str(caught.value)
    assert text.startswith("Model selfie_segmentation_landscape returned") and text.endswith("not used.")
    assert text.count(". ") == 0


def test_a_failing_segmenter_is_held_for_a_moment_then_reported_missing(astronaut, monkeypatch):
    analyzer = Analyzer(S.update(S.Settings(), background={"mode": "blur"}))
    first = analyzer.analyze(astronaut, {"mask"})
    assert first.mask is not None and not analyzer.missing
    monkeypatch.setattr(ort.InferenceSession, "run",
                        lambda self, names, feeds, *a, **k: [np.full(o.shape, np.nan, np.float32)
                                                             for o in self.get_outputs()])
    # The picture moves, so the model must run (a still picture reuses the last mask without it).
    held = [analyzer.analyze(np.roll(astronaut, 8 * (i + 1), axis=1), {"mask"}) for i in range(6)]
    from livecam.analysis import HOLD_FRAMES

    assert all(a.mask is first.mask for a in held[:HOLD_FRAMES]), "the last good mask bridges a short fault"
    assert all(a.mask is None for a in held[HOLD_FRAMES:]), "never held for good"
    assert analyzer.missing == {"mask"}
