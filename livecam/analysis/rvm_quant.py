"""The int8 copy of Robust Video Matting, made on the user's machine: the live profile for CPUs too
slow for the full-precision one (:data:`livecam.analysis.matting.CPU_LIVE_INT8`).

RVM is GPL-3.0 and never ships with LiveCam, so neither does any copy of it: this copy is made
from the fetched fp32 file, at ``livecam models fetch rvm`` or at the first live use on a CPU, and
written next to it (same folder, same file mode; ``rvm_*.onnx``, which .gitignore covers) with a
small JSON beside it that records its sha256 (checked at every load) and what it was made from.

Static quantisation with ONNX Runtime's own tool: QDQ, per-channel int8 weights, uint8
activations, MinMax ranges, the convolutions only, and not those that carry the recurrent state (the
GRU gates), draw the matte (project_mat) or refine it at full size (refiner): quantised, those cost
quality out of proportion to their time. The ranges come from LiveCam's bundled demo clip (a
public-domain portrait) at the live input size, run through the fp32 network with its recurrent
state carried, as three short sequences: as it is, mirrored and darkened, and brightened. The
original alone (one face, one light) gave ranges too narrow for other rooms: on the tuning half of
shared/data/masks/dev (at inner size 256), IoU 0.945 against 0.951 with the three.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from livecam.analysis.runtime import ModelError, sha256_of
from livecam.model_fetch import work_folder

CALIBRATION_FRAMES = 8  # per sequence; few, the calibration runs on the user's CPU
OPSET = 17  # per-channel QDQ needs opset >= 13; the fetched file is opset 12
FORMAT = 1  # bump when the recipe below changes: an older copy is then made again
STATE_NAMES = ("r1", "r2", "r3", "r4")
KEEP_FLOAT = ("gru", "project_mat", "refiner")  # convolutions whose inputs name these stay fp32


def int8_path(fp32: Path) -> Path:
    """Where the int8 copy of ``fp32`` lives: next to it."""
    return fp32.with_name(fp32.name.replace("_fp32", "_int8") if "_fp32" in fp32.name else fp32.stem + "_int8.onnx")


def record_path(fp32: Path) -> Path:
    return int8_path(fp32).with_suffix(".json")


def usable(fp32: Path, fp32_sha256: str, ratio: float) -> dict | None:
    """The record of a finished int8 copy made from this very fp32 file by this recipe for this
    ``ratio``, else None. Its own sha256 is checked when it loads."""
    try:
        record = json.loads(record_path(fp32).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("source_sha256") != fp32_sha256:
        return None
    if record.get("ratio") != ratio or not isinstance(record.get("sha256"), str) or not int8_path(fp32).is_file():
        return None
    return record


def calibration_sequences(size: tuple[int, int], count: int = CALIBRATION_FRAMES) -> list[list[np.ndarray]]:
    """``count`` frames spread over the bundled demo clip as the network's float32 NCHW input: as
    they are, mirrored and darkened, and brightened (three sequences, each its own scene)."""
    from livecam.resources import demo_clip_path

    cap = cv2.VideoCapture(str(demo_clip_path()))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or count
    wanted = {round(i * (total - 1) / max(1, count - 1)) for i in range(count)}
    frames, index = [], 0
    try:
        while len(frames) < len(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1 / 255)
                frames.append(rgb.transpose(2, 0, 1)[None])
            index += 1
    finally:
        cap.release()
    if not frames:
        raise ModelError("LiveCam's demo clip cannot be read, so the fast rvm copy cannot be made; reinstall LiveCam.")
    dark = [np.clip(f[..., ::-1] * np.float32(0.55), 0, 1) for f in frames]
    bright = [np.clip(f * np.float32(1.35) + np.float32(0.05), 0, 1) for f in frames]
    return [[np.ascontiguousarray(f) for f in seq] for seq in (frames, dark, bright)]


def _feeds(fp32: Path, sequences: list[list[np.ndarray]], ratio: float) -> list[dict[str, np.ndarray]]:
    """Each frame's full input, with the recurrent state the fp32 network leaves after the frame before."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
    feeds = []
    for frames in sequences:
        state = {f"{n}i": np.zeros((1, 1, 1, 1), np.float32) for n in STATE_NAMES}
        for frame in frames:
            feed = {"src": frame, "downsample_ratio": np.array([ratio], np.float32), **state}
            feeds.append(feed)
            values = session.run([f"{n}o" for n in STATE_NAMES], feed)
            state = {f"{n}i": v for n, v in zip(STATE_NAMES, values)}
    return feeds


def make_int8(fp32: Path, fp32_sha256: str, size: tuple[int, int], ratio: float, progress=print) -> dict:
    """Make (or keep) the int8 copy of ``fp32`` for input ``size`` at ``ratio``; returns its record.

    Raises ModelError (one sentence) when it cannot be made; nothing half-written is left behind.
    """
    record = usable(fp32, fp32_sha256, ratio)
    if record:
        return record
    try:
        import onnx
        import onnxruntime
        from onnx import version_converter
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise ModelError(f"The fast rvm copy needs the onnx package ({exc.name} is missing); run: pip install onnx") from None
    try:
        same = sha256_of(fp32) == fp32_sha256
    except OSError:
        raise ModelError(f"Model file {fp32} is missing; download it with: livecam models fetch rvm") from None
    if not same:
        raise ModelError(f"{fp32} is damaged or from another version; run: livecam models fetch rvm")
    mode = fp32.stat().st_mode & 0o777  # the copy is as private as the file it is made from
    progress("Making the int8 copy of rvm for live use on this CPU (once; about ten seconds) ...")
    started = time.monotonic()

    class Reader(CalibrationDataReader):
        def __init__(self, feeds):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    try:
        with work_folder(fp32.parent, ".int8-") as work:
            upgraded, prepared, quantised = work / "opset.onnx", work / "pre.onnx", work / "int8.onnx"
            onnx.save(version_converter.convert_version(onnx.load(str(fp32)), OPSET), str(upgraded))
            # Shapes are dynamic (any frame size), so only ONNX's own shape inference runs.
            quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
            graph = onnx.load(str(prepared)).graph
            keep = [n.name for n in graph.node
                    if n.op_type == "Conv" and any(k in i for i in n.input for k in KEEP_FLOAT)]
            feeds = _feeds(fp32, calibration_sequences(size), ratio)
            quantize_static(
                str(prepared), str(quantised), Reader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, op_types_to_quantize=["Conv"],
                nodes_to_exclude=keep, calibrate_method=CalibrationMethod.MinMax,
            )
            record = {
                "format": FORMAT,
                "file": int8_path(fp32).name,
                "sha256": sha256_of(quantised),
                "source": fp32.name,
                "source_sha256": fp32_sha256,
                "ratio": ratio,
                "recipe": f"onnxruntime {onnxruntime.__version__} quantize_static: QDQ, per-channel int8 weights, "
                          f"uint8 activations, Conv only ({len(keep)} kept fp32), MinMax over {len(feeds)} frames of "
                          f"LiveCam's demo clip at {size[0]}x{size[1]}, downsample_ratio {ratio:g}",
                "made": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "note": "Made on this machine from the fetched file for this user's own use (GPL-3.0, as the "
                        "original); not part of LiveCam.",
            }
            info = work / "record.json"
            info.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            os.chmod(quantised, mode)
            os.chmod(info, mode)
            os.replace(quantised, int8_path(fp32))
            os.replace(info, record_path(fp32))  # last: the copy counts as made only once its record is there
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - the converter and quantiser raise many unrelated types
        raise ModelError(f"The fast rvm copy could not be made ({type(exc).__name__}: {exc}); "
                         "LiveCam uses the full-precision rvm instead.") from None
    progress(f"The int8 copy of rvm is ready ({time.monotonic() - started:.0f} s): {int8_path(fp32)}")
    return record
