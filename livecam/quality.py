"""``livecam eval``: how well the person mask hides the room, per model, raw against LiveCam's final.

- "raw" is the model as it is usually consumed: the frame squashed into the model's input, the
  output upsampled bilinearly, composited with the frame's own colours. For rvm, its alpha the same
  way. "final" is LiveCam's mask stage (top margin, temporal smoothing, frame-guided edges, the
  person's own colour at the edge, or rvm's alpha and foreground).
- Photos with ground truth (``masks/dev``): IoU and boundary F of the masks, and the halo score: the
  mean |composite - ideal composite| over all channels (0..255) in the band within 6 px of the true
  outline, over a light (#f0f0f0) and a dark (#141414) solid colour, where ideal = true alpha x
  frame + (1 - true alpha) x colour (soft alpha where the data has mattes). Each photo is shown
  ``SETTLE_FRAMES`` times in a row, as a still camera would, so recurrent models settle. The
  scores are given over all photos and per half (``halves``): edge constants are chosen on the
  tuning half, and the reporting half says whether they carry to photos nobody tuned on.
- Clips (``video/*.mp4``): flicker (mean absolute frame-to-frame change of the mask over all
  pixels, which includes real motion), still-pixel flicker (only where the picture did not change),
  warped flicker (the change the picture's own motion does not explain: the previous mask moved
  along the optical flow, FlowWarp; it counts a mask that lags behind a moving person, which the
  other two reward), each also on the clips the temporal constants were not tuned on,
  IoU against the chroma-key masks of the green-screen clip, and on the s18 clip the frames that
  show a column of wall above the head (needs rvm as the reference). Clips run at live size (rvm
  too: 640 px input on the CPU); photos at render size.
"""
from __future__ import annotations

import argparse
import csv
import errno
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from livecam import model_specs
from livecam.analysis import Analyzer
from livecam.analysis.temporal import EdgeColour
from livecam.settings import Settings, update

MODELS = model_specs.names("person")
LIGHT, DARK = (240, 240, 240), (20, 20, 20)  # #f0f0f0 and #141414 (BGR, grey)
HALO_BAND = 6  # px either side of the true outline
SETTLE_FRAMES = 4
CLIP_FRAMES = 150
WALL_CLIP = "lp_s18_room_landscape"
WALL_PIXELS = 2000  # room pixels (at 1280x720) above the middle of the frame that count as a column
SHEET_FRAMES = 6
SHEET_SETTLE = 8
FLOW_WIDTH = 640  # optical flow for the warped flicker runs at most this wide (clips are 480-1280)
# The clips the temporal constants (settling, smoothing) were tuned on; the others are the check,
# and the report gives the flicker on those alone as well.
TUNING_CLIPS = frozenset({"lp_d0_greenscreen", "lp_d18_frontal_plain", "lp_d20_talking_dim", "lp_d6_expressions",
                          "lp_s18_room_landscape", "st_WDA_AlexandriaOcasioCortez_000"})


def data_root(given: str | None = None) -> Path:
    if given:
        return Path(given)
    if os.environ.get("LIVECAM_DATA"):
        return Path(os.environ["LIVECAM_DATA"])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------- scores


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0


def boundary_f(pred: np.ndarray, gt: np.ndarray, tolerance: float = 0.01) -> float:
    """DAVIS-style boundary F-measure: contour pixels matched within ``tolerance`` x image diagonal."""
    radius = max(1, round(tolerance * float(np.hypot(*gt.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    bp, bg = _boundary(pred), _boundary(gt)
    if not bp.any() and not bg.any():
        return 1.0
    near_g = cv2.dilate(bg.astype(np.uint8), kernel) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), kernel) > 0
    precision = (bp & near_g).sum() / max(1, bp.sum())
    recall = (bg & near_p).sum() / max(1, bg.sum())
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def outline_band(alpha_true: np.ndarray, width: int = HALO_BAND) -> np.ndarray:
    """Pixels within ``width`` px of the true outline (the 0.5 level of the true alpha), both sides."""
    inside = (alpha_true > 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    return np.where(inside > 0, d_in, d_out) <= width


def halo_score(frame: np.ndarray, alpha_true: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int],
               band: np.ndarray, foreground: np.ndarray | None = None) -> float:
    """Mean |composite - ideal| (0..255, all channels) in ``band``; the composite is 8-bit, as sent."""
    c = np.array(colour, np.float32)
    f = frame[band].astype(np.float32)
    foreground = _picture(foreground, frame)
    person = f if foreground is None else foreground[band].astype(np.float32)
    t = alpha_true[band][:, None]
    a = alpha[band][:, None]
    ideal = t * f + (1 - t) * c
    out = np.clip(np.round(a * person + (1 - a) * c), 0, 255)
    return float(np.abs(out - ideal).mean()) if len(f) else 0.0


def _picture(foreground, frame: np.ndarray) -> np.ndarray | None:
    """Analysis.foreground as a frame-size picture (the selfie-model path gives the edge pixels alone)."""
    return foreground.image(frame) if isinstance(foreground, EdgeColour) else foreground


class FlowWarp:
    """The motion between two grey frames, for the warped flicker: how much a mask changed beyond
    what the picture's own motion explains (Lai et al.'s warping error, ECCV 2018). The previous
    mask is moved along the optical flow (DIS, the new frame's pixels looked up in the old one) and
    compared with the new mask where the flow is trustworthy: pixels whose forward and backward flow
    disagree (uncovered or occluded: a hand entering, the room behind a turning head) are left out,
    with Sundaram et al.'s test |f + b|^2 < 0.01 (|f|^2 + |b|^2) + 0.5."""

    def __init__(self, previous_grey: np.ndarray, grey: np.ndarray) -> None:
        h, w = grey.shape
        scale = min(1.0, FLOW_WIDTH / w)
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        g0 = cv2.resize(previous_grey, size, interpolation=cv2.INTER_AREA)
        g1 = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        back = dis.calc(g1, g0, None)  # new pixel x sits at x + back(x) in the old frame
        fwd = dis.calc(g0, g1, None)
        mx = back[..., 0] + np.arange(size[0], dtype=np.float32)[None]
        my = back[..., 1] + np.arange(size[1], dtype=np.float32)[:, None]
        fwd_there = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = ((back + fwd_there) ** 2).sum(-1)
        ok = err < 0.01 * ((back ** 2).sum(-1) + (fwd_there ** 2).sum(-1)) + 0.5
        ok &= (mx >= 0) & (mx <= size[0] - 1) & (my >= 0) & (my <= size[1] - 1)
        # Where the picture is better explained by no motion at all (a still wall, a still shoulder),
        # the flow is taken as zero: DIS's sub-pixel noise there would move a still outline and count
        # that as flicker. The residuals are 9x9 means, like the still-pixel measure's test.
        moved = cv2.remap(g0, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        k = (9, 9)
        stay = cv2.blur(cv2.absdiff(g1, g0), k).astype(np.float32) <= cv2.blur(cv2.absdiff(g1, moved), k) + 0.5
        back[stay] = 0
        ok |= stay
        self.back, self.ok, self.size = back, ok, (w, h)
        self._maps_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The flow at the clip's size, in its pixels, as remap maps, and where it holds."""
        w, h = self.size
        sh, sw = self.back.shape[:2]
        up = cv2.resize(self.back, (w, h), interpolation=cv2.INTER_LINEAR)
        up[..., 0] *= np.float32(w / sw)
        up[..., 1] *= np.float32(h / sh)
        up[..., 0] += np.arange(w, dtype=np.float32)[None]
        up[..., 1] += np.arange(h, dtype=np.float32)[:, None]
        valid = cv2.resize(self.ok.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        map_x, map_y = cv2.split(up)
        return map_x, map_y, valid

    def change(self, previous_mask: np.ndarray, mask: np.ndarray) -> float:
        """Mean |mask - previous mask moved along the flow| where the flow holds (mask units)."""
        if self._maps_cache is None:  # made once, for the raw and the final mask
            self._maps_cache = self._maps()
        map_x, map_y, valid = self._maps_cache
        if not valid.any():
            return 0.0
        moved = cv2.remap(previous_mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return float(cv2.absdiff(mask, moved)[valid].mean())


# ---------------------------------------------------------------- progress


class Progress:
    """One line on stderr that says what runs and how far it is (rewritten in place on a terminal)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, text: str, done: int | None = None, total: int | None = None) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        final = done is None or done == total
        if self.tty:
            if final or now - self._last > 0.2:
                line = f"{text} {done}/{total}" if done is not None else text
                sys.stderr.write("\r\033[K" + line + ("\n" if final else ""))
                sys.stderr.flush()
                self._last = now
        elif final or now - self._last > 5:  # a log file gets a line every few seconds
            print(f"{text} {done}/{total}" if done is not None else text, file=sys.stderr, flush=True)
            self._last = now


# ---------------------------------------------------------------- masks


def _analyzer(model: str, offline: bool = True) -> Analyzer:
    """1 thread on the CPU. ``offline``: rvm at render size (photos); live size for the clips, where
    150 frames a clip at render size take too long on a CPU, and live is what a call shows."""
    return Analyzer(update(Settings(), segmentation={"model": model}, runtime={"threads": 1, "provider": "cpu"}),
                    offline=offline)


class _Plain:
    """The model as usually consumed: frame squashed into the input, output upsampled bilinearly."""

    def __init__(self, model: str) -> None:
        from livecam.analysis.segmenter import Segmenter

        self.seg = Segmenter(model, "cpu", 1)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        seg = self.seg
        rgb = cv2.cvtColor(cv2.resize(image, (seg.width, seg.input_height), interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2RGB)
        out = seg.session.run(seg.session.normalize(rgb))[0].reshape(seg.input_height, seg.width)
        return cv2.resize(np.clip(out, 0, 1), (w, h), interpolation=cv2.INTER_LINEAR)


def _final(analyzer: Analyzer, image: np.ndarray):
    """(raw alpha, final alpha, foreground) at image size, floats 0..1 / uint8 BGR."""
    h, w = image.shape[:2]
    result = analyzer.analyze(image, {"mask", "foreground"})
    if result.mask is None:
        raise RuntimeError("; ".join(analyzer.broken.values()) or "the mask stage gave no mask")
    raw = cv2.resize(result.raw_mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return raw, result.mask.astype(np.float32) * np.float32(1 / 255), result.foreground


def rvm_missing() -> str:
    """'' when rvm can run here, else the sentence saying why not."""
    from livecam.model_fetch import RVM, model_path, sha256_of

    path = model_path(RVM)
    if not path.is_file():
        return f"rvm is not fetched ({path} is missing); run: livecam models fetch rvm"
    if sha256_of(path) != RVM.sha256:
        return f"{path} is damaged or from another version; run: livecam models fetch rvm"
    return ""


# ---------------------------------------------------------------- photos

# The photos split once into two halves. Constants tuned on all of masks/dev scored 0.83 / 0.85 of
# raw there and 0.88 / 0.91 on photos measured from outside: the tuning half is for choosing, the
# reporting half for saying whether a choice carries. Within each source group of masks/index.csv
# (webcam shots, portraits with mattes, multi-person scenes ...) the photos alternate in sorted order,
# so both halves hold every kind of photo and no photo is in both (28 and 27 photos). The start tree
# of the split (9b5e491), final halo as a share of raw, light / dark: landscape 0.784 / 0.824 on the
# tuning half, 0.867 / 0.869 on the reporting half; general 0.822 / 0.841 and 0.866 / 0.887.
HALVES = ("tune", "report")
HALF_NAMES = {"tune": "tuning half", "report": "reporting half"}
STILL_KEYS = ("iou", "bf", "halo_light", "halo_dark")


def photo_halves(root: Path, stems: list[str]) -> dict[str, str]:
    """Each photo's half (``HALVES``) by its id: the ids of one group of ``masks/index.csv`` in sorted
    order go to the tuning half, the reporting half, the tuning half ... Photos the index does not
    list (or a data folder without one) form one group of their own. An index that cannot be read
    is said on stderr (the halves then differ from the ones the constants were chosen on)."""
    groups: dict[str, str] = {}
    index = root / "masks" / "index.csv"
    if index.is_file():
        try:
            with open(index, newline="", encoding="utf-8") as f:
                groups = {row["id"]: row.get("group") or "" for row in csv.DictReader(f) if row.get("id")}
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            from livecam.messages import shown

            print(f"livecam eval: {shown(index)} cannot be read ({exc}); the photos are split as one group.",
                  file=sys.stderr)
    members: dict[str | None, list[str]] = {}
    for stem in stems:
        members.setdefault(groups.get(stem), []).append(stem)
    return {stem: HALVES[i % 2] for ids in members.values() for i, stem in enumerate(sorted(ids))}


def _score_means(scores: dict[str, dict[str, dict]], stems: list[str]) -> dict:
    """Mean of each score over ``stems`` for raw and final (``images``: how many)."""
    out: dict = {"images": len(stems)}
    if stems:
        for name, per_photo in scores.items():
            out[name] = {k: round(statistics.mean(per_photo[s][k] for s in stems), 4) for k in STILL_KEYS}
    return out


# Most photos of masks/dev are about 276x183, near the model's own input size; webcam frames and the
# photos people use are 640-1920 px wide. The start tree's constants (fitted at the small size) gave
# 0.784 / 0.824 of raw on the tuning half there, 0.868 / 0.916 with the photos enlarged x2, as on
# photos measured from outside (0.88 / 0.91). ``width`` scores every photo at one realistic width:
# the photo and its mask resized to it (the halo band stays HALO_BAND px of the resized picture).
# The start tree of the measure (bcde0bf), final halo as a share of raw, light / dark, tuning half /
# reporting half: landscape at 640 px 0.858 / 0.921 and 0.916 / 0.938, at 1280 px 0.906 / 0.968 and
# 0.952 / 0.974; general at 640 px 0.897 / 0.938 and 0.907 / 0.944, at 1280 px 0.928 / 0.975 and
# 0.941 / 0.972 (IoU within 0.005 of the photos at their own size). Most dev photos are enlarged to
# get there, so they are softer than a camera's frames of that width: the photos shot at 640 px or
# more (13 of 55) are the ones that say how a real frame of that size fares.
# Those are scored apart as well (``native``: the photos at least ``width`` wide, only shrunk or kept):
# an enlargement adds no detail, and most truth masks of the small photos are remove.bg cut-outs whose
# outline lies about one photo pixel outside the picture's own edge (the strongest colour step sits
# 1.2 px inside it on the vik photos of the tuning half, 0.1 px on the p3m mattes), so enlarged 2.3
# or 4.6 times that rim fills 2-5 px of the 6-px band, and a mask on the person's edge scores as a
# halo there. Tuning half, landscape, halo of raw light / dark: enlarged photos 0.869 / 0.959 at
# 640 px and 0.933 / 1.026 at 1280; the photos that wide already 0.819 / 0.763 (7) and 0.689 / 0.611 (4).
# On the reporting half the photos that wide gave 0.915 / 0.846 (6) and 0.913 / 0.843 (3): few, and
# there whole regions the model misses (IoU 0.85 / 0.74) weigh more than where the outline is drawn.
MIN_WIDTH, MAX_WIDTH = 32, 7680  # --width: below this a photo's outline band is all there is
SIZE_WIDTHS = (640, 1280)


def at_width(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` resized to ``width`` px wide, its height in proportion rounded to an even number (a
    camera's frames have even sizes, and the mask stage halves only those)."""
    h, w = image.shape[:2]
    height = max(2, 2 * round(h * width / w / 2))
    if (height, width) == (h, w):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_CUBIC)


def eval_stills(root: Path, model: str, progress: Progress | None = None, half: str | None = None,
                width: int | None = None) -> dict:
    """The photo scores over all photos, per half (``halves``) and per photo (``photos``). ``half``:
    only that half's photos (the tuning half while choosing constants). ``width``: every photo (and
    its mask) resized to that width first, and the scores of the photos that were not enlarged to get
    there also apart (``native``, per half too); ``None``: as it is."""
    progress = progress or Progress(quiet=True)
    images = sorted((root / "masks" / "dev" / "images").glob("*"))
    which = photo_halves(root, [p.stem for p in images])
    if half is not None:
        images = [p for p in images if which[p.stem] == half]
    plain = None if model == "rvm" else _Plain(model)
    scores: dict[str, dict[str, dict]] = {"raw": {}, "final": {}}
    native: list[str] = []  # photos scored at their own pixels or fewer (not enlarged)
    for n, path in enumerate(images, 1):
        progress(f"eval {model}: photos", n, len(images))
        gt_path = root / "masks" / "dev" / "masks" / (path.stem + ".png")
        image, gt = cv2.imread(str(path)), cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        if image is None or gt is None:
            continue
        if not width or image.shape[1] >= width:
            native.append(path.stem)
        if width:
            image = at_width(image, width)
        h, w = image.shape[:2]
        alpha_true = cv2.resize(gt, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        truth, band = alpha_true > 0.5, outline_band(alpha_true)
        analyzer = _analyzer(model)  # fresh per photo: no temporal state across photos
        for _ in range(SETTLE_FRAMES):
            rvm_raw, final, foreground = _final(analyzer, image)
        raw = rvm_raw if plain is None else plain(image)
        for name, alpha, fg in (("raw", raw, None), ("final", final, foreground)):
            scores[name][path.stem] = {"iou": iou(alpha > 0.5, truth), "bf": boundary_f(alpha > 0.5, truth),
                                       "halo_light": halo_score(image, alpha_true, alpha, LIGHT, band, fg),
                                       "halo_dark": halo_score(image, alpha_true, alpha, DARK, band, fg)}
    stems = list(scores["raw"])
    out = _score_means(scores, stems)
    out["halves"] = {h: _score_means(scores, [s for s in stems if which[s] == h]) for h in HALVES}
    out["width"] = width
    if width:
        kept = set(native)
        out["native"] = _score_means(scores, [s for s in stems if s in kept])
        out["native"]["halves"] = {h: _score_means(scores, [s for s in stems if s in kept and which[s] == h])
                                   for h in HALVES}
    out["photos"] = {s: {"half": which[s], **{name: {k: round(v, 4) for k, v in scores[name][s].items()}
                                              for name in scores}} for s in stems}
    return out


# ---------------------------------------------------------------- clips


def _truth(path: Path) -> np.ndarray | None:
    """A clip frame's ground-truth mask (grey uint8), None where there is none. One that is there
    but cannot be decoded is left out with a sentence: it ended the eval in an OpenCV traceback."""
    if not path.is_file():
        return None
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None or not mask.size:
        from livecam.messages import shown

        print(f"livecam eval: the mask {shown(path)} cannot be read as a picture; it is left out.", file=sys.stderr)
        return None
    return mask


def _frames(path: Path, limit: int):
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(limit):
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def wall_reference(root: Path, progress: Progress | None = None) -> list[np.ndarray] | None:
    """rvm's alpha (live size, uint8 at 640x360) on every frame of the s18 clip, or None."""
    clip = root / "video" / f"{WALL_CLIP}.mp4"
    if rvm_missing() or not clip.is_file():
        return None
    progress = progress or Progress(quiet=True)
    analyzer = _analyzer("rvm", offline=False)
    total = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    out = []
    for n, frame in enumerate(_frames(clip, total), 1):
        progress("eval: rvm reference for the wall check on s18", n, total)
        _, final, _ = _final(analyzer, frame)
        out.append(cv2.resize((final * 255).astype(np.uint8), (640, 360), interpolation=cv2.INTER_AREA))
    return out


def _wall_column(mask: np.ndarray, reference: np.ndarray) -> bool:
    """Whether the mask shows more than WALL_PIXELS (at 720p) of what the reference calls room,
    in the top half of the frame."""
    m = cv2.resize(mask, (640, 360), interpolation=cv2.INTER_AREA)
    room = (m[:180] > 0.5) & (reference[:180] < 25)
    return int(room.sum()) * 4 > WALL_PIXELS


def eval_clips(root: Path, model: str, progress: Progress | None = None,
               wall_ref: list[np.ndarray] | None = None, max_frames: int = CLIP_FRAMES) -> dict:
    progress = progress or Progress(quiet=True)
    clips = sorted((root / "video").glob("*.mp4"))
    plain = None if model == "rvm" else _Plain(model)
    per_clip = {}
    for ci, clip in enumerate(clips, 1):
        analyzer = _analyzer(model, offline=False)
        wall = clip.stem == WALL_CLIP and wall_ref is not None
        limit = len(wall_ref) if wall else max_frames
        prev_raw = prev_fin = prev_grey = None
        d_raw, d_fin, iou_raw, iou_fin, s_raw, s_fin, w_raw, w_fin = [], [], [], [], [], [], [], []
        walls = {"raw": 0, "final": 0}
        gt_folder = root / "video" / "masks_chromakey" / clip.stem
        for i, frame in enumerate(_frames(clip, limit)):
            progress(f"eval {model}: clip {ci}/{len(clips)} {clip.stem}", i + 1, limit)
            rvm_raw, fin, _ = _final(analyzer, frame)
            raw = rvm_raw if plain is None else plain(frame)
            if wall and i < len(wall_ref):
                walls["raw"] += _wall_column(raw, wall_ref[i])
                walls["final"] += _wall_column(fin, wall_ref[i])
            if i >= max_frames:
                continue
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            if prev_raw is not None:
                dr, df = cv2.absdiff(raw, prev_raw), cv2.absdiff(fin, prev_fin)
                d_raw.append(float(dr.mean()))
                d_fin.append(float(df.mean()))
                # Flicker proper: the mask changing where the picture did not (grey change < 2 levels).
                still = cv2.blur(cv2.absdiff(grey, prev_grey), (9, 9)) < 2
                if still.any():
                    s_raw.append(float(dr[still].mean()))
                    s_fin.append(float(df[still].mean()))
                flow = FlowWarp(prev_grey, grey)
                w_raw.append(flow.change(prev_raw, raw))
                w_fin.append(flow.change(prev_fin, fin))
            prev_raw, prev_fin, prev_grey = raw, fin, grey
            gt = _truth(gt_folder / f"{i:05d}.png")
            if gt is not None:
                gt = cv2.resize(gt, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST) > 127
                iou_raw.append(iou(raw > 0.5, gt))
                iou_fin.append(iou(fin > 0.5, gt))
        if not d_raw:
            continue
        entry = {"frames": len(d_raw) + 1, "flicker_raw": statistics.mean(d_raw), "flicker_final": statistics.mean(d_fin),
                 "warped_flicker_raw": statistics.mean(w_raw), "warped_flicker_final": statistics.mean(w_fin)}
        if s_raw:
            entry.update(still_flicker_raw=statistics.mean(s_raw), still_flicker_final=statistics.mean(s_fin))
        if iou_raw:
            entry.update(iou_raw=statistics.mean(iou_raw), iou_final=statistics.mean(iou_fin))
        if wall:
            entry.update(wall_frames_raw=walls["raw"], wall_frames_final=walls["final"], wall_frames_of=len(wall_ref))
        per_clip[clip.name] = {k: round(v, 5) if isinstance(v, float) else v for k, v in entry.items()}
    if not per_clip:
        return {"clips": {}}
    out: dict = {"clips": per_clip}
    held_out = {name: c for name, c in per_clip.items() if Path(name).stem not in TUNING_CLIPS}
    if held_out:
        out["held_out"] = {"clips": sorted(held_out)}
    for key in FLICKER_KEYS:
        out.update(_flicker_means(per_clip, key))
        if held_out:
            out["held_out"].update(_flicker_means(held_out, key))
    return out


FLICKER_KEYS = ("flicker", "still_flicker", "warped_flicker")


def _flicker_means(per_clip: dict, key: str) -> dict:
    """Mean raw and final ``key`` over the clips that have it, and their ratio."""
    values = [c for c in per_clip.values() if f"{key}_raw" in c]
    if not values:
        return {}
    raw = statistics.mean(c[f"{key}_raw"] for c in values)
    fin = statistics.mean(c[f"{key}_final"] for c in values)
    return {f"{key}_raw": round(raw, 5), f"{key}_final": round(fin, 5), f"{key}_ratio": round(fin / raw, 3) if raw else float("nan")}


# ---------------------------------------------------------------- contact sheet


def contact_sheet(root: Path, models: list[str], folder: Path, colour=LIGHT, progress: Progress | None = None) -> Path:
    """Six frames of the s18 clip over a solid colour, one column per mode (raw model, LiveCam's
    final per model), cropped to the head and shoulders where edges show. Written as JPEG."""
    progress = progress or Progress(quiet=True)
    clip = root / "video" / f"{WALL_CLIP}.mp4"
    total = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
    picks = [round(i * (total - 1) / (SHEET_FRAMES - 1)) for i in range(SHEET_FRAMES)]
    frames = list(_frames(clip, total))
    columns: list[tuple[str, list[np.ndarray]]] = []
    bg = np.array(colour, np.float32)

    def over(frame, alpha, fg=None):
        fg = _picture(fg, frame)
        person = (frame if fg is None else fg).astype(np.float32)
        a = alpha[..., None]
        return np.clip(a * person + (1 - a) * bg + 0.5, 0, 255).astype(np.uint8)

    plain = _Plain("landscape")
    columns.append(("landscape, raw", [over(frames[i], plain(frames[i])) for i in picks]))
    for model in models:
        tiles = []
        for n, index in enumerate(picks, 1):
            progress(f"eval: contact sheet, {model}", n, len(picks))
            # A few frames before each pick, so temporal smoothing and rvm's memory have settled.
            analyzer = _analyzer(model)
            for frame in frames[max(0, index - SHEET_SETTLE):index + 1]:
                _, fin, fg = _final(analyzer, frame)
            tiles.append(over(frames[index], fin, fg))
        columns.append((f"{model}, LiveCam" if model != "rvm" else "rvm (render size), LiveCam", tiles))
    crop = (slice(0, 480), slice(320, 960))  # head and shoulders of the s18 clip
    tile_w, tile_h = 400, 300
    label_h = 28
    rows = []
    header = []
    for name, _ in columns:
        cell = np.full((label_h, tile_w, 3), 255, np.uint8)
        cv2.putText(cell, name, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        header.append(cell)
    rows.append(np.hstack(header))
    for r, index in enumerate(picks):
        tiles = []
        for _, col in columns:
            tile = cv2.resize(col[r][crop], (tile_w, tile_h), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"frame {index}", (8, tile_h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (90, 90, 90), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    return save_sheet(folder, "s18_light.jpg" if colour == LIGHT else "s18_dark.jpg", np.vstack(rows))


def save_sheet(folder: Path, name: str, image: np.ndarray) -> Path:
    """Write ``image`` as JPEG under ``name`` in ``folder`` (made when missing), or under the next free
    name (``s18_light-2.jpg`` ...): cv2.imwrite replaced a file of that name (an earlier sheet or the
    user's own), wrote through a link at it, blocked for good on a FIFO there and, when it could not
    write at all, returned False while the eval went on to name the file. Raises OSError."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise OSError(errno.EIO, "the picture could not be encoded as JPEG")
    if os.path.lexists(folder) and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for n in range(1, 1000):
        path = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        try:
            fd = os.open(path, flags, 0o600)  # O_EXCL: whatever is at the name (file, link, FIFO) stays
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data.tobytes())
        except BaseException:
            path.unlink(missing_ok=True)  # ours, made a moment ago: no half a picture left
            raise
        return path
    raise OSError(errno.EEXIST, f"{name} and 998 numbered names after it are taken")


# ---------------------------------------------------------------- command


def _models(choice: str) -> list[str]:
    if choice == "all":  # rvm is skipped with a sentence when it is not fetched
        return list(MODELS)
    if choice == "both":  # the old default: the two bundled selfie models
        return list(model_specs.bundled_files("person"))
    return [choice]


def main(args: argparse.Namespace) -> int:
    cv2.setNumThreads(1)
    from livecam.messages import shown

    root = data_root(getattr(args, "data", None))
    if not (root / "masks").is_dir():
        # On stdout it read as a result: a script that kept stdout and dropped stderr saw no error.
        print(f"livecam eval: no test data at {shown(root)}; pass --data PATH (the folder with masks/ and video/).",
              file=sys.stderr)
        return 1
    if not any((root / "masks" / "dev" / "images").glob("*")) and not any((root / "video").glob("*.mp4")):
        # Measured nothing, it printed a table of NaN and exited 0 (a script took that as a pass).
        print(f"livecam eval: {shown(root)} has no photos in masks/dev/images and no clips in video/; "
              "nothing was measured.", file=sys.stderr)
        return 1
    width = getattr(args, "width", None)  # the photos at one width (quality.SIZE_WIDTHS)
    if width is not None and not MIN_WIDTH <= width <= MAX_WIDTH:
        # Checked before minutes of clips: OpenCV's resize refused it only when the first photo came.
        print(f"livecam eval: --width takes {MIN_WIDTH} to {MAX_WIDTH} px, not {width}; try 640 or 1280.", file=sys.stderr)
        return 2
    progress = Progress(quiet=bool(getattr(args, "json", False)) and not sys.stderr.isatty())
    models, skipped = [], []
    for m in _models(getattr(args, "model", "all")):
        why = rvm_missing() if m == "rvm" else ""
        (skipped.append(f"{m}: {why}") if why else models.append(m))
    report: dict = {"skipped": skipped, "models": {}}
    wall_ref = wall_reference(root, progress)
    if wall_ref is None:
        report["wall_check"] = "skipped: the wall-column check uses rvm as its reference; run: livecam models fetch rvm"
    for m in models:
        report["models"][m] = {"stills": eval_stills(root, m, progress, None, width), "clips": eval_clips(root, m, progress, wall_ref)}
    sheet = getattr(args, "sheet", None)
    failed = None
    if sheet:
        try:
            report["sheets"] = [str(contact_sheet(root, models, Path(sheet), c, progress)) for c in (LIGHT, DARK)]
        except OSError as exc:
            # Said after the report, which took minutes to make and is printed whole.
            from livecam.messages import shown
            from livecam.private_files import reason

            failed = f"livecam eval: the contact sheets were not written to {shown(sheet)} ({reason(exc)})."
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    if failed:
        print(failed, file=sys.stderr)
        return 1
    return 0


def _ratio(part: float, whole: float) -> float:
    """part / whole, NaN where whole is 0: photos whose raw mask has no halo at all (an empty mask, a
    picture too small for an outline band) ended the printed report in a ZeroDivisionError."""
    return part / whole if whole else float("nan")


def print_report(report: dict) -> None:
    for line in report["skipped"]:
        print(f"skipped {line}")
    if "wall_check" in report:
        print(report["wall_check"])
    for m, r in report["models"].items():
        s, c = r["stills"], r["clips"]
        at = f" at {s['width']} px wide" if s.get("width") else ""
        print(f"\nmodel: {m}  ({s['images']} photos with ground truth{at}, {len(c['clips'])} clips)")
        print(f"{'':8}{'IoU':>8}{'bound. F':>10}{'halo light':>12}{'halo dark':>11}{'flicker':>10}{'still flicker':>15}"
              f"{'warped flicker':>16}")
        for name in ("raw", "final"):
            st = s.get(name, {})
            print(f"{name:8}{st.get('iou', float('nan')):8.4f}{st.get('bf', float('nan')):10.4f}"
                  f"{st.get('halo_light', float('nan')):12.2f}{st.get('halo_dark', float('nan')):11.2f}"
                  f"{c.get('flicker_' + name, float('nan')):10.5f}{c.get('still_flicker_' + name, float('nan')):15.5f}"
                  f"{c.get('warped_flicker_' + name, float('nan')):16.5f}")
        if "raw" in s and "final" in s:
            print(f"final vs raw: IoU {100 * (s['final']['iou'] - s['raw']['iou']):+.2f} points, halo "
                  f"{_ratio(s['final']['halo_light'], s['raw']['halo_light']):.3f} (light) "
                  f"{_ratio(s['final']['halo_dark'], s['raw']['halo_dark']):.3f} (dark) of raw, flicker "
                  f"{c.get('flicker_ratio', float('nan')):.3f} (all pixels, includes real motion), "
                  f"{c.get('still_flicker_ratio', float('nan')):.3f} (still pixels), "
                  f"{c.get('warped_flicker_ratio', float('nan')):.3f} (warped: not explained by the picture's motion) of raw")
        for half, hs in s.get("halves", {}).items():
            if "raw" in hs and "final" in hs:
                print(f"  {HALF_NAMES[half]} ({hs['images']} photos): IoU raw {hs['raw']['iou']:.4f} final "
                      f"{hs['final']['iou']:.4f}, halo {_ratio(hs['final']['halo_light'], hs['raw']['halo_light']):.3f} "
                      f"(light) {_ratio(hs['final']['halo_dark'], hs['raw']['halo_dark']):.3f} (dark) of raw")
        if "native" in s:
            nat = s["native"]
            print(f"  photos at least {s['width']} px wide (not enlarged): {nat['images']}" + (
                f", halo {_ratio(nat['final']['halo_light'], nat['raw']['halo_light']):.3f} (light) "
                f"{_ratio(nat['final']['halo_dark'], nat['raw']['halo_dark']):.3f} (dark) of raw" if nat["images"] else ""))
        if "held_out" in c:
            h = c["held_out"]
            names = ", ".join(Path(n).stem for n in h["clips"])
            print(f"flicker on the {len(h['clips'])} clips not tuned on ({names}): "
                  f"{h.get('flicker_ratio', float('nan')):.3f} (all pixels), {h.get('still_flicker_ratio', float('nan')):.3f} "
                  f"(still), {h.get('warped_flicker_ratio', float('nan')):.3f} (warped) of raw")
        base = report["models"].get("landscape", {}).get("stills", {}).get("raw")
        if m != "landscape" and base and "final" in s:
            print(f"final vs the landscape model's raw: halo {_ratio(s['final']['halo_light'], base['halo_light']):.3f} "
                  f"(light) {_ratio(s['final']['halo_dark'], base['halo_dark']):.3f} (dark)")
        for clip, e in c["clips"].items():
            extra = f"  IoU vs chroma key raw {e['iou_raw']:.4f} final {e['iou_final']:.4f}" if "iou_raw" in e else ""
            if "wall_frames_raw" in e:
                extra += (f"  wall column above the head: raw {e['wall_frames_raw']}, final "
                          f"{e['wall_frames_final']} of {e['wall_frames_of']} frames")
            warped = (f"  warped raw {e['warped_flicker_raw']:.5f} final {e['warped_flicker_final']:.5f}"
                      if "warped_flicker_raw" in e else "")
            print(f"  {clip:40} flicker raw {e['flicker_raw']:.5f} final {e['flicker_final']:.5f}{warped}{extra}")
    for path in report.get("sheets", []):
        print(f"contact sheet: {path}")
