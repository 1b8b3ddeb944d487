"""The one place that opens ONNX Runtime sessions, and the pool that shares them.

Models ship with the package and are described by ``models/manifest.json`` (sha256, shapes,
normalisation); a model fetched later comes with its own spec and sha256. A file whose hash does
not match is refused. Providers are tried in preference order with their options set here, once,
for every session; what a session *really* got is read back from ``session.get_providers()``
because onnxruntime-gpu lists CUDA even when the CUDA libraries are missing and then quietly runs
on the CPU. ``RecurrentRunner`` keeps a recurrent model's state on the GPU between frames.

Every inference result passes :func:`checked_outputs` here, the one choke point: a model that
returns NaN, infinity or a shape it does not declare (a driver or model fault) raises
``ModelOutputError`` for that frame, so no effect ever sees the garbage; the analysis stage then
reports the result as missing and the output gate hides the frame. Every run also goes through
the session's :class:`~livecam.analysis.run_guard.RunGuard`: one that never returns raises
``ModelHung`` after a deadline instead of holding the live loop for good.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import logging
import os
import re
import stat
import sys
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livecam.analysis import model_history
from livecam.analysis.run_guard import RunGuard
from livecam.messages import NO_THREAD, no_thread, shown
from livecam.private_files import not_ours, reason

log = logging.getLogger(__name__)

# Names are onnxruntime's.
PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
# Preference order for provider="auto". TensorRT only when asked for: its first start builds an
# engine per model (seconds to minutes), and listed after CUDA it would get no nodes anyway.
AUTO_ORDER = ("cuda", "directml", "coreml", "cpu")
CUDA_DEVICE_ID = 0  # the GPU every CUDA/TensorRT session and its bound tensors use


class ModelError(RuntimeError):
    """A model file is missing, corrupt or cannot be loaded; the message says what to do."""


class ModelOutputError(RuntimeError):
    """One inference returned values that cannot be used (NaN, infinity, an undeclared shape).

    Not a ModelError: the model is not broken for good, only this frame's result is refused."""


class ModelHung(ModelError):
    """A run did not return within its deadline: the session is given up (see run_guard)."""


def _declared_shapes(session: Any) -> dict[str, tuple]:
    """Output name → the shape the model declares (ints, or None where a dimension is symbolic)."""
    return {node.name: tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
            for node in session.get_outputs()}


def _declared_floats(session: Any) -> frozenset[str]:
    """The outputs the model declares as 32-bit floats, which is what every consumer is written for."""
    return frozenset(node.name for node in session.get_outputs() if getattr(node, "type", None) == "tensor(float)")


def checked_outputs(model: str, names: list[str], values: list[Any], declared: dict[str, tuple],
                    floats: frozenset[str] = frozenset()) -> list[Any]:
    """``values`` (the outputs ``names`` of one run), or ModelOutputError (one sentence).

    Each comes back as an array of its own that its user may write to, C-ordered, and float32 where
    the model declares float (``floats``): as ONNX Runtime hands them over, these are the very
    arrays, no copy. A provider that hands back float64 or float16, a strided view or a read-only
    buffer instead got the mask dropped and the picture hidden (numba has no float64 kernel,
    cv2.resize no float16 one), and a float16 sum overflowed into a false "NaN or infinite"."""
    if len(values) != len(names):
        raise ModelOutputError(f"Model {model} returned {len(values)} outputs instead of {len(names)}; this frame's result is not used.")
    checked = []
    for name, value in zip(names, values):
        shape = declared.get(name)
        if not isinstance(value, np.ndarray):
            raise ModelOutputError(f"Model {model} returned no array for its output {name}; this frame's result is not used.")
        if shape is not None and (value.ndim != len(shape) or any(d is not None and d != n for d, n in zip(shape, value.shape))):
            raise ModelOutputError(
                f"Model {model} returned its output {name} with shape {value.shape} instead of {shape}; "
                "this frame's result is not used.")
        if name in floats and value.dtype.kind in "iub":
            # A provider's float comes as float64 or float16 (cast below), never as integers: their
            # fractions and signs are gone. Read as scores, the face detector found no face in the
            # first frame and a face swap let the wearer's face out.
            raise ModelOutputError(f"Model {model} returned its output {name} as {value.dtype}, not floats; "
                                   "this frame's result is not used.")
        if name in floats and value.dtype != np.float32 and value.dtype.kind == "f":
            with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused below
                value = value.astype(np.float32, order="C")
        elif not (value.flags.c_contiguous and value.flags.writeable):
            value = value.copy()
        # One pass and no temporary: the sum of an array is finite only when every element is (a
        # finite float32 output large enough to overflow the sum is just as unusable).
        if value.dtype.kind == "f" and value.size and not np.isfinite(value.sum()):
            raise ModelOutputError(f"Model {model} returned NaN or infinite values in {name}; this frame's result is not used.")
        checked.append(value)
    return checked


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


def sha256_of(path: Path) -> str:
    """The file's sha256 in hex, read in 1 MiB blocks (models and photos can be large)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_path(name: str, directory: Path | None = None) -> Path:
    """The checked file of bundled model ``name`` (ModelError, one sentence, when it is not the one the
    manifest describes). Hashed once per state of the file (:func:`_matches`): cached by name alone, a file
    replaced or cut short after its first check was opened unchecked by every later load (a provider
    change, an effect turned off and on again)."""
    spec = model_spec(name)
    path = (directory or models_dir()) / spec["file"]
    try:
        if _matches(path, spec["sha256"]):
            return path
    except OSError:
        pass
    return check_model(name, directory)  # hashes again, to say in its sentence what is wrong


def check_model(name: str, directory: Path | None = None) -> Path:
    """verified_path without its cache (``livecam doctor`` asks again after a repair)."""
    spec = model_spec(name)
    path = (directory or models_dir()) / spec["file"]
    if not path.is_file():
        raise ModelError(f"Model file {path} is missing; reinstall LiveCam (or run tools/build_models.py).")
    try:
        digest = sha256_of(path)
    except OSError as exc:  # the raw "[Errno 13] Permission denied: '…onnx'" was what a user saw
        raise ModelError(f"Model file {path} cannot be read ({reason(exc)}); reinstall LiveCam.") from None
    if digest != spec["sha256"]:
        if digest in model_history.EARLIER.get(name, ()):
            raise ModelError(f"Model file {path} is from an older version of LiveCam, not this one; reinstall "
                             "LiveCam so that its models match it.")
        raise ModelError(
            f"Model file {path} is corrupt (its checksum does not match the manifest); reinstall LiveCam."
        )
    return path


def _matches(path: Path, sha256: str) -> bool:
    """Whether the regular file at ``path`` hashes to ``sha256`` (OSError when it cannot be read). Hashed
    once per state of the file (size, mtime_ns, inode), so a file replaced on disk (a new download, an
    update while LiveCam runs) or cut short is hashed again; what is not a regular file is never opened
    (a FIFO's open waits for a writer for ever)."""
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))  # as opening it would
    if not stat.S_ISREG(st.st_mode):
        return False
    return _hash_matches(str(path), sha256, st.st_size, st.st_mtime_ns, st.st_ino)


@functools.lru_cache(maxsize=64)
def _hash_matches(path: str, sha256: str, size: int, mtime_ns: int, ino: int) -> bool:
    return sha256_of(Path(path)) == sha256


verified_path.cache_clear = _hash_matches.cache_clear  # type: ignore[attr-defined]


def verified_file(name: str, spec: dict[str, Any], path: Path) -> Path:
    """A model that is not in the manifest (e.g. one ``livecam models fetch`` downloaded), checked
    against the sha256 in its spec."""
    if "sha256" not in spec:
        raise ModelError(f"The description of model {name!r} has no sha256, so its file cannot be checked.")
    try:
        path.stat()
    except OSError:
        raise ModelError(f"Model file {path} is missing; download it with: livecam models fetch {name}") from None
    try:
        matches = _matches(path, spec["sha256"])
    except OSError as exc:
        raise ModelError(f"Model file {path} cannot be read ({reason(exc)}); check its permissions or "
                         f"download it again: livecam models fetch {name}") from None
    if not matches:
        raise ModelError(
            f"Model file {path} is damaged or not the expected download (its sha256 does not match); "
            f"delete it and run: livecam models fetch {name}"
        )
    why = _others_may_change(path)
    if why:
        # Checked once and opened after: whoever may write the file or its folder could swap it in between
        # (or the int8 copy beside it together with the record that holds its checksum).
        raise ModelError(f"Model file {path} is not loaded because {why}; make the folder private with chmod 700 "
                         "and the file with chmod 600, or set LIVECAM_DATA_HOME to a folder of your own and run: "
                         f"livecam models fetch {name}")
    return path


def _others_may_change(path: Path) -> str | None:
    """Why someone other than us (or root) may replace the fetched model ``path``, or None."""
    if os.name != "posix":
        return None
    try:
        return not_ours(str(path.parent), os.stat(path.parent)) or not_ours(str(path), os.stat(path))
    except OSError as exc:
        return f"it cannot be checked ({reason(exc)})"


def available_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        from livecam import gpu

        raise ModelError(
            f"No ONNX Runtime is installed, so LiveCam cannot run its models; run: "
            f"{gpu.pip_command('install', gpu.default_runtime())}"
        ) from None
    return list(ort.get_available_providers())


# Providers that need an NVIDIA GPU and its driver; onnxruntime-gpu lists them on every machine.
_NVIDIA_PROVIDERS = ("tensorrt", "cuda")


def provider_list(provider: str) -> list[str]:
    """ORT provider names to try for a settings value ("auto", "cpu", "cuda", ...)."""
    from livecam import gpu

    if provider not in PROVIDER_NAMES and provider != "auto":
        raise ModelError(
            f"Unknown inference provider {provider!r}; choose auto, {', '.join(PROVIDER_NAMES)}."
        )
    available = set(available_providers())
    # Without a driver the CUDA provider only fails (loudly, in ORT's own log) and falls back to the
    # CPU, so it is not tried at all; TensorRT hands the nodes it cannot build to CUDA.
    has_driver = provider in ("auto", *_NVIDIA_PROVIDERS) and gpu.nvidia_driver() is not None
    if provider == "auto":
        wanted = [p for p in AUTO_ORDER if has_driver or p not in _NVIDIA_PROVIDERS]
    elif provider == "tensorrt":
        wanted = ["tensorrt", "cuda", "cpu"]
    else:
        wanted = [provider, "cpu"]
    if provider not in ("auto", "cpu"):
        if PROVIDER_NAMES[provider] not in available:
            package = "onnxruntime-directml" if provider == "directml" else 'livecam[gpu] (onnxruntime-gpu)'
            log.warning(
                "The %s provider is not available in this onnxruntime build; running on the CPU. "
                "For GPU inference install %s; livecam doctor says what this machine needs.",
                provider,
                package if provider != "coreml" else "onnxruntime on macOS",
            )
        elif provider in _NVIDIA_PROVIDERS and not has_driver:
            log.warning("No NVIDIA driver was found, so the %s provider cannot run; running on the CPU.", provider)
            wanted = ["cpu"]
    names = list(dict.fromkeys(PROVIDER_NAMES[p] for p in wanted if PROVIDER_NAMES[p] in available))
    return names or ["CPUExecutionProvider"]


def user_cache_dir() -> Path:
    """LiveCam's folder for rebuildable files (TensorRT engines, CoreML models)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "LiveCam" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "LiveCam"
    from livecam.settings import xdg_folder

    # Not Path.home(): an empty $HOME is no home (it gave "/"); a relative XDG value is ignored.
    return xdg_folder("XDG_CACHE_HOME", ".cache") / "livecam"


def provider_options(provider_name: str, spec: dict[str, Any], cached: bool = True) -> dict[str, str]:
    """The options every session gets for one ORT provider: the one place they are set. ``cached=False``:
    without the on-disk cache of built engines (:func:`_cache_refused` said why)."""
    if provider_name == "CUDAExecutionProvider":
        return {
            "device_id": str(CUDA_DEVICE_ID),
            # Grow the memory arena by what is asked, not in doubling steps: the video-call app and
            # the desktop share this GPU.
            "arena_extend_strategy": "kSameAsRequested",
            # Input shapes are fixed for a camera resolution, so cuDNN's exhaustive search runs once
            # per shape at start-up and every later frame gets the fastest convolution kernels.
            "cudnn_conv_algo_search": "EXHAUSTIVE",
            "do_copy_in_default_stream": "1",
        }
    if provider_name == "TensorrtExecutionProvider":
        cache = user_cache_dir() / "tensorrt"
        # Building an engine takes seconds to minutes; the cache makes it a one-off per model,
        # GPU and TensorRT version (TensorRT checks those itself).
        kept = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)}
        return {
            "device_id": str(CUDA_DEVICE_ID),
            **(kept if cached else {"trt_engine_cache_enable": "False", "trt_timing_cache_enable": "False"}),
            # fp16 where the GPU has fast fp16 (TensorRT checks) and the model allows it (spec "fp16": false opts out).
            "trt_fp16_enable": "True" if spec.get("fp16", True) else "False",
        }
    if provider_name == "DmlExecutionProvider":
        return {"device_id": "0"}
    if provider_name == "CoreMLExecutionProvider":
        return {
            "ModelFormat": "MLProgram",  # covers more operators than the old NeuralNetwork format
            "MLComputeUnits": "ALL",  # Neural Engine, GPU or CPU, as Core ML sees fit
            **({"ModelCacheDirectory": str(user_cache_dir() / "coreml")} if cached else {}),
        }
    return {}


def session_options(threads: int, providers: list[str]):
    import onnxruntime as ort

    # Belt and braces: ORT_DISABLE_TELEMETRY (livecam/__init__.py) is what stops the Linux build's
    # telemetry; this call is what the Windows builds' event tracing listens to.
    ort.disable_telemetry_events()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # ORT warns about unused initialisers etc. on every start
    if "DmlExecutionProvider" in providers:
        opts.enable_mem_pattern = False  # DirectML requires it off (and sequential execution, set above)
    return opts


# The providers that keep built models on disk: the option naming the folder, and the provider's name in a sentence.
_CACHES = {"TensorrtExecutionProvider": ("trt_engine_cache_path", "TensorRT"),
           "CoreMLExecutionProvider": ("ModelCacheDirectory", "Core ML")}
_cache_told: set[str] = set()


def _cache_refused(folder: Path) -> str | None:
    """Why the engine cache ``folder`` must not be used, or None: made (with any folder missing above it)
    0700 whatever the umask, and then it, the folder above it and everything in it must be ours (or
    root's) and written by no one else. TensorRT loads a cached engine as it finds it, so whoever could
    write there (a folder left 0777 by a start under umask 000) chose what ran in place of our checked model."""
    from livecam.private_files import make_folders

    try:
        make_folders(folder)
    except OSError as exc:
        return f"the folder {shown(folder)} cannot be made ({reason(exc)})"
    if os.name != "posix":
        return None
    try:
        why = not_ours(str(folder.parent), os.stat(folder.parent)) or not_ours(str(folder), os.stat(folder))
        for root, dirs, files in os.walk(folder):
            for entry in (*dirs, *files):
                path = os.path.join(root, entry)
                why = why or not_ours(path, os.stat(path))  # what a link leads to is what would be loaded
    except OSError as exc:
        return f"{shown(folder)} cannot be read ({reason(exc)})"
    return why


def _with_options(providers: list[str], spec: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    out = []
    for name in providers:
        options = provider_options(name, spec)
        key, label = _CACHES.get(name, ("", ""))
        why = key in options and _cache_refused(Path(options[key]))
        if why:
            if options[key] not in _cache_told:
                _cache_told.add(options[key])
                log.warning("LiveCam keeps no built models in its cache because %s, and %s loads what it finds there "
                            "as it is: make %s private (chmod -R go-w) or remove it, and until then each model is "
                            "built afresh at every start.", why, label, shown(options[key]))
            options = provider_options(name, spec, cached=False)
        out.append((name, options))
    return out


@dataclass
class ModelSession:
    """An open model: its spec (manifest entry), the ORT session and the provider it really runs on.

    Shared: every caller asking for the same file, providers and threads gets the same object, so
    it must be treated as read-only (ORT's ``run`` itself is thread-safe).
    """

    name: str
    spec: dict[str, Any]
    session: Any
    provider: str  # e.g. "CPUExecutionProvider"; the one that really runs the model
    threads: int
    fallback: str = ""  # why it did not get the first provider it asked for ("" when it did)
    path: str = ""  # the verified file it was opened from (to open it again on the CPU)
    guard: RunGuard = field(init=False, repr=False, compare=False)
    _moving: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.guard = RunGuard(self.name, ModelHung, gpu=self.provider in _GPU_PROVIDERS)

    def call(self, fn, *args):
        """``fn(*args)`` (one of the ORT session's run methods) under the session's deadline; a hung
        session also leaves the pool, so opening the model again (a settings change) starts afresh.
        A run that raises on a GPU provider moves this session to the CPU (see _off_the_gpu), and a
        run of the ORT session itself is then asked again there, so the frame is not lost."""
        session = self.session
        try:
            return self.guard.call(fn, *args)
        except ModelHung:
            _forget(self)
            raise
        except ModelOutputError:
            raise  # a bad result, not a broken provider: the model runs on
        except Exception as exc:
            if self.provider not in _GPU_PROVIDERS or not self._off_the_gpu(session, exc):
                raise
            if getattr(fn, "__self__", None) is not session:
                raise  # bound to what the GPU held (a recurrent runner's state): its next step starts afresh
        return self.call(getattr(self.session, fn.__name__), *args)  # on the CPU now: moved once at most

    def _off_the_gpu(self, session: Any, exc: Exception) -> bool:
        """After a GPU run raised (a lost CUDA context, an execution provider error at run), open the
        model again on the CPU in this very object, which every holder shares: the pool handed the
        same broken GPU session to every fresh build, so the person mask stayed missing and the frame
        hidden until the settings changed. False when it could not be opened there."""
        with self._moving:
            if self.session is not session:
                return True  # another caller moved it already
            try:
                cpu = _open(self.name, self.spec, self._unchanged(), ["CPUExecutionProvider"], self.threads)
            except ModelError as why:
                log.error("%s failed on %s (%s) and could not be opened on the CPU either: %s",
                          self.name, self.provider, _run_error(exc), why)
                return False
            log.warning("%s failed on %s (%s); LiveCam runs it on the CPU from now on, more slowly; "
                        "livecam doctor says how to fix the GPU.", self.name, self.provider, _run_error(exc))
            self.fallback = _run_error(exc)
            self.session, self.provider, self.guard = cpu.session, cpu.provider, cpu.guard
            return True

    def _unchanged(self) -> Path:
        """The file this session was opened from, checked again: what is there now may not be what was
        verified at start-up (an update or a failing disk since), and the CPU would run it unchecked."""
        path = Path(self.path)
        try:
            same = _matches(path, self.spec["sha256"])
        except (OSError, KeyError):
            same = False
        if not same:
            raise ModelError(f"its file {path} is missing or changed since LiveCam opened it; reinstall LiveCam "
                             "or fetch the model again.")
        return path

    @functools.cached_property
    def input_name(self) -> str:
        # Read once: get_inputs() builds its NodeArg list anew on every call (5-8 us a run).
        return self.session.get_inputs()[0].name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.spec["inputs"][0]["shape"])

    def normalize(self, pixels_rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) → the model's float32 batch, per the manifest's normalisation: NHWC,
        or the planes (1, 3, H, W) where the manifest's ``layout`` is NCHW (the selfie models)."""
        norm = self.spec["normalization"]
        x = pixels_rgb.astype(np.float32) * np.float32(norm["scale"]) + np.float32(norm["offset"])
        if self.spec.get("layout") == "NCHW":
            return np.ascontiguousarray(x.transpose(2, 0, 1))[None]
        return x[None]

    @functools.cached_property
    def output_names(self) -> list[str]:
        return [node.name for node in self.session.get_outputs()]

    @functools.cached_property
    def declared_shapes(self) -> dict[str, tuple]:
        return _declared_shapes(self.session)

    @functools.cached_property
    def declared_floats(self) -> frozenset[str]:
        return _declared_floats(self.session)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Every output, checked (ModelOutputError for NaN, infinity or a wrong shape)."""
        values = self.call(self.session.run, None, {self.input_name: x})
        return checked_outputs(self.name, self.output_names, values, self.declared_shapes, self.declared_floats)


# ---------------------------------------------------------------- the session pool
# One session per (model file, providers tried, threads), shared by everyone who asks for it. The
# pool holds sessions weakly: when the last effect holding one is dropped (a provider change, an
# effect turned off) the session closes, so nothing leaks and open_models() lists only live ones.

_pool: "weakref.WeakValueDictionary[tuple, ModelSession]" = weakref.WeakValueDictionary()
_pool_lock = threading.Lock()
_opening: dict[tuple, threading.Lock] = {}


def _forget(session: ModelSession) -> None:
    with _pool_lock:
        for key in [k for k, v in _pool.items() if v is session]:
            del _pool[key]


def open_models() -> dict[str, str]:
    """Model name → the provider it really runs on, for every session open and still in use.

    A model open on two providers at once (briefly, while a provider change rebuilds effects)
    shows the one opened last.
    """
    with _pool_lock:
        sessions = list(_pool.values())
    return {s.name: s.provider for s in sessions}


def load_model(
    name: str,
    provider: str = "auto",
    threads: int = 1,
    directory: Path | None = None,
    *,
    spec: dict[str, Any] | None = None,
    path: str | Path | None = None,
) -> ModelSession:
    """The shared session of model ``name``, verified, on the best available provider.

    Models in models/manifest.json are found by name (in ``directory`` if given). A model that is
    not (one fetched into the user data folder) comes with its ``spec`` (at least its sha256) and
    ``path``.
    """
    if (spec is None) != (path is None):
        raise ModelError(f"Model {name!r} needs both a spec and a path when it is not in LiveCam's manifest.")
    if spec is None:
        spec = model_spec(name)
        file = verified_path(name, directory)
    else:
        file = verified_file(name, spec, Path(path))
    providers = provider_list(provider)
    key = (str(file.resolve()), tuple(providers), threads)
    with _pool_lock:
        session = _pool.get(key)
        if session is not None:
            return session
        opening = _opening.setdefault(key, threading.Lock())
    with opening:  # one opening per key; other keys open in parallel (TensorRT builds take long)
        with _pool_lock:
            session = _pool.get(key)
        if session is None:
            session = _open(name, spec, file, providers, threads)
            with _pool_lock:
                _pool[key] = session
                _opening.pop(key, None)
    return session


_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def _ep_error(printed: str) -> str:
    """The reason in ORT's "EP Error" printout, without its source paths and hostnames."""
    match = re.search(r"EP Error:? (.*?) (?:when )?using \[", printed, re.S)
    if not match:
        return ""
    text = match.group(1).split("FAIL : ")[-1].split(" ; ")[0].strip()
    if "CUDA failure" in text:  # e.g. 'Failed to parse provider option "device_id": CUDA failure 35: ...'
        return text[text.index("CUDA failure"):]
    return re.sub(r"^\S+\.(?:h|cc|cpp):\d+ ", "", text)


def _run_error(exc: Exception) -> str:
    """A failed run's reason in a few words: ORT's text from its CUDA failure on, else as it is."""
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    if "CUDA failure" in text:  # after it, ORT adds " ; GPU=0 ; hostname=..." (as in its EP Error printout)
        text = text[text.index("CUDA failure"):].split(" ; ")[0]
    return text if len(text) <= 160 else text[:159] + "…"


def _open(name: str, spec: dict[str, Any], path: Path, providers: list[str], threads: int) -> ModelSession:
    import onnxruntime as ort

    from livecam import gpu

    gpu_session = any(p in providers for p in _GPU_PROVIDERS)
    if gpu_session:
        gpu.preload()  # CUDA and cuDNN from NVIDIA's pip packages, before the first GPU session
    opts = session_options(threads, providers)
    if spec.get("spin") is False:  # the model's own threads sleep between its steps instead of spinning
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    errors: list[str] = []
    refused = False  # the last try's thread could not start
    printed = io.StringIO()
    # Try the full list first, then fall back to the CPU alone; collect each failure into one message.
    for attempt in (providers, ["CPUExecutionProvider"]):
        try:
            # When a GPU provider fails, ORT prints an "EP Error" block to stdout and retries on the
            # CPU itself; caught here it becomes the reason in our warning, and stdout stays clean
            # (`bench --json` prints its report there).
            with contextlib.redirect_stdout(printed) if gpu_session else contextlib.nullcontext():
                # Under a deadline: a stalled driver can hang the session's creation as it hangs runs.
                session = RunGuard(name, ModelHung, gpu=gpu_session).call(
                    ort.InferenceSession, str(path), opts, _with_options(attempt, spec))
            break
        except ModelHung:
            raise
        except Exception as exc:  # ORT raises several unrelated types for unusable providers / bad files
            errors.append(f"{'/'.join(attempt)}: {exc}")
            refused = no_thread(exc)
    else:
        if refused:  # the guard's thread could not start (the system at its limit): the file is not at fault
            raise ModelError(f"Model {path.name} could not be loaded: {NO_THREAD}")
        raise ModelError(
            f"Model {path.name} could not be loaded ({errors[-1]}); the file may be damaged, reinstall LiveCam."
        )
    real = session.get_providers()[0]
    fallback = ""
    if real != providers[0]:
        fallback = _ep_error(printed.getvalue()) or (errors[0].split(": ", 1)[-1] if errors else "")
        if not fallback and providers[0] in _GPU_PROVIDERS:
            fallback = gpu.cuda_provider_error()
        why = f" ({fallback})" if fallback else ""
        log.warning("%s asked for %s but runs on %s%s; livecam doctor says how to fix it.", name, providers[0], real, why)
    elif printed.getvalue().strip():
        log.debug("onnxruntime printed: %s", printed.getvalue().strip())
    log.debug("%s runs on %s with %d thread(s).", name, real, threads)
    return ModelSession(name=name, spec=spec, session=session, provider=real, threads=threads, fallback=fallback,
                        path=str(path))


# ---------------------------------------------------------------- recurrent models

# ORT's tensor type strings for the element types recurrent state comes in.
_STATE_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
# OrtValue device names for providers whose tensors live on a GPU that ORT can bind outputs to.
_BINDING_DEVICES = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "cuda"}


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
        state_bound: float | None = None,
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
        self._asked_binding = io_binding
        self._bind_for(session.provider)
        self._declared = _declared_shapes(session.session)
        self._floats = _declared_floats(session.session)
        # The largest magnitude a healthy state can hold (a GRU's hidden state lies in [-1, 1]), or None.
        self.state_bound = state_bound
        self.reset()

    def _bind_for(self, provider: str) -> None:
        # io_binding=None: bind on the device when the session runs on a GPU; True binds even on
        # the CPU (same code path, which the tests use), False never binds.
        device = _BINDING_DEVICES.get(provider)
        io_binding = self._asked_binding
        self.provider = provider
        self.device = (device or "cpu") if io_binding is not False else "cpu"
        self.io_binding = bool(device) if io_binding is None else io_binding

    def reset(self) -> None:
        """Forget the recurrent state (scene cut, new camera, new resolution)."""
        # Host arrays even on a GPU: the next step binds them from the CPU, inside its guarded call
        # (nothing here talks to a driver, which may be the thing that stopped answering).
        self._state = dict(self._initial)

    def step(self, feeds: dict[str, np.ndarray], outputs: tuple[str, ...] = ("fgr", "pha")) -> dict[str, np.ndarray]:
        """Run one frame; returns the named outputs as numpy arrays and keeps the state for the next."""
        if self.session.provider != self.provider:
            # The session moved off a failed GPU: its state there is gone, and outputs bound to it
            # would fail on the CPU session for ever.
            self._bind_for(self.session.provider)
            self.reset()
        outputs = tuple(outputs)
        names = list(outputs) + [o for o in self.state.values() if o not in outputs]
        if not self.io_binding:
            ran = self.session.call(self.session.session.run, names, {**feeds, **self._state})
            values = dict(zip(names, self._checked(names, ran)))
            state = {i: values[o] for i, o in self.state.items()}
            bound = self.state_bound
            # max and min, not abs().max(): no state-sized temporary on every run.
            if bound is not None and any(
                    v.size and (float(v.max()) > bound or float(v.min()) < -bound) for v in state.values()):
                # Finite but impossible (a provider or driver fault): kept, it poisoned every later frame's
                # matte into a steady, plausible-looking mask with holes onto the room.
                self.reset()
                raise ModelOutputError(f"Model {self.session.name} returned a recurrent state out of its range; "
                                       "this frame's result is not used.")
            self._state = state
            return {name: values[name] for name in outputs}
        # Every call into the device (uploads, the run, downloads) is inside the guarded call: a
        # driver that stops answering can hang a copy as well as a run.
        values, host = self.session.call(self._bound_step, feeds, names, outputs)
        # Only what comes down to the CPU is checked (the state stays on the device): a state gone
        # bad shows in the next frame's outputs, which are refused, and refusing resets the state.
        result = dict(zip(outputs, self._checked(list(outputs), host)))
        self._state = {i: values[o] for i, o in self.state.items()}
        return result

    def _bound_step(self, feeds: dict[str, np.ndarray], names: list[str], outputs: tuple[str, ...]):
        binding = self.session.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name, value in self._state.items():
            if isinstance(value, np.ndarray):  # the initial state, after a reset
                binding.bind_cpu_input(name, value)
            else:
                binding.bind_ortvalue_input(name, value)
        device_id = CUDA_DEVICE_ID if self.device == "cuda" else 0
        kept = set(self.state.values())
        for name in names:
            # State outputs are allocated on the device and stay there; the rest come to the CPU.
            if name in kept:
                binding.bind_output(name, self.device, device_id)
            else:
                binding.bind_output(name)
        self.session.session.run_with_iobinding(binding)
        values = dict(zip(names, binding.get_outputs()))
        return values, [values[name].numpy() for name in outputs]

    def _checked(self, names: list[str], values: list[Any]) -> list[Any]:
        try:
            return checked_outputs(self.session.name, names, values, self._declared, self._floats)
        except ModelOutputError:
            self.reset()  # a NaN state would poison every later frame; start over from the initial one
            raise
