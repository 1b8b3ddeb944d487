"""The output gate: the last step of every frame, and the one place that decides it may leave.

The user's settings say what must stay hidden: an effect registered with on_failure="conceal"
(the background hides the room, the avatar the wearer's face, the badge discloses an altered face)
is a promise once it is on. The pipeline hands the gate the frame's provenance: which effects really
applied, the person mask the room-hiding effect used, and which analysis results are missing. The
gate lets the frame out only when every promise is proven for it:

- every chosen "conceal" effect applied this frame, and nothing in the chain raised;
- the analysis those effects need is there (a model that keeps failing is held only for the
  analyzer's short grace, then reported missing);
- the person mask is a frame-size uint8 picture, its small copy finite and in 0..1, decided (not
  half "person" over much of the picture, which shows the room through; nor the model's own answer
  this frame, which the temporal blend reaches only a few frames later), and plausible:
  a mask that jumps towards covering the whole picture, or to nothing of it, within a few frames
  is a model fault ("person" where the room is shows the raw room), while a close-up that fills
  the picture gradually is not; and the right way round: a mask that surrounds the room is a model
  answering confidently but wrong (livecam.mask_check);
- the picture is a BGR uint8 frame of the input's size.

Otherwise the frame goes out concealed (:func:`livecam.effects.conceal.conceal`), and when even
that fails, as a solid card of the frame's size: :meth:`OutputGate.safe` cannot raise.
"""
from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from livecam.effects import REGISTRY
from livecam.effects.conceal import conceal
from livecam.imaging import finite_in_unit_range
from livecam.mask_check import MaskCheck

log = logging.getLogger(__name__)
trace = logging.getLogger("livecam.trace")

FULL_AT = 0.9  # mask coverage (share of the picture that is "person") from which little room is left to hide
EMPTY_AT = 0.003  # coverage up to which nobody is in the picture
# A rise of the coverage this large within WINDOW frames is a fault, not a movement: on the shared
# clips (talking, gesturing, a hand entering) the largest rise within 5 frames was 0.06, while a
# model saturating to "person" jumped from 0.46 to 0.96 in one frame. WINDOW frames (1/6 s at
# 30 fps), because the temporal smoothing can spread a sudden jump over a few frames.
JUMP = 0.25
WINDOW = 5
# In a close-up little room is left to take, and the temporal smoothing (0.9 by default) spreads a
# model's all-"person" frame: with the person at 0.685 of the picture one such frame rose to 0.884
# (+0.2, under JUMP and FULL_AT) and the raw room left whole. So a rise that takes over ROOM_JUMP of
# the room left within WINDOW frames is a fault too, when it is over JUMP_MIN (the shared clips'
# largest rise was 0.054, a hand entering at 0.5: 0.107 of the room).
ROOM_JUMP = 0.5
JUMP_MIN = 0.1
SETTLE = 3  # after a fault, frames in a row with a steady mask (below FULL_AT) before frames leave again
STEADY = 0.05  # coverage change per frame that counts as steady
EMPTY_ACCEPT = 15  # frames of steady empty mask after which "nobody there" is taken as true (it shows only the background)
# Coverage is read on every 16th row (57,600 samples at 720p). The mask is cold in the cache by
# now: in the pipeline at 720p, numpy's mean of every 8th pixel cost 0.08 ms, OpenCV's mean of
# every 16th row 0.02 ms (and checkRange on the small mask 0.01 ms against 0.03 for a numpy sum).
ROW_STEP = 16
# A person mask is close to 0 or 255 except along the person's edge: on the tuning half (both models)
# at most 0.072 of a shared clip's 720p frame (motion blur in the dim clip, usually under 0.02) and
# 0.09 of a masks/dev photo lay between UNDECIDED_LO and UNDECIDED_HI, and 0.21 of a night-time city
# shot with nobody in it (lowlight dicm_20; a dark room is where a real mask is least sure). A model
# answering "maybe" everywhere (a constant 0.4 from the landscape model made the mask 128 all over)
# blends the raw room in at half strength with no jump in coverage, so over UNDECIDED of the picture
# undecided is a fault (0.35: 1.7x a dark empty room's share, and the fault still hidden from its
# fifth frame as the temporal blend drifts to it; 0.5 let seven frames through).
UNDECIDED_LO, UNDECIDED_HI = 26, 229  # 0.1 .. 0.9: the room shows through at over a tenth
UNDECIDED = 0.35
# The temporal blend takes a few frames to drift from the person's mask to a model's "maybe": the
# first three or four frames of the fault left under UNDECIDED with the room blended in at the person's
# edge. The model's own answer this frame (``Provenance.raw_mask``) shows the fault at once: undecided
# over more than RAW_UNDECIDED of it is a fault too. On the tuning half the selfie models' answers were
# undecided over at most 0.26 (a photo; 0.13 a dark room, 0.15 at p99); the reporting half's night
# city view with nobody in it reached 0.41. A model answering "maybe" is undecided nearly everywhere
# (0.95-1.0 in round 46's and 49's faults), so the limit sits well clear of a dark room, where a real
# mask is least sure and a false hide would flicker.
RAW_UNDECIDED = 0.7
# A model can also answer confidently but inverted: coverage and decidedness look right then, its shape
# does not (livecam.mask_check).
MISPLACED_PROBLEM = ("The person mask is inverted (a model or driver fault); "
                     "the picture is hidden until it is the right way round again.")
UNDECIDED_PROBLEM = ("The person mask is undecided over much of the picture (a model or driver fault); "
                     "the picture is hidden until the mask is clear again.")
CARD_BGR = (48, 48, 48)  # the last-resort card: dark grey, clearly not a picture of anything
DEFAULT_SHAPE = (720, 1280, 3)  # the card's size before any frame was seen


@dataclass
class Provenance:
    """What the pipeline knows about one frame when it reaches the gate."""

    shape: tuple[int, ...] | None = None  # the input frame's shape: the output must have it too
    failed: bool = False  # a "conceal" effect failed or was missing, or the chain raised
    applied: dict[str, frozenset[str]] = field(default_factory=dict)  # effects that applied this frame → their needs
    mask: np.ndarray | None = None  # the person mask the room-hiding effect used (uint8, frame size)
    small_mask: np.ndarray | None = None  # its model-size float copy, when it had one
    raw_mask: np.ndarray | None = None  # the model's own answer this frame (float 0..1), when it ran
    missing: set[str] = field(default_factory=set)  # analysis results the models could not make this frame


def _required(settings: Any) -> tuple[str, ...]:
    """Every "conceal" effect the settings turn on."""
    return tuple(spec.name for spec in REGISTRY if spec.on_failure == "conceal" and spec.enabled(settings))


def promises_more(old: Any, new: Any) -> bool:
    """Whether ``new`` turns on a "conceal" effect that ``old`` did not: frames made under ``old`` then
    show more than the user now chose."""
    return not set(_required(new)) <= set(_required(old))


def _jumped(before: float, coverage: float) -> bool:
    """A rise from ``before`` to ``coverage`` (within WINDOW frames) that a person does not make."""
    rise = coverage - before
    return rise > JUMP or (rise > JUMP_MIN and rise > ROOM_JUMP * (1.0 - before))


def _undecided(mask: np.ndarray) -> float:
    """The share of the picture the uint8 mask neither calls person nor room, 0..1."""
    rows = mask[::ROW_STEP]
    try:
        return cv2.countNonZero(cv2.inRange(rows, UNDECIDED_LO, UNDECIDED_HI)) / rows.size
    except cv2.error:
        return float(((rows >= UNDECIDED_LO) & (rows <= UNDECIDED_HI)).mean())


def _raw_undecided(raw: Any) -> float:
    """The share of the model's float answer between 0.1 and 0.9, 0..1 (0 when there is none to judge)."""
    if not isinstance(raw, np.ndarray) or raw.dtype != np.float32 or raw.ndim < 2 or not raw.size:
        return 0.0
    rows = raw.reshape(-1, raw.shape[-1])
    lo, hi = UNDECIDED_LO / 255.0, UNDECIDED_HI / 255.0
    try:
        return cv2.countNonZero(cv2.inRange(rows, lo, hi)) / rows.size
    except cv2.error:
        return float(((rows >= lo) & (rows <= hi)).mean())


def _coverage(mask: np.ndarray) -> float:
    """The share of the picture the uint8 mask calls person, 0..1."""
    rows = mask[::ROW_STEP]
    try:
        return cv2.mean(rows)[0] / 255.0
    except cv2.error:
        return float(rows.mean()) / 255.0


class OutputGate:
    """Decides, per frame, whether the picture leaves as it is or concealed. One per stream."""

    def __init__(self) -> None:
        self._history: deque[float] = deque(maxlen=WINDOW)
        self._fault: str | None = None  # "rise" or "empty" while the mask is implausible
        self._steady = 0  # frames in a row, during a fault, with a steady mask
        self._last_frame = -2
        self._hidden_gap = False  # a frame was hidden since the last mask check (a model or mask fault)
        self._frame = 0
        self._settings: Any = None
        self._wanted: tuple[str, ...] = ()
        self._shape: tuple[int, ...] = DEFAULT_SHAPE
        self._card = np.full(DEFAULT_SHAPE, CARD_BGR, np.uint8)  # preallocated: the fallback allocates nothing
        self.hidden = 0  # frames that left concealed (or as the card)
        self.cards = 0  # frames that left as the card because concealing failed
        self.reasons: Counter[str] = Counter()
        self._logged: set[str] = set()
        self.problem: str | None = None  # a plain sentence while the mask is held implausible
        self._placed = MaskCheck()  # whether the mask is the right way round

    def reset(self) -> None:
        """A new source: the mask history starts over."""
        self._history.clear()
        self._hidden_gap = False
        self._fault, self._steady, self.problem = None, 0, None
        self._placed.reset()

    def _forget_history(self) -> None:
        """No mask to compare with: a fault stays until a steady mask ends it."""
        self._history.clear()
        self._steady = 0

    # ------------------------------------------------------------ the decision
    def check(self, image: Any, settings: Any, proof: Provenance) -> np.ndarray:
        """``image`` when the frame is proven safe for ``settings``, else the concealed frame. Never raises."""
        try:
            reason = self._unsafe(image, settings, proof)
        except Exception as exc:  # noqa: BLE001 - a check that cannot be made proves nothing
            reason = "the output check failed"
            trace.debug("output check failed", exc_info=exc)
        if reason is None:
            return image
        if self._last_frame != self._frame:
            self._hidden_gap = True
        self.hidden += 1
        self.reasons[reason] += 1
        return self.safe(image, proof.shape)

    def _unsafe(self, image: Any, settings: Any, proof: Provenance) -> str | None:
        """Why the frame may not leave as it is (a few words), or None."""
        self._frame += 1
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            return "the picture is not a colour frame"
        if proof.shape is not None and image.shape != proof.shape:
            return "the picture changed size"
        self._remember_shape(image.shape)
        if settings is not self._settings:
            self._settings, self._wanted = settings, _required(settings)
        if proof.failed:
            return "a chosen effect could not run"
        mask_checked = False
        for name in self._wanted:
            needs = proof.applied.get(name)
            if needs is None:
                return "a chosen effect did not run"
            if needs & proof.missing:
                return "the analysis a chosen effect needs is missing"
            if "mask" in needs and not mask_checked:
                mask_checked = True
                reason = self._mask_fault(proof, image.shape)
                if reason:
                    return reason
        return None

    def _mask_fault(self, proof: Provenance, shape: tuple[int, ...]) -> str | None:
        mask = proof.mask
        if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.shape != shape[:2]:
            self._steady = 0
            return "the person mask is missing or malformed"
        if proof.small_mask is not None and not finite_in_unit_range(proof.small_mask):
            self._steady = 0
            return "the person mask has values out of range"
        if _undecided(mask) > UNDECIDED or _raw_undecided(proof.raw_mask) > RAW_UNDECIDED:
            self._steady = 0
            if self.problem is None:  # a jump's own sentence stays while that fault holds
                self.problem = UNDECIDED_PROBLEM
            self._say_once("undecided", UNDECIDED_PROBLEM)
            return "the person mask is undecided over much of the picture"
        if self.problem == UNDECIDED_PROBLEM:
            self.problem = None
        reason = self._plausible(_coverage(mask))
        return self._misplaced_mask(proof) or reason

    def _misplaced_mask(self, proof: Provenance) -> str | None:
        """A reason while the mask is inverted (MaskCheck), else None."""
        check = self._placed
        person = proof.small_mask
        if isinstance(person, np.ndarray) and person.ndim == 2 and person.dtype == np.float32 and person.size:
            raw = proof.raw_mask
            if isinstance(raw, np.ndarray) and raw.dtype == np.float32 and raw.size == person.size:
                # The model's own answer this frame too: the temporal blend reaches a fault a few frames
                # late, and leaves it a few frames late; what either calls person may show the room.
                check.judge(person, raw.reshape(person.shape))
            else:
                check.judge(person)
        if check.fault is None:
            if self.problem == MISPLACED_PROBLEM:
                self.problem = None
            return None
        self._say_once("misplaced", MISPLACED_PROBLEM)
        if self.problem is None:  # a jump's own sentence stays while that fault holds
            self.problem = MISPLACED_PROBLEM
        return f"the person mask is {check.fault}"

    def _plausible(self, coverage: float) -> str | None:
        """None while the mask's coverage moves like a person; a reason while it is a fault."""
        gap = self._frame != self._last_frame + 1
        if gap and self._hidden_gap:
            # Frames hidden in between (no mask, a malformed one, an effect that failed): the mask
            # before them still counts. Forgotten, the first mask back was judged alone, and one that
            # took the room of a close-up (0.685 -> 0.884 of the picture) left the raw room.
            self._steady = 0
        elif gap:
            self._forget_history()  # the mask was not needed in between: nothing to compare with
        self._hidden_gap = False
        self._last_frame = self._frame
        history = self._history
        previous = history[-1] if history else None
        history.append(coverage)
        extreme = "full" if coverage >= FULL_AT else "empty" if coverage <= EMPTY_AT else None
        if self._fault is None:
            others = list(history)[:-1]
            if not others:
                # A new stream: nothing shows how this mask came about. An all-person one is not
                # proven; an empty one hides the whole picture anyway.
                fault = "rise" if extreme == "full" else None
            elif _jumped(min(others), coverage):
                fault = "rise"
            else:
                # After a gap the person may have left meanwhile; an empty mask hides all of the room.
                fault = "empty" if extreme == "empty" and not gap and max(others) - coverage > JUMP else None
            if fault is None:
                return None
            self._fault, self._steady = fault, 0
            self._announce(fault)
            return self._fault_reason()
        steady = previous is not None and abs(coverage - previous) <= STEADY
        self._steady = self._steady + 1 if steady else 0
        if extreme == "full":
            self._fault = "rise"  # whatever came before: after a fault, all person is not proven
        if extreme != "full" and self._steady >= SETTLE and (self._fault == "rise" or extreme is None):
            self._fault = self.problem = None
            log.info("The person mask looks right again; the picture is shown again.")
            return None
        if self._fault == "empty" and extreme == "empty" and self._steady >= EMPTY_ACCEPT:
            # Nobody there after all (they left): an empty mask shows only the chosen background.
            self._fault = self.problem = None
            return None
        return self._fault_reason()

    def _fault_reason(self) -> str:
        return "the person mask jumped towards the whole picture" if self._fault == "rise" else \
            "the person mask jumped to nothing"

    def _announce(self, fault: str) -> None:
        what = "most of the picture" if fault == "rise" else "nothing of the picture"
        self.problem = (f"The person mask suddenly covered {what} (a model or driver fault); "
                        "the picture is hidden until it looks right again.")
        self._say_once(fault, self.problem)

    def _say_once(self, kind: str, sentence: str) -> None:
        """Log ``sentence`` the first time a fault of ``kind`` is met in this stream, not at every frame."""
        if kind not in self._logged:
            self._logged.add(kind)
            log.error("%s", sentence)

    # ------------------------------------------------------------ the safe frame
    def _remember_shape(self, shape: tuple[int, ...]) -> None:
        if shape != self._shape:
            self._shape = shape
            try:
                self._card = np.full(shape, CARD_BGR, np.uint8)
            except Exception as exc:  # noqa: BLE001 - keep the old card; card() sizes its own
                trace.debug("preallocating the card failed", exc_info=exc)

    def safe(self, image: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """``image`` concealed; when concealing fails, a solid card of ``shape`` (else the image's,
        else the last good frame's size). Cannot raise."""
        try:
            if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and (
                    shape is None or image.shape == shape):
                out = conceal(image)
                if isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == image.shape:
                    return out
            failure: BaseException | None = None
        except Exception as exc:  # noqa: BLE001 - OpenCV failing, no memory: the card below
            failure = exc
        self.cards += 1
        if "card" not in self._logged:
            self._logged.add("card")
            log.error("Hiding the picture failed; a plain card goes out instead while LiveCam carries on.")
            if failure is not None:
                trace.debug("conceal failed", exc_info=failure)
        return self.card(image, shape)

    def card(self, image: Any = None, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The solid card, the size of ``shape``, else of ``image``, else of the last good frame."""
        try:
            if shape is None:
                shape = image.shape if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 else None
            # Always three channels: a sink takes BGR, whatever the frame that failed was.
            shape = (int(shape[0]), int(shape[1]), 3) if shape is not None and len(shape) >= 2 else self._shape
            if shape == self._card.shape:
                return self._card.copy()
            return np.full(shape, CARD_BGR, np.uint8)
        except Exception:  # noqa: BLE001 - the preallocated card itself: no allocation left to fail
            return self._card


_FALLBACK = OutputGate()


def safe_frame(image: Any, gate: OutputGate | None = None) -> np.ndarray:
    """``image`` concealed, or the card: for callers whose pipeline raised. Cannot raise."""
    return (gate if isinstance(gate, OutputGate) else _FALLBACK).safe(image)
