"""Every model LiveCam can use, declared once: the word a user picks, its role, the words shown for
it, its file, its licence, and whether it ships with LiveCam or is fetched by the user.

The settings' choices (``--segmentation-model``, ``--face-detector``, the settings window's words),
the segmenter's and face detector's files and the evaluation's model list derive from this table.
The checksums, shapes and normalisation of the bundled files stay in ``models/manifest.json``
(written by tools/build_models.py); a fetched model's source and checksums stay with its fetcher
(``livecam.model_fetch``). tests/test_registry.py checks that the three agree. Pure data: nothing
here imports numpy, OpenCV or ONNX Runtime, so the settings can import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["person", "face_detector", "face_mesh", "iris", "palm", "hand"]


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what a user picks: the settings value, the flag's choice, `livecam eval --model`
    role: Role
    label: str  # the words in the settings window
    file: str  # bundled: its key in models/manifest.json; fetched: the name `livecam models fetch` takes
    licence: str
    fetched: bool = False  # False: ships with LiveCam; True: the user fetches it (licence kept apart)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("landscape", "person", "Fast (landscape)", "selfie_segmentation_landscape", "Apache-2.0"),
    ModelSpec("general", "person", "General", "selfie_segmentation", "Apache-2.0"),
    ModelSpec("rvm", "person", "Best quality (slow without a GPU)", "rvm", "GPL-3.0", fetched=True),
    ModelSpec("short", "face_detector", "Near (within about 2 m)", "face_detection_short_range", "Apache-2.0"),
    ModelSpec("full", "face_detector", "Far (across a room)", "face_detection_full_range", "Apache-2.0"),
    ModelSpec("face_landmark", "face_mesh", "Face mesh (468 points)", "face_landmark", "Apache-2.0"),
    ModelSpec("iris_landmark", "iris", "Iris", "iris_landmark", "Apache-2.0"),
    ModelSpec("palm", "palm", "Palm detector", "palm_detection_lite", "Apache-2.0"),
    ModelSpec("hand", "hand", "Hand landmarks (21 points)", "hand_landmark_lite", "Apache-2.0"),
)


def of_role(role: Role) -> tuple[ModelSpec, ...]:
    return tuple(spec for spec in MODELS if spec.role == role)


def names(role: Role) -> tuple[str, ...]:
    """The names a user can pick for ``role``, in display order."""
    return tuple(spec.name for spec in of_role(role))


def words(role: Role) -> dict[str, str]:
    """Name -> the words shown for it, in display order."""
    return {spec.name: spec.label for spec in of_role(role)}


def bundled_files(role: Role) -> dict[str, str]:
    """Name -> manifest key of the models of ``role`` that ship with LiveCam."""
    return {spec.name: spec.file for spec in of_role(role) if not spec.fetched}
