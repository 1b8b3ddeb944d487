"""Red team, round 9 (redteam9): faults at the library and file-system boundaries that earlier
rounds did not list. Each test failed on the start tree (265095d)."""
import errno
import os

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from conftest import written_long_ago
from pixels import room_clip, room_detail

from livecam import cli, recording
from livecam import settings as S
from livecam.capture import CaptureError, VideoReader, iter_video_frames
from livecam.output_gate import OutputGate, Provenance
from livecam.pipeline import Pipeline


def _unreadable(monkeypatch, path):
    """Reading ``path`` fails as it does for a file of another owner (made by ``sudo livecam``) or
    on a failing disk: the test runs as root, where chmod 000 would not stop a read."""
    real_open = os.open

    def guarded(file, flags, *args, **kwargs):
        if os.fspath(file) == os.fspath(path) and not flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)


@pytest.mark.parametrize("fault", ["unreadable", "broken_and_unkept"])
def test_saving_never_replaces_a_settings_file_livecam_could_neither_read_nor_keep(monkeypatch, tmp_path, fault):
    """A settings file LiveCam cannot read gives the defaults and a .bak copy; where no copy could be
    made either (an unreadable file, a backup that fails), the next save (the tray's first slider
    move, ``livecam run --save``) put the defaults over the user's file and nothing of it was left."""
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "cfg"))
    S.private_config_dir()
    path = S.settings_path()
    mine = S.update(S.Settings(), background={"mode": "blur", "blur": 37})
    S.save(mine)
    if fault == "unreadable":
        _unreadable(monkeypatch, path)
    else:
        path.write_text(path.read_text()[:-20])  # cut short by hand: not JSON any more
        written_long_ago(path)
        monkeypatch.setattr(S, "_backup", lambda p: None)  # the copy fails (disk full, quota)
    before = open(path, "rb").read() if fault != "unreadable" else None
    assert S.load() == S.Settings(), "the defaults stand in for a file that cannot be used"
    assert not any(p.name.startswith("settings.json.bak") for p in path.parent.iterdir())
    with pytest.raises(S.SettingsError) as caught:
        S.save(S.update(S.Settings(), background={"mode": "image"}))
    text = str(caught.value)
    assert "not saved" in text and "\n" not in text and "Errno" not in text
    monkeypatch.undo()
    if before is not None:
        assert open(path, "rb").read() == before, "the user's file is untouched"
    else:
        assert S.load(path) == mine, "the user's file is untouched"
    assert {p.name for p in path.parent.iterdir()} == {"settings.json"}, "no temporary file left behind"


def test_saving_over_a_broken_file_that_was_kept_as_a_backup_goes_ahead(monkeypatch, tmp_path):
    """The guard costs nothing where the original is safe: a broken file kept as .bak is replaced."""
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "cfg"))
    S.private_config_dir()
    path = S.settings_path()
    path.write_text("{not json")
    written_long_ago(path)
    assert S.load() == S.Settings()
    new = S.update(S.Settings(), background={"mode": "blur"})
    S.save(new)
    assert S.load() == new
    assert (path.parent / "settings.json.bak").read_text() == "{not json"


def test_the_tray_saving_keeps_what_another_livecam_saved_meanwhile(monkeypatch, tmp_path, qtbot):
    """The tray wrote its whole copy of the settings at each change: what ``livecam run --save``, a
    second tray or the user's editor put in the file while it was open was thrown away at the next
    slider move (and again at every later one). Now each save writes the tray's own changes over
    what the file holds then."""
    from livecam.gui.store import SettingsStore

    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "cfg"))
    S.private_config_dir()
    S.save(S.update(S.Settings(), capture={"fps": 24}))
    store = SettingsStore(S.load())
    S.save(S.update(S.load(), background={"mode": "blur", "blur": 37}))  # another LiveCam, meanwhile
    store.update(low_light={"mode": "auto"})
    store.flush()
    saved = S.load()
    assert saved.low_light.mode == "auto", "the tray's change is saved"
    assert saved.background.blur == 37 and saved.background.mode == "blur", "the other change is kept"
    assert saved.capture.fps == 24
    store.update(touch_up={"strength": 40})  # a second change: the other's still stands
    store.flush()
    saved = S.load()
    assert saved.background.blur == 37 and saved.touch_up.strength == 40 and saved.low_light.mode == "auto"
    store.update(background={"blur": 80})  # what the tray itself changes wins
    store.flush()
    assert S.load().background.blur == 80 and S.load().background.mode == "blur"


class _DecoderFailingAt:
    """cv2.VideoCapture whose read raises cv2.error (a damaged stream, the decoder out of memory) at
    the ``at``-th read of the first capture opened (the input clip; it is opened by descriptor)."""

    def __init__(self, real, at):
        self.real, self.at, self.opened = real, at, 0

    def __call__(self, *args, **kwargs):
        cap, outer = self.real(*args, **kwargs), self
        reads, first = [0], self.opened == 0
        self.opened += 1

        class Capture:
            def read(self, *a):
                reads[0] += 1
                if first and reads[0] == outer.at:
                    raise cv2.error("OpenCV(4.10.0) error: (-215:Assertion failed) in function 'read'")
                return cap.read(*a)

            def __getattr__(self, attr):
                return getattr(cap, attr)

        return Capture()


@pytest.mark.parametrize("at", [1, 6])
def test_a_decoder_that_raises_mid_render_is_one_sentence_and_claims_no_whole_clip(tmp_path, monkeypatch, capsys, at):
    """The decoder raising (not returning False) mid-clip went through render as a traceback."""


    if recording.find_ffmpeg() is None:
        pytest.skip("ffmpeg is not installed")
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "config"))
    src, dst = tmp_path / "in.avi", tmp_path / "out.mp4"
    out = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 15, (160, 120))
    for i in range(12):
        out.write(np.full((120, 160, 3), 20 * i, np.uint8))
    out.release()
    monkeypatch.setattr(cv2, "VideoCapture", _DecoderFailingAt(cv2.VideoCapture, at))
    code = cli.main(["render", str(src), str(dst), "--background", "off", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("livecam:")]
    assert len(lines) == 1 and ("could not be decoded" in lines[0] or "failed after 5 frames" in lines[0]), err
    monkeypatch.undo()
    if at == 1:
        assert not dst.exists(), "nothing written"
    else:
        with VideoReader(str(dst)) as reader:
            assert sum(1 for _ in reader) == 5, "the file holds the frames that were decoded"
    monkeypatch.setattr(cv2, "VideoCapture", _DecoderFailingAt(cv2.VideoCapture, at))
    with pytest.raises(CaptureError) as caught:  # the tools that need every frame are told, not short-changed
        list(iter_video_frames(src))
    assert isinstance(caught.value, CaptureError) and "Decoding" in str(caught.value)


def _gate_passes(gate, coverage):
    """Whether a blurred-background frame whose person mask covers ``coverage`` of it leaves as it is."""


    frame = np.zeros((144, 256, 3), np.uint8)
    mask = np.zeros((144, 256), np.uint8)
    mask[:, :round(coverage * 256)] = 255
    proof = Provenance(shape=frame.shape, applied={"background": frozenset({"mask"})}, mask=mask)
    return gate.check(frame, S.update(S.Settings(), background={"mode": "blur"}), proof) is frame


def test_a_close_up_whose_mask_takes_most_of_the_room_in_a_frame_is_hidden():
    """With the person at 0.685 of the picture (a webcam close-up), one all-"person" model frame,
    spread by the default smoothing, read 0.884: +0.2, under the 0.25 jump and the 0.9 "full" mark,
    so the room left (0.315 of the picture) went out raw. A rise that takes most of the room left
    is a fault too, while the movements a person makes still pass."""

    gate = OutputGate()
    assert all(_gate_passes(gate, 0.685) for _ in range(5))
    assert not _gate_passes(gate, 0.884), "0.63 of the room taken in one frame"
    assert not any(_gate_passes(gate, c) for c in (0.732, 0.696)), "held until the mask is steady again"
    assert [_gate_passes(gate, 0.69) for _ in range(3)] == [False, True, True], "shown once steady"

    for moves in ([0.5, 0.5, 0.554, 0.55, 0.52],  # a hand entering (the shared clips' largest rise)
                  [0.60, 0.63, 0.66, 0.69, 0.72, 0.75, 0.78],  # leaning in quickly
                  [0.8, 0.86, 0.84, 0.88, 0.85]):  # a face filling the picture, moving
        gate = OutputGate()
        assert all(_gate_passes(gate, c) for c in moves), moves


@pytest.mark.parametrize("outage", [0, 10])
def test_one_all_person_frame_of_the_mask_model_in_a_close_up_shows_no_room(monkeypatch, outage):
    """End to end on a shared close-up (person 0.69 of the picture): ONNX Runtime hands back an
    all-ones mask for one frame, straight away or as its first answer after ``outage`` frames with no
    answer at all (hidden, past the analyzer's grace). That frame showed the raw room (detail 0.89
    and 0.93 of it, against 0.30): after an outage the gate judged the first mask back alone."""
    frames, rooms = room_clip("cihp_0005008", 14 + outage)
    settings = S.update(S.Settings(), background={"mode": "blur", "blur": 60})
    real_run, now = ort.InferenceSession.run, {"frame": -1}
    saturated = 10 + outage

    def faulty(self, names, feeds, *args, **kwargs):
        out = real_run(self, names, feeds, *args, **kwargs)
        if 10 <= now["frame"] < saturated:
            return [None, *out[1:]]
        return [np.ones_like(out[0]), *out[1:]] if now["frame"] == saturated else out

    monkeypatch.setattr(ort.InferenceSession, "run", faulty)
    pipeline = Pipeline(settings)
    for i, (frame, room) in enumerate(zip(frames, rooms)):
        now["frame"] = i
        out = pipeline.process(frame)
        if i >= saturated:
            assert room_detail(out[:, 12:], frame[:, 12:], room) < 0.4, f"frame {i} shows the room"


@pytest.mark.parametrize("fault", ["scaled", "negated", "constant"])
def test_a_mask_model_result_that_is_no_probability_is_refused_where_it_comes_out(monkeypatch, fault):
    """The selfie model ends in a sigmoid. A result scaled (x 1e30), negated or one value everywhere
    was clipped to 0..1 and judged by the gate on its coverage alone: in the fuzz, rises of 0.13-0.16
    in a half-full picture passed and part of the room left. The segmenter now refuses such a frame
    where it comes out, so every frame leaves exactly as when the model gave no answer at all (the
    last good mask bridges a few frames, then the picture is hidden), and no more room than that."""
    frames, rooms = room_clip("cihp_0005008", 24)
    settings = S.update(S.Settings(), background={"mode": "blur", "blur": 60})
    real_run, now = ort.InferenceSession.run, {"frame": -1}

    def run(fault):
        bad = {"none": lambda m: None, "scaled": lambda m: m * np.float32(1e30), "negated": lambda m: -m,
               "constant": lambda m: np.full_like(m, 0.7)}[fault]

        def faulty(self, names, feeds, *args, **kwargs):
            out = real_run(self, names, feeds, *args, **kwargs)
            return [bad(out[0]), *out[1:]] if now["frame"] >= 8 and now["frame"] % 3 else out

        monkeypatch.setattr(ort.InferenceSession, "run", faulty)
        pipeline, outs = Pipeline(settings), []
        for i, frame in enumerate(frames):
            now["frame"] = i
            outs.append(pipeline.process(frame).copy())
        return outs

    no_answer, bad = run("none"), run(fault)
    for i, (frame, room) in enumerate(zip(frames, rooms)):
        assert np.array_equal(bad[i], no_answer[i]), (
            f"frame {i}: {room_detail(bad[i][:, 12:], frame[:, 12:], room):.2f} of the room shown, "
            f"{room_detail(no_answer[i][:, 12:], frame[:, 12:], room):.2f} with no answer")


def test_flat_pictures_give_the_mask_model_no_fault():
    """A lens cap or a privacy shutter gives the model a flat picture: its answer is one value, 0
    (nobody there), which must not count as a fault (the gate would report a broken model)."""
    from livecam.analysis.segmenter import Segmenter

    segmenter = Segmenter("landscape")
    for value in (0, 40, 128, 255):
        mask = segmenter.predict(np.full((720, 1280, 3), value, np.uint8))
        assert mask.max() < 0.01


def test_after_hidden_frames_the_first_mask_back_is_judged_against_the_one_before():
    """The unit form: hidden frames (no mask) in between no longer wipe what the mask was before
    them, and the person as they were before the outage is shown at once."""

    def hidden_frame(gate):
        frame = np.zeros((144, 256, 3), np.uint8)
        proof = Provenance(shape=frame.shape, applied={"background": frozenset({"mask"})}, mask=None)
        assert gate.check(frame, S.update(S.Settings(), background={"mode": "blur"}), proof) is not frame

    gate = OutputGate()
    assert all(_gate_passes(gate, 0.685) for _ in range(5))
    for _ in range(8):
        hidden_frame(gate)
    assert not _gate_passes(gate, 0.884), "the room taken right after an outage"

    gate = OutputGate()
    assert all(_gate_passes(gate, 0.685) for _ in range(5))
    for _ in range(8):
        hidden_frame(gate)
    assert _gate_passes(gate, 0.70) and _gate_passes(gate, 0.70), "the person as before the outage"
    assert [_gate_passes(gate, 0.0) for _ in range(2)] == [False, False], "a mask gone to nothing"


def _s18_stand_in(root):
    """A 12-frame 1280x720 clip under the name the contact sheet reads (the real one is 282 frames)."""
    from livecam import quality

    (root / "video").mkdir(parents=True)
    (root / "masks").mkdir()
    out = cv2.VideoWriter(str(root / "video" / f"{quality.WALL_CLIP}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                          (1280, 720))
    for i in range(12):
        frame = np.full((720, 1280, 3), 90, np.uint8)
        cv2.circle(frame, (640 + 4 * i, 300), 150, (60, 120, 200), -1)
        out.write(frame)
    out.release()
    return root


def test_eval_contact_sheets_never_replace_block_on_or_write_through_what_is_at_their_name(tmp_path):
    """``livecam eval --sheet FOLDER`` wrote with cv2.imwrite: a FIFO named s18_light.jpg blocked
    the eval for good, a link named s18_dark.jpg was written through (the user's file it leads to
    replaced by a JPEG). Each sheet now takes the next free name."""
    import threading

    from livecam import quality

    root, folder = _s18_stand_in(tmp_path / "data"), tmp_path / "sheets"
    folder.mkdir()
    mine, elsewhere = folder / "s18_light-2.jpg", tmp_path / "elsewhere.txt"
    mine.write_bytes(b"the user's own picture")
    elsewhere.write_bytes(b"kept")
    os.mkfifo(folder / "s18_light.jpg")
    (folder / "s18_dark.jpg").symlink_to(elsewhere)
    made = []
    worker = threading.Thread(target=lambda: made.extend(
        quality.contact_sheet(root, ["landscape"], folder, colour) for colour in (quality.LIGHT, quality.DARK)),
        daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "writing the sheets blocked"
    assert mine.read_bytes() == b"the user's own picture" and elsewhere.read_bytes() == b"kept"
    assert (folder / "s18_dark.jpg").is_symlink()
    assert [p.name for p in made] == ["s18_light-3.jpg", "s18_dark-2.jpg"]
    for sheet in made:
        assert cv2.imread(str(sheet)) is not None and sheet.stat().st_mode & 0o777 == 0o600


def test_an_eval_whose_sheets_cannot_be_written_says_so_after_its_report(tmp_path, monkeypatch, capsys):
    """A --sheet folder that is a file ended the eval in a traceback after its minutes of work, the
    report lost; where OpenCV could not write it said nothing and named the missing sheet."""
    import argparse

    from livecam import quality

    root = _s18_stand_in(tmp_path / "data")
    monkeypatch.setattr(quality, "wall_reference", lambda *a: None)
    monkeypatch.setattr(quality, "eval_stills", lambda *a: {"images": 0})
    monkeypatch.setattr(quality, "eval_clips", lambda *a: {"clips": {}})
    (tmp_path / "taken").write_text("a file")
    args = argparse.Namespace(data=str(root), model="landscape", json=True, sheet=str(tmp_path / "taken"))
    assert quality.main(args) == 1
    out, err = capsys.readouterr()
    assert '"models"' in out, "the report is printed whole"
    assert err.strip().splitlines() == [f"livecam eval: the contact sheets were not written to {tmp_path / 'taken'} "
                                        "(a part of its path is a file, not a folder)."]
