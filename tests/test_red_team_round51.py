"""Trust round 51: round 50's two leftovers outside its files.

1. Two LiveCams on one virtual camera, named two ways (``--device /dev/video10`` and the device
   labelled LiveCam, which is /dev/video10): round 50's lock is keyed by the setting, so both started
   and took turns on the camera frame by frame. The virtual camera now holds a flock on the device
   node itself once it is open; a second output on that node, whatever its name, is let go and says
   round 50's sentence. A node that cannot be locked refuses nothing.
2. The model caches under umask 000: the TensorRT engine cache (and CoreML's) was made 0777, and an
   engine in it is loaded as it is, so any local user chose what ran in place of the checked model.
   The folders are made 0700; one that others may write (or a file in it) is not used: the session is
   built without the cache, and the log says why once. A fetched model (the data folder, not the
   bundled ``models/``) in a folder others may write is refused at load time, not just at fetch.
"""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS

from live_doubles import BackendDouble
from livecam import devices, sinks
from livecam.analysis import runtime
from test_runtime import recording_ort, recurrent_model_bytes  # noqa: F401 - the fixture by name

posix_only = pytest.mark.skipif(os.name != "posix", reason="flock, umask and file modes are POSIX")


# -- 1. one device node, two names ----------------------------------------------------------------


class NodeCamera(BackendDouble):
    """A backend that 'opens' the node it is given (a FIFO standing in for /dev/video10)."""

    opened: list[NodeCamera] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw) -> None:
        self._device = device
        self.frames = 0
        NodeCamera.opened.append(self)

    def send(self, frame) -> None:
        self.frames += 1


@pytest.fixture
def node(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")
    NodeCamera.opened = []
    pyvirtualcam.register_backend("livecam-node", NodeCamera)
    fifo = tmp_path / "video10"
    os.mkfifo(fifo)
    other_name = tmp_path / "by-label"  # the same node under another name, as the label lookup finds it
    other_name.symlink_to(fifo)
    yield fifo, other_name
    BACKENDS.pop("livecam-node", None)


@posix_only
def test_a_second_livecam_on_the_same_node_under_another_name_is_refused(node):
    fifo, other_name = node
    first = sinks.VirtualCamOutput(64, 48, 30, device=str(fifo), backend="livecam-node")
    try:
        with pytest.raises(sinks.OutputError) as refused:
            sinks.VirtualCamOutput(64, 48, 30, device=str(other_name), backend="livecam-node")
        said = str(refused.value)
        assert said.startswith("LiveCam is already running (the tray app or livecam run) and sends to the virtual "
                               f"camera {other_name}; two would take turns on it")
        assert said.endswith("or use --output preview or --output file.") and "\n" not in said
        second = NodeCamera.opened[1]
        assert second.closed  # let go at once: it never sends a frame between the first one's
        first.send(np.zeros((48, 64, 3), np.uint8))
        assert NodeCamera.opened[0].frames == 1 and not NodeCamera.opened[0].closed  # the first runs on
        # A reopen (the device came back) lets go of the node and takes it again: still the only one.
        first.reopen()
        with pytest.raises(sinks.OutputError, match="already running"):
            sinks.VirtualCamOutput(64, 48, 30, device=str(fifo), backend="livecam-node")
    finally:
        first.close()
    # Once the first has closed, the next one gets the camera.
    again = sinks.VirtualCamOutput(64, 48, 30, device=str(other_name), backend="livecam-node")
    assert again.camera is not None
    again.close()


@posix_only
def test_another_process_on_the_node_refuses_this_one_until_it_is_gone(node):
    """The other LiveCam as a real process (its lock taken the way the output takes it); killed, as a crash
    would, its lock goes with it and the camera opens."""
    fifo, other_name = node
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys\n"
         f"fd = os.open({str(fifo)!r}, os.O_RDONLY | os.O_NONBLOCK)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\nsys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(sinks.OutputError, match=r"already running .* virtual camera .*by-label; two would"):
            sinks.VirtualCamOutput(64, 48, 30, device=str(other_name), backend="livecam-node")
        assert NodeCamera.opened[-1].closed
    finally:
        holder.kill()
        holder.wait(10)
    out = sinks.VirtualCamOutput(64, 48, 30, device=str(other_name), backend="livecam-node")
    assert out.camera is not None and not NodeCamera.opened[-1].closed
    out.close()
    assert NodeCamera.opened[-1].closed


@posix_only
def test_a_node_that_cannot_be_locked_refuses_nothing(node, tmp_path):
    """No file to open (OBS's camera has a name, not a node; a node we may not read): both open, as before."""
    for device in (str(tmp_path / "no-such-node"), "OBS Virtual Camera"):
        first = sinks.VirtualCamOutput(64, 48, 30, device=device, backend="livecam-node")
        second = sinks.VirtualCamOutput(64, 48, 30, device=device, backend="livecam-node")
        assert first.camera is not None and second.camera is not None
        first.close()
        second.close()


def test_the_folder_lock_and_the_node_lock_say_one_sentence():
    assert sinks.already_sending("123") == (
        "LiveCam is already running (process 123, the tray app or livecam run) and sends to the virtual camera; "
        "two would take turns on it, so this one does not start: quit the other first, or use --output preview "
        "or --output file.")


# -- 2. the model caches and fetched models under a loose umask ------------------------------------


def _trt_options(calls) -> dict[str, str]:
    return dict(calls[-1]["providers"])["TensorrtExecutionProvider"]


@posix_only
def test_the_tensorrt_cache_made_under_umask_000_is_the_owners_alone(recording_ort):
    calls, _, cache = recording_ort
    old = os.umask(0)
    try:
        runtime.load_model("face_landmark", provider="tensorrt", threads=5)
    finally:
        os.umask(old)
    assert _trt_options(calls)["trt_engine_cache_path"] == str(cache / "tensorrt")
    # Was 0777 for both (mkdir(parents=True) under umask 000).
    assert stat.S_IMODE((cache / "tensorrt").stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


@posix_only
@pytest.mark.parametrize("loose", ["folder", "engine"])
def test_a_tensorrt_cache_others_may_write_is_not_loaded_from(recording_ort, caplog, loose):
    calls, _, cache = recording_ort
    (cache / "tensorrt").mkdir(parents=True, mode=0o700)
    engine = cache / "tensorrt" / "TensorrtExecutionProvider_TRTKernel_graph_1234_0_0_fp16_sm90.engine"
    engine.write_bytes(b"someone else's engine")
    (cache / "tensorrt" if loose == "folder" else engine).chmod(0o777 if loose == "folder" else 0o666)
    with caplog.at_level(logging.WARNING):
        # Threads of its own per case: a session still open from the other would come from the pool.
        session = runtime.load_model("face_landmark", provider="tensorrt", threads=6 if loose == "folder" else 8)
    options = _trt_options(calls)
    # Was: the cache path handed to TensorRT, which loads the engine it finds there as it is.
    assert "trt_engine_cache_path" not in options and "trt_timing_cache_path" not in options
    assert options["trt_engine_cache_enable"] == "False" and options["trt_timing_cache_enable"] == "False"
    assert session.provider == "TensorrtExecutionProvider"  # still the user's provider, built afresh
    said = [r.getMessage() for r in caplog.records if "keeps no built models" in r.getMessage()]
    assert len(said) == 1 and "can be written by other users" in said[0] and "chmod -R go-w" in said[0]
    assert "TensorRT loads what it finds there" in said[0] and f"make {cache / 'tensorrt'} private" in said[0]
    assert said[0].endswith("built afresh at every start.") and "\n" not in said[0]
    assert ("0777" if loose == "folder" else "0666") in said[0]


@posix_only
def test_a_coreml_cache_others_may_write_is_not_given_to_coreml(recording_ort):
    calls, _, cache = recording_ort
    (cache / "coreml").mkdir(parents=True)
    (cache / "coreml").chmod(0o777)
    runtime.load_model("face_landmark", provider="coreml", threads=9)
    name, options = calls[-1]["providers"][0]
    assert name == "CoreMLExecutionProvider" and "ModelCacheDirectory" not in options


@posix_only
@pytest.mark.parametrize("loose", ["folder", "file"])
def test_a_fetched_model_others_may_replace_is_refused_at_load(tmp_path, loose):
    folder = tmp_path / "data" / "models"
    folder.mkdir(parents=True, mode=0o700)
    path = folder / "rvm.onnx"
    path.write_bytes(recurrent_model_bytes())
    path.chmod(0o600)
    spec = {"sha256": runtime.sha256_of(path), "fp16": False}
    (folder if loose == "folder" else path).chmod(0o777 if loose == "folder" else 0o666)
    with pytest.raises(runtime.ModelError) as refused:  # was: loaded
        runtime.load_model("rvm", provider="cpu", threads=3 if loose == "folder" else 4, spec=spec, path=path)
    said = str(refused.value)
    assert said.startswith(f"Model file {path} is not loaded because ") and "\n" not in said
    assert "can be written by other users" in said and "livecam models fetch rvm" in said
    (folder if loose == "folder" else path).chmod(0o700 if loose == "folder" else 0o600)
    loaded = runtime.load_model("rvm", provider="cpu", threads=3 if loose == "folder" else 4, spec=spec, path=path)
    assert loaded.provider == "CPUExecutionProvider"  # made private again, it loads
