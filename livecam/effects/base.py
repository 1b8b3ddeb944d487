"""The one shape every effect has.

An effect is built from its settings sections (its own section, then the sections its registry
entry ``reads``), and then, once per frame, turns an image into an image plus the data it hands to
later effects:

- ``needs``: analysis it reads ("mask", "faces", "iris", "hands"); "faces" is every frame's own
  face mesh, "faces_carried" the faces where the mesh may be carried from the reads before it for up
  to three frames in a row while the face is still (the mesh model then runs on a quarter to a half
  of the frames; within about a percent of the face's width, ``livecam.analysis.face_tracker``): an
  effect that follows a face's place and shape declares it, one that draws a face from its mesh (a
  swap, the photo avatar) declares "faces", and then every effect gets read meshes;
- ``provides``: the Analysis fields its outputs may set; the pipeline refuses any other key, and the
  analyzer does not compute what an earlier effect provides (the superseded stage does not run);
- ``stage``: "pre" (before analysis, so the models see the enhanced frame; it gets the previous
  frame's analysis) or "post";
- ``apply(image, analysis) -> (image, outputs)``: never mutates ``analysis`` or ``image``;
  ``outputs`` maps Analysis fields to values and is empty for an effect that provides nothing;
- ``in_place``: the effect also takes ``apply(image, analysis, own=True)``, called so only when the
  chain owns ``image`` (no one else holds it: :func:`livecam.pipeline.owned`); it may then write
  into ``image`` and return it, where it would otherwise copy the whole frame first;
- ``update(*sections) -> bool``: the same sections the builder got, after a settings change; True
  when the effect took the change in place (keeping fades, denoisers, neutral poses), False asks for
  a rebuild;
- ``close()``: release threads, files and sessions;
- ``recapture()``: take the wearer's next face as the new reference (only the photo avatar has one);
- ``reset()``: a new or resumed source: what the effect carried over time from earlier frames
  (fades, learned faces, averages) starts over, so nothing of the last picture lingers.

``EffectBase`` supplies the defaults, so a small effect writes ``apply`` and little else.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

Stage = Literal["pre", "post"]
# Every analysis an effect may ask for (``needs``): the Analyzer computes each of these.
NEEDS = frozenset({"mask", "foreground", "faces", "faces_carried", "iris", "hands"})
Outputs = Mapping[str, Any]
NO_OUTPUTS: Outputs = MappingProxyType({})


@runtime_checkable
class Effect(Protocol):
    needs: frozenset[str]
    provides: frozenset[str]
    stage: Stage

    def apply(self, image: np.ndarray, analysis: Any) -> tuple[np.ndarray, Outputs]: ...

    def update(self, *sections: Any) -> bool: ...

    def close(self) -> None: ...

    def recapture(self) -> None: ...

    def reset(self) -> None: ...


class EffectBase:
    """Defaults for the effect shape: needs and provides nothing, runs after analysis, never writes
    into its picture, rebuilds on any settings change, holds nothing to release."""

    needs: ClassVar[frozenset[str]] = frozenset()
    provides: ClassVar[frozenset[str]] = frozenset()
    stage: ClassVar[Stage] = "post"
    in_place: ClassVar[bool] = False

    def apply(self, image: np.ndarray, analysis: Any) -> tuple[np.ndarray, Outputs]:
        raise NotImplementedError

    def update(self, *sections: Any) -> bool:
        return False

    def close(self) -> None:
        return None

    def recapture(self) -> None:
        return None

    def reset(self) -> None:
        return None
