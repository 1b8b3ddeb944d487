"""Red team (redteam8): pipeline.owned's reference count only ever errs towards "someone else holds
it" (a copy, never a write into a frame another holder still shows); a home folder that cannot be
told, and a settings file that is a pipe or device, are one sentence, never a traceback or a loss."""
import os
import threading

import numpy as np
import pytest

from livecam import pipeline
from livecam import settings as S
from livecam.pipeline import owned


def _holders():
    """Ways a second holder keeps a frame (or its memory) that the chain must never write."""
    class Box:
        pass

    def closure(frame):
        def inner():
            return frame
        return inner

    def suspended(frame):
        yield frame

    def attribute(frame):
        box = Box()
        box.frame = frame
        return box

    def generator(frame):
        g = suspended(frame)
        next(g)
        return g

    return {
        "list": lambda f: [f],
        "dict": lambda f: {"frame": f},
        "attribute": attribute,
        "closure cell": closure,
        "suspended generator": generator,
        "memoryview": memoryview,
        "numpy view": lambda f: f[1:],
        "array on its buffer": lambda f: np.ndarray(f.shape, f.dtype, buffer=f),
        "dlpack capsule": lambda f: f.__dlpack__(),
    }


@pytest.mark.parametrize("kind", sorted(_holders()))
def test_a_frame_with_a_second_holder_is_never_owned_in_the_chains_call_shapes(kind):
    """Called as the chain calls it (a plain local; a method's loop variable rebound from a tuple)."""
    hold = _holders()[kind]

    def plain():
        frame = np.zeros((4, 4, 3), np.uint8)
        alone = owned(frame)
        kept = hold(frame)
        shared = owned(frame)
        del kept
        return alone, shared

    class Chain:
        def run(self):
            image, seen = np.zeros((4, 4, 3), np.uint8), []
            for _ in range(2):
                seen.append(owned(image))
                kept = hold(image)
                seen.append(owned(image))
                del kept
                image, _, _ = np.zeros((4, 4, 3), np.uint8), None, False
            return seen

    assert plain() == (True, False)
    assert Chain().run() == [True, False] * 2


def test_a_frame_a_waiting_thread_holds_is_never_owned():
    frame, go = np.zeros((4, 4, 3), np.uint8), threading.Event()
    worker = threading.Thread(target=lambda f: go.wait(5), args=(frame,))
    worker.start()
    try:
        assert not owned(frame)
    finally:
        go.set()
        worker.join()
    del worker
    assert owned(frame)


def test_the_one_holder_count_is_the_smallest_of_the_chains_shapes():
    """Measured in every shape and the least kept, so a Python version that counts one shape lower
    (3.14's borrowed loads) makes frames read as shared, not a shared frame read as the chain's."""
    assert pipeline._ONE_HOLDER <= pipeline._ChainShape().count()
    frame = np.empty(1, np.uint8)
    assert pipeline._ONE_HOLDER <= pipeline._counted_inside(frame)


def _no_account(monkeypatch, pw_dir=None):
    import pwd

    def lookup(uid):
        if pw_dir is None:
            raise KeyError(uid)
        return type("Entry", (), {"pw_dir": pw_dir})()

    monkeypatch.setattr(pwd, "getpwuid", lookup)
    for name in ("HOME", "XDG_CONFIG_HOME", "LIVECAM_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.skipif(os.name == "nt", reason="the user database is POSIX's")
def test_no_home_and_no_account_is_one_sentence(monkeypatch):
    """A container started with --user 12345 and no HOME: Path.home() raised RuntimeError ('Could not
    determine home directory.') through config_dir at start."""
    _no_account(monkeypatch)
    with pytest.raises(S.SettingsError) as caught:
        S.config_dir()
    text = str(caught.value)
    assert "home" in text and "HOME" in text and "\n" not in text and text.endswith(".")


@pytest.mark.skipif(os.name == "nt", reason="the user database is POSIX's")
def test_no_home_and_no_account_is_one_sentence_from_the_command_line(monkeypatch, capsys):
    """The parser (defaults shown in --help) and the log file reach the config folder before any
    command runs: `livecam doctor` ended in a traceback there."""
    from livecam import cli

    _no_account(monkeypatch)
    for name in ("XDG_DATA_HOME", "LIVECAM_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("livecam: ") and err.count("\n") == 1 and "HOME" in err


@pytest.mark.skipif(os.name == "nt", reason="the user database is POSIX's")
@pytest.mark.parametrize("pw_dir", ["", "relative/home"])
def test_an_accounts_empty_or_relative_home_is_no_home(monkeypatch, tmp_path, pw_dir):
    """Before, Path('') put settings, presets and avatar copies in whatever folder LiveCam started in."""
    _no_account(monkeypatch, pw_dir)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(S.SettingsError):
        S.home_dir()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX's")
@pytest.mark.parametrize("linked", [True, False])
def test_saving_never_puts_a_file_in_place_of_a_pipe_or_device(monkeypatch, tmp_path, linked):
    """settings.json linked to /dev/null (a way to keep no settings): run as root, saving replaced
    /dev/null itself with a 0600 file of JSON. A FIFO of the user's stands in for the device here."""
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "cfg"))
    config = S.private_config_dir()
    fifo = (tmp_path / "cfg" / "pipe") if linked else S.settings_path()
    os.mkfifo(fifo)
    if linked:
        S.settings_path().symlink_to(fifo)
    with pytest.raises(S.SettingsError) as caught:
        S.save(S.Settings())
    text = str(caught.value)
    assert "not a file" in text and "\n" not in text and "Errno" not in text
    assert os.path.exists(fifo) and not os.path.isfile(fifo), "the pipe is still there"
    left = {"pipe", "settings.json"} if linked else {"settings.json"}
    assert {p.name for p in config.iterdir()} == left, "no temporary file left behind"


def test_a_settings_link_in_a_loop_is_kept_where_python_resolves_loops_without_a_word(monkeypatch, tmp_path):
    """Python 3.13+ resolves a symlink loop (non-strict) to a path inside the loop instead of raising
    RuntimeError as 3.11 does; the rename then replaced the user's link with a plain file. Here
    resolve() is made to answer as 3.13 does."""
    import pathlib

    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "cfg"))
    S.private_config_dir()
    link, other = S.settings_path(), S.settings_path().with_name("other.json")
    link.symlink_to(other.name)
    other.symlink_to(link.name)
    monkeypatch.setattr(pathlib.Path, "resolve", lambda self, strict=False: pathlib.Path(os.path.abspath(self)))
    with pytest.raises(S.SettingsError) as caught:
        S.save(S.Settings())
    assert "circle" in str(caught.value)
    assert link.is_symlink() and os.readlink(link) == other.name, "the user's link is still there"
