"""Glare on the wearer's lenses is not something in front of the swapped face (issue 18, item 3).

The swap keeps the wearer's pixels wherever the upper face is surely not skin (a hand, a fringe):
``FaceSwap`` reads that per cell from the skin model. A coloured reflection on a lens (the purple
of an anti-reflection coating, a window's glare) is not skin either, so it was kept too, alone,
without the frame round it: on the photo's face it read as eye shadow (lp_d12, frame 122).

Glare is told from what really is in front by where it lies and how it looks, per connected blob
of those cells:

- it lies **wholly inside a lens**: an ellipse round each eye about the size of a lens (a hand or a
  fringe reaching the eye also covers cells outside it, and stays one blob with them);
- it is **lighter than the skin** there (a reflection adds light; brows, lashes, a dark fringe or a
  hand's shadow are darker).

Such a blob is put back only as far as the wearer's glasses frames are put back
(``avatar_keep.GlassesKeeper.gate``): glare belongs with a frame, never alone.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.effects.mesh_warp import Grid

# A lens round each eye, semi-axes in eye-centre distances (along the eyes' line, across it): a
# lens is about as wide as the eyes are apart less the bridge, and rarely taller than 0.8 of that.
LENS = (0.55, 0.45)
IN_FRONT = 0.05  # cells kept in front from this much on are looked at (the swap's own floor)
_EYES = np.array(regions.RIGHT_EYE + regions.LEFT_EYE)  # both eyes' rings, one index (one gather)


def eye_cells(landmarks: np.ndarray, grid: Grid) -> np.ndarray:
    """float (2, 2): the right and the left eye's centre in cell coordinates of ``grid``."""
    return grid.to_cells(landmarks[_EYES, :2].reshape(2, -1, 2).mean(1))


def in_lens(centres: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """bool per cell (``rows``, ``cols``): inside the ellipse of LENS size round either eye
    (``centres`` from ``eye_cells``), tilted with the eyes' line."""
    axis = centres[1] - centres[0]
    dist = float(np.hypot(*axis))
    along = axis / dist
    dx = cols[:, None] - centres[:, 0]  # cells x eyes
    dy = rows[:, None] - centres[:, 1]
    u = (dx * along[0] + dy * along[1]) * (1.0 / (LENS[0] * dist))
    v = (dy * along[0] - dx * along[1]) * (1.0 / (LENS[1] * dist))
    return (u * u + v * v <= 1.0).any(1)


def glare_cells(in_front: np.ndarray, lightness: np.ndarray, skin_lightness: np.ndarray,
                landmarks: np.ndarray, grid: Grid) -> np.ndarray:
    """bool per cell: the cells of ``in_front`` (float32 0..1, what the swap would keep of the
    wearer) that are glare on a lens: blobs lying wholly inside the lenses (``in_lens``) and on
    average lighter (``lightness``, Lab L per cell) than the skin's smooth shading there
    (``skin_lightness``)."""
    glare_out = np.zeros(in_front.shape, bool)
    centres = eye_cells(landmarks, grid)
    dist = float(np.hypot(*(centres[1] - centres[0])))
    if not np.isfinite(dist) or dist < 1e-3:
        return glare_out
    # Only the box round both lenses, a cell wider, is looked at: its edge is outside every lens, so
    # a blob that reaches it runs on outside them (a hand, a fringe). Where the grid's edge cuts the
    # box, a blob reaching it stays in front, as before.
    reach = max(LENS) * dist + 1.0
    (x0, y0), (x1, y1) = centres.min(0) - reach, centres.max(0) + reach
    y0, x0 = max(int(np.floor(y0)), 0), max(int(np.floor(x0)), 0)
    y1, x1 = min(int(np.ceil(y1)) + 1, in_front.shape[0]), min(int(np.ceil(x1)) + 1, in_front.shape[1])
    if y1 - y0 < 3 or x1 - x0 < 3:
        return glare_out
    box = slice(y0, y1), slice(x0, x1)
    blobs = in_front[box] > IN_FRONT
    brighter = np.subtract(lightness[box], skin_lightness[box])
    # A blob lighter on average has a lighter cell, and glare has one in a lens: most frames end here.
    seeds = blobs & (brighter > 0.0)
    if not seeds.any():
        return glare_out
    rows, cols = np.nonzero(seeds)
    if not in_lens(centres, rows + y0, cols + x0).any():
        return glare_out
    n, labels = cv2.connectedComponents(blobs.astype(np.uint8), connectivity=8)
    # Per blob: any cell outside the lenses (the box's edge among them), and its summed lightness
    # over the skin's.
    rows, cols = np.nonzero(blobs)
    outside = np.zeros(n, bool)
    outside[labels[rows, cols][~in_lens(centres, rows + y0, cols + x0)]] = True
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[edge] = True
    glare = ~outside & (np.bincount(labels.ravel(), brighter.ravel().astype(np.float64), n) > 0.0)
    glare[0] = False
    glare_out[box] = glare[labels]
    return glare_out
