"""Background effects: blur, image, looping video and solid colour, sharing one compositing helper.

All compositing is 8-bit arithmetic (``compositing.composite``): a float blend in numpy costs 9-13 ms
per 720p frame, the fused 8-bit pass under 0.5 ms.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from livecam.analysis.temporal import upscale
from livecam.effects.base import NO_OUTPUTS, EffectBase, Outputs
from livecam.effects.compositing import composite
from livecam.imaging import cover_fit
from livecam.media import nothing_at
from livecam.messages import shown
from livecam.settings import BackgroundSettings, OutputSettings
from livecam.types import Analysis

log = logging.getLogger(__name__)

BLUR_SCALE = 4  # blur at quarter resolution: the background is blurred anyway, and it is ~12x cheaper
KNEE = 60  # blur strength up to which sigma grows by 0.04 % of the width per point
FULL_BLUR = 0.08  # sigma at strength 100, as a share of the frame width: nothing in the room recognisable


class BackgroundError(RuntimeError):
    """A background image or video cannot be used; the message says what to do."""


BACKGROUND_MAX_SIDE = 3840  # decoded no larger than 4K: a 20000 px picture never sits in memory whole


def load_background_image(path: str, cover: tuple[int, int] | None = None) -> np.ndarray:
    """The picture at ``path`` (the first bundled picture when empty), decoded no larger than needed:
    just enough to cover a ``cover`` (w, h) frame, else at most 4K."""
    from livecam.media import ImageError, read_image
    from livecam.resources import background_images

    if not path:
        bundled = background_images()
        if not bundled:
            raise BackgroundError("No background picture is set; pick one with --background FILE.")
        path = str(bundled[0])
    if nothing_at(path):
        raise BackgroundError(f"Background picture {shown(path)} does not exist; pick another file.")
    try:
        if cover:
            return read_image(path, cover=cover)
        return read_image(path, max_side=BACKGROUND_MAX_SIDE)
    except ImageError as exc:
        raise BackgroundError(str(exc)) from exc  # already one sentence naming the file


def parse_color(color: str) -> tuple[int, int, int]:
    """'#rrggbb' → BGR tuple."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


class _Fitted:
    """Caches a source picture cover-fitted to the current frame size (resized once, not per frame)."""

    def __init__(self, picture: np.ndarray) -> None:
        self.picture = picture
        self._fitted: np.ndarray | None = None

    def at(self, size: tuple[int, int]) -> np.ndarray:
        if self._fitted is None or (self._fitted.shape[1], self._fitted.shape[0]) != size:
            self._fitted = cover_fit(self.picture, size)
        return self._fitted


class BlurBackground(EffectBase):
    """Blurred background. The blur runs on the small frame the segmenter already made (or a shrunk
    copy), with the strength's sigma scaled to that size, and only the result is upsampled: at 720p a
    full-resolution GaussianBlur k=101 costs 24 ms, this about 1 ms."""

    needs = frozenset({"mask"})

    def __init__(self, strength: int) -> None:
        self.strength = strength
        # The last small blur and what it was made from: a source that hands the same small picture
        # again (the photo avatar's portrait at rest) gets it without blurring again (3-4 ms at 720p
        # with the shrinking). Small, so keeping it costs nothing where every frame brings a new one.
        self._made: tuple | None = None

    def update(self, background: BackgroundSettings, *_reads) -> bool:
        if background.mode != "blur":
            return False
        self.strength = background.blur
        return True

    def sigma(self, frame_width: int) -> float:
        """Gaussian sigma in frame pixels: 0.04 % of the frame width per point up to strength 60
        (2.4 %, 31 px at 720p), then steeper, to 8 % at 100 (102 px at 720p).

        At 4 % (the old 100) the stripes of a flag behind a talking head (the AOC clip in
        shared/data) were still plain to see: a stripe pattern of period P keeps exp(-2 pi^2
        sigma^2 / P^2) of its contrast, so stripes a tenth of the width wide (P = 20 %) kept 14 %
        at 4 % and keep 0.04 % at 8 %. Up to 60 nothing changes, so the default look stays."""
        s = min(max(self.strength, 0), 100)
        share = 0.0004 * s if s <= KNEE else 0.0004 * KNEE + (FULL_BLUR - 0.0004 * KNEE) * (s - KNEE) / (100 - KNEE)
        return share * frame_width

    def blurred(self, image: np.ndarray, mask: np.ndarray, small: np.ndarray | None = None,
                small_mask: np.ndarray | None = None) -> np.ndarray:
        """The background blurred, at the frame's size (a new array, the caller's to write into)."""
        h, w = image.shape[:2]
        given = small is not None and small_mask is not None
        made = self._made
        # Kept by identity: small pictures are never changed once handed out.
        if given and made is not None and made[0] is small and made[1] is small_mask \
                and made[2] == (self.strength, w, h):
            return upscale(made[3], (w, h))
        small_blur = self._small_blur(image, mask, small, small_mask)
        self._made = (small, small_mask, (self.strength, w, h), small_blur) if given else None
        return upscale(small_blur, (w, h))

    def _small_blur(self, image: np.ndarray, mask: np.ndarray, small: np.ndarray | None,
                    small_mask: np.ndarray | None) -> np.ndarray:
        """The blur at the small size (the segmenter's small frame, else the frame shrunk here)."""
        h, w = image.shape[:2]
        if small is None or small_mask is None:
            sw, sh = max(1, w // BLUR_SCALE), max(1, h // BLUR_SCALE)
            small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
            small_mask = cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        sigma = self.sigma(w) * small.shape[1] / w
        # Halve again while the blur is wide: cost grows with sigma, the look does not change.
        while sigma > 6 and small.shape[1] > 32:
            small, small_mask = cv2.pyrDown(small), cv2.pyrDown(small_mask)
            sigma /= 2
        # Weight the blur by the background mask so the person's colours do not bleed into the blurred
        # background around them (the halo peers show): blur(frame*bg) / blur(bg).
        bgw = (np.float32(1.0) - small_mask) + np.float32(1e-3)
        num = cv2.GaussianBlur(small.astype(np.float32) * bgw[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(bgw, (0, 0), sigma)
        return cv2.convertScaleAbs(num / den[..., None])

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, Outputs]:
        if self.strength <= 0 or analysis.mask is None:
            return image, NO_OUTPUTS
        background = self.blurred(image, analysis.mask, analysis.small, analysis.small_mask)
        # Made for this frame: the person is put into it, no copy.
        out = composite(image, background, analysis.mask, analysis.foreground, scratch=True)
        return out, NO_OUTPUTS


class ImageBackground(EffectBase):
    # Over a picture the old room's tint on the person's edge would show: the person's own edge
    # colour is wanted. A blurred room matches the tint, so blur goes without.
    needs = frozenset({"mask", "foreground"})

    def __init__(self, picture: np.ndarray, path: str = "") -> None:
        self._fit = _Fitted(picture)
        self.path = path

    def update(self, background: BackgroundSettings, *_reads) -> bool:
        return background.mode == "image" and background.image == self.path

    @classmethod
    def from_file(cls, path: str, cover: tuple[int, int] | None = None) -> "ImageBackground":
        return cls(load_background_image(path, cover), path)

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, Outputs]:
        if analysis.mask is None:
            return image, NO_OUTPUTS
        h, w = image.shape[:2]
        return composite(image, self._fit.at((w, h)), analysis.mask, analysis.foreground), NO_OUTPUTS


class ColorBackground(ImageBackground):
    def __init__(self, color: str) -> None:
        super().__init__(np.full((8, 8, 3), parse_color(color), np.uint8))

    def update(self, background: BackgroundSettings, *_reads) -> bool:
        if background.mode != "color":
            return False
        self._fit = _Fitted(np.full((8, 8, 3), parse_color(background.color), np.uint8))
        return True


class VideoBackground(EffectBase):
    """A looping video behind the person, decoded on its own thread so decoding never stalls a frame."""

    needs = frozenset({"mask", "foreground"})

    def __init__(self, path: str, fps: int = 30) -> None:
        self.path, self.fps = path, fps
        from livecam.capture import CaptureError, VideoFileSource, VideoReader

        if not path or nothing_at(path):
            raise BackgroundError(f"Background video {shown(path) if path else '(none)'} does not exist; "
                                  "pick another file.")
        try:  # the one reader: any file name the OS allows (a non-UTF-8 one crashed cv2.VideoCapture)
            with VideoReader(path) as probe:
                first = next(iter(probe), None)
                w, h = probe.size
        except CaptureError as exc:
            raise BackgroundError(str(exc)) from exc
        ok = first is not None
        if not ok:
            raise BackgroundError(f"Background video {path} cannot be decoded; use an MP4 (H.264) file.")
        try:
            self.source = VideoFileSource(path, w, h, fps, loop=True, realtime=True)
            self.source.stand_in = "the background keeps its last picture"
            self.source.start()
        except CaptureError as exc:
            raise BackgroundError(str(exc)) from exc
        self._last = _Fitted(first)

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, Outputs]:
        if analysis.mask is None:
            return image, NO_OUTPUTS
        frame = self.source.latest(timeout=0.0)
        if frame is not None and not frame.placeholder and frame.image is not self._last.picture:
            self._last = _Fitted(frame.image)
        h, w = image.shape[:2]
        return composite(image, self._last.at((w, h)), analysis.mask, analysis.foreground), NO_OUTPUTS

    def update(self, background: BackgroundSettings, output: OutputSettings | None = None, *_reads) -> bool:
        fps = output.fps if output is not None else self.fps
        return background.mode == "video" and background.video == self.path and fps == self.fps

    def close(self) -> None:
        self.source.close()


def build_background(settings: BackgroundSettings, output: OutputSettings | int = 30, capture=None):
    """The background effect for these settings, or None for "off". Raises BackgroundError on bad files.

    ``capture`` (the capture settings) sizes a picture's decode to the frames it will sit behind."""
    fps = output.fps if isinstance(output, OutputSettings) else output
    cover = (capture.width, capture.height) if capture is not None else None
    if settings.mode == "blur":
        return BlurBackground(settings.blur)
    if settings.mode == "image":
        return ImageBackground.from_file(settings.image, cover)
    if settings.mode == "video":
        return VideoBackground(settings.video, fps)
    if settings.mode == "color":
        return ColorBackground(settings.color)
    return None
