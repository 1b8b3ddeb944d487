"""The avatar's mouth interior when it opens wider than the picture's own.

A picture's lips stretched open show a streaked smear of lip pixels. Two things replace it:

- ``transplant_mouth``: the wearer's own mouth interior (teeth, tongue, dark), warped from their
  inner lips onto the avatar's and brought to the portrait's light. It is real and moves with the
  speech, and a smile with teeth gives teeth. It is used where the wearer's mouth is open enough to
  hold an interior and the picture's own would be stretched more than the wearer's.
- ``fill_mouth``: a shaded interior synthesised from the picture's own lip colour (darker, more
  saturated, upper teeth under the top lip), for small openings and when the wearer's interior
  is not available.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import mouth_openness
from livecam.effects.mesh_warp import Grid, coarse_map

FILL_FROM = 1.4  # mouth fill starts once the opening passes this multiple of the picture's own
FILL_FULL = 1.5  # ... and is complete this many times the picture's opening (at least 0.05) later
MIN_OPEN = 0.02  # openings below this count as closed lips (a line) when comparing stretches
STRETCH_RANGE = 1.5  # ratio of stretches (picture's over wearer's) over which the choice fades
MOUTH_GAIN = (0.75, 1.35)  # light matching of the transplanted interior (square root of the skin ratio)

_INNER = np.asarray(regions.LIPS_INNER)
_OUTER = np.asarray(regions.LIPS_OUTER)


def _mouth_triangles() -> np.ndarray:
    """Fan of the inner lips around their centre, plus the lip band between inner and outer outline
    (both outlines run from the left corner along the lower lip, so index i pairs with i)."""
    n = len(_INNER)
    centre = 2 * n  # points: outer (0..n-1), inner (n..2n-1), centre
    tris = []
    for i in range(n):
        j = (i + 1) % n
        tris.append((centre, n + i, n + j))
        tris.append((i, j, n + j))
        tris.append((i, n + j, n + i))
    return np.array(tris, np.int32)


_TRIANGLES = _mouth_triangles()


def _mouth_points(landmarks: np.ndarray) -> np.ndarray:
    inner = landmarks[_INNER, :2]
    return np.concatenate([landmarks[_OUTER, :2], inner, inner.mean(0, keepdims=True)]).astype(np.float64)


def _keeps_teeth(picture_open: float, teeth: bool | None) -> bool:
    """Whether the picture's own teeth are kept: ``teeth`` as :func:`shows_teeth` read it from the
    picture, or, where it was not read (None), any opening from TEETH_FROM on."""
    return picture_open >= TEETH_FROM if teeth is None else bool(teeth)


def _light_and_colour(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
    return lab[..., 0], np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)


def shows_teeth(image: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the picture shows teeth between its lips: open at least TEETH_FROM, with at least
    TEETH_SHARE of the gap lighter and much paler than its own lips or skin. A gap of dark mouth,
    tongue or lip shadow (a half-open mouth, a shout) is no teeth to keep: spreading it apart
    with the lips leaves a black hole where the wearer's lit interior belongs."""
    if mouth_openness(landmarks) < TEETH_FROM:
        return False
    outer = landmarks[_OUTER, :2]
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(outer.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(outer.max(0)).astype(int) + 2, (w, h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return False
    origin = np.array([x0, y0], np.float64)
    gap = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(gap, [np.round(landmarks[_INNER, :2] - origin).astype(np.int32)], 255)
    lips = np.zeros_like(gap)
    cv2.fillPoly(lips, [np.round(outer - origin).astype(np.int32)], 255)
    lips[gap > 0] = 0
    if cv2.countNonZero(gap) < MIN_GAP_PIXELS or cv2.countNonZero(lips) < MIN_GAP_PIXELS:
        return False
    light, colour = _light_and_colour(image[y0:y1, x0:x1])
    inside = gap > 0
    references = [((np.median(light[lips > 0]), np.median(colour[lips > 0])), TEETH_VS_LIPS)]
    skin = skin_near_mouth(image, landmarks)
    if skin is not None:
        skin_light, skin_colour = _light_and_colour(np.clip(skin, 0, 255).astype(np.uint8).reshape(1, 1, 3))
        references.append(((skin_light[0, 0], skin_colour[0, 0]), TEETH_VS_SKIN))
    for (ref_light, ref_colour), (lighter, paler) in references:
        teeth = inside & (light > ref_light + lighter) & (colour < paler * ref_colour)
        if teeth.sum() >= TEETH_SHARE * inside.sum():
            return True
    return False


def interior_weight(avatar: np.ndarray, wearer: np.ndarray, picture_open: float, teeth: bool | None = None) -> float:
    """How much of the wearer's own interior to show in the avatar's mouth (0..1). A picture that
    shows its teeth (``teeth``, see :func:`_keeps_teeth`) keeps them (:func:`split_teeth` opens them
    without stretching); otherwise whichever of the two interiors would be stretched (or squeezed)
    less to fill the avatar's opening wins, with a soft change-over."""
    if _keeps_teeth(picture_open, teeth):
        return 0.0
    opening = max(mouth_openness(avatar), MIN_OPEN)
    picture = abs(math.log(opening / max(picture_open, MIN_OPEN)))
    theirs = abs(math.log(opening / max(mouth_openness(wearer), MIN_OPEN)))
    return float(np.clip(0.5 + (picture - theirs) / math.log(STRETCH_RANGE), 0.0, 1.0))


def transplant(patch: np.ndarray, origin: tuple[int, int], frame: np.ndarray, src: np.ndarray, dst: np.ndarray,
               triangles: np.ndarray, outline: np.ndarray, weight: float, gain: np.ndarray) -> None:
    """Warp the part of ``frame`` inside the wearer's points ``src`` onto the avatar's ``dst``
    (frame coordinates, same order, ``triangles`` over them) and blend it, in place, inside the
    avatar's ``outline`` (a polygon of ``dst``), softly, at ``weight``. ``patch`` holds frame pixels
    from ``origin`` (x, y) on; ``gain`` (3,) brings the pixels to the portrait's light."""
    if weight <= 0.0:
        return
    # Only where it is drawn (the outline, with room for its blur): the map over the whole lips cost
    # ~1 ms at 720p.
    pts = outline - origin
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 4, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 5, (patch.shape[1], patch.shape[0]))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return
    box = Grid(origin[0] + x0, origin[1] + y0, x1 - x0, y1 - y0, 1)
    where = coarse_map(src, dst, triangles, box)
    inside = cv2.remap(frame, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gain = [float(g) for g in gain]
    if max(abs(g - 1.0) for g in gain) > 1e-5:  # np.allclose's own tolerance, at a tenth of its cost
        inside = cv2.multiply(inside, (*gain, 1.0), dtype=cv2.CV_8U)
    alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
    poly = np.round((outline - (box.x0, box.y0)) * 16).astype(np.int32)
    cv2.fillPoly(alpha, [poly], 255, cv2.LINE_AA, 4)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)
    if weight < 1.0:
        alpha = cv2.convertScaleAbs(alpha, alpha=weight)
    region = patch[y0:y1, x0:x1]
    a3 = cv2.merge([alpha, alpha, alpha])
    region[:] = cv2.add(cv2.multiply(inside, a3, scale=1 / 255),
                        cv2.multiply(region, cv2.bitwise_not(a3), scale=1 / 255))


def transplant_mouth(patch: np.ndarray, origin: tuple[int, int], avatar: np.ndarray, frame: np.ndarray,
                     wearer: np.ndarray, weight: float, gain: np.ndarray) -> None:
    """The wearer's mouth interior (``frame`` at ``wearer`` landmarks) in the avatar's open mouth
    (``avatar`` landmarks), in place; see :func:`transplant`."""
    transplant(patch, origin, frame, _mouth_points(wearer), _mouth_points(avatar), _TRIANGLES,
               avatar[_INNER, :2], weight, gain)


# The inner lips as two chains from corner to corner: the upper lip's edge and the lower lip's.
_UPPER_EDGE = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308])
_LOWER_EDGE = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308])
TEETH_FROM = 0.06  # the picture's own opening from which it may show teeth worth keeping
# Teeth in the picture's gap: lighter and much paler than the lips beside them (L, OpenCV's 0..255
# Lab, at least 10 above their median, chroma under 0.6 of theirs), or than the skin near the mouth
# (L at most 20 below, chroma under 0.7); either reference alone misses some (pale blurred lips
# that the mesh's ring mixes with teeth; pale skin), together they read 0.25-0.61 of the gap as
# teeth on the portraits that show them and 0.00-0.07 on open mouths showing dark interior, tongue
# or lip shadow, among the 19 of ../shared/data/faces/single and the talking clips' first frames.
TEETH_VS_LIPS = (10.0, 0.6)  # (lighter by at least, chroma share under)
TEETH_VS_SKIN = (-20.0, 0.7)
TEETH_SHARE = 0.15
MIN_GAP_PIXELS = 20  # fewer pixels in the gap (or lips) than this cannot be read


def _strip(n: int) -> np.ndarray:
    """Triangles between two chains of ``n`` points stored one after the other."""
    return np.array([t for i in range(n - 1) for t in ((i, i + 1, n + i + 1), (i, n + i + 1, n + i))], np.int32)


_STRIP = _strip(len(_UPPER_EDGE))


def split_teeth(patch: np.ndarray, origin: tuple[int, int], picture: np.ndarray, rest: np.ndarray,
                driven: np.ndarray, picture_open: float, teeth: bool | None = None) -> None:
    """When the picture shows its teeth and the mouth opens wider, its upper teeth go with the upper
    lip and its lower teeth with the lower lip, instead of being stretched into streaks across the
    gap (which :func:`fill_mouth` has darkened behind them). In place; ``picture`` holds the portrait
    at rest with its mesh at ``rest``, ``driven`` is the mesh now (frame coordinates); ``teeth`` as
    in :func:`interior_weight`."""
    if not _keeps_teeth(picture_open, teeth) or mouth_openness(driven) <= picture_open:
        return
    for edge in (_UPPER_EDGE, _LOWER_EDGE):
        lip, mid = rest[edge, :2], (rest[_UPPER_EDGE, :2] + rest[_LOWER_EDGE, :2]) / 2
        moved = driven[edge, :2] - lip
        src = np.concatenate([lip, mid]).astype(np.float64)
        dst = np.concatenate([driven[edge, :2], mid + moved]).astype(np.float64)
        outline = np.concatenate([dst[: len(edge)], dst[len(edge):][::-1]])
        transplant(patch, origin, picture, src, dst, _STRIP, outline, 1.0, np.ones(3))


def mouth_gain(portrait_skin: np.ndarray, wearer_skin: np.ndarray) -> np.ndarray:
    """Per-channel gain taking the wearer's interior towards the portrait's light: the square root of
    the skin ratio (half the exposure and white balance difference, not the skin tone), clamped."""
    ratio = (np.asarray(portrait_skin, np.float64) + 8) / (np.asarray(wearer_skin, np.float64) + 8)
    return np.clip(np.sqrt(ratio), *MOUTH_GAIN)


def skin_near_mouth(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """Mean BGR of the skin just below the lower lip and beside the mouth corners (cheap: four small
    patches), or None when they fall outside the image."""
    h, w = image.shape[:2]
    width = float(np.linalg.norm(landmarks[61, :2] - landmarks[291, :2]))
    r = max(1, int(0.12 * width))
    samples = []
    for i in (18, 200, 206, 426):  # chin below the lip, and the cheeks beside the corners
        x, y = np.round(landmarks[i, :2]).astype(int)
        if r <= x < w - r and r <= y < h - r:
            samples.append(image[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 3).mean(0))
    return np.mean(samples, axis=0) if samples else None


def _mouth_masks(patch: np.ndarray, landmarks: np.ndarray, grid: Grid):
    """The mouth's box in ``patch`` as a view, its one-pixel grid, and its inner-lip gap
    (anti-aliased) and lip ring masks; None when the mouth is too small to draw in."""
    full = Grid(grid.x0, grid.y0, patch.shape[1], patch.shape[0], 1)
    outer = full.to_cells(landmarks[_OUTER])
    x0, y0 = np.maximum(np.floor(outer.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(outer.max(0)).astype(int) + 3, (patch.shape[1], patch.shape[0]))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    region = patch[y0:y1, x0:x1]
    sub = Grid(grid.x0 + x0, grid.y0 + y0, x1 - x0, y1 - y0, 1)
    inner = np.zeros(region.shape[:2], np.uint8)
    cv2.fillPoly(inner, [sub.cell_polys(landmarks, regions.LIPS_INNER)], 255, cv2.LINE_AA, 4)
    lips = np.zeros_like(inner)
    cv2.fillPoly(lips, [sub.cell_polys(landmarks, regions.LIPS_OUTER)], 255, cv2.LINE_8, 4)
    lips[inner > 0] = 0
    return region, sub, inner, lips


def shut_mouth(patch: np.ndarray, landmarks: np.ndarray, grid: Grid, source_open: float) -> None:
    """Darken the inner-lip gap, in place, as the mouth closes tighter than the picture's own: the
    picture's teeth, squeezed into the closing gap, would show as a bright line between the lips."""
    if source_open < 0.05:
        return
    strength = float(np.clip(1.0 - mouth_openness(landmarks) / source_open, 0.0, 1.0))
    if strength <= 0.05:
        return
    masks = _mouth_masks(patch, landmarks, grid)
    if masks is None:
        return
    region, sub, inner, lips = masks
    if not lips.any():
        return
    line = np.array(cv2.mean(region, mask=lips)[:3]) * 0.45  # where lips meet: their colour in shadow
    alpha = cv2.convertScaleAbs(cv2.GaussianBlur(inner, (0, 0), 0.7), alpha=strength)
    a3 = cv2.merge([alpha, alpha, alpha])
    dark = np.empty_like(region)
    dark[:] = np.clip(line, 0, 255).astype(np.uint8)
    region[:] = cv2.add(cv2.multiply(dark, a3, scale=1 / 255), cv2.multiply(region, cv2.bitwise_not(a3), scale=1 / 255))


def fill_mouth(patch: np.ndarray, landmarks: np.ndarray, grid: Grid, source_open: float = 0.0,
               teeth: bool | None = None, cover: float = 0.0) -> None:
    """Paint a shaded mouth interior, in place, inside the inner lips once the mouth opens wider than
    the picture's own (whose stretched closed lips would otherwise fill the gap). ``patch`` covers
    ``grid``'s box at full resolution. Colours come from the picture's own lips, so a black-and-white
    photo gets a grey mouth. A picture that shows its teeth gets a dark gap only: its own teeth go
    back on top (:func:`split_teeth`); ``teeth`` as in :func:`interior_weight`. ``cover`` is the
    weight at which the wearer's interior goes on top next: the fill gives way by as much, since
    under the soft edge of a transplant it would show as a dark line round the inner lips."""
    opening = mouth_openness(landmarks)
    with_teeth = not _keeps_teeth(source_open, teeth)  # teeth of our own, under the top lip
    if with_teeth:
        # The picture's own closed lips, stretched, serve until they are stretched too far.
        strength = float(np.clip((opening - FILL_FROM * source_open - 0.04) / (FILL_FULL * max(source_open, 0.05)), 0, 1))
    else:
        strength = float(np.clip((opening - source_open) / (0.3 * source_open), 0, 1))
    strength *= 1.0 - float(np.clip(cover, 0.0, 1.0))
    if strength <= 0.0:
        return
    masks = _mouth_masks(patch, landmarks, grid)
    if masks is None:
        return
    region, sub, inner, lips = masks
    lip = np.array(cv2.mean(region, mask=lips)[:3], np.float32) if lips.any() else np.float32([60, 60, 120])
    grey = float(lip.mean())
    dark = lip * np.float32(0.4)
    dark = np.clip(dark.mean() + 1.8 * (dark - dark.mean()), 0, 255)  # more saturated than the lips
    teeth_colour = np.float32([0.80, 0.87, 0.93]) * np.float32(min(235.0, grey * 1.5 + 30))

    top, bottom = sub.to_cells(landmarks[13]), sub.to_cells(landmarks[14])
    left, right = sub.to_cells(landmarks[78]), sub.to_cells(landmarks[308])
    gap = max(float(bottom[1] - top[1]), 1.0)
    half = max(float(abs(right[0] - left[0])) / 2, 1.0)
    ys = np.arange(region.shape[0], dtype=np.float32)[:, None]
    xs = np.arange(region.shape[1], dtype=np.float32)[None, :]
    t = np.clip((ys - top[1]) / gap, 0.0, 1.0)
    across = np.clip(np.abs(xs - (left[0] + right[0]) / 2) / half, 0.0, 1.0)
    # Darker towards the middle and the corners; upper teeth under the top lip, not at the corners.
    shade = (0.6 + 0.4 * np.abs(2 * t - 1)) * (1.0 - 0.4 * across ** 2)
    teeth = np.clip(1.3 - (ys - top[1]) / (0.22 * gap), 0.0, 1.0) * (1.0 - across ** 3)
    teeth *= 0.85 * min(1.0, (opening - source_open) * 5) * with_teeth
    a = cv2.GaussianBlur(inner, (0, 0), 0.8).astype(np.float32) * np.float32(strength / 255)
    # Channel by channel on contiguous planes (this runs every frame the mouth is open): numpy
    # broadcasting a plane over the 3-channel axis is several times slower; the same arithmetic.
    keep, gone = 1 - a, 1 - teeth
    region[:] = cv2.merge([np.clip((d * shade * gone + c * teeth) * a + r.astype(np.float32) * keep, 0, 255)
                           .astype(np.uint8) for d, c, r in zip(dark, teeth_colour, cv2.split(region))])
