"""The config folder is private and only ours, and every way of failing to use it is one sentence.

LiveCam makes the folder 0700 when it creates it and never changes the mode of a folder that exists:
one that others may write to, or that belongs to someone else, is refused (its settings are not read,
nothing is written into it). The log never follows a symbolic link.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecam import private_files
from livecam import settings as S
from livecam.private_files import FolderError, private_dir

REPO = Path(__file__).resolve().parents[1]
HOPPER = Path(__file__).resolve().parent / "fixtures" / "mpl_grace_hopper.jpg"
ROOT = os.name == "posix" and os.geteuid() == 0


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _one_sentence(text: str) -> None:
    assert "Traceback" not in text and "\n" not in text.strip(), text
    assert text.strip().endswith("."), text


def _folder(tmp_path: Path, kind: str, monkeypatch) -> Path:
    """A config folder of the given kind; ``other user`` is real (chown) as root, simulated otherwise."""
    folder = tmp_path / kind.replace(" ", "_")
    if kind == "file":
        folder.write_text("not a folder\n")
        return folder
    folder.mkdir()
    if kind == "shared 1777":
        folder.chmod(0o1777)
    elif kind == "group-writable":
        folder.chmod(0o770)
    elif kind == "other user 0777":
        folder.chmod(0o777)
        if ROOT:
            os.chown(folder, 4321, 4321)
        else:
            me = os.geteuid()
            monkeypatch.setattr(private_files.os, "geteuid", lambda: me + 1)
    return folder


REFUSED = ["file", "shared 1777", "group-writable", "other user 0777"]


@pytest.mark.parametrize("kind", REFUSED)
def test_a_refused_folder_is_not_read_not_written_and_keeps_its_mode(tmp_path, monkeypatch, caplog, kind):
    folder = _folder(tmp_path, kind, monkeypatch)
    before = os.stat(folder)
    if kind != "file":
        # A settings file someone planted there: it must not be used.
        (folder / "settings.json").write_text('{"background": {"mode": "blur", "blur": 99}}')
        before = os.stat(folder)
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(folder))
    with caplog.at_level(logging.WARNING, logger="livecam"):
        assert S.load() == S.Settings()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    _one_sentence(warning)
    assert str(folder) in warning and "uses the defaults" in warning
    with pytest.raises(S.SettingsError) as refused:
        S.save(S.update(S.Settings(), background={"blur": 5}))
    _one_sentence(str(refused.value))
    assert "not saved" in str(refused.value)
    with pytest.raises(FolderError):
        private_dir(folder / "avatars")  # an avatar copy, a preset, a background: none go there
    after = os.stat(folder)
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)  # never chmod-ed or chown-ed
    if kind != "file":
        assert sorted(p.name for p in folder.iterdir()) == ["settings.json"]


def test_an_avatar_photo_is_not_copied_into_a_folder_of_another_user(tmp_path, monkeypatch, caplog):
    from livecam.analysis.avatar_photo import load_avatar_photo

    folder = _folder(tmp_path, "other user 0777", monkeypatch)
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(folder))
    photo = tmp_path / "me.jpg"
    shutil.copy(HOPPER, photo)
    with caplog.at_level(logging.WARNING):
        loaded = load_avatar_photo(photo)
    assert loaded.path == photo  # the original is used
    assert list(folder.iterdir()) == []
    assert any("another user" in r.getMessage() for r in caplog.records)


def test_a_folder_we_create_is_0700_with_its_missing_parents(tmp_path, monkeypatch):
    folder = tmp_path / "home" / ".config" / "livecam"
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(folder))
    old = os.umask(0o022)
    try:
        private_dir(folder / "avatars")
    finally:
        os.umask(old)
    for made in (tmp_path / "home", tmp_path / "home" / ".config", folder, folder / "avatars"):
        assert mode(made) == 0o700


def test_an_existing_private_enough_folder_is_used_as_it_is(tmp_path, monkeypatch):
    """0755 (an older LiveCam's, or the user's choice) is readable but not writable by others: used, and
    its mode left alone; the files in it are 0600 anyway."""
    folder = tmp_path / "livecam"
    folder.mkdir()
    folder.chmod(0o755)
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(folder))
    S.save(S.update(S.Settings(), background={"blur": 7}))
    assert S.load().background.blur == 7
    assert mode(folder) == 0o755 and mode(folder / "settings.json") == 0o600


def test_a_0500_folder_is_never_loosened(tmp_path, monkeypatch):
    folder = tmp_path / "livecam"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(folder))
    try:
        if ROOT:  # root may write anyway; what a user meets is EACCES from the OS
            def denied(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(private_files.tempfile, "mkstemp", denied)
        assert S.load() == S.Settings()
        with pytest.raises(S.SettingsError, match="permission is denied") as refused:
            S.save(S.Settings())
        _one_sentence(str(refused.value))
        assert mode(folder) == 0o500
    finally:
        folder.chmod(0o700)


def test_settings_json_that_is_a_folder_is_one_sentence_on_save(tmp_path, monkeypatch):
    folder = tmp_path / "livecam"
    (folder / "settings.json").mkdir(parents=True, mode=0o700)
    folder.chmod(0o700)
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(folder))
    with pytest.raises(S.SettingsError, match="is a folder, not a file") as refused:
        S.save(S.Settings())
    _one_sentence(str(refused.value))
    assert [p.name for p in folder.iterdir()] == ["settings.json"]  # no temporary file left behind


@pytest.mark.parametrize("errno_, words", [(30, "read-only"), (28, "disk is full"), (13, "permission")])
def test_every_os_failure_to_save_is_one_sentence(tmp_path, monkeypatch, errno_, words):
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "livecam"))

    def fails(*args, **kwargs):
        raise OSError(errno_, os.strerror(errno_))

    monkeypatch.setattr(private_files.os, "mkdir", fails)
    with pytest.raises(S.SettingsError, match=words) as refused:
        S.save(S.Settings())
    _one_sentence(str(refused.value))


def _cli(*args: str, config: Path, wrap: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIVECAM_CONFIG_DIR": str(config), "PYTHONPATH": str(REPO)}
    return subprocess.run([*(wrap or []), sys.executable, "-m", "livecam", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


SAVE = ("run", "--source", "demo", "--output", "null", "--frames", "1", "--background", "off", "--save")


@pytest.mark.parametrize("kind", ["file", "shared 1777", "other user 0777", "settings.json folder"])
def test_save_from_the_command_line_is_one_sentence(tmp_path, monkeypatch, kind):
    if kind == "settings.json folder":
        folder = tmp_path / "livecam"
        (folder / "settings.json").mkdir(parents=True)
        folder.chmod(0o700)
    elif kind == "other user 0777" and not ROOT:
        pytest.skip("another user's folder needs root to make (the in-process test simulates it)")
    else:
        folder = _folder(tmp_path, kind, monkeypatch)
    done = _cli(*SAVE, config=folder)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    saved = [line for line in done.stderr.splitlines() if "not saved" in line]
    assert len(saved) == 1 and saved[0].endswith("."), done.stderr


def _read_only_mount() -> list[str] | None:
    """A command prefix that runs the rest with ``$LIVECAM_CONFIG_DIR`` a read-only mount (root only)."""
    if not ROOT or shutil.which("unshare") is None:
        return None
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o ro,mode=0700 none "$LIVECAM_CONFIG_DIR" && exec "$@"',
            "sh"] if probe.returncode == 0 else None


def test_a_read_only_config_folder_is_one_sentence(tmp_path):
    wrap = _read_only_mount()
    if wrap is None:
        pytest.skip("a real read-only mount needs root and unshare; test_every_os_failure_to_save covers EROFS")
    folder = tmp_path / "livecam"
    folder.mkdir(mode=0o700)
    done = _cli(*SAVE, config=folder, wrap=wrap)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "not saved" in line]
    assert line.endswith("the file system is read-only."), line


# ---------------------------------------------------------------- the log file


def _log_once(message: str) -> None:
    from livecam.cli import remove_log_handlers, setup_logging

    setup_logging()
    try:
        logging.getLogger("livecam").info(message)
    finally:
        remove_log_handlers()


def test_the_log_is_private(tmp_path):
    from livecam.cli import log_path

    _log_once("hello")
    assert "hello" in log_path().read_text() and mode(log_path()) == 0o600
    log_path().chmod(0o644)  # an older LiveCam's
    _log_once("again")
    assert mode(log_path()) == 0o600


@pytest.mark.parametrize("kind", ["symlink", "dangling symlink", "hard link"])
def test_the_log_never_writes_through_a_link(tmp_path, capsys, kind):
    from livecam.cli import log_path

    target = tmp_path / "precious.txt"
    target.write_text("mine\n")
    target.chmod(0o644)
    private_dir(log_path().parent)
    if kind == "symlink":
        log_path().symlink_to(target)
    elif kind == "dangling symlink":
        target.unlink()
        log_path().symlink_to(target)
    else:
        os.link(target, log_path())
    _log_once("secret")
    err = capsys.readouterr().err
    (warning,) = [line for line in err.splitlines() if "log file" in line]
    _one_sentence(warning)
    if kind == "dangling symlink":
        assert not target.exists()
    else:
        assert target.read_text() == "mine\n" and mode(target) == 0o644


# ---------------------------------------------------------------- any existing mode


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=0o7777))
def test_an_existing_folder_of_any_mode_is_accepted_or_refused_and_never_changed(folder_mode):
    import tempfile

    with tempfile.TemporaryDirectory() as top:
        folder = Path(top) / "livecam"
        folder.mkdir()
        os.chmod(folder, folder_mode)
        try:
            try:
                private_dir(folder)
                accepted = True
            except FolderError as exc:
                accepted = False
                _one_sentence(str(exc))
            assert mode(folder) == folder_mode
            assert accepted == (folder_mode & 0o022 == 0)
        finally:
            os.chmod(folder, 0o700)
