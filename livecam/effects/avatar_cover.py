"""What covers the avatar photo's face (a fringe, glasses frames, a hat, a hand), and the photo's own
skin put back over it, once per photo, before the swap ever draws it.

There is no hair or occlusion model to be had, so the photo is its own reference:

- **Skin model** from the photo's own cheeks (below the eyes, beside the nose): its median colour in
  Lab, its spread, and how much darker than the smooth skin shading around a pixel may be
  (``avatar_light.SkinModel``). Cheeks are the part of a face a fringe, a hat or a glasses frame
  almost never covers.
- **Where to look**: the upper face (above the nose tip), inside the face outline, away from the
  eyes, brows and nose, and the sides of the face next to the outline down to the mouth corners
  (long hair or curls falling over the cheeks). Lower and nearer the middle a beard or moustache is
  the person's own and stays.
- **Covered**: above the brows (fringes, hats) and along the sides, cells that are not quite that
  skin (the skin limits); between the brows and the nose tip only cells that surely are not (the
  occluder limits: glasses frames), so lid creases, eye shadows and wrinkles stay the photo's own.
- **Texture** (``texture_ratio``): hair is fine, high-contrast structure that skin is not, whatever
  its colour (light or reddish hair and the skin showing between curls pass the colour test). Above
  the brows, cells whose band-pass energy is a few times the photo's own
  cheeks' are cover where they hang together from the hairline (a fringe hangs from the hair; a
  mole, a wrinkle or a brow's edge stands alone); the forehead's own wrinkles are broad and faint
  at that scale and stay.
- **Glasses frames** are left to the colour test between the brows and the nose tip. Taking the
  photo's frames out by their lines (the wearer's own frame finder, ``avatar_keep``) was built and
  removed: thin metal frames went cleanly, but thick frames are found by their two edges only and
  their body stayed as patches of frame colour round the eyes (and cost the identity dlib reads).
- **Lids**: the colour test leaves a margin round each eye alone (lids, creases, lashes, eye
  shadow: the photo's own, however dark) but for what is lighter than the skin there (glare on a
  lens).
- **Fill**: the photo's neighbouring skin spread smoothly over the gap (pull-push over the cells
  that are skin and neither covered nor next to cover); fine texture comes back from the wearer's grain when the swap
  draws the face. No band of hair colour can survive the fill: it never enters it.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width
from livecam.effects import avatar_keep as keep_frames
from livecam.effects import avatar_light as light
from livecam.effects.avatar_stage import pull_push
from livecam.effects.mesh_warp import Grid

CHEEKS = (50, 280, 205, 425, 117, 346)  # mesh points on both cheeks below the eyes
CHEEK_RADIUS = 0.07  # cheek patches, fraction of the face width
KEEP_GROW = 0.015  # eyes and brows grown by this (fraction of the face width) before looking
# The nose as a polygon (bridge top, beside the bridge, wings, nostrils): its shading is shape, not cover.
NOSE = (168, 351, 358, 327, 2, 98, 129, 122)
SHADING_REACH = 4.0  # the skin shading's blur, in lighting low-pass sigmas
COVER_GROW = 1  # covered cells grown by this many cells (hair edges are soft)
# Above the brows (fringes, hats) whatever is not quite skin is cover; between the brows and the
# nose tip only what is surely not skin (glasses frames), so lid creases and eye shadows stay.
BROW_TOPS = [105, 334]  # a list: a tuple would index the landmarks' two axes
SIDE_BAND = 0.12  # the face's sides are looked at this far inside the outline (fraction of the face width)
MOUTH_CORNERS = [61, 291]  # ... down to the mouth corners
MIN_SHARE = 0.002  # below this share of the face's cells covered, the photo is left as it is
# Texture: grey band-pass (difference of two Gaussians, sigmas as fractions of the face width: about
# 1 and 2.5 px on the 320 px source face), its energy per cell over neighbouring cells, against the
# median cell of the cheeks.
TEXTURE_SIGMAS = (0.003, 0.008)
TEXTURE_FLOOR = 1.0  # grey levels squared: cheeks smoother than this (a compressed video frame) count as this
TEXTURE_RATIO = (3.0, 6.0)  # textured / strongly textured (a fringe has some), times the cheeks' energy
TEXTURE_MARGIN = 0.025  # eyes and brows grown by this much more (fraction of the face width) for the texture
# The lids' margin left out of the colour test below the brows, in eye distances (x, y) past the
# eye opening (as the glasses keeper leaves the wearer's lids out).
LID_MARGIN = keep_frames.EYE_GROW


def cheek_cells(landmarks: np.ndarray, grid: Grid) -> np.ndarray:
    """uint8 mask on ``grid``: discs on both cheeks."""
    mask = np.zeros((grid.rows, grid.cols), np.uint8)
    r = max(1, int(round(CHEEK_RADIUS * face_width(landmarks) / grid.step)))
    for c in grid.to_cells(landmarks[list(CHEEKS)]):
        cv2.circle(mask, (int(round(c[0])), int(round(c[1]))), r, 1, -1)
    return mask


def _above(landmarks: np.ndarray, grid: Grid, index) -> np.ndarray:
    """bool per cell: above mesh point(s) ``index`` (their mean) along the face's own up axis."""
    up = landmarks[10, :2] - landmarks[152, :2]
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    xs, ys = grid.centres()
    at = landmarks[index, :2].reshape(-1, 2).mean(0)
    return ((xs[None, :] - at[0]) * up[0] + (ys[:, None] - at[1]) * up[1]) > 0


def texture_ratio(image: np.ndarray, landmarks: np.ndarray, grid: Grid, cheeks: np.ndarray,
                  leave_out: np.ndarray) -> np.ndarray:
    """float32 per cell of ``grid`` (over ``image``, BGR uint8): the grey band-pass energy round the
    cell (the cell and its neighbours, ``leave_out`` cells not counted: eyes and brows are not the
    forehead's texture) over the median cell of ``cheeks``."""
    fw = face_width(landmarks)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    fine, coarse = (cv2.GaussianBlur(grey, (0, 0), s * fw) for s in TEXTURE_SIGMAS)
    band = cv2.subtract(fine, coarse)
    energy = cv2.resize(cv2.multiply(band, band), (grid.cols, grid.rows), interpolation=cv2.INTER_AREA)
    counted = (leave_out == 0).astype(np.float32)
    local = cv2.blur(energy * counted, (3, 3)) / np.maximum(cv2.blur(counted, (3, 3)), 1e-3)
    ref = max(float(np.median(energy[cheeks > 0])) if cheeks.any() else 0.0, TEXTURE_FLOOR)
    return local / np.float32(ref)


def _textured(ratio: np.ndarray, zone: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """bool per cell inside ``zone``: textured cells joined (8-connected, inside the zone) to the
    hairline (a cell next to one outside the face outline) through textured cells, with at least
    one strongly textured among them. A fringe hangs from the hair; a mole, a wrinkle or a brow's
    edge stands alone."""
    lo, hi = TEXTURE_RATIO
    weak = ((ratio > lo) & zone).astype(np.uint8)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    if n <= 1:
        return np.zeros(zone.shape, bool)
    hairline = cv2.erode(oval, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) == 0
    touching, strong = np.zeros(n, bool), np.zeros(n, bool)
    touching[labels[(weak > 0) & hairline]] = True
    strong[labels[(weak > 0) & (ratio > hi)]] = True
    joined = touching & strong
    joined[0] = False
    return joined[labels]


def _lids(landmarks: np.ndarray, grid: Grid) -> np.ndarray:
    """uint8 mask on ``grid``: each eye opening grown by LID_MARGIN eye distances (along the eye)."""
    mask = np.zeros((grid.rows, grid.cols), np.uint8)
    eyes = [landmarks[list(e), :2] for e in (regions.RIGHT_EYE, regions.LEFT_EYE)]
    centres = [e.mean(0) for e in eyes]
    axis = centres[1] - centres[0]
    dist = max(float(np.hypot(*axis)), 1e-6)
    angle = float(np.degrees(np.arctan2(axis[1], axis[0])))
    rot = np.array([[axis[0], axis[1]], [-axis[1], axis[0]]]) / dist  # frame -> along / across the eyes
    for eye, c in zip(eyes, centres):
        local = (eye - c) @ rot.T
        half = np.abs(local).max(0) + np.array(LID_MARGIN) * dist
        centre = grid.to_cells(c)
        axes = half / grid.step
        cv2.ellipse(mask, (int(round(centre[0] * 16)), int(round(centre[1] * 16))),
                    (int(round(axes[0] * 16)), int(round(axes[1] * 16))), angle, 0.0, 360.0, 1, -1, cv2.LINE_8, 4)
    return mask


def cover_cells(cells_lab: np.ndarray, landmarks: np.ndarray, grid: Grid, sigma: float,
                image: np.ndarray | None = None) -> np.ndarray:
    """float32 0..1 per cell of ``grid`` (the photo's cells, Lab): how surely something that is not
    the photo's skin covers its upper face there. With ``image`` (the photo at the grid's pixels,
    BGR uint8) hair is also found by its texture."""
    cheeks = cheek_cells(landmarks, grid)
    skin = light.SkinModel(cells_lab, cheeks, sigma)
    # Shading from the cheeks alone does not reach the forehead at the lighting scale (the
    # normalised blur runs out of weight there and reads as black, so nothing looks darker than
    # it); a blur wide enough to cover the face judges "darker than the skin" up there.
    skin.shading = light.masked_lowpass(cells_lab[..., 0], cheeks, SHADING_REACH * sigma)
    oval = np.zeros((grid.rows, grid.cols), np.uint8)
    cv2.fillPoly(oval, [grid.cell_polys(landmarks, regions.FACE_OVAL)], 1, cv2.LINE_8, 4)
    keep = np.zeros_like(oval)
    cv2.fillPoly(keep, [grid.cell_polys(landmarks, p) for p in
                        (regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW)], 1, cv2.LINE_8, 4)
    r = max(1, int(round(KEEP_GROW * face_width(landmarks) / grid.step)))
    keep = cv2.dilate(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    cv2.fillConvexPoly(keep, grid.cell_polys(landmarks, NOSE), 1, cv2.LINE_8, 4)
    where = (oval > 0) & (keep == 0) & _above(landmarks, grid, 1)  # above the nose tip
    # Hair falling down the sides of the face (long hair, curls at the temples) reaches the cheeks
    # beside the outline, down to the mouth: a dark stripe on the swapped cheek. A beard or
    # moustache lies lower and nearer the middle, and stays.
    # Judged like the forehead (not quite skin is cover): hair is often the skin's own hue, only
    # darker, and a cheek's shading there is the lighting's, which the swap replaces anyway.
    depth = cv2.distanceTransform(oval, cv2.DIST_L2, 3) * np.float32(grid.step / face_width(landmarks))
    sides = (depth < SIDE_BAND) & (oval > 0) & (keep == 0) & _above(landmarks, grid, MOUTH_CORNERS)
    where |= sides
    above_brows = _above(landmarks, grid, BROW_TOPS)
    forehead = above_brows | sides
    covered = np.where(forehead, 1.0 - skin.likelihood(cells_lab, light.SKIN_SCORE),
                       1.0 - skin.likelihood(cells_lab, light.OCCLUDER_SCORE)) * where
    # On the lids (the side band reaches the outer eye corners) only what is lighter than the skin
    # there too (glare on a lens): their creases, lashes and shadows are the photo's own.
    lids = _lids(landmarks, grid) > 0
    covered[lids & (cells_lab[..., 0] <= skin.shading)] = 0.0
    if image is not None:
        # Hair whatever its colour, above the brows only: beside the eyes the crow's feet are as
        # fine as hair (the sides are judged by colour alone), lower a stubble or beard is the
        # person's own. The brows' own edges reach a little past them at this scale: left out too.
        r = max(1, int(round(TEXTURE_MARGIN * face_width(landmarks) / grid.step)))
        near = cv2.dilate(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        zone = (oval > 0) & (near == 0) & above_brows
        ratio = texture_ratio(image, landmarks, grid, cheeks, keep)
        covered = np.maximum(covered, _textured(ratio, zone, oval))
    if covered.sum() < MIN_SHARE * max(int(oval.sum()), 1):
        return np.zeros_like(covered, np.float32)
    k = 2 * COVER_GROW + 1
    return cv2.dilate(covered.astype(np.float32), np.ones((k, k), np.uint8))


def fill_cover(image: np.ndarray, cover: np.ndarray, cells: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``image`` with the covered cells (``cover``, on a grid of ``cells`` over the whole image)
    replaced, softly, by the photo's skin around them: the cells where ``skin`` (0..1) is high and
    nothing covers them, spread over the gap by pull-push (ever coarser averages, so a fringe across
    the whole forehead fills from the temples and brows without streaks). ``image`` itself when
    nothing is covered."""
    if not cover.any():
        return image
    h, w = image.shape[:2]
    # Not from the cells just beside the cover either: a hair's soft edge (or a strand the tests let
    # through) there would be spread over the gap as a smudge of its colour.
    near = cv2.dilate(cover, np.ones((3, 3), np.uint8))
    filled = pull_push(cells.astype(np.float32), skin * (1.0 - near))
    up = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    # Each covered cell replaced whole (a thin line of cover may cross a single cell), the steps softened.
    alpha = cv2.GaussianBlur(cv2.resize(cover, (w, h), interpolation=cv2.INTER_NEAREST), (0, 0), 1.5)[..., None]
    return np.clip(up * alpha + image.astype(np.float32) * (1.0 - alpha), 0, 255).astype(np.uint8)
