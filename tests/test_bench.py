"""``livecam bench``'s and tools/ab_bench.py's own arithmetic (the runs themselves are in test_cli)."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from livecam import bench


def test_auto_pipelining_row_says_on_only_past_most_of_a_30_fps_frame(monkeypatch):
    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 2)
    assert not bench.auto_pipelining(6.0)
    assert not bench.auto_pipelining(26.0)  # 0.78 of 33.3 ms
    assert bench.auto_pipelining(27.0)
    assert bench.auto_pipelining(14.0, fps=60)
    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 1)
    assert not bench.auto_pipelining(50.0)


def _ab_bench():
    path = Path(__file__).resolve().parents[1] / "tools" / "ab_bench.py"
    spec = importlib.util.spec_from_file_location("ab_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ab_table_gives_medians_over_runs_and_the_mean_cpu():
    ab = _ab_bench()
    runs = [{"tree": str(Path(t).resolve()), "size": "1280x720", "config": "blur", "wall_ms": w, "cpu_ms": c,
             "cpu_mean_ms": m}
            for t, w, c, m in (("/a", 6.0, 5.0, 4.0), ("/a", 7.0, 6.0, 4.5), ("/a", 9.0, 8.0, 9.0),
                               ("/b", 3.0, 2.5, 2.0))]
    table = ab.table(runs, ["/a", "/b"])
    row = table.splitlines()[1]
    assert "1280x720" in row and "blur" in row
    assert "7.00 /   6.00 /   4.50" in row  # the middle run of three, column by column
    assert "3.00 /   2.50 /   2.00" in row


def test_bench_counts_the_cpu_of_threads_beside_the_processing_thread(monkeypatch):
    """rvm's worker and ONNX Runtime's pool do their work off the processing thread: the
    all-threads column must count it where the processing thread's column cannot."""
    import threading

    import numpy as np

    from livecam.resources import demo_clip_path

    def busy(ms: float) -> None:
        end = time.thread_time() + ms / 1e3
        while time.thread_time() < end:
            pass

    class OffThreadPipeline:
        def __init__(self, settings) -> None:
            self.last_timings: dict = {}
            self.analyzer = type("A", (), {"broken": {}, "profile": None})()

        def problems(self):
            return []

        def process(self, frame: np.ndarray) -> np.ndarray:
            worker = threading.Thread(target=busy, args=(20.0,))
            worker.start()
            worker.join()
            return frame

        def providers(self):
            return {}

        def close(self) -> None:
            pass

    monkeypatch.setattr("livecam.pipeline.Pipeline", OffThreadPipeline)
    row = bench.bench_livecam(demo_clip_path(), (320, 180), "blur", 5, "cpu", 1)
    assert row["cpu_mean_ms"] < 5.0  # the processing thread itself only waited
    assert row["cpu_process_mean_ms"] >= 18.0  # the worker's 20 ms of CPU per frame counted


def test_the_table_has_no_baseline_heading_without_baseline_rows(capsys):
    row = {"resolution": "1280x720", "effect": "blur", "median_ms": 5.0, "p95_ms": 6.0, "cpu_median_ms": 4.0,
           "cpu_mean_ms": 4.1, "cpu_process_mean_ms": 4.5, "fps": 200.0, "provider": "CPUExecutionProvider",
           "threads": 1, "stages": {"inference": 2.0}}
    bench.print_table({"clip": "c.mp4", "frames": 2, "skipped": [], "results": [row], "baseline": []})
    out = capsys.readouterr().out
    assert "LiveCam" in out and "1280x720" in out and "baseline" not in out.split("pipelining")[0]
    bench.print_table({"clip": "c.mp4", "frames": 2, "skipped": [], "results": [row], "baseline": [dict(row, effect="mp blur")]})
    assert "baseline (mediapipe-style)" in capsys.readouterr().out


def test_bench_gives_every_threads_cpu_median_and_the_load_it_ran_under(monkeypatch, capsys):
    """The A/B reports the median CPU of all threads; the bench's row has it too, beside the load
    average that says how much of the wall time was waiting for a core."""
    import numpy as np

    from livecam.resources import demo_clip_path

    class Pipeline:
        def __init__(self, settings) -> None:
            self.last_timings: dict = {}
            self.analyzer = type("A", (), {"broken": {}, "profile": None})()
            self.n = 0

        def problems(self):
            return []

        def process(self, frame: np.ndarray) -> np.ndarray:
            self.n += 1
            end = time.process_time() + (0.030 if self.n % 4 == 0 else 0.004)  # one frame in four is slow
            while time.process_time() < end:
                pass
            return frame

        def providers(self):
            return {}

        def close(self) -> None:
            pass

    monkeypatch.setattr("livecam.pipeline.Pipeline", Pipeline)
    monkeypatch.setattr("os.getloadavg", lambda: (3.5, 2.0, 1.0))
    row = bench.bench_livecam(demo_clip_path(), (320, 180), "blur", 12, "cpu", 1)
    assert 3.5 <= row["cpu_process_median_ms"] < 10.0  # the median is the usual frame
    assert row["cpu_process_mean_ms"] > row["cpu_process_median_ms"] + 4.0  # the mean counts the slow ones
    assert row["load1"] == 3.5
    bench.print_table({"clip": "c.mp4", "frames": 12, "skipped": [], "results": [row], "baseline": []})
    line = next(l for l in capsys.readouterr().out.splitlines() if "320x180" in l)
    assert f"{row['cpu_process_median_ms']:7.2f}/{row['cpu_process_mean_ms']:7.2f}" in line and "  3.5 " in line
