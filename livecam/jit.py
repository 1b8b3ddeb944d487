"""numba's compiled loops where this machine can make them, and a way around them where it cannot.

numba keeps each loop's machine code on disk (``cache=True``). A cache file cut short or written by
another build, a home without a cache folder numba may write, or numba (llvmlite) that cannot load
at all made a kernel module raise at import: the stage that needed it could never be built, and
every frame went out hidden with numba's words as the only sentence (session 33's red team, on the
compositing loops). ``Kernels(what)`` compiles each loop with its cache, else afresh, else hands
back the numpy twin its caller gives (or None, for a caller that keeps its own numpy path), and
says so once in the log.

Compiling is most of a first start (a fresh cache: 5 of the demo's 8 s before its first frame on a
desktop, and 130-200 s in CI's emulated guest, which compiles at every boot), so by default the loops
compile on one low-priority daemon thread after their module is imported: until a module's loops are
all there its ``READY`` is False (``done``) and the callers take their numpy and OpenCV paths, which
make the same bytes. ``LIVECAM_JIT=import`` compiles them at import instead (the tests set it), and
``Kernels.wait_ready`` waits for the thread (``livecam bench`` times the compiled loops).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

try:
    from numba import njit
except Exception as exc:  # noqa: BLE001 - llvmlite missing or unloadable: the numpy paths
    njit = None
    _NO_NUMBA: str | None = f"numba cannot be loaded ({exc})"
else:
    _NO_NUMBA = None

log = logging.getLogger(__name__)

BACKGROUND = os.environ.get("LIVECAM_JIT", "") != "import"
_queue: list[Kernels] = []  # modules whose loops the thread has still to compile, in import order
_pending = threading.Condition()
_thread: threading.Thread | None = None


class Kernels:
    """One module's compiled loops: ``fallback`` says why a numpy twin or path runs instead (None
    while every loop compiled)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.fallback: str | None = None
        self._cache_told = False
        self._later: list[tuple[Any, str, Callable | None]] = []  # (dispatcher, signature, twin) to compile
        self._module = ""

    def compiled(self, signature: str, twin: Callable | None = None, **options: Any) -> Callable:
        """A decorator: the loop compiled for ``signature`` (``nogil``, kept on disk where numba can,
        else compiled afresh at each start), or ``twin`` where numba cannot compile it."""
        def wrap(fn: Callable) -> Callable | None:
            reason = _NO_NUMBA
            if njit is not None and BACKGROUND:
                for cache in (True, False):  # no cache folder numba may write raises here, not at compile
                    try:
                        later = njit(cache=cache, nogil=True, **options)(fn)
                    except Exception as exc:  # noqa: BLE001 - numba's errors have no common base
                        reason = f"numba could not compile {fn.__name__} ({type(exc).__name__}: {exc})"
                        self._tell_cache(cache, exc)
                        continue
                    self._later.append((later, signature, twin))
                    # Not called while READY is False; a twin stands in until ``done`` swaps the loop in.
                    return later if twin is None else twin
            elif njit is not None:
                for cache in (True, False):
                    try:
                        return njit(signature, cache=cache, nogil=True, **options)(fn)
                    except Exception as exc:  # noqa: BLE001 - numba's errors have no common base
                        reason = f"numba could not compile {fn.__name__} ({type(exc).__name__}: {exc})"
                        self._tell_cache(cache, exc)
            self._give_up(reason)
            return twin
        return wrap

    def _tell_cache(self, cache: bool, exc: Exception) -> None:
        if cache and not self._cache_told:
            self._cache_told = True
            log.warning("numba cannot use its cache for %s (%s); they are compiled afresh at each start.", self.what,
                        exc)

    def _give_up(self, reason: str | None) -> None:
        if self.fallback is None:
            self.fallback = reason
            log.warning("%s; LiveCam runs %s with numpy instead (the same pictures, a little slower).", reason,
                        self.what)

    def done(self, module: str) -> bool:
        """The module's ``READY``, called last in it: True when its loops compiled at import; with
        them left to the thread, False until the thread has compiled them all, then the thread sets
        the module's ``READY`` to True (one assignment: a caller reads the old or the new value) after
        swapping the compiled loops in for the twins."""
        if not self._later or self.fallback is not None:
            return self.fallback is None and not self._later
        global _thread
        self._module = module
        with _pending:
            _queue.append(self)
            _pending.notify_all()  # the thread may be waiting, its queue done
            if _thread is None:
                _thread = threading.Thread(target=_compile_queued, name="livecam-jit", daemon=True)
                _thread.start()
        return False

    def _compile_all(self) -> None:
        for later, signature, _ in self._later:
            try:
                later.compile(signature)
            except Exception as exc:  # noqa: BLE001 - a cache file cut short or another build's: afresh
                self._tell_cache(True, exc)
                try:
                    from numba.core.caching import NullCache

                    later._cache = NullCache()
                    later.compile(signature)
                except Exception as exc:  # noqa: BLE001 - numba's errors have no common base
                    self._give_up(f"numba could not compile {later.py_func.__name__} ({type(exc).__name__}: {exc})")
                    return
            later.disable_compile()  # as an eager signature leaves it: other types raise, never compile
        module = sys.modules[self._module]
        for later, _, twin in self._later:
            if twin is not None:
                setattr(module, later.py_func.__name__, later)
        module.READY = True

    @staticmethod
    def wait_ready(timeout: float | None = None) -> bool:
        """Wait (up to ``timeout`` s) until the thread has compiled every module imported so far;
        whether it has."""
        with _pending:
            return _pending.wait_for(lambda: not _queue, timeout)

    @staticmethod
    def inlined(fn: Callable | None = None, /, **options: Any) -> Callable:
        """A helper the loops call, compiled inside each of them (never cached on its own: a cache
        file of it that cannot be read broke the loops' compile even when theirs were fine), for the
        types the loops pass (no signature: one would compile it afresh at every start, 2 s for
        the face loops' helpers). ``@inlined(inline="always")`` passes numba's options."""
        def wrap(fn: Callable) -> Callable:
            return fn if njit is None else njit(cache=False, nogil=True, **options)(fn)
        return wrap if fn is None else wrap(fn)


def _compile_queued() -> None:
    try:  # below the frames' threads: this thread's Linux nice value (its own, as a task)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass
    while True:
        with _pending:
            _pending.wait_for(lambda: bool(_queue))
            kernels = _queue[0]
        try:
            kernels._compile_all()
        except Exception as exc:  # noqa: BLE001 - READY stays False: the numpy paths go on
            kernels._give_up(f"the loops could not be made ready ({type(exc).__name__}: {exc})")
        finally:
            module = sys.modules.get(kernels._module)
            if kernels.fallback is not None and hasattr(module, "FALLBACK"):  # composite_kernels says why
                module.FALLBACK = kernels.fallback
            with _pending:
                _queue.pop(0)
                _pending.notify_all()
