"""Soak test: run ``livecam run`` for N frames per effect set and watch memory, files and threads.

Each set runs as its own ``livecam run --output null --frames N`` on a looping real clip (from
../shared/data/video, else the bundled demo), with a fresh config folder so no saved setting leaks
in. The child's resident memory, open files (and sockets among them) and threads are sampled from
/proc every ``--interval`` seconds. The report gives, per set, the RSS slope in MB per 10,000
frames (least squares over the samples after the warm-up), the first/last/peak RSS, the open-file
and thread counts at the start and the end, and any traceback the child printed.

Frames are not visible from outside the process, so a sample's frame number is estimated from the
time since the output opened and the run's average rate (N frames over the run's duration); the
source is a real-time clip, so that rate is steady.

    python tools/soak.py --frames 20000                     # the five default sets, about 11 minutes each
    python tools/soak.py --frames 3000 --sets blur,image    # a shorter check

The sets are the bench configurations of the effect registry (``livecam.effects.bench_configs()``,
the names ``livecam bench --effects`` takes), turned into the `livecam run` flags their fields
declare; an avatar set gets a test portrait as its photo.
    python tools/soak.py --frames 3000 --json               # one JSON object on stdout

Linux only (/proc).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_CLIP = REPO.parent / "shared" / "data" / "video" / "lp_s18_room_landscape.mp4"
DEMO_CLIP = REPO / "assets" / "demo" / "demo.mp4"
PHOTO = REPO / "tests" / "fixtures" / "mpl_grace_hopper.jpg"
WARM_UP = 0.2  # share of the run left out of the slope: allocators and caches settle first
DEFAULT_SETS = ("blur", "image", "all", "swap", "animate")


def effect_sets() -> dict[str, list[str]]:
    """Bench configuration name -> the `livecam run` flags that set it up, from the registry."""
    sys.path.insert(0, str(REPO))
    from livecam.cli import flag_names
    from livecam.effects import bench_configs

    names = flag_names()
    sets: dict[str, list[str]] = {}
    for config, changes in bench_configs().items():
        flags = ["--background", "off"] if "background" not in changes else []  # the default is blur
        for section, values in changes.items():
            for name, value in values.items():
                flag = names[f"{section}.{name}"]
                if isinstance(value, bool):
                    flags.append(flag if value else f"--no-{flag[2:]}")
                else:
                    flags += [flag, str(value)]
        if changes.get("avatar", {}).get("mode", "off") != "off":
            flags += [names["avatar.photo"], str(PHOTO)]
        sets[config] = flags
    return sets


@dataclass
class Sample:
    t: float  # seconds since the output opened
    rss_mb: float
    files: int
    sockets: int
    threads: int


@dataclass
class SetResult:
    name: str
    frames: int
    returncode: int | None = None
    seconds: float = 0.0  # from the output opening to the process ending
    fps: float = 0.0
    rss_first_mb: float = 0.0
    rss_last_mb: float = 0.0
    rss_peak_mb: float = 0.0
    slope_mb_per_10k: float | None = None
    files_first: int = 0
    files_last: int = 0
    files_max: int = 0
    sockets_max: int = 0
    threads_first: int = 0
    threads_last: int = 0
    threads_max: int = 0
    tracebacks: int = 0
    warnings: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


def _proc_sample(pid: int) -> tuple[float, int, int, int] | None:
    """(RSS MB, open files, sockets, threads) of ``pid``, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kb = int(values["VmRSS"].split()[0]) if "VmRSS" in values else 0
    threads = int(values.get("Threads", "0").strip() or 0)
    sockets = 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                sockets += 1
        except OSError:
            pass  # closed between listdir and readlink
    return rss_kb / 1024, len(fds), sockets, threads


def slope_per_10k(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (frame, MB) points, in MB per 10,000 frames."""
    if len(points) < 3:
        return None
    xs, ys = zip(*points)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return 10_000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def run_set(name: str, flags: list[str], frames: int, clip: Path, interval: float, extra: list[str]) -> SetResult:
    result = SetResult(name, frames)
    with tempfile.TemporaryDirectory(prefix="livecam-soak-") as config:
        env = {**os.environ, "LIVECAM_CONFIG_DIR": config, "PYTHONUNBUFFERED": "1", "QT_QPA_PLATFORM": "offscreen"}
        cmd = [sys.executable, "-m", "livecam", "run", "--source", str(clip), "--output", "null",
               "--frames", str(frames), *flags, *extra]
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        opened = threading.Event()
        started: list[float] = []
        tail: list[str] = []

        def read_stderr() -> None:
            for line in proc.stderr:
                if line.startswith("livecam: Output:") and not opened.is_set():
                    started.append(time.monotonic())
                    opened.set()
                if line.startswith("Traceback"):
                    result.tracebacks += 1
                if line.startswith("livecam:") and any(w in line for w in ("cannot", "failed", "broken", "not ")):
                    result.warnings.append(line.strip()[:300])
                tail.append(line)
                del tail[:-40]

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        while proc.poll() is None:
            if opened.is_set():
                sample = _proc_sample(proc.pid)
                if sample is not None:
                    result.samples.append(Sample(time.monotonic() - started[0], *sample))
            time.sleep(interval)
        end = time.monotonic()
        reader.join(5)
        result.returncode = proc.returncode
    if not started or not result.samples:
        result.warnings.append("no samples: " + "".join(tail)[-2000:])
        return result
    result.seconds = end - started[0]
    result.fps = frames / result.seconds if result.seconds > 0 else 0.0
    s = result.samples
    # "last" is the last sample before shutdown began (closing releases files and threads early).
    last = [x for x in s if x.t <= result.seconds - 2 * interval][-1:] or s[-1:]
    result.rss_first_mb, result.rss_last_mb = s[0].rss_mb, last[0].rss_mb
    result.rss_peak_mb = max(x.rss_mb for x in s)
    result.files_first, result.files_last, result.files_max = s[0].files, last[0].files, max(x.files for x in s)
    result.sockets_max = max(x.sockets for x in s)
    result.threads_first, result.threads_last = s[0].threads, last[0].threads
    result.threads_max = max(x.threads for x in s)
    settled = [(x.t * result.fps, x.rss_mb) for x in s if x.t >= WARM_UP * result.seconds]
    result.slope_mb_per_10k = slope_per_10k(settled)
    return result


def print_table(results: list[SetResult], load: tuple[float, float, float]) -> None:
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    head = (f"{'set':20} {'frames':>6} {'rc':>3} {'fps':>5} {'RSS first/last/peak MB':>23} "
            f"{'slope MB/10k':>12} {'files':>9} {'sockets':>7} {'threads':>9} {'tracebacks':>10}")
    print(head)
    print("-" * len(head))
    for r in results:
        slope = f"{r.slope_mb_per_10k:+.1f}" if r.slope_mb_per_10k is not None else "n/a"
        rss = f"{r.rss_first_mb:.0f}/{r.rss_last_mb:.0f}/{r.rss_peak_mb:.0f}"
        print(f"{r.name:20} {r.frames:>6} {r.returncode!s:>3} {r.fps:>5.1f} {rss:>23} {slope:>12} "
              f"{f'{r.files_first}->{r.files_last}':>9} {r.sockets_max:>7} {f'{r.threads_first}->{r.threads_last}':>9} "
              f"{r.tracebacks:>10}")
        for w in r.warnings[:3]:
            print(f"    {w}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=20_000, help="frames per effect set (default 20000)")
    sets = effect_sets()
    p.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma list of: " + ", ".join(sets))
    p.add_argument("--clip", type=Path, help="looping source clip (default: a 720p clip from shared data, else the demo)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    p.add_argument("--json", action="store_true", help="print one JSON object (with every sample)")
    p.add_argument("extra", nargs="*", help="more `livecam run` flags after --, e.g. -- --provider cpu")
    args = p.parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("soak: needs Linux /proc to sample the process.", file=sys.stderr)
        return 2
    clip = args.clip or (SHARED_CLIP if SHARED_CLIP.is_file() else DEMO_CLIP)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in sets]
    if unknown:
        print(f"soak: unknown set {unknown[0]!r}; choose from {', '.join(sets)}.", file=sys.stderr)
        return 2
    results = []
    for name in names:
        if not args.json:
            print(f"soak: {name}: {args.frames} frames from {clip.name} ...", file=sys.stderr, flush=True)
        results.append(run_set(name, sets[name], args.frames, clip, args.interval, args.extra))
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"clip": str(clip), "load": load, "sets": [asdict(r) for r in results]}))
    else:
        print_table(results, load)
    bad = any(r.returncode != 0 or r.tracebacks for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
