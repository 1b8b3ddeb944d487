"""End to end on a real Linux kernel: LiveCam writes the v4l2loopback camera labelled "LiveCam",
and ffmpeg and Chromium (getUserMedia, choosing the camera by label) read it back.

The host kernel here has no V4L2, so each scenario boots a small QEMU guest (see qemu_guest.py)
whose userland is the host's own /, so this checkout, its virtual environment, ffmpeg and
Chromium run inside unchanged. The checks are on pixels: every frame has the configured size,
its corners (a room in the source) are the configured background colour, its face matches the
source frame whose index is stamped on it, and those indices move forward.

Select with ``-m guest``, leave out with ``-m "not guest"``. Evidence (a frame from each reader,
contact sheets, doctor output, guest logs, timings) goes to out/guest/ (LIVECAM_GUEST_OUT).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import framecode  # noqa: E402
import qemu_guest  # noqa: E402

from livecam.app import PAUSED_CARD  # noqa: E402
from livecam.capture import placeholder_image  # noqa: E402
from livecam.pacing import CATCHING_UP_TEXT  # noqa: E402

pytestmark = pytest.mark.guest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = Path(os.environ.get("LIVECAM_GUEST_OUT") or REPO / "out" / "guest")

WIDTH, HEIGHT, FPS = 640, 360, 15
# Not symmetric in red and blue (unlike pure green), so a channel-order mix-up shows in the corners.
COLOR, COLOR_BGR = "#0080ff", (255, 128, 0)
# The exact fix `livecam doctor` must print, and what the README tells users to run.
MODPROBE_FIX = 'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="LiveCam" exclusive_caps=1'

CLIP = "video/lp_d9_webcam_room.mp4"  # a man at a webcam in a room: walls in every corner
FALLBACK = REPO / "tests" / "fixtures" / "sk_astronaut.png"  # flag and wall in the top corners
# An emulated guest processes about one frame a second, so the source plays at 2 fps (every 3rd
# frame of the 30 fps clip): the guest's time goes to the effect rather than to decoding, and the
# loop (~98 s) is long enough that a step forward is never mistaken for a step back.
SOURCE_FPS, SOURCE_STEP, SOURCE_FRAMES = 2, 3, 512
LIVECAM_FRAMES = {"ffmpeg": 20, "chromium": 100000, "idle": 100000}  # chromium, idle: stopped at the end
# The first grabs may show the "starting the camera" card while LiveCam resumes for the page.
PAGE_FRAMES, PAGE_EVERY_MS, PAGE_MIN_REAL = 12, 1500, 5
MEMORY_MIB = {"ffmpeg": 1024, "chromium": 2048, "idle": 1024}
# An emulated (TCG) guest compiles LiveCam's numba loops at each boot (its cache folder starts
# empty): 130-200 s before the first frame since the person-mask loops joined (session 34).
BOOT_TIMEOUT_S = {"ffmpeg": 600, "chromium": 720, "idle": 720}
# Idle: each ffmpeg session reads this many frames (25 s at 15 fps: time to measure CPU meanwhile).
# CPU is measured over CPU_WINDOW_S, CPU_SETTLE_S after the source reopened, and IDLE_SETTLE_S
# after LiveCam said processing is paused (what closing the source and the decoder leaves to do
# takes a few ms on hardware and a few hundred under emulation).
IDLE_READ_FRAMES, CPU_SETTLE_S, IDLE_SETTLE_S, CPU_WINDOW_S = 375, 3, 4, 8
MAX_RELEASE_S = 2.0  # the last reader closed -> LiveCam's source is closed
MAX_IDLE_CPU_PERCENT = 3.0  # of one core, while nobody reads
MAX_CARD_ERROR = 12.0  # mean |BGR - card| of a frame that shows the "starting the camera" card

# Bounds for "in order" under emulation: a frame may be repeated (the output keeps 15 fps while
# the guest processes ~1 frame/s) and frames may be skipped (latest frame wins), but never by
# more than MAX_STEP source frames (30 s of source) at once, and never backwards.
MAX_STEP = 60
MAX_REPEAT_S = 10  # the output may repeat one frame this long while the guest works on the next
MAX_CORNER_ERROR = 40.0  # mean |BGR - colour| over a 32x32 corner; no effect at all gives ~150
MAX_FACE_ERROR = 25.0  # mean |BGR - source| over the face
MIN_DECODED = 0.8  # share of frames whose stamp must read back (the mask may swallow a bit's two cells)


def shared_data() -> Path:
    if os.environ.get("LIVECAM_DATA"):
        return Path(os.environ["LIVECAM_DATA"])
    return REPO.parent / "shared" / "data"


@dataclass
class Source:
    path: Path
    frames: list[np.ndarray]
    corners: tuple[str, ...]  # which corners are background in the source
    description: str


@dataclass
class Run:
    name: str
    job: Path
    boot: qemu_guest.Boot

    def text(self, name: str) -> str:
        path = self.job / name
        return path.read_text(errors="replace").strip() if path.exists() else ""

    def context(self) -> str:
        """Everything a failure message needs to be understood without rerunning."""
        parts = [f"guest ({self.boot.accel}, {self.boot.wall_s:.0f} s) exit status {self.boot.exit_status}"]
        for name in ("timeline.txt", f"{self.name}-livecam.log", f"{self.name}-livecam.rc", f"{self.name}.rc"):
            parts.append(f"--- {name}\n{self.text(name)[-2000:]}")
        parts.append(f"--- guest log\n{self.boot.guest_log[-2000:]}\n--- console\n{self.boot.console[-1500:]}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def guest() -> Path:
    reason = qemu_guest.blocker()
    if reason:
        pytest.skip(f"cannot run the test guest: {reason}")
    try:
        folder = qemu_guest.build()
    except qemu_guest.GuestUnavailable as exc:
        pytest.skip(f"cannot build the test guest: {exc}")
    compile_generic_loops()
    return folder


# numba keys its disk cache by CPU; the emulated guest's CPU is not the host's, so without this the
# guest compiled every loop at each boot (130-200 s before the first frame). Loops compiled here for
# a generic x86-64 and kept beside the host's own in the checkout's caches, which the guest sees,
# are what the guest loads (scenario.sh sets the same NUMBA_CPU_NAME).
NUMBA_CPU = "generic"


def compile_generic_loops() -> None:
    env = dict(os.environ, NUMBA_CPU_NAME=NUMBA_CPU, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "livecam.jit"], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"compiling LiveCam's loops for the guest failed:\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    clip = shared_data() / CLIP
    out = tmp_path_factory.mktemp("guest-source") / "source.mp4"
    if clip.is_file():
        frames = framecode.make_source(clip, out, WIDTH, HEIGHT, SOURCE_FPS, SOURCE_STEP, SOURCE_FRAMES)
        return Source(out, frames, ("tl", "tr", "bl", "br"), f"{clip.name}, 1 frame in {SOURCE_STEP}")
    frames = framecode.make_source(FALLBACK, out, WIDTH, HEIGHT, SOURCE_FPS, 1, 200)
    return Source(out, frames, ("tl", "tr"), f"{FALLBACK.name} (the shared clip is absent)")


def run_scenario(name: str, guest: Path, source: Source, job: Path) -> Run:
    shutil.copy(source.path, job / "source.mp4")
    env = {
        "REPO": str(REPO),
        "NUMBA_CPU": NUMBA_CPU,
        "PYTHON": sys.executable,  # the guest sees the host's /, so this virtual environment works there
        "HOME": "/tmp/home",
        "SOURCE": "/tmp/job/source.mp4",
        "SIZE": f"{WIDTH}x{HEIGHT}",
        "FPS": str(FPS),
        "COLOR": COLOR,
        "LIVECAM_FRAMES": str(LIVECAM_FRAMES[name]),
        "PAGE_FRAMES": str(PAGE_FRAMES),
        "PAGE_EVERY_MS": str(PAGE_EVERY_MS),
        "PAGE_PORT": "8765",
        "WRITER_WAIT_S": "300",
        "READ_TIMEOUT_S": "360",
        "LIVECAM_EXIT_S": "180",
        "IDLE_READ_FRAMES": str(IDLE_READ_FRAMES),
        "CPU_SETTLE_S": str(CPU_SETTLE_S),
        "IDLE_SETTLE_S": str(IDLE_SETTLE_S),
        "CPU_WINDOW_S": str(CPU_WINDOW_S),
    }
    (job / "env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()))
    (job / "run.sh").write_text(f"exec /bin/bash {shlex.quote(str(HERE / 'scenario.sh'))} {name}\n")
    boot = qemu_guest.boot(guest, job, MEMORY_MIB[name], BOOT_TIMEOUT_S[name])
    run = Run(name, job, boot)
    keep = OUT / name
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    for path in job.iterdir():
        if path.is_file() and path.suffix in (".txt", ".log", ".rc", ".cmd", ".json"):
            shutil.copy(path, keep / path.name)
    (keep / "console.txt").write_text(boot.console)
    (keep / "guest.log").write_text(boot.guest_log)
    _record_timing(name, boot)
    return run


def _record_timing(name: str, boot: qemu_guest.Boot) -> None:
    path = OUT / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = {"accel": boot.accel, "guest_wall_s": round(boot.wall_s, 1)}
    path.write_text(json.dumps(timings, indent=1))


@pytest.fixture(scope="module")
def ffmpeg_run(guest, source, tmp_path_factory) -> Run:
    return run_scenario("ffmpeg", guest, source, tmp_path_factory.mktemp("guest-ffmpeg"))


@pytest.fixture(scope="module")
def idle_run(guest, source, tmp_path_factory) -> Run:
    return run_scenario("idle", guest, source, tmp_path_factory.mktemp("guest-idle"))


@pytest.fixture(scope="module")
def chromium_run(guest, source, tmp_path_factory) -> Run:
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (bash tests/guest/ci_setup.sh installs it)")
    return run_scenario("chromium", guest, source, tmp_path_factory.mktemp("guest-chromium"))


# ------------------------------------------------------------------ pixel checks


def read_rgba(path: Path, width: int, height: int) -> np.ndarray:
    rgba = np.frombuffer(path.read_bytes(), np.uint8).reshape(height, width, 4)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def save_evidence(name: str, frames: list[np.ndarray], reports: list[framecode.FrameReport]) -> None:
    """The middle frame as the reader saw it, and a contact sheet of up to 8 distinct frames."""
    if not frames:
        return
    cv2.imwrite(str(OUT / f"{name}_frame.png"), frames[len(frames) // 2])
    picked, seen = [], set()
    for frame, report in zip(frames, reports):
        if report.index not in seen and len(picked) < 8:
            seen.add(report.index)
            small = cv2.resize(frame, (320, 180), interpolation=cv2.INTER_AREA)
            cv2.putText(small, f"#{report.index}", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
            picked.append(small)
    while len(picked) % 4:
        picked.append(np.zeros_like(picked[0]))
    rows = [np.hstack(picked[i : i + 4]) for i in range(0, len(picked), 4)]
    cv2.imwrite(str(OUT / f"{name}_sheet.png"), np.vstack(rows))
    (OUT / f"{name}_frames.txt").write_text("\n".join(map(str, reports)) + "\n")


def check_frames(
    name: str,
    frames: list[np.ndarray],
    source: Source,
    min_frames: int,
    min_distinct: int,
    run: Run,
    max_run: int | None = None,
) -> int:
    """Size, effect, content and order of what a reader received; ``max_run`` bounds how many
    consecutive frames may repeat one source frame (for readers that take every frame).

    A reader that opens the camera while LiveCam idles first gets the "starting the camera" card
    LiveCam left as its last frame, until the first new frame: those leading cards are set aside
    (and their number returned); a card anywhere later, or any other frame before the first new
    one, fails the checks below."""
    leading = leading_cards(frames)
    frames = frames[leading:]
    # The emulated (TCG) guest can starve LiveCam's loop for over a second while the browser starts;
    # the pacer then sends its "catching up" card instead of a frozen picture, as it should. Those are
    # set aside (a few at most), never counted as frames.
    catching = [i for i, f in enumerate(frames) if is_card(f, CATCHING_UP_TEXT)]
    assert len(catching) <= len(frames) // 3, (
        f"{name}: {len(catching)} of {len(frames)} frames are the catching-up card: LiveCam stalled\n{run.context()}")
    frames = [f for i, f in enumerate(frames) if i not in set(catching)]
    reports = [
        framecode.inspect(f"{name} frame {i}", f, COLOR_BGR, source.frames, source.corners) for i, f in enumerate(frames)
    ]
    save_evidence(name, frames, reports)
    table = "\n".join(map(str, reports[:60]))
    assert len(frames) >= min_frames, f"{name} received {len(frames)} frames, fewer than {min_frames}\n{run.context()}"

    wrong_size = [r for r in reports if r.size != (WIDTH, HEIGHT)]
    assert not wrong_size, f"frames are not {WIDTH}x{HEIGHT}:\n{table}"
    no_effect = [r for r in reports if r.corner_error > MAX_CORNER_ERROR]
    assert not no_effect, f"the background is not {COLOR} in these frames ({source.description}):\n" + "\n".join(
        map(str, no_effect[:20])
    )
    decoded = [r for r in reports if r.index is not None]
    assert len(decoded) >= MIN_DECODED * len(reports), f"too few frames carry a readable frame number:\n{table}"
    unlike = [r for r in decoded if r.face_error is None or r.face_error > MAX_FACE_ERROR]
    assert not unlike, "these frames do not show the source frame they are stamped with:\n" + "\n".join(map(str, unlike))
    indices = [r.index for r in decoded]
    problems = framecode.order_problems(indices, len(source.frames), MAX_STEP)
    assert not problems, f"{name} received frames out of order: " + "; ".join(problems) + f"\n{table}"
    if max_run is not None:
        longest, run_length = 1, 1
        for a, b in zip(indices, indices[1:]):
            run_length = run_length + 1 if a == b else 1
            longest = max(longest, run_length)
        assert longest <= max_run, f"{name} showed one frame {longest} times in a row (more than {max_run}): a stall"
    assert len(set(indices)) >= min_distinct, (
        f"{name} saw only frames {sorted(set(indices))}: the stream did not move\n{table}\n{run.context()}"
    )
    return leading


def is_card(frame: np.ndarray, text: str) -> bool:
    """Whether ``frame`` shows LiveCam's card with ``text`` (within the transport's rounding). The cards
    differ only in their words, so it must also be nearer that card than LiveCam's other one."""
    errors = {}
    for words in (PAUSED_CARD, CATCHING_UP_TEXT):
        card = placeholder_image(WIDTH, HEIGHT, words).astype(np.int16)
        if frame.shape != card.shape:
            return False
        errors[words] = float(np.abs(frame.astype(np.int16) - card).mean())
    return errors[text] <= MAX_CARD_ERROR and errors[text] == min(errors.values())


def leading_cards(frames: list[np.ndarray]) -> int:
    """How many frames at the start show LiveCam's "starting the camera" card."""
    for i, frame in enumerate(frames):
        if not is_card(frame, PAUSED_CARD):
            return i
    return len(frames)


# ------------------------------------------------------------------ tests


def test_doctor_without_a_device_prints_the_exact_fix(ffmpeg_run: Run) -> None:
    report = ffmpeg_run.text("doctor-before.txt")
    assert MODPROBE_FIX in report, f"doctor did not print the fix:\n{report}\n{ffmpeg_run.context()}"
    assert ffmpeg_run.text("doctor-before.rc") == "1", f"doctor should fail without a device:\n{report}"


def test_doctor_fix_creates_a_ready_livecam_device(ffmpeg_run: Run) -> None:
    # scenario.sh ran the modprobe line doctor printed, so this proves the printed fix works.
    assert ffmpeg_run.text("modprobe.cmd") == MODPROBE_FIX
    assert ffmpeg_run.text("modprobe.rc") == "0", ffmpeg_run.text("modprobe.log")
    report = ffmpeg_run.text("doctor-after.txt")
    ours = [line for line in report.splitlines() if "/dev/video10" in line]
    assert ours, f"doctor does not list /dev/video10:\n{report}\n{ffmpeg_run.context()}"
    line = ours[0]
    assert line.startswith("[ok]") and "LiveCam" in line and "ready" in line and "exclusive_caps=1" in line, report
    assert ffmpeg_run.text("doctor-after.rc") == "0", report


def test_ffmpeg_reads_livecam_frames_in_order_with_the_effect(ffmpeg_run: Run, source: Source) -> None:
    y4m = ffmpeg_run.job / "ffmpeg.y4m"
    assert y4m.exists(), f"ffmpeg wrote nothing\n{ffmpeg_run.text('ffmpeg.log')}\n{ffmpeg_run.context()}"
    frames = framecode.read_y4m(y4m)
    check_frames("ffmpeg", frames, source, min_frames=10, min_distinct=3, run=ffmpeg_run, max_run=MAX_REPEAT_S * FPS)
    assert "Output: virtual camera /dev/video10 (LiveCam)" in ffmpeg_run.text("ffmpeg-livecam.log"), ffmpeg_run.context()
    assert ffmpeg_run.text("ffmpeg-livecam.rc") == "0 exited", (
        f"livecam run --frames {LIVECAM_FRAMES['ffmpeg']} should stop by itself with status 0\n{ffmpeg_run.context()}"
    )


def test_chromium_picks_livecam_by_label_and_draws_its_frames(chromium_run: Run, source: Source) -> None:
    result_path = chromium_run.job / "chromium" / "result.json"
    assert result_path.exists(), (
        f"the page never reported\n--- chromium.log\n{chromium_run.text('chromium.log')[-3000:]}\n{chromium_run.context()}"
    )
    result = json.loads(result_path.read_text())
    shutil.copy(result_path, OUT / "chromium" / "result.json")
    assert "error" not in result, f"the page failed: {result}\n{chromium_run.context()}"
    labels = result["cameras"]
    assert any(label.startswith("Integrated_Webcam") for label in labels), f"the decoy camera is missing: {labels}"
    assert result["chosen"].startswith("LiveCam"), f"the page opened {result['chosen']!r}; cameras: {labels}"
    # LiveCam ran without --device beside another loopback camera, so it found its own by label.
    livecam_log = chromium_run.text("chromium-livecam.log")
    assert "Output: virtual camera /dev/video10 (LiveCam)" in livecam_log, livecam_log
    settings = result["settings"]
    assert (settings.get("width"), settings.get("height")) == (WIDTH, HEIGHT), settings
    frames = [read_rgba(chromium_run.job / "chromium" / f["file"], f["width"], f["height"]) for f in result["frames"]]
    check_frames("chromium", frames, source, min_frames=PAGE_MIN_REAL, min_distinct=2, run=chromium_run)
    assert chromium_run.text("chromium-livecam.rc").startswith("0 "), chromium_run.context()


def test_idle_releases_the_source_while_nobody_reads_and_comes_back_for_each_reader(
    idle_run: Run, source: Source
) -> None:
    run = idle_run
    assert run.text("modprobe.rc") == "0", run.text("modprobe.log")
    assert run.text("idle.rc") == "0", f"{run.text('idle.rc')}\n{run.context()}"
    numbers = dict(line.split("=", 1) for line in run.text("idle.txt").splitlines() if "=" in line)
    log = run.text("idle-livecam.log")
    resumes_ms = [int(m) for m in re.findall(r"the first frame went out (\d+) ms after it opened the camera", log)]
    report: dict = {"numbers": numbers, "resume_ms": resumes_ms, "accel": run.boot.accel}
    (OUT / "idle").mkdir(parents=True, exist_ok=True)

    cards = {}
    for session in ("idle-1", "idle-2"):
        frames = framecode.read_y4m(run.job / f"{session}.y4m") if (run.job / f"{session}.y4m").exists() else []
        # Until LiveCam's first new frame the reader gets the card LiveCam wrote last before
        # pausing (never a picture from before the pause); then frames flow again, with the
        # effect, in order. An emulated guest makes a new frame every 1-3 s: two distinct ones
        # prove processing runs.
        cards[session] = check_frames(session, frames, source, min_frames=IDLE_READ_FRAMES // 3, min_distinct=2,
                                      run=run)
        released = numbers.get(f"{session}_release_after_close_s", "missing")
        report["leading_cards"] = cards
        (OUT / "idle" / "idle.json").write_text(json.dumps(report, indent=1))
        assert released != "never" and float(released) <= MAX_RELEASE_S, (
            f"after {session} closed the camera LiveCam released its source after {released} s "
            f"(more than {MAX_RELEASE_S} s)\n{run.context()}"
        )
    assert log.count("No app is using the LiveCam camera: the camera is released") >= 3, log
    assert log.count("An app opened the LiveCam camera: resuming.") >= 2, log
    assert len(resumes_ms) >= 2, log
    for key in ("idle_cpu_percent", "idle_again_cpu_percent"):
        assert float(numbers[key]) <= MAX_IDLE_CPU_PERCENT, f"{key} = {numbers[key]} %: not idle\n{numbers}"
    busy = min(float(numbers["idle-1_cpu_reading_percent"]), float(numbers["idle-2_cpu_reading_percent"]))
    assert busy >= 10 * max(0.5, float(numbers["idle_cpu_percent"])), f"LiveCam did not work while read: {numbers}"
    assert run.text("idle-livecam.rc") == "0 terminated", run.context()
