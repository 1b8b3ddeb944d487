"""The one place that opens ONNX Runtime sessions.

Models ship with the package and are described by ``models/manifest.json`` (sha256, shapes,
normalisation). A file whose hash does not match is refused. Providers are tried in preference
order; what a session *really* got is read back from ``session.get_providers()`` because
onnxruntime-gpu lists CUDA even when the CUDA libraries are missing and then quietly runs on the CPU.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Preference order for provider="auto"; names are onnxruntime's.
PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER = ("cuda", "tensorrt", "directml", "coreml", "cpu")


class ModelError(RuntimeError):
    """A model file is missing, corrupt or cannot be loaded; the message says what to do."""


def models_dir() -> Path:
    """``livecam/models`` inside an installed wheel, else ``models/`` in the source tree."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "models", here.parent / "models"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise ModelError(
        "LiveCam's model folder is missing (no models/manifest.json); reinstall LiveCam or run it from a full checkout."
    )


@functools.lru_cache(maxsize=None)
def manifest() -> dict[str, Any]:
    path = models_dir() / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"The model manifest {path} cannot be read ({exc}); reinstall LiveCam.") from exc


def model_spec(name: str) -> dict[str, Any]:
    models = manifest()["models"]
    if name not in models:
        raise ModelError(f"Unknown model {name!r}; LiveCam ships {', '.join(sorted(models))}.")
    return models[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def verified_path(name: str, directory: Path | None = None) -> Path:
    spec = model_spec(name)
    path = (directory or models_dir()) / spec["file"]
    if not path.is_file():
        raise ModelError(f"Model file {path} is missing; reinstall LiveCam (or run tools/build_models.py).")
    if _sha256(path) != spec["sha256"]:
        raise ModelError(
            f"Model file {path} is corrupt (its checksum does not match the manifest); reinstall LiveCam."
        )
    return path


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def provider_list(provider: str) -> list[str]:
    """ORT provider names to try for a settings value ("auto", "cpu", "cuda", ...)."""
    if provider not in PROVIDER_NAMES and provider != "auto":
        raise ModelError(
            f"Unknown inference provider {provider!r}; choose auto, {', '.join(PROVIDER_NAMES)}."
        )
    available = set(available_providers())
    wanted = AUTO_ORDER if provider == "auto" else (provider, "cpu")
    names = list(dict.fromkeys(PROVIDER_NAMES[p] for p in wanted if PROVIDER_NAMES[p] in available))
    if provider not in ("auto", "cpu") and PROVIDER_NAMES[provider] not in available:
        log.warning(
            "The %s provider is not available in this onnxruntime build; running on the CPU. "
            "For GPU inference install livecam[gpu] (onnxruntime-gpu) instead of onnxruntime.",
            provider,
        )
    return names or ["CPUExecutionProvider"]


@dataclass
class ModelSession:
    """An open model: its manifest entry, the ORT session and the provider it really runs on."""

    name: str
    spec: dict[str, Any]
    session: Any
    provider: str  # e.g. "CPUExecutionProvider"; the one that really runs the model
    threads: int

    @property
    def input_name(self) -> str:
        return self.session.get_inputs()[0].name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.spec["inputs"][0]["shape"])

    def normalize(self, pixels_rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) → the model's float32 NHWC batch, per the manifest's normalisation."""
        norm = self.spec["normalization"]
        x = pixels_rgb.astype(np.float32) * np.float32(norm["scale"]) + np.float32(norm["offset"])
        return x[None]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: x})


def load_model(name: str, provider: str = "auto", threads: int = 1, directory: Path | None = None) -> ModelSession:
    """Open model ``name`` from the manifest, verified, on the best available provider."""
    import onnxruntime as ort

    path = verified_path(name, directory)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # ORT warns about unused initialisers etc. on every start
    errors: list[str] = []
    providers = provider_list(provider)
    # Try the full list first, then fall back to the CPU alone; collect each failure into one message.
    for attempt in (providers, ["CPUExecutionProvider"]):
        try:
            session = ort.InferenceSession(str(path), sess_options=opts, providers=attempt)
            break
        except Exception as exc:  # ORT raises several unrelated types for unusable providers / bad files
            errors.append(f"{'/'.join(attempt)}: {exc}")
    else:
        raise ModelError(
            f"Model {path.name} could not be loaded ({errors[-1]}); the file may be damaged, reinstall LiveCam."
        )
    real = session.get_providers()[0]
    if real != providers[0]:
        log.warning("%s asked for %s but runs on %s.", name, providers[0], real)
    log.debug("%s runs on %s with %d thread(s).", name, real, threads)
    return ModelSession(name=name, spec=model_spec(name), session=session, provider=real, threads=threads)
