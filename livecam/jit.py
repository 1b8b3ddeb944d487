"""numba's compiled loops where this machine can make them, and a way around them where it cannot.

numba keeps each loop's machine code on disk (``cache=True``). A cache file cut short or written by
another build, a home without a cache folder numba may write, or numba (llvmlite) that cannot load
at all made a kernel module raise at import: the stage that needed it could never be built, and
every frame went out hidden with numba's words as the only sentence (session 33's red team, on the
compositing loops). ``Kernels(what)`` compiles each loop with its cache, else afresh, else hands
back the numpy twin its caller gives (or None, for a caller that keeps its own numpy path), and
says so once in the log.
"""
from __future__ import annotations

import logging
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


class Kernels:
    """One module's compiled loops: ``fallback`` says why a numpy twin or path runs instead (None
    while every loop compiled)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.fallback: str | None = None
        self._cache_told = False

    def compiled(self, signature: str, twin: Callable | None = None, **options: Any) -> Callable:
        """A decorator: the loop compiled for ``signature`` (``nogil``, kept on disk where numba can,
        else compiled afresh at each start), or ``twin`` where numba cannot compile it."""
        def wrap(fn: Callable) -> Callable | None:
            reason = _NO_NUMBA
            if njit is not None:
                for cache in (True, False):
                    try:
                        return njit(signature, cache=cache, nogil=True, **options)(fn)
                    except Exception as exc:  # noqa: BLE001 - numba's errors have no common base
                        reason = f"numba could not compile {fn.__name__} ({type(exc).__name__}: {exc})"
                        if cache and not self._cache_told:
                            self._cache_told = True
                            log.warning("numba cannot use its cache for %s (%s); they are compiled afresh at each "
                                        "start.", self.what, exc)
            if self.fallback is None:
                self.fallback = reason
                log.warning("%s; LiveCam runs %s with numpy instead (the same pictures, a little slower).", reason,
                            self.what)
            return twin
        return wrap

    @staticmethod
    def inlined(fn: Callable | None = None, /, **options: Any) -> Callable:
        """A helper the loops call, compiled inside each of them (never cached on its own: a cache
        file of it that cannot be read broke the loops' compile even when theirs were fine), for the
        types the loops pass (no signature: one would compile it afresh at every start, 2 s for
        the face loops' helpers). ``@inlined(inline="always")`` passes numba's options."""
        def wrap(fn: Callable) -> Callable:
            return fn if njit is None else njit(cache=False, nogil=True, **options)(fn)
        return wrap if fn is None else wrap(fn)


def kernel_modules() -> list[str]:
    """Every module of compiled loops in the package: by name, so a new one needs no list kept."""
    import pkgutil

    import livecam
    return sorted(info.name for info in pkgutil.walk_packages(livecam.__path__, "livecam.")
                  if info.name.rsplit(".", 1)[-1].endswith("_kernels"))


def main() -> int:
    """Compile (and keep on disk) every loop now, so the first start after an install does not
    wait ~10 s for numba: ``python -m livecam.jit``, which ``scripts/run.sh`` runs once after it
    installs. Compiling on a thread at run time was tried and taken back: it kept a core busy while
    LiveCam should be idle (nobody watching)."""
    import importlib
    import time

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    start = time.monotonic()
    names = kernel_modules()
    for name in names:
        importlib.import_module(name)
    print(f"LiveCam's compiled loops are ready ({len(names)} modules, {time.monotonic() - start:.1f} s).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
