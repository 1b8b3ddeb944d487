"""Person segmentation with MediaPipe's selfie models (general 256x256, landscape 144x256)."""
from __future__ import annotations

import cv2
import numpy as np

from livecam import model_specs
from livecam.analysis.mask_kernels import READY, area_shrink, area_table, tensor_into
from livecam.analysis.runtime import ModelOutputError, load_model
from livecam.analysis.temporal import halve

MODEL_NAMES = model_specs.bundled_files("person")  # landscape, general: the selfie models LiveCam ships

# Rows of the model input above the frame, filled by repeating the frame's top row, as a share of
# the frame's rows. When the head touches the top of the picture, the selfie models continue the
# person up to the edge and take a column of wall with it (shared/data/video/lp_s18_room_landscape.mp4,
# landscape model: 130 of 282 frames showed more than 2000 px of room above the shoulders; with the
# margin, 1). The repeated row shows the model where the head ends. On shared/data/masks/dev the
# landscape model's IoU rose from 0.9034 to 0.9063 with it.
TOP_MARGIN = 0.1
# The general model is square. Squashing a 16:9 frame into it made it show the room at the bottom
# right of the s18 clip in 198 of 282 frames (IoU 0.81 against the matting model there); a frame
# wider than this keeps its shape instead, with the margin above and its last row repeated below
# (IoU 0.97, no room shown). Narrower pictures are squashed as before: on the portrait photos of
# masks/dev that is what the general model does best (a margin there cost 0.4 points of IoU).
KEEP_SHAPE_ABOVE = 1.4
# How far past 0..1 a sigmoid output may read by float rounding (the shared clips reach 1.0000001).
PROBABILITY_SLACK = 1e-3


class Segmenter:
    """Runs one selfie model; ``predict`` returns the person probability at model resolution, for
    the frame only (the margins are cut off again): float32 (frame_rows, model_w)."""

    def __init__(self, model: str = "landscape", provider: str = "auto", threads: int = 1) -> None:
        if model not in MODEL_NAMES:
            raise ValueError(f"Unknown segmentation model {model!r}; choose one of {', '.join(MODEL_NAMES)}.")
        self.model = model
        self.session = load_model(MODEL_NAMES[model], provider=provider, threads=threads)
        shape = self.session.input_shape
        spec = getattr(self.session, "spec", None)
        self.planar = isinstance(spec, dict) and spec.get("layout") == "NCHW"  # the shipped ones take RGB planes
        self.input_height, self.width = shape[2:] if self.planar else shape[1:3]
        # Where the frame sat in the last tensor, so infer() can cut it back out.
        self._top, self._rows = 0, self.input_height

    @property
    def provider(self) -> str:
        return self.session.provider

    def rows(self, frame_width: int, frame_height: int) -> int:
        """How many model rows the frame itself gets; the margin above and any rows below fill the rest."""
        if self.model == "landscape":
            return round(self.input_height / (1 + TOP_MARGIN))
        if frame_width > KEEP_SHAPE_ABOVE * frame_height:
            return min(round(self.width * frame_height / frame_width), round(self.input_height / (1 + TOP_MARGIN)))
        return self.input_height

    def shrink(self, image_bgr: np.ndarray, half: np.ndarray | None = None) -> np.ndarray:
        """The frame at the model's width and its share of the rows, anti-aliased: exact 2x area
        halvings while the picture is at least twice the target, then one small resize. ``half``:
        the frame already halved (the edge work makes it anyway). At 720p this costs 0.2 ms for both
        the half-size frame and the model input (the halvings are ``temporal.halve``'s compiled loop)."""
        h, w = image_bgr.shape[:2]
        size = (self.width, self.rows(w, h))
        src = image_bgr if half is None else half
        while src.shape[1] >= 2 * size[0] and src.shape[0] >= 2 * size[1]:
            src = halve(src)
        if src.shape[1] > 1.5 * size[0] or src.shape[0] > 1.5 * size[1]:
            sh, sw = src.shape[:2]
            if (READY and sw >= size[0] and sh >= size[1] and (sw % size[0] or sh % size[1]) and src.dtype == np.uint8
                    and src.ndim == 3 and src.shape[2] == 3 and src.flags.c_contiguous):
                # Not a whole factor (1080p: 480 x 270 to 256 x 131): OpenCV's general area shrink,
                # the same bytes in one compiled pass at half its cost.
                out = np.empty((size[1], size[0], 3), np.uint8)
                area_shrink(src.reshape(sh, -1), *area_table(sw, size[0]), *area_table(sh, size[1]),
                            out.reshape(size[1], -1))
                return out
            return cv2.resize(src, size, interpolation=cv2.INTER_AREA)
        return cv2.resize(src, size, interpolation=cv2.INTER_LINEAR)

    def to_tensor(self, small_bgr: np.ndarray) -> np.ndarray:
        self._rows = rows = small_bgr.shape[0]
        self._top = round(TOP_MARGIN * rows)
        if rows + self._top > self.input_height:  # a full-height (squashed) frame has no margin
            self._top = 0
        bottom = self.input_height - rows - self._top
        spec = getattr(self.session, "spec", None)
        norm = spec.get("normalization") if isinstance(spec, dict) else None
        if (READY and self.planar and isinstance(norm, dict) and norm.keys() == {"scale", "offset"}
                and small_bgr.dtype == np.uint8 and small_bgr.ndim == 3 and small_bgr.shape[1:] == (self.width, 3)
                and small_bgr.flags.c_contiguous and bottom >= 0):
            # The colour order, the margins, the normalisation and the planes in one compiled pass
            # (mask_kernels.tensor_into): the same numbers as the steps below.
            out = np.empty((1, 3, self.input_height, self.width), np.float32)
            tensor_into(small_bgr.reshape(rows, -1), self._top, np.float32(norm["scale"]), np.float32(norm["offset"]),
                        out[0])
            return out
        rgb = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2RGB)
        if self._top or bottom:
            rgb = cv2.copyMakeBorder(rgb, self._top, bottom, 0, 0, cv2.BORDER_REPLICATE)
        return self.session.normalize(rgb)

    def preprocess(self, image_bgr: np.ndarray) -> np.ndarray:
        return self.to_tensor(self.shrink(image_bgr))

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """The person probability for the frame rows of the last ``to_tensor``: float32 0..1."""
        out = self.session.run(tensor)[0].reshape(self.input_height, self.width)
        low, high = float(out.min()), float(out.max())
        if low < -PROBABILITY_SLACK or high > 1.0 + PROBABILITY_SLACK or (low == high and low > 0.5):
            # Not a person probability: a sigmoid never leaves 0..1, and no picture makes every pixel the
            # same "person" (a flat grey or black one gives the same 0, which hides nobody). Clipped, a
            # scaled or negated result became a near-saturated mask the output gate could take for a
            # person leaning in, and part of the room left (session 35's red team).
            raise ModelOutputError(f"Model {self.session.name} returned person values from {low:.3g} to {high:.3g}, "
                                   "not a probability; this frame's result is not used.")
        return np.clip(out[self._top:self._top + self._rows], 0.0, 1.0)

    def predict(self, image_bgr: np.ndarray) -> np.ndarray:
        """float32 (frame_rows, model_w) person probability in 0..1."""
        return self.infer(self.preprocess(image_bgr))
