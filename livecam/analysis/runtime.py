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


# ---------------------------------------------------------------- recurrent models

# ORT's tensor type strings for the element types recurrent state comes in.
_STATE_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
# OrtValue device names for providers whose tensors live on a GPU that ORT can bind outputs to.
_BINDING_DEVICES = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "cuda"}
CUDA_DEVICE_ID = 0


def _initial_state(node: Any) -> np.ndarray:
    """Zeros of the input's type with every symbolic dimension as 1 (how RVM-style models start)."""
    dtype = _STATE_DTYPES.get(node.type)
    if dtype is None:
        raise ModelError(f"The recurrent input {node.name!r} has type {node.type}; pass its first value in initial=.")
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in node.shape]
    return np.zeros(shape, dtype)


class RecurrentRunner:
    """Runs a recurrent model frame by frame, feeding named outputs back as the next frame's inputs.

    ``state`` maps each state input to the output that becomes its next value, e.g.
    ``{"r1i": "r1o", ...}`` for Robust Video Matting. On CUDA/TensorRT the state stays on the GPU
    (OrtValues bound through io_binding), so per frame only the feeds go up and the requested
    outputs come down; elsewhere the state is plain numpy. ``initial`` gives a state's first value;
    by default it is zeros with symbolic dimensions as 1. Not thread-safe: one runner per stream,
    while the ModelSession under it may be shared.
    """

    def __init__(
        self,
        session: ModelSession,
        state: dict[str, str],
        initial: dict[str, np.ndarray] | None = None,
        io_binding: bool | None = None,
    ):
        inputs = {node.name: node for node in session.session.get_inputs()}
        outputs = {node.name for node in session.session.get_outputs()}
        unknown = [n for n in state if n not in inputs] + [n for n in state.values() if n not in outputs]
        if unknown:
            raise ModelError(
                f"Model {session.name} has no input or output named {', '.join(map(repr, unknown))}; "
                f"its inputs are {', '.join(inputs)} and its outputs {', '.join(sorted(outputs))}."
            )
        initial = initial or {}
        self.session = session
        self.state = dict(state)
        self._initial = {
            name: np.ascontiguousarray(initial[name]) if name in initial else _initial_state(inputs[name])
            for name in self.state
        }
        # io_binding=None: bind on the device when the session runs on a GPU; True binds even on
        # the CPU (same code path, which the tests use), False never binds.
        device = _BINDING_DEVICES.get(session.provider)
        self.device = (device or "cpu") if io_binding is not False else "cpu"
        self.io_binding = bool(device) if io_binding is None else io_binding
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state (scene cut, new camera, new resolution)."""
        if not self.io_binding:
            self._state = dict(self._initial)
            return
        from onnxruntime import OrtValue

        self._state = {
            name: OrtValue.ortvalue_from_numpy(value, self.device, CUDA_DEVICE_ID if self.device == "cuda" else 0)
            for name, value in self._initial.items()
        }

    def step(self, feeds: dict[str, np.ndarray], outputs: tuple[str, ...] = ("fgr", "pha")) -> dict[str, np.ndarray]:
        """Run one frame; returns the named outputs as numpy arrays and keeps the state for the next."""
        outputs = tuple(outputs)
        state_outputs = [o for o in self.state.values() if o not in outputs]
        if not self.io_binding:
            names = list(outputs) + state_outputs
            values = dict(zip(names, self.session.session.run(names, {**feeds, **self._state})))
            self._state = {i: values[o] for i, o in self.state.items()}
            return {name: values[name] for name in outputs}
        binding = self.session.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name, value in self._state.items():
            binding.bind_ortvalue_input(name, value)
        device_id = CUDA_DEVICE_ID if self.device == "cuda" else 0
        kept = set(self.state.values())
        names = list(outputs) + state_outputs
        for name in names:
            # State outputs are allocated on the device and stay there; the rest come to the CPU.
            if name in kept:
                binding.bind_output(name, self.device, device_id)
            else:
                binding.bind_output(name)
        self.session.session.run_with_iobinding(binding)
        values = dict(zip(names, binding.get_outputs()))
        self._state = {i: values[o] for i, o in self.state.items()}
        return {name: values[name].numpy() for name in outputs}
