"""How shut each eye is, from the picture: the lid gap of MediaPipe's iris model's eye contour.

The 468-point face mesh closes a lid only to 0.6-0.8 of its open gap on a blink, so a blink read
from the mesh alone is a guess at a threshold. The iris model (bundled, ``iris_landmark.onnx``)
traces the lids on a 64 px crop of each eye and closes them to 0.25-0.6 of open on the same
blinks. It costs about 1 ms an eye on one thread, so it is read only where it can matter (see
:class:`EyeClosure`).

Measured on the tuning clips (correlation with dlib's 68-point eye ratio on the input, lp_d3 /
lp_s18 / lp_d19 / lp_d18): the contour's own lid gap 0.91 / 0.97 / 0.88 / 0.81, the mesh's 0.90 /
0.86 / 0.88 / 0.51. Not used: the face landmarker's blendshape model (``eyeBlink``,
``face_landmarker.task``). Fed the 468 mesh with irises placed from the eye corners it gave 0.91 /
0.88 / 0.83 / 0.40 with "blink" scores of only 0.1-0.5 on shut eyes; fed these contours and the
iris model's irises, 0.87 / 0.96 / 0.83 / 0.61, with no scale shared across people (shut eyes at
0.5 on lp_d3, 0.18 on lp_d19).
"""
from __future__ import annotations

import numpy as np

from livecam.analysis.face_landmarker import contour_lid_gap as lid_gap
from livecam.analysis.face_landmarker import run_iris
from livecam.analysis.runtime import ModelSession, load_model

# Lid gap over its usual open value where an eye counts as starting to shut, and as shut: open eyes
# read 0.9-1.1 of it, shut ones 0.25-0.6 (tuning clips; squints and looking down fall between).
# From 0.85 the dead zone hid part-way closures (lp_d19 looking down: gap 0.78-0.84, dlib 0.6-0.66
# of its median, read 0.04 shut); from 0.95 the reading follows dlib closer on 5 of 6 tuning wearers.
# It pays only since a full closure is drawn at least as shut as a half one (lid_skin.shade_opacity):
# before, any closure over ~0.3 read fully shut and blink r fell (mean 0.688 -> 0.675).
SHUT_RAMP = (0.95, 0.5)
# The contour's gap itself (over the eye width) below which an eye closes whatever its usual gap,
# and is shut: open eyes read 0.20-0.44 on the tuning clips, shut ones 0.09-0.20. It finds eyes
# shut from the first frame, when no usual open gap is known yet.
ABSOLUTE_RAMP = (0.17, 0.11)
OPEN_RISE, OPEN_FALL = 0.3, 0.01  # the usual open gap follows a wider gap fast, a narrower one slowly


class LidReader:
    """The iris model's eye contours (frame pixels) for a face's two eyes."""

    def __init__(self, provider: str = "auto", threads: int = 1, session: ModelSession | None = None) -> None:
        self.session = session or load_model("iris_landmark", provider=provider, threads=threads)

    def contours(self, image: np.ndarray, landmarks: np.ndarray, eyes=(0, 1)) -> list[np.ndarray]:
        """(71, 2) lid and brow contour of each of ``eyes`` (0 = the subject's right eye, 1 = left)."""
        return [run_iris(self.session, image, landmarks, eye)[1][:, :2] for eye in eyes]


class EyeClosure:
    """Per eye, how shut it is (0 open to 1 shut). A reading takes both eyes' contours (~1 ms an
    eye); it is taken only where it can matter and held in between (blinks last 3-10 frames at
    30 fps): on every ``every``-th frame while the caller sees the lids narrowing (``narrowed``,
    from the mesh) or the last reading found an eye closing, and every ``refresh``-th frame
    regardless, which keeps the usual open gap current and finds eyes that are shut from the
    start (the mesh's own open reference is then the shut gap)."""

    def __init__(self, reader: LidReader, every: int = 2, refresh: int = 8) -> None:
        self.reader = reader
        self.every = max(1, every)
        self.refresh = max(self.every, refresh)
        self.reads = 0  # readings taken (for tests and the cost)
        self.reset()

    def reset(self) -> None:
        self._open = [0.0, 0.0]
        self._shut = [0.0, 0.0]
        self._frames = 0

    def update(self, image: np.ndarray, landmarks: np.ndarray, narrowed: bool = True) -> list[float]:
        """The closure of both eyes for this frame: a fresh reading or the last one."""
        self._frames += 1
        phase = self._frames - 1
        wanted = (narrowed or max(self._shut) > 0.0) and phase % self.every == 0
        if not (wanted or phase % self.refresh == 0):
            return list(self._shut)
        self.reads += 1
        return self._closure([lid_gap(c) for c in self.reader.contours(image, landmarks)])

    def from_gaps(self, gaps) -> list[float]:
        """The closure of both eyes from lid gaps the caller already has (``Face.lids``: the face
        tracker's own iris-model run, carried between runs), so the model runs once a frame at most."""
        self._frames += 1
        # A gap every frame: the usual open gap falls at the pace it had with one reading per refresh.
        return self._closure([float(g) for g in gaps], OPEN_FALL / self.refresh)

    @staticmethod
    def mesh_agrees(closure, mesh_ratios, span: float) -> list[float]:
        """``closure`` (per eye, from the iris model) with what one eye reads more shut than the other
        kept only as far as the face mesh does not see the opposite: the mesh's lid gaps over their usual
        open values (``mesh_ratios``), the other eye's less this one's, over ``span`` (the mesh's swing
        from open to shut). Full where the mesh sees this eye as narrow as the other or narrower, none
        where it sees it wider by ``span``. What both eyes read shut is kept as it is: blinks shut both
        eyes, and only the one-eye part of a reading is checked against a second, independent one.

        Behind glasses the iris model reads one open eye part-way shut (lp_d12 frames 32-47: 0.23-0.46
        on one eye, 0 on the other, dlib's eye ratio at its median) while the mesh sees that eye the
        wider of the two by 0.04-0.33; real one-eye squints (lp_d3 frames 6-21 and 34-46, lp_d19 frames
        8-21 and 42-56) are narrower in the mesh too and are kept."""
        shut = [float(c) for c in closure]
        if len(shut) != 2 or len(mesh_ratios) != 2:
            return shut
        both = min(shut)
        out = []
        for k in (0, 1):
            wider = (float(mesh_ratios[k]) - float(mesh_ratios[1 - k])) / max(span, 1e-6)
            out.append(both + (shut[k] - both) * min(max(1.0 - wider, 0.0), 1.0))
        return out

    def _closure(self, gaps: list[float], fall: float = OPEN_FALL) -> list[float]:
        lo, hi = SHUT_RAMP
        gone, shut_at = ABSOLUTE_RAMP
        for k, gap in enumerate(gaps):
            ref = self._open[k] or gap  # the first reading starts it: readings can be 8 frames apart
            ref += (OPEN_RISE if gap > ref else fall) * (gap - ref)
            self._open[k] = ref
            relative = (lo - gap / max(ref, 1e-6)) / (lo - hi)
            self._shut[k] = float(np.clip(max(relative, (gone - gap) / (gone - shut_at)), 0.0, 1.0))
        return list(self._shut)
