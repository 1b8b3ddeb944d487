"""Low-light enhancement: exposure and shadow tone curve, automatic metering, temporal denoise.

Runs before analysis (``stage = "pre"``) so the models see the brightened frame. Per frame:

1. a quarter-size copy of the frame meters the scene (auto mode) and detects motion;
2. a motion-adaptive recursive filter averages still pixels over time and follows moving ones;
3. one 256-entry lookup table per channel applies exposure, highlight shoulder, shadows, contrast and
   warmth in a single pass over the pixels (then manual saturation, if moved).

Exposure works in linear light (sRGB decoded), the way a longer exposure would: every channel is
scaled by the same factor there, so the chroma ratios of the scene stay those of the scene. (Scaling
the encoded values by a luma gain instead keeps the encoded ratios, which a real exposure does not:
on the paired benchmark in tools/eval_lowlight.py that scored about 2 dB lower even with the exact
exposure known.) A highlight shoulder rolls bright values off instead of clipping them.
"""
from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np

from livecam.settings import LowLightSettings
from livecam.effects import effect_kernels
from livecam.effects.base import NO_OUTPUTS, EffectBase, Outputs
from livecam.types import Analysis

# Auto-exposure targets, in linear light. Mid: the centre-weighted (or face) log-average lands where
# it sits in a normally exposed photo; high: the 99th percentile lands below white, leaving room for the shoulder.
TARGET_MID = 0.12
TARGET_FACE = 0.2
TARGET_HIGH = 0.75
AUTO_MAX_STOPS = 3.5  # beyond ~11x the sensor noise dominates; lifting further only shows grain
LIFT_FRACTION = 0.7  # share of the mid-tones' remaining shortfall made up by lifting shadows
MAX_LIFT_STOPS = 2.0
MIN_AUTO_SHADOWS = 0.4
KNEE = 0.7  # linear level where the highlight shoulder starts
METER_EVERY = 2  # frames per metering: the exposure drifts slowly anyway, and metering has a cost
SMOOTH_RATE = 0.12  # per-metering step towards the metered exposure (about half a second at 30 fps)
DEADBAND_STOPS = 0.08  # metering noise smaller than this never moves the exposure
METER_HISTORY = 5  # median over this many meterings: a brief flicker never reaches the gain
AUTO_DENOISE = 40  # denoise strength auto mode uses once it lifts by AUTO_DENOISE_FULL_STOPS or more
AUTO_DENOISE_FULL_STOPS = 1.5
THRESHOLD_NOISE, THRESHOLD_OFFSET = 2.0, 2.0  # motion threshold = noise * first + second (8-bit levels)
DOWNSCALE = 4  # metering and motion detection run on a frame this many times smaller


# ---------------------------------------------------------------- tone curve


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


_LINEAR = srgb_to_linear(np.arange(256) / 255.0)


def shoulder(x: np.ndarray, peak: float, knee: float = KNEE) -> np.ndarray:
    """Map linear ``x`` in [0, peak] onto [0, 1]: identity below ``knee``, then a rational roll-off
    with slope 1 at the knee that reaches 1 exactly at ``peak``. With ``peak <= 1`` nothing can clip,
    so it is the identity."""
    if peak <= 1.0:
        return x
    b = (peak - 1.0) / (1.0 - knee)
    t = np.clip((x - knee) / (peak - knee), 0.0, 1.0)
    rolled = knee + (1.0 - knee) * (1.0 + b) * t / (1.0 + b * t)
    return np.where(x <= knee, x, rolled)


def shadow_curve(v: np.ndarray, gamma: float, toe: float = 0.01) -> np.ndarray:
    """``v ** gamma`` on the encoded value, offset by ``toe`` so the slope at black stays finite
    (a plain power curve would amplify the noise in near-black pixels without bound)."""
    lo, hi = toe**gamma, (1.0 + toe) ** gamma
    return ((v + toe) ** gamma - lo) / (hi - lo)


def tone_curve(
    exposure: float = 0.0, shadows: float = 1.0, contrast: float = 1.0, channel_gain: float = 1.0
) -> np.ndarray:
    """Float curve (256,) in 0..1 for one channel: exposure (stops, linear light) times
    ``channel_gain`` (white balance), highlight shoulder, shadows gamma and an S-shaped contrast
    around mid-grey, the latter two on the encoded value. All neutral → the identity."""
    gain = 2.0**exposure * channel_gain
    v = linear_to_srgb(shoulder(_LINEAR * gain, gain))
    if shadows != 1.0:
        v = shadow_curve(v, shadows)
    if contrast != 1.0:
        # The curves above can land a hair outside 0..1, where a fractional power is NaN (and
        # casting NaN to uint8 is undefined): inside the range this changes nothing.
        v = np.clip(v, 0.0, 1.0)
        a, b = v**contrast, (1.0 - v) ** contrast
        v = a / np.maximum(a + b, 1e-12)
    return v


def to_lut(curve: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(curve * 255.0), 0, 255).astype(np.uint8)


def warmth_gains(warmth: float) -> tuple[float, float, float]:
    """Linear-light (blue, green, red) gains for warmth -100..100: warmer raises red and lowers blue,
    by up to 0.35 stop each at the ends of the range."""
    s = 2.0 ** (0.35 * warmth / 100.0)
    return 1.0 / s, 1.0, s


def manual_lut(settings: LowLightSettings) -> np.ndarray | None:
    """The manual sliders as a cv2.LUT table: (256,) when one curve serves all channels, (1, 256, 3)
    when warmth makes them differ, None when the sliders change nothing."""
    s = settings
    if s.exposure == 0 and s.shadows == 1 and s.contrast == 1 and s.warmth == 0:
        return None
    gains = warmth_gains(s.warmth)
    curves = [to_lut(tone_curve(s.exposure, s.shadows, s.contrast, g)) for g in gains]
    if s.warmth == 0:
        return curves[0]
    return np.stack(curves, axis=-1).reshape(1, 256, 3)


class Tone:
    """A cv2.LUT table and its application to a frame: a table that serves all three channels goes
    through ``effect_kernels.pairs_into`` (two bytes a lookup, the same bytes in half of cv2.LUT's
    0.78 ms at 720p), a per-channel one (warmth) or a frame the loop does not take (its size or
    start not a multiple of four bytes, a view that is not C-ordered, read-only memory) through cv2.LUT."""

    def __init__(self, lut: np.ndarray) -> None:
        self.lut = lut
        self.pairs = effect_kernels.pair_table(lut) if lut.ndim == 1 and effect_kernels.READY else None

    def apply(self, image: np.ndarray) -> np.ndarray:
        if (self.pairs is None or image.dtype != np.uint8 or not image.flags.c_contiguous or image.size % 4
                or image.ctypes.data % 4 or not image.flags.writeable):  # the loop is typed for writable arrays
            return cv2.LUT(image, self.lut)
        out = np.empty_like(image)
        effect_kernels.pairs_into(image.reshape(-1).view(np.uint32), self.pairs, out.reshape(-1).view(np.uint32))
        return out


def _tone(lut: np.ndarray | None) -> Tone | None:
    return None if lut is None else Tone(lut)


# ---------------------------------------------------------------- metering


def centre_weights(height: int, width: int) -> np.ndarray:
    """Gaussian centre weighting (sigma a third of each side), normalised to sum 1."""
    y = (np.arange(height) - (height - 1) / 2) / max(height / 3, 1)
    x = (np.arange(width) - (width - 1) / 2) / max(width / 3, 1)
    w = np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    return (w / w.sum()).astype(np.float32)


def percentile_level(gray: np.ndarray, q: float) -> int:
    """The ``q``-th percentile (0..100) of a uint8 image, via its histogram."""
    cdf = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().cumsum()
    return int(cdf.searchsorted(q / 100.0 * cdf[-1]))


def face_region(faces: list, frame_shape: tuple[int, int], small_shape: tuple[int, int]):
    """Union box of the faces in small-image coordinates (a slice pair), or None when none is usable."""
    if not faces:
        return None
    fh, fw = frame_shape
    sh, sw = small_shape
    # Python floats, the same arithmetic: numpy's per-call cost on a few numbers was 70 us a metering.
    boxes = [b for b in (np.asarray(f.box, dtype=np.float64)[:4].tolist() for f in faces) if all(map(math.isfinite, b))]
    if not boxes:
        return None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    c0, c1 = int(min(max(x0 * sw / fw, 0.0), sw)), math.ceil(min(max(x1 * sw / fw, 0.0), sw))
    r0, r1 = int(min(max(y0 * sh / fh, 0.0), sh)), math.ceil(min(max(y1 * sh / fh, 0.0), sh))
    if c1 - c0 < 2 or r1 - r0 < 2:
        return None
    return slice(r0, r1), slice(c0, c1)


_LOG_LINEAR = np.log(_LINEAR + 1e-3).astype(np.float32)  # the offset keeps black from weighing -inf


def meter(small_gray: np.ndarray, weights: np.ndarray, face=None) -> tuple[float, float, bool]:
    """(mid, high, from_face): the log-average linear level (the "key") of the face region when
    given, else of the frame with centre weighting; and the linear 99th-percentile level of the whole
    frame. A log-average stands for the typical pixel: a bright window in view barely moves it,
    where it would dominate a plain mean."""
    logs = _LOG_LINEAR[small_gray]
    mean_log = float(logs[face].mean()) if face is not None else float((logs * weights).sum())
    mid = max(math.exp(mean_log) - 1e-3, 0.0)
    high = float(_LINEAR[percentile_level(small_gray, 99.0)])
    return mid, high, face is not None


def auto_correction(mid: float, high: float, from_face: bool = False) -> tuple[float, float]:
    """(exposure stops, shadows gamma) for a metered scene.

    Exposure, 0 to AUTO_MAX_STOPS, is mostly what the highlights ask for (in stops), since they are
    the surest sign of how bright the scene really is: mid-tones alone over-brighten dark scenes with
    bright surfaces. Highlights alone would leave a room lit by one lamp, or a face before a window,
    dark, so the mid-tones count too, and most of what they still lack is made up by lifting the
    shadows, which leaves the highlights where the exposure put them. A face, when known, is what the
    viewer looks at and leads instead."""
    floor = _LINEAR[1]  # an all-black frame meters as "one code value", not as zero
    mid = max(mid, floor)
    ev_mid = math.log2((TARGET_FACE if from_face else TARGET_MID) / mid)
    ev_high = math.log2(TARGET_HIGH / max(high, floor))
    w = 0.7 if from_face else 0.3
    ev = min(max(w * ev_mid + (1 - w) * ev_high, 0.0), AUTO_MAX_STOPS)
    lift = min(LIFT_FRACTION * max(ev_mid - ev, 0.0), MAX_LIFT_STOPS)
    # The shadows gamma that takes the exposed mid-tone to where the lift wants it (scalar maths: this
    # runs at frame rate, and numpy's per-call overhead on single numbers is most of its cost).
    before = _encode(min(mid * 2.0**ev, 0.5))
    after = _encode(min(mid * 2.0 ** (ev + lift), 0.5))
    shadows = math.log(after) / math.log(before) if 0 < before < after else 1.0
    return ev, min(max(shadows, MIN_AUTO_SHADOWS), 1.0)


def _encode(x: float) -> float:
    """linear_to_srgb for one number."""
    return x * 12.92 if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055


class Smoother:
    """Turns a stream of metered values into a steady one: a short median drops flickers, a
    deadband ignores metering noise, and a slow exponential step follows real changes."""

    def __init__(self, rate: float = SMOOTH_RATE, deadband: float = DEADBAND_STOPS, history: int = METER_HISTORY):
        self.rate, self.deadband = rate, deadband
        self.history: deque[float] = deque(maxlen=history)
        self.value: float | None = None

    def update(self, measured: float) -> float:
        self.history.append(measured)
        target = sorted(self.history)[(len(self.history) - 1) // 2]
        if self.value is None:
            self.value = target  # the first metering is right at once; later ones only drift
        elif abs(target - self.value) > self.deadband:
            self.value += self.rate * (target - self.value)
        return self.value


# ---------------------------------------------------------------- temporal denoise


def denoise_alpha(strength: float) -> float:
    """Weight of the new frame in the running average: 1 at strength 0 (off), 1/6 at 100
    (an average over about 11 frames for still pixels)."""
    return 1.0 / (1.0 + 5.0 * strength / 100.0)


def motion_difference(small: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """uint8 change between two small frames: the largest per-channel change, averaged over 3x3
    so that single noisy pixels do not add up to motion."""
    diff = cv2.absdiff(small, previous)
    if diff.ndim == 3:
        b, g, r = cv2.split(diff)
        diff = cv2.max(cv2.max(b, g), r)
    return cv2.blur(diff, (3, 3))


_CELL = np.ones((3, 3), np.uint8)


def moving_mask(diff: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 mask (255 = moving) where ``diff`` exceeds ``threshold``, grown by one cell so the edges
    of a moving object are caught too."""
    _, mask = cv2.threshold(diff, threshold, 255, cv2.THRESH_BINARY)
    return cv2.dilate(mask, _CELL)


def follow_motion(image: np.ndarray, out: np.ndarray, moving: np.ndarray, band: int = 16) -> None:
    """Copy ``image`` into ``out`` where the small ``moving`` mask is set. The mask is scaled up band
    by band (``band`` small rows at a time), each band only over the box of its own motion: a talking
    head moves in a small part of the frame, and a few stray cells must not cost a full-frame pass."""
    h, w = image.shape[:2]
    sy, sx = h / moving.shape[0], w / moving.shape[1]
    for top in range(0, moving.shape[0], band):
        x, y, bw, bh = cv2.boundingRect(moving[top : top + band])
        if bw == 0:
            continue
        y += top
        x0, y0 = int(x * sx), int(y * sy)
        x1, y1 = min(math.ceil((x + bw) * sx), w), min(math.ceil((y + bh) * sy), h)
        mask = cv2.resize(moving[y : y + bh, x : x + bw], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        cv2.copyTo(image[y0:y1, x0:x1], mask, out[y0:y1, x0:x1])


class TemporalDenoiser:
    """Recursive average where the picture is still, the current frame where it moves.

    Motion is judged on a quarter-size copy: the new frame against the running average, with a
    threshold that follows the measured noise level. Grain stays under the threshold and is averaged
    away; a moving hand, or a slow drift that has added up, crosses it and is taken from the new
    frame at once, so nothing trails behind.

    It runs on the camera's own values, before the tone curve: the curve then makes a new image
    anyway, so the average needs no defensive copy, and it is the same motion test whatever the
    curve does.

    Where 8 bits cannot show the averaging (see :meth:`step`), the full-size average is let go
    rather than kept equal to each frame (a 720p copy, 0.1-0.3 ms a frame, for a picture nobody
    sees): averaging that resumes starts from the frame it resumes on, as when it is switched on.
    Only the small average, which motion is judged against, follows every frame."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.average: np.ndarray | None = None
        self.small_average: np.ndarray | None = None
        self.noise: float | None = None
        self.moving_fraction = 0.0
        self.behind = False  # the full-size average was let go while averaging could not show

    def threshold(self, diff: np.ndarray) -> float:
        # The median change ≈ the noise floor while most of the frame is still; the cap keeps large
        # motion detected even when it fills more than half the frame.
        median = percentile_level(diff, 50.0)
        self.noise = median if self.noise is None else 0.9 * self.noise + 0.1 * median
        return min(max(THRESHOLD_NOISE * self.noise + THRESHOLD_OFFSET, 2.0), 24.0)

    def step(self, image: np.ndarray, small: np.ndarray, strength: float) -> np.ndarray:
        """Denoise ``image``; ``small`` is the same frame shrunk by DOWNSCALE. The result is the
        running average itself, which the next frame updates in place: copy it (or map it through a
        table, which makes a new image) before it leaves the effect."""
        if self.average is None or self.average.shape != image.shape or strength <= 0:
            self.average, self.small_average, self.behind = image.copy(), small.copy(), False
            return image
        diff = motion_difference(small, self.small_average)
        threshold = self.threshold(diff)
        alpha = denoise_alpha(strength)
        if (1.0 - alpha) * threshold < 0.5:
            # In 8 bits the average moves a still pixel (one that changed by less than the threshold) by
            # less than half a level at this weight, so it rounds back to the frame: the frame is the
            # result. Auto mode's first lifts ask for strengths like this (0.3-1.6 on the bench clip's
            # frames 120-180: under 0.1 % of pixels changed, by 4 levels at most, for ~1.5 ms a frame).
            # The running average would be the frame itself: let go until averaging resumes.
            np.copyto(self.small_average, small)
            self.moving_fraction, self.behind = 0.0, True
            return image
        if self.behind:
            # Averaging resumes: from this frame, as when switched on (the one frame the average held,
            # at the small weight of these first strengths, is all that is left out).
            np.copyto(self.average, image)
            np.copyto(self.small_average, small)
            self.moving_fraction, self.behind = 0.0, False
            return image
        moving = moving_mask(diff, threshold)
        # In place: the averages are ours alone, and a fresh 720p buffer per frame costs page faults.
        cv2.addWeighted(image, alpha, self.average, 1.0 - alpha, 0.0, dst=self.average)
        cv2.addWeighted(small, alpha, self.small_average, 1.0 - alpha, 0.0, dst=self.small_average)
        count = cv2.countNonZero(moving)
        if count:
            follow_motion(image, self.average, moving)
            cv2.copyTo(small, moving, self.small_average)
        self.moving_fraction = count / moving.size
        return self.average


# ---------------------------------------------------------------- the effect

Plan = tuple[Tone | None, float]  # auto mode per frame: tone table (None: nothing to lift), denoise strength


def shrink(image: np.ndarray) -> np.ndarray:
    """The frame DOWNSCALE times smaller, for metering and motion detection."""
    h, w = image.shape[:2]
    return cv2.resize(image, (max(w // DOWNSCALE, 1), max(h // DOWNSCALE, 1)), interpolation=cv2.INTER_LINEAR)


class LowLight(EffectBase):
    """Brighten dark webcam video: ``mode="auto"`` meters and lifts by itself, ``mode="manual"``
    applies the sliders, ``mode="off"`` (or all sliders neutral) returns the frame untouched."""

    stage = "pre"

    def __init__(self, settings: LowLightSettings) -> None:
        self.settings = settings
        self._manual_lut = _tone(manual_lut(settings)) if settings.mode == "manual" else None
        self._denoiser = TemporalDenoiser()
        self._smoothers = (Smoother(), Smoother(deadband=0.02))
        self._shape: tuple[int, ...] | None = None
        self._weights: np.ndarray | None = None
        self._lut_key: tuple[float, float] | None = None
        self._lut: Tone | None = None
        self._plan: Plan | None = None
        self._frame = 0
        self.exposure = 0.0  # stops and shadows gamma of the last frame (auto mode), for the UI and the benchmark
        self.shadows = 1.0

    def update(self, settings: LowLightSettings, *_reads) -> bool:
        """Slider moves and auto/manual switches keep the denoiser's running average and the meter's
        history, so no grain comes back while a slider is dragged."""
        new = settings
        if new.mode == "off":
            return False
        self.settings = new
        self._manual_lut = _tone(manual_lut(new)) if new.mode == "manual" else None
        return True

    @property
    def active(self) -> bool:
        s = self.settings
        if s.mode == "auto":
            return True
        return s.mode == "manual" and (self._manual_lut is not None or s.denoise > 0 or s.saturation != 1)

    def reset(self) -> None:
        self._denoiser.reset()
        self._smoothers = (Smoother(), Smoother(deadband=0.02))
        self._shape, self._plan, self._frame = None, None, 0

    def apply(self, image: np.ndarray, analysis: Analysis | None = None) -> tuple[np.ndarray, Outputs]:
        return self.enhance(image, analysis), NO_OUTPUTS

    def enhance(self, image: np.ndarray, analysis: Analysis | None = None) -> np.ndarray:
        """The brightened frame (the input itself when nothing is to be done)."""
        if not self.active:
            return image
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"Low-light enhancement needs a BGR uint8 image of shape (H, W, 3), got {got}.")
        if image.shape != self._shape:
            self.reset()  # a new resolution is a new stream: old history would not line up
            self._shape = image.shape
        small = None  # the shrunk frame, made only for metering and denoising (0.15-0.27 ms at 720p)
        if self.settings.mode == "auto":
            if self._plan is None or self._frame % METER_EVERY == 0:
                small = shrink(image)
            lut, strength = self._auto(image.shape[:2], small, analysis)
        else:
            lut, strength = self._manual_lut, float(self.settings.denoise)
        if strength > 0:
            source = self._denoiser.step(image, shrink(image) if small is None else small, strength)
        else:
            self._denoiser.reset()  # a stale average would only be thrown away when denoise resumes
            source = image
        out = source if lut is None else lut.apply(source)
        if self.settings.mode == "manual" and self.settings.saturation != 1:
            gray = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            out = cv2.addWeighted(out, self.settings.saturation, gray, 1.0 - self.settings.saturation, 0.0)
        # The denoiser's average is updated in place next frame; what leaves must be a separate image.
        return out.copy() if out is self._denoiser.average else out

    def _auto(self, frame_shape: tuple[int, int], small: np.ndarray | None, analysis: Analysis | None) -> Plan:
        """The plan for this frame, metered afresh every METER_EVERY frames (``small`` is given then)."""
        if small is not None:
            self._plan = self._meter(frame_shape, small, analysis)
        self._frame += 1
        return self._plan

    def _meter(self, frame_shape: tuple[int, int], small: np.ndarray, analysis: Analysis | None) -> Plan:
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        gray = cv2.resize(gray, (max(gray.shape[1] // 4, 1), max(gray.shape[0] // 4, 1)), interpolation=cv2.INTER_AREA)
        if self._weights is None or self._weights.shape != gray.shape:
            self._weights = centre_weights(*gray.shape)
        faces = analysis.faces if analysis is not None else []
        face = face_region(faces, frame_shape, gray.shape)
        targets = auto_correction(*meter(gray, self._weights, face))
        stops, shadows = (sm.update(t) for sm, t in zip(self._smoothers, targets))
        self.exposure, self.shadows = stops, shadows
        # Denoise follows the lift: the grain a frame shows grows with the gain it gets.
        lifted = stops + (1.0 - shadows) * 4.0
        strength = AUTO_DENOISE * min(lifted / AUTO_DENOISE_FULL_STOPS, 1.0)
        if stops < 0.01 and shadows > 0.995:
            return None, strength
        key = (round(stops, 3), round(shadows, 3))
        if key != self._lut_key:
            self._lut, self._lut_key = Tone(to_lut(tone_curve(stops, shadows))), key
        return self._lut, strength

