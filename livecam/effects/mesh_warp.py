"""Piecewise-affine warping of a picture by a triangle mesh, built for speed on one CPU core.

A warp is given by control points in the source picture, where they should land in the frame, and
a triangulation. It runs as one ``cv2.remap`` from a map built at 1/``step`` resolution: triangle
ids are rasterised on a coarse grid (one ``fillConvexPoly`` per triangle, or the compiled loop of
``swap_kernels`` that draws the same cells when numba is there), each grid cell gets its
triangle's affine, and the map is upsampled bilinearly. The warp is continuous and linear inside
triangles, so the upsampled map is off by well under a pixel where triangles are well shaped; see
``coarse_map`` for slivers. Per-triangle ``warpAffine`` calls would be ~450 calls a frame.

Pure functions and one small class (``Grid``); the avatar effects use them.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from livecam.analysis.head_pose import rotation_matrix

from livecam.effects import swap_kernels

# The compiled loops (numba) where they could be made (``livecam.jit``); else the same values from OpenCV calls.
kernels = swap_kernels if swap_kernels.READY else None


def frontal_layout(landmarks: np.ndarray) -> np.ndarray:
    """(468, 2) mesh points with the head rotated to face the camera: a pose-free layout to triangulate."""
    r = rotation_matrix(landmarks)
    p = landmarks.astype(np.float64) * np.array([1.0, -1.0, -1.0])  # image axes -> canonical axes
    p -= p.mean(0)
    front = p @ r  # r.T applied to each row: undo the head rotation
    return np.stack([front[:, 0], -front[:, 1]], axis=1)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles over 2-D points, as (M, 3) int32 indices into ``points``."""
    pts = np.asarray(points, dtype=np.float64)
    lo = np.floor(pts.min(0)) - 2
    hi = np.ceil(pts.max(0)) + 2
    subdiv = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1))
    subdiv.insert([(float(x), float(y)) for x, y in pts])
    corners = subdiv.getTriangleList().reshape(-1, 3, 2)
    # Subdiv2D returns coordinates; map them back to point indices (its outer virtual vertices drop out).
    dist = ((corners[:, :, None, :] - pts[None, None]) ** 2).sum(-1)
    index = dist.argmin(-1)
    exact = (dist.min(-1) < 1e-6).all(1)
    return index[exact].astype(np.int32)


def warp_points(layout: np.ndarray, count: int = 0, outlines=()) -> np.ndarray:
    """Mesh indices to warp with: every point of ``outlines`` (index lists), plus the points farthest
    from those (on ``layout``, a frontal 2-D layout) until there are ``count``. Half the mesh warps as
    well as all of it at webcam sizes and halves the per-triangle rasterising; 0 = all points."""
    n = len(layout)
    if count <= 0 or count >= n:
        return np.arange(n)
    chosen = sorted({i for poly in outlines for i in poly})
    dist = np.full(n, np.inf)
    for i in chosen:
        dist = np.minimum(dist, np.linalg.norm(layout - layout[i], axis=1))
    while len(chosen) < count:
        i = int(dist.argmax())
        chosen.append(i)
        dist = np.minimum(dist, np.linalg.norm(layout - layout[i], axis=1))
    return np.array(sorted(chosen))


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p0, p1, p2 = points[triangles[:, 0], :2], points[triangles[:, 1], :2], points[triangles[:, 2], :2]
    a, b = p1 - p0, p2 - p0
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


def fold_share(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area-weighted share of triangles whose orientation flipped: the mesh is tearing (large turns).
    ``src`` holds the source points, or (1-D) their triangles' ``signed_areas`` worked out once.
    With ``weights`` (per triangle, how much of it shows), the share of the shown destination area
    drawn inside out: a turned head's far cheek, squeezed to a sliver at the silhouette, counts for
    the little it covers, not for its area on the photo."""
    a_src = src if src.ndim == 1 else signed_areas(src, triangles)
    a_dst = signed_areas(dst, triangles)
    weight = np.abs(a_src) if weights is None else np.abs(a_dst) * weights
    flipped = (a_src * a_dst) < 0
    return float(weight[flipped].sum() / max(weight.sum(), 1e-9))


class Grid:
    """A box of the frame sampled every ``step`` pixels; cell (i, j) is centred on frame pixel
    (x0 + (j + 0.5) step - 0.5, y0 + (i + 0.5) step - 0.5), which is what ``cv2.resize`` by ``step``
    assumes, so maps made on the grid upsample without shift."""

    def __init__(self, x0: int, y0: int, cols: int, rows: int, step: int) -> None:
        # Plain ints: a NumPy integer here would turn the float32 maps into float64 ones (NEP 50).
        self.x0, self.y0, self.cols, self.rows, self.step = int(x0), int(y0), int(cols), int(rows), int(step)

    @classmethod
    def around(cls, points: np.ndarray, margin: float, frame_size: tuple[int, int], step: int) -> Grid | None:
        w, h = frame_size
        lo, hi = points[:, :2].min(0), points[:, :2].max(0)
        pad = margin * (hi - lo).max()
        x0, y0 = max(0, int(lo[0] - pad)), max(0, int(lo[1] - pad))
        x1, y1 = min(w, int(math.ceil(hi[0] + pad))), min(h, int(math.ceil(hi[1] + pad)))
        cols, rows = (x1 - x0) // step, (y1 - y0) // step
        if cols < 4 or rows < 4:
            return None
        return cls(x0, y0, cols, rows, step)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.rows * self.step), slice(self.x0, self.x0 + self.cols * self.step)

    def to_cells(self, points: np.ndarray) -> np.ndarray:
        """Frame points -> fractional cell coordinates."""
        return (points[..., :2] - (self.x0, self.y0) + 0.5) / self.step - 0.5

    def cell_polys(self, points: np.ndarray, indices) -> np.ndarray:
        """A region outline in 1/16 cell units, for fillPoly/fillConvexPoly with shift=4."""
        return np.round(self.to_cells(points[np.asarray(indices)]) * 16).astype(np.int32)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.step
        xs = (np.arange(self.cols, dtype=np.float32) + 0.5) * s - 0.5 + self.x0
        ys = (np.arange(self.rows, dtype=np.float32) + 0.5) * s - 0.5 + self.y0
        return xs, ys

    def part(self, cells: np.ndarray, grow: int = 1) -> Grid:
        """The part of this grid around the cells where ``cells`` (uint8, one per cell) is not 0,
        grown by ``grow`` cells on each side (within the grid); the whole grid when none is."""
        x, y, w, h = cv2.boundingRect(cells)
        if w == 0 or h == 0:
            return self
        c0, r0 = max(0, x - grow), max(0, y - grow)
        c1, r1 = min(self.cols, x + w + grow), min(self.rows, y + h + grow)
        return Grid(self.x0 + c0 * self.step, self.y0 + r0 * self.step, c1 - c0, r1 - r0, self.step)

    def cells_of(self, part: Grid) -> tuple[slice, slice]:
        """The rows and columns of this grid's cells that ``part`` (from :meth:`part`) covers."""
        c0, r0 = (part.x0 - self.x0) // self.step, (part.y0 - self.y0) // self.step
        return slice(r0, r0 + part.rows), slice(c0, c0 + part.cols)

    def up(self, image: np.ndarray, part: Grid | None = None) -> np.ndarray:
        """Upsample per-cell values to pixels; with ``part``, only that part's pixels, the same
        values the whole grid's upsampling has there (each pixel mixes its two nearest cells, so one
        cell of context around the part is all it reads)."""
        if part is None or part is self:
            return cv2.resize(image, (self.cols * self.step, self.rows * self.step), interpolation=cv2.INTER_LINEAR)
        big, y, x = self.up_around(image, part)
        return big[y:y + part.rows * part.step, x:x + part.cols * part.step]

    def up_around(self, image: np.ndarray, part: Grid) -> tuple[np.ndarray, int, int]:
        """:meth:`up` of ``part`` before the crop: a contiguous upsampling with up to one cell of
        context around the part, and where the part's pixels start in it (row, column)."""
        rows, cols = self.cells_of(part)
        r0, c0 = max(0, rows.start - 1), max(0, cols.start - 1)
        r1, c1 = min(self.rows, rows.stop + 1), min(self.cols, cols.stop + 1)
        s = self.step
        big = cv2.resize(image[r0:r1, c0:c1], ((c1 - c0) * s, (r1 - r0) * s), interpolation=cv2.INTER_LINEAR)
        return big, (rows.start - r0) * s, (cols.start - c0) * s

    def up_map(self, coarse: np.ndarray, part: Grid | None = None) -> np.ndarray:
        """Upsample a coordinate map. Plain resizing clamps the outer half cell (a 1.5 px shift at
        the box's edge at step 4); one cell of linear extrapolation around it keeps the edge exact.
        With ``part``, only that part's pixels (the same values)."""
        s = self.step
        padded = _pad_odd(coarse)
        if part is not None and part is not self:
            rows, cols = self.cells_of(part)  # in ``padded``, one cell of context on each side
            padded = padded[rows.start:rows.stop + 2, cols.start:cols.stop + 2]
            big = cv2.resize(padded, ((part.cols + 2) * s, (part.rows + 2) * s), interpolation=cv2.INTER_LINEAR)
            return big[s:-s, s:-s]
        big = cv2.resize(padded, ((self.cols + 2) * s, (self.rows + 2) * s), interpolation=cv2.INTER_LINEAR)
        return big[s:-s, s:-s]


def _pad_odd(a: np.ndarray) -> np.ndarray:
    """``np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="reflect", reflect_type="odd")``: one cell of
    linear extrapolation round a map (h, w, c), the same float steps in numpy's order (rows first,
    then the columns of the padded rows, each ``2 * edge - inner``) at a third of its cost."""
    h, w = a.shape[:2]
    if h < 2 or w < 2:
        return np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="reflect", reflect_type="odd")
    out = np.empty((h + 2, w + 2) + a.shape[2:], a.dtype)
    out[1:-1, 1:-1] = a
    out[0, 1:-1] = 2 * a[0] - a[1]
    out[-1, 1:-1] = 2 * a[-1] - a[-2]
    out[:, 0] = 2 * out[:, 1] - out[:, 2]
    out[:, -1] = 2 * out[:, -2] - out[:, -3]
    return out


class MeshWarp:
    """The source side of a warp, prepared once: control points, triangles, each triangle's source
    box, and the order to rasterise them in. ``coarse(dst, grid)`` then builds a frame's map."""

    def __init__(self, src: np.ndarray, triangles: np.ndarray) -> None:
        self.src = np.asarray(src, np.float64)[:, :2]
        self.triangles = np.asarray(triangles)
        s = self.src[self.triangles]  # (M, 3, 2)
        self._s0 = s[:, 0]
        self._ds = np.stack([s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]], axis=1)  # (M, 2, 2)
        # Whole cells are enough where triangles are well shaped: the warp is continuous, so a cell
        # on an edge that takes the neighbour's affine lands within a fraction of a pixel of the
        # exact place. Slivers are not: their affine, extrapolated half a cell, can point anywhere.
        # So slivers are drawn first (well-shaped neighbours win the shared cells), and each cell's
        # source point is kept inside its triangle's source box (no stray specks of eye on a cheek).
        self._order = np.argsort(_shape_quality(self.src, self.triangles))
        self._ids = (self._order + 1).tolist()
        self._ids32 = (self._order + 1).astype(np.int32)
        self._ccw = signed_areas(self.src, self.triangles) > 0  # each triangle's orientation in the source
        table = np.empty((len(triangles) + 1, 10), np.float32)
        table[0, 6:] = (-1e9, -1e9, 1e9, 1e9)
        table[1:, 6:8] = s.min(1) - 2
        table[1:, 8:10] = s.max(1) + 2
        self._table = table

    def affines(self, dst: np.ndarray) -> np.ndarray:
        """(M + 1, 3, 2) float64 affines taking destination points to source points, ``[x, y, 1] @ A``.

        Row 0 is the least-squares affine of all points (used outside the mesh, so the warp continues
        smoothly past its edge); row i + 1 is triangle i's exact affine, or row 0's if degenerate."""
        return self._affines(dst)[0]

    def _affines(self, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`affines`, and whether each triangle still faces the way it does in the source."""
        d = np.asarray(dst, np.float64)[:, :2]
        dh = np.hstack([d, np.ones((len(d), 1))])
        overall = np.linalg.solve(dh.T @ dh + 1e-9 * np.eye(3), dh.T @ self.src)  # normal equations, 3x3
        t = d[self.triangles]
        d0, a, b = t[:, 0], t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
        # Closed form of the 2x2 linear part L with s_i - s0 = (d_i - d0) L, batched.
        det = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        ok = np.abs(det) > 1e-6
        inv_det = 1.0 / np.where(ok, det, 1.0)
        inv = np.empty((len(t), 2, 2))
        inv[:, 0, 0], inv[:, 0, 1] = b[:, 1] * inv_det, -a[:, 1] * inv_det
        inv[:, 1, 0], inv[:, 1, 1] = -b[:, 0] * inv_det, a[:, 0] * inv_det
        lin = inv @ self._ds
        out = np.empty((len(t) + 1, 3, 2))
        out[0] = overall
        out[1:, :2] = lin
        out[1:, 2] = self._s0 - np.einsum("mi,mij->mj", d0, lin)
        out[1:][~ok] = overall
        return out, (det > 0) == self._ccw

    def coarse(self, dst: np.ndarray, grid: Grid, on_top: np.ndarray | None = None) -> np.ndarray:
        """(rows, cols, 2) float32: for each grid cell, where to sample the source picture.

        A mesh that folds over itself at ``dst`` (a turned head: its far cheek goes behind the
        silhouette, the hair ring swings in behind the outline) covers some cells twice, and the
        triangle drawn last wins them. With ``on_top`` (bool per triangle), those of its triangles
        that still face the camera are drawn last there, so nothing folded or behind them tears a
        hole into them (each group keeps the shape order). Unfolded, the shape order stands."""
        ids = np.zeros((grid.rows, grid.cols), np.int32)
        affines, facing = self._affines(dst)
        order, labels, labels32 = self._order, self._ids, self._ids32
        if on_top is not None and not facing.all():
            front = (on_top & facing)[order]
            order = np.concatenate([order[~front], order[front]])
            labels = (order + 1).tolist()
            labels32 = (order + 1).astype(np.int32)
        cells = grid.to_cells(dst)
        if not np.isfinite(cells).all():
            # A NaN point becomes -2**31 as an integer, and OpenCV took 16 s to rasterise one such
            # triangle: the frame path froze for minutes. The effect fails instead (its frame hidden).
            raise ValueError("the face mesh has points that are not numbers")
        corners = np.round(cells[self.triangles[order]]).astype(np.int32)  # (M, 3, 2)
        table = self._table
        table[:, :6] = affines.reshape(-1, 6)
        if kernels is not None and kernels.on_grid(corners, grid.rows, grid.cols):
            # The same cells as the calls below (swap_kernels repeats OpenCV's rasteriser), and the
            # same float32 arithmetic, in two compiled loops: ~0.9 -> ~0.2 ms for the swap's mesh.
            kernels.draw_triangles(corners, labels32, ids)
            xs, ys = grid.centres()
            out = np.empty((grid.rows, grid.cols, 2), np.float32)
            kernels.apply_table(ids, table, xs, ys, out)
            return out
        for i, tri in zip(labels, corners):
            cv2.fillConvexPoly(ids, tri, i)
        # One gather of whole table rows, split into contiguous planes: a quarter cheaper than one
        # gather per column (a strided gather, or arithmetic on strided planes, costs double).
        col = cv2.split(np.take(table, ids, axis=0))
        xs, ys = grid.centres()
        xs, ys = xs[None, :], ys[:, None]
        mx = np.clip(col[0] * xs + col[2] * ys + col[4], col[6], col[8])
        my = np.clip(col[1] * xs + col[3] * ys + col[5], col[7], col[9])
        return cv2.merge([mx, my])


def triangle_affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``MeshWarp(src, triangles).affines(dst)`` as float32, for one-off use."""
    return MeshWarp(src, triangles).affines(dst).astype(np.float32)


def coarse_map(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, grid: Grid) -> np.ndarray:
    """``MeshWarp(src, triangles).coarse(dst, grid)``, for one-off use."""
    return MeshWarp(src, triangles).coarse(dst, grid)


def _shape_quality(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area over the longest edge squared: ~0.43 for an equilateral triangle, 0 for a sliver."""
    p = points[:, :2][triangles]
    edges = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 1], p[:, 0] - p[:, 2]], axis=1)
    longest = (edges ** 2).sum(-1).max(1)
    return np.abs(signed_areas(points, triangles)) / np.maximum(longest, 1e-9)


def warp(picture: np.ndarray, coarse: np.ndarray, grid: Grid, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """``picture`` resampled through the upsampled coarse map: one remap for the whole box."""
    return remap_fixed(picture, grid.up_map(coarse), border)[0]


def remap_fixed(picture: np.ndarray, full: np.ndarray, border: int = cv2.BORDER_REPLICATE
                ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``picture`` resampled through the full-resolution map ``full``, and that map in OpenCV's
    fixed-point form (to sample more pictures laid out as ``picture`` through it): the conversion
    and the fixed-point remap cost about half the float remap."""
    maps = cv2.convertMaps(full, None, cv2.CV_16SC2)
    return cv2.remap(picture, *maps, cv2.INTER_LINEAR, borderMode=border), maps


def row_spans(alpha: np.ndarray, box: tuple[int, int, int, int] = (0, 0, 0, 0)) -> np.ndarray:
    """Per row of a part box, the columns the face's pixels are needed over: (h, 6) int64, columns
    [0, 2) the hull of the row's pixels where ``alpha`` (uint8, the box's) is above 0 and of ``box``
    (x0, y0, x1, y1: a later step's crop, read whole) on its rows, empty as (w, 0); [2, 4) the hull of
    those over two rows either side, and [4, 6) that grown by two pixels (within the row): what
    ``swap_kernels.relight_grain_rows``'s 5-tap grain blur reads to make them."""
    h, w = alpha.shape
    x0, y0, x1, y1 = (int(v) for v in box)
    spans = np.empty((h, 6), np.int64)
    if kernels is not None:
        kernels.row_spans(alpha, x0, y0, x1, y1, spans)
        return spans
    seen = alpha > 0
    rows = seen.any(1)
    spans[:, 0] = np.where(rows, seen.argmax(1), w)
    spans[:, 1] = np.where(rows, w - seen[:, ::-1].argmax(1), 0)
    if x1 > x0:
        top = max(y0, 0)
        bottom = max(min(y1, h), top)
        spans[top:bottom, 0] = np.minimum(spans[top:bottom, 0], max(x0, 0))
        spans[top:bottom, 1] = np.maximum(spans[top:bottom, 1], min(x1, w))
    near = np.empty((h + 4, 2), np.int64)
    near[:] = (w, 0)
    near[2:h + 2] = spans[:, :2]
    spans[:, 2] = np.min([near[k:k + h, 0] for k in range(5)], axis=0)
    spans[:, 3] = np.max([near[k:k + h, 1] for k in range(5)], axis=0)
    empty = spans[:, 3] <= spans[:, 2]
    spans[:, 4] = np.where(empty, w, np.maximum(spans[:, 2] - 2, 0))
    spans[:, 5] = np.where(empty, 0, np.minimum(spans[:, 3] + 2, w))
    return spans
