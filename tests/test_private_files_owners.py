"""Whose a path may be (livecam.private_files): a folder for personal files is ours alone (check_folder,
refused with a sentence and its fix); what LiveCam runs or loads as found (numba's cache, TensorRT
engines, fetched models: not_ours) may also be root's. One rule serves both; these pin each caller's
sentences and the one difference, root."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from livecam.messages import shown
from livecam.private_files import FolderError, check_folder, not_ours

pytestmark = pytest.mark.skipif(os.name != "posix", reason="owners and modes are POSIX's")

_FIX = "set LIVECAM_CONFIG_DIR to a folder of your own"
_REFUSED = "so LiveCam keeps no personal files there"


def _stat(uid: int, mode: int) -> os.stat_result:
    return os.stat_result((stat.S_IFDIR | mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


def test_a_folder_others_may_write_to_or_of_another_user_is_refused_with_its_own_fix(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    folder = tmp_path / "private"
    folder.mkdir()
    os.chmod(folder, 0o700)
    check_folder(folder)  # ours, written by no one else
    os.chmod(folder, 0o1777)
    with pytest.raises(FolderError) as refused:
        check_folder(folder)
    assert str(refused.value) == (f"The folder {shown(folder)} can be written by other users (mode 1777), {_REFUSED}; "
                                  f"make it private with chmod 700 or {_FIX}.")
    owner = folder.stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)  # the owner check comes first, whatever the mode
    with pytest.raises(FolderError) as refused:
        check_folder(folder)
    assert str(refused.value) == f"The folder {shown(folder)} belongs to another user (uid {owner}), {_REFUSED}; {_FIX}."


def test_roots_folder_is_refused_for_personal_files_yet_trusted_for_what_runs(monkeypatch) -> None:
    root = os.stat("/")
    if root.st_uid != 0 or root.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        pytest.skip("/ is not root's alone here")
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    with pytest.raises(FolderError) as refused:
        check_folder("/")
    assert str(refused.value) == f"The folder {shown('/')} belongs to another user (uid 0), {_REFUSED}; {_FIX}."
    assert not_ours("/", root) is None


@pytest.mark.parametrize(("uid", "mode", "said"), [
    (4242, 0o755, None),  # ours
    (0, 0o755, None),  # root's
    (777, 0o700, "belongs to another user (uid 777)"),
    (777, 0o777, "belongs to another user (uid 777)"),  # the owner is said first
    (4242, 0o775, "can be written by other users (mode 0775)"),
    (0, 0o1777, "can be written by other users (mode 1777)"),
])
def test_what_runs_as_found_is_trusted_only_when_ours_or_roots_and_written_by_no_one_else(monkeypatch, uid, mode,
                                                                                       said) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    assert not_ours("/cache/index", _stat(uid, mode)) == (None if said is None else f"{shown('/cache/index')} {said}")
