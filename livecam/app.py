"""The live loop for the command line: open the source and the output, run until Ctrl+C or N frames,
and say in plain words what is happening (provider, fps, fallbacks)."""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time

from livecam.pipeline import LiveRunner, Pipeline
from livecam.settings import Settings

log = logging.getLogger("livecam")

STATS_EVERY_S = 5.0


def describe_stats(pipeline: Pipeline, sender) -> str:
    stages = pipeline.stage_ms()
    st = sender.stats()
    parts = [f"{st.get('fps_out', 0):.1f} fps out"]
    if "total" in stages:
        parts.append(f"processing {stages['total']:.1f} ms")
    if st.get("latency_ms_median") is not None:
        parts.append(f"latency {st['latency_ms_median']:.0f} ms")
    providers = sorted(set(pipeline.providers().values()))
    if providers:
        parts.append("on " + ", ".join(p.replace("ExecutionProvider", "") for p in providers))
    return "; ".join(parts)


def run_live(settings: Settings, frames: int = 0) -> int:
    from livecam.capture import CaptureError, open_source
    from livecam.output import OutputError, PacedSender, open_output

    try:
        source = open_source(settings.capture)
    except CaptureError as exc:
        print(f"livecam: {exc}", file=sys.stderr)
        return 1
    source.start()
    log.info("Source: %s", source.description)
    width, height = source.size
    pipeline = Pipeline(settings)
    for problem in pipeline.problems():
        log.error(problem)
    try:
        output = open_output(settings.output, width, height)
    except OutputError as exc:
        print(f"livecam: {exc}", file=sys.stderr)
        source.close()
        return 1
    log.info("Output: %s", output.description)
    sender = PacedSender(output, settings.output.fps)
    sender.start()
    runner = LiveRunner(source, pipeline, sender, frames=frames).start()

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # A preview window needs the main thread to run Qt's events; other outputs just wait.
    pump = getattr(output, "pump", None)
    last_stats = time.monotonic()
    try:
        while not runner.wait(0.03 if pump else 0.5):
            if stop.is_set() or (pump is not None and not pump()):
                break
            if not frames and time.monotonic() - last_stats >= STATS_EVERY_S:
                last_stats = time.monotonic()
                log.info(describe_stats(pipeline, sender))
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        sender.stop()  # sends what is pending, then releases the device
        output.close()
        source.close()
        pipeline.close()
    log.info("Stopped after %d frames (%s).", runner.processed, describe_stats(pipeline, sender))
    if runner.error:
        print(f"livecam: {runner.error}", file=sys.stderr)
        return 1
    return 0
