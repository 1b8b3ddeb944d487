"""numba's compiled loops where this machine can make them, and a way around them where it cannot.

numba keeps each loop's machine code on disk (``cache=True``). A cache file cut short or written by
another build, a home without a cache folder numba may write, or numba (llvmlite) that cannot load
at all made a kernel module raise at import: the stage that needed it could never be built, and
every frame went out hidden with numba's words as the only sentence (session 33's red team, on the
compositing loops). ``Kernels(what)`` compiles each loop with its cache, else afresh, else hands
back the numpy twin its caller gives (or None, for a caller that keeps its own numpy path), and
says so once in the log.

numba's cache index is a pickle, loaded (run) at every start: whoever can write the cache can run code
as the user. Its folders and files are made private whatever the umask (under umask 000 they were
0777 and 0666), and a cache folder or file others may write, or that another user owns, is not loaded
from: those loops are compiled afresh, and the log says why.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from livecam.messages import shown
from livecam.private_files import not_ours

try:
    with warnings.catch_warnings(record=True) as _import_warnings:
        warnings.simplefilter("always")
        from numba import njit
except Exception as exc:  # noqa: BLE001 - llvmlite missing or unloadable: the numpy paths
    njit = None
    _NO_NUMBA: str | None = f"numba cannot be loaded ({exc})"
else:
    _NO_NUMBA = None

log = logging.getLogger(__name__)

for _said in _import_warnings:
    _first = str(_said.message).split("\n", 1)[0]
    if _first.startswith("Environment variable "):
        # NUMBA_NUM_THREADS=abc and the like: numba's warning carried a whole traceback onto the terminal
        # at every start, for a value it then ignores.
        log.warning("%s numba ignores it.", _first)
    else:
        warnings.warn_explicit(_said.message, _said.category, _said.filename, _said.lineno)

_umask_lock = threading.Lock()
_umask_users = 0
_umask_saved = 0


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """What numba writes meanwhile (cache folders, index and code files) is the owner's alone. The umask
    is the process's: two threads compiling at once share one change, undone when the last is done."""
    global _umask_users, _umask_saved
    with _umask_lock:
        if _umask_users == 0:
            _umask_saved = os.umask(0o077)
            os.umask(_umask_saved | 0o077)
        _umask_users += 1
    try:
        yield
    finally:
        with _umask_lock:
            _umask_users -= 1
            if _umask_users == 0:
                os.umask(_umask_saved)


def unsafe_cache(folder: str | None) -> str | None:
    """Why numba's cache in ``folder`` must not be loaded from, or None (also when numba names none)."""
    if not folder or os.name != "posix":
        return None
    try:
        why = not_ours(folder, os.stat(folder))
        if why is None:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.endswith((".nbi", ".nbc")):
                        why = not_ours(entry.path, entry.stat(follow_symlinks=False))
                        if why:
                            break
    except OSError:
        return None  # numba's own load says what is wrong with a folder it cannot read
    if why is None:
        return None
    return (f"{why}, and numba runs what it finds there; make it private (chmod -R go-w) or remove it, "
            "and LiveCam's loops are kept there again")


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
                        if not cache:
                            return njit(signature, cache=False, nogil=True, **options)(fn)
                        with _private_umask():
                            # Without a signature nothing is compiled or loaded yet: only the folder is found.
                            found = njit(cache=True, nogil=True, **options)(fn)
                            refused = unsafe_cache(getattr(getattr(found, "stats", None), "cache_path", None))
                            if refused:
                                raise PermissionError(refused)
                            return njit(signature, cache=True, nogil=True, **options)(fn)
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
