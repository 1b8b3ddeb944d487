"""Red team, round 42: the settings save against an editor's same-size write, and Quit while a model
run hangs.

1. ``settings.save_merged`` told a file rewritten since its read by the file's state (inode, size,
   mtime_ns). An editor's or a script's in-place write of the same size within one tick of the file
   system's clock (coarse timestamps: 1-10 ms on ext4 under load, 2 s on FAT, 1 s on some network
   file systems) left all three as they were, and the tray's save renamed its merge over the write:
   the user's edit was lost. The check now compares the file's bytes too, read under the writers'
   lock before the merge and again just before the rename.
2. Quit in the tray while a model run hung waited for the live runner's 5 s before the control window
   and the tray icon went and the virtual camera closed (measured 5.3 s here; ``livecam run`` on
   SIGINT already ended in 0.36 s, the recording whole). Quit now waits for a frame being processed
   only briefly, hides the windows first, and still finishes the recording and saves the settings
   before the process ends; the frame stuck in the model is left on its thread and goes nowhere.
   ``livecam run --output preview``: closing the window while a model run hung left the process there
   5.6 s; closing it is now a stop request, as Ctrl+C (0.36 s).
"""
from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest

from livecam import settings as S

# ------------------------------------------------------------------ 1. an editor's same-size write


def _same_size_edit(path, section: str, key: str, value) -> bytes:
    """Rewrite ``path`` in place with ``section.key`` set to ``value`` (the same length of text), and
    put its modification time back: what a write within one tick of the file system's clock leaves."""
    before = os.stat(path)
    old = path.read_bytes()
    data = json.loads(old)
    data[section][key] = value
    new = (json.dumps(data, indent=2) + "\n").encode()
    assert len(new) == len(old) and new != old
    with open(path, "r+b") as f:  # in place: the same inode
        f.write(new)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    return new


def test_an_editors_same_size_write_within_one_clock_tick_between_the_trays_read_and_rename_is_kept(
        qtbot, monkeypatch):
    from livecam.gui import store as G

    S.save(S.update(S.Settings(), background={"mode": "blur", "blur": 40}))
    store = G.SettingsStore(S.load())
    store.update(touch_up={"strength": 40})  # the tray's own change
    real, reads = S.read_settled, []

    def read_then_the_editor_writes(path, wait=True):
        got = real(path, wait)
        reads.append(got)
        if len(reads) == 1:  # between the tray's read and its rename, once
            _same_size_edit(path, "background", "blur", 70)
        return got

    monkeypatch.setattr(S, "read_settled", read_then_the_editor_writes)
    store.flush()
    monkeypatch.setattr(S, "read_settled", real)
    saved = S.load()
    assert saved.background.blur == 70, "the editor's same-size write was lost"
    assert saved.touch_up.strength == 40, "the tray's change was lost"
    assert len(reads) == 2  # read again once, and merged


def test_run_save_keeps_an_editors_same_size_write_made_while_it_merged(monkeypatch):
    S.save(S.update(S.Settings(), background={"mode": "blur", "blur": 40}))
    real, reads = S.read_settled, []

    def read_then_the_editor_writes(path, wait=True):
        got = real(path, wait)
        reads.append(got)
        if len(reads) == 1:
            _same_size_edit(path, "background", "blur", 70)
        return got

    monkeypatch.setattr(S, "read_settled", read_then_the_editor_writes)
    S.save_merged(lambda: S.with_changes(S.load(), {("touch_up", "strength"): 40}))
    monkeypatch.setattr(S, "read_settled", real)
    saved = S.load()
    assert (saved.background.blur, saved.touch_up.strength) == (70, 40)


def test_a_file_read_again_unchanged_is_written_at_once():
    """The content check adds no re-merge of its own: an untouched file is merged once."""
    S.save(S.Settings())
    merges = []

    def merge():
        merges.append(1)
        return S.with_changes(S.load(), {("touch_up", "strength"): 40})

    assert S.save_merged(merge).touch_up.strength == 40
    assert len(merges) == 1 and S.load().touch_up.strength == 40


def test_an_empty_settings_file_beside_a_fifo_named_like_its_backup_does_not_hang_the_start():
    """An empty settings.json (a full disk, an editor that crashed) is kept as NAME.bak before the
    defaults are used; an existing NAME.bak of the same size is compared first, byte for byte. A FIFO
    there ("0 bytes" too) was opened and waited for a writer for ever: LiveCam hung at its start."""
    path = S.settings_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.chmod(path, 0o600)
    fifo = path.with_name("settings.json.bak")
    os.mkfifo(fifo, 0o600)
    got: list = []
    loader = threading.Thread(target=lambda: got.append(S.load()), daemon=True)
    loader.start()
    loader.join(10)
    if loader.is_alive():  # let the stuck open go: a writer comes and goes
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        loader.join(10)
        pytest.fail("loading the settings waited on the FIFO at settings.json.bak")
    assert got == [S.Settings()]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"
    kept = path.with_name("settings.json.bak.2")
    assert kept.read_bytes() == b"" and os.stat(kept).st_mode & 0o777 == 0o600


# ------------------------------------------------------------------ a user's file is never replaced

from hypothesis import HealthCheck, given, settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

KINDS = ("missing", "file", "read-only file", "link to a file", "link to a read-only file", "hard link", "folder",
         "fifo")


def _writers():
    """(name, the path it writes, write(), replaces): the writers of personal files, through their own
    entry points. ``replaces``: it may replace a writable file of its own name (the settings, a preset
    the user confirmed); the others never replace anything."""
    from livecam.gui import presets
    from livecam.private_files import copy_private, write_private

    source = FIXTURES / "sk_astronaut.png"
    yield "settings", S.settings_path, lambda: S.save(S.Settings()), True
    yield "preset", lambda: presets._path("Work"), lambda: presets.save_preset("Work", S.Settings()), True
    yield ("background copy", lambda: S.config_dir() / "backgrounds" / "room.png",
           lambda: copy_private(source, S.config_dir() / "backgrounds" / "room.png"), False)
    yield ("settings backup", lambda: S.config_dir() / "kept.bak",
           lambda: write_private(S.config_dir() / "kept.bak", b"{}", overwrite=False), False)


def _put(kind: str, target, elsewhere, data: bytes) -> None:
    """What a user may have at ``target``; ``elsewhere`` is the user's own file a link leads to."""
    from livecam.private_files import private_dir

    private_dir(target.parent)
    elsewhere.write_bytes(data)
    if kind in ("file", "read-only file"):
        target.write_bytes(data)
        os.chmod(target, 0o400 if kind == "read-only file" else 0o600)
    elif kind.startswith("link to"):
        os.chmod(elsewhere, 0o400 if "read-only" in kind else 0o600)
        os.symlink(elsewhere, target)
    elif kind == "hard link":
        os.link(elsewhere, target)
    elif kind == "folder":
        target.mkdir()
        (target / "inside").write_bytes(data)
    elif kind == "fifo":
        os.mkfifo(target, 0o600)


def _state(path):
    try:
        st_ = os.lstat(path)
    except FileNotFoundError:
        return None
    data = path.read_bytes() if stat.S_ISREG(st_.st_mode) else None
    return stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode), st_.st_ino, data


@hsettings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writer=st.sampled_from(range(4)), kind=st.sampled_from(KINDS), data=st.binary(max_size=64))
def test_a_users_file_at_a_writers_path_survives_or_is_refused_in_one_sentence(tmp_path_factory, monkeypatch,
                                                                               writer, kind, data):
    """Before: a settings file or a preset the user had made read-only (chmod 400, or a link to such a
    file) was replaced by the next save all the same (a rename needs only the folder's permission)."""
    import tempfile

    from livecam.gui.presets import PresetError

    home = tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", os.path.join(home, "config"))
    name, path_of, write, replaces = list(_writers())[writer]
    target = path_of()
    elsewhere = target.parent.parent / "users_own_file"
    if kind != "missing":
        _put(kind, target, elsewhere, data)
    before, theirs = _state(target), _state(elsewhere)
    try:
        write()
        said = None
    except (S.SettingsError, PresetError, OSError) as exc:
        said = str(exc)
    writable = kind in ("file", "link to a file")
    if kind == "missing" or (replaces and writable):
        assert said is None, f"{name} over a {kind}: {said}"
        return
    if kind == "hard link" and replaces:  # its own name gets a new file; the user's other name keeps its bytes
        assert said is None and _state(elsewhere) == theirs
        return
    assert said is not None, f"{name} went ahead over a {kind}"
    assert _state(target) == before and _state(elsewhere) == theirs, f"{name} changed a {kind}"
    if replaces:  # the sentence is the writer's own (the no-replace ones raise FileExistsError to their caller)
        assert "\n" not in said and "Errno" not in said and said.endswith("."), said
        assert "read-only" in said or "folder" in said or "pipe" in said, said


# ------------------------------------------------------------------ 2. Quit while a model run hangs

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from conftest import FIXTURES, blur_on_camera  # noqa: E402
from live_doubles import ClosedOutput, kept_outputs  # noqa: E402
from processes import needs_ffmpeg  # noqa: E402

WAIT_MS = 15_000
QUIT_WITHIN_S = 2.0  # what `livecam run` promises after a stop signal; the tray waited 5 s and more


def _quit_while_hung(qtbot, app, hang) -> float:
    """Start ``app``, wait for frames, hang the mask model, Quit; the seconds Quit took."""
    app.start()
    qtbot.waitUntil(lambda: app.bridge.last_frame is not None, timeout=WAIT_MS)
    hang.on = True
    assert hang.hit.wait(WAIT_MS / 1000), "the mask model never ran after the hang was set"
    time.sleep(0.1)  # well inside the stuck run
    t0 = time.monotonic()
    app.quit()
    return time.monotonic() - t0


def test_quit_while_a_model_run_hangs_closes_the_window_and_the_virtual_camera_at_once(qtbot, hung_mask):
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import LiveBridge

    outputs, open_output = kept_outputs(ClosedOutput)
    settings = blur_on_camera()
    app = LiveCamApp(settings, bridge=LiveBridge(settings, open_output=open_output), persist=True,
                     prefer_tray=False)
    try:
        app.store.update(touch_up={"strength": 40})  # a change not saved yet: Quit saves it
        took = _quit_while_hung(qtbot, app, hung_mask)
        assert took < QUIT_WITHIN_S, f"Quit took {took:.1f} s with a model run stuck"
        assert not app.front.isVisible(), "the window stayed"
        assert outputs and outputs[0].closed_at is not None, "the virtual camera was left open"
        assert S.load().touch_up.strength == 40, "Quit did not save the settings"
        runner_thread = app.bridge._control  # the control thread is done: nothing of Quit is left behind
        assert runner_thread._shutdown
    finally:
        hung_mask.on = False
    # The stuck frame comes back later: it goes nowhere (the output is closed).
    time.sleep(0.3)
    assert outputs[0].after_close == 0


@needs_ffmpeg
def test_quit_while_a_model_run_hangs_finishes_the_recording(qtbot, hung_mask, tmp_path):
    import subprocess

    from livecam.gui.app import LiveCamApp
    from livecam.recording import find_ffmpeg

    target = tmp_path / "call.mp4"
    settings = blur_on_camera(output={"kind": "file", "path": str(target), "fps": 30})
    app = LiveCamApp(settings, persist=False, prefer_tray=False)
    try:
        took = _quit_while_hung(qtbot, app, hung_mask)
        assert took < QUIT_WITHIN_S + 1.0, f"Quit took {took:.1f} s with a model run stuck"
    finally:
        hung_mask.on = False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call.mp4"], "a part file was left"
    assert os.stat(target).st_mode & 0o777 == 0o600
    probe = os.path.join(os.path.dirname(find_ffmpeg()), "ffprobe")
    if os.path.exists(probe):
        out = subprocess.run([probe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                              str(target)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and float(out.stdout) > 0, out.stderr


_PREVIEW_CLOSED = """
import sys, threading, time
import onnxruntime as ort
from livecam import sinks
from livecam.analysis import run_guard
run_guard.HANG_S = 60.0  # the run is simply stuck for the whole test
real_run, real_pump, runs, hung = ort.InferenceSession.run, sinks.PreviewOutput.pump, [0], threading.Event()
def run(self, *a, **k):
    if "selfie_segmentation" in self._model_path:
        runs[0] += 1
        if runs[0] > 10:
            hung.set()
            threading.Event().wait()
    return real_run(self, *a, **k)
def pump(self):
    if hung.is_set():  # the user closes the preview window while the mask model is stuck
        print("RT42 CLOSED", flush=True, file=sys.stderr)
        return False
    return real_pump(self)
ort.InferenceSession.run, sinks.PreviewOutput.pump = run, pump
from livecam.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_closing_run_previews_window_while_a_model_run_hangs_ends_the_process_at_once(tmp_path):
    """``livecam run --output preview``: closing the window is the user's Quit. It waited for the frame
    stuck in the model for the session's whole 5 s (5.6 s measured from the close to the process gone)."""
    import subprocess
    import sys

    script = tmp_path / "preview_closed.py"
    script.write_text(_PREVIEW_CLOSED)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, str(script), "run", "--source", "demo", "--output", "preview",
                             "--blur", "80", "--segmentation-model", "landscape"], cwd=root,
                            env={**os.environ, "PYTHONPATH": root, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        while "RT42 CLOSED" not in seen:
            line = proc.stderr.readline()
            assert line, f"the window was never closed: {seen[-2000:]}"
            seen += line
        closed = time.monotonic()
        err = proc.communicate(timeout=60)[1]
        took = time.monotonic() - closed
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert took < QUIT_WITHIN_S + 0.5, f"the process stayed {took:.1f} s after its window was closed"
    assert "Stopped after" in err and "Traceback" not in err
