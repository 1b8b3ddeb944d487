"""The photo avatar's mesh is rasterised on a grid that holds every control point, so the compiled
raster (``swap_kernels``) takes it: the box's edge points lie on or past the warp grid's last cells,
and every frame went to ~330 ``cv2.fillConvexPoly`` calls. OpenCV clips the lines that leave its
grid, so only cells of the triangles leaving it may differ from that path (``test_swap_kernels``
checks that the compiled loops and OpenCV's calls draw the avatar the same)."""
from __future__ import annotations

import cv2
import numpy as np
from conftest import clip_frames, portrait_avatar

from livecam.effects import avatar_stage
from livecam.types import Analysis


def test_the_mesh_is_rasterised_whole_and_differs_from_the_clipped_calls_only_in_triangles_leaving_the_grid(
        monkeypatch):
    frames, faces = clip_frames("lp_d12_talking_indoor.mp4", 40)  # a tuning-side wearer who moves a lot
    effect = portrait_avatar(frames[0])
    calls = {}
    real = avatar_stage.Stage.warp_map

    def keep(self, face, ring, shifts=None):
        calls["args"] = (self, face, ring, shifts)
        return real(self, face, ring, shifts)

    monkeypatch.setattr(avatar_stage.Stage, "warp_map", keep)
    padded, changed, outside = 0, 0, 0
    for frame, fs in zip(frames, faces):
        effect.apply(frame, Analysis(faces=list(fs)))
        if "args" not in calls:
            continue
        stage, face, ring, shifts = calls.pop("args")
        dst = stage.control(face, ring, shifts)
        grid, (top, left) = stage._raster_grid(dst)
        corners = np.round(grid.to_cells(dst))
        assert corners.min() >= 0 and (corners[:, 0] < grid.cols).all() and (corners[:, 1] < grid.rows).all()
        if grid is stage.grid:
            continue
        padded += 1
        whole = stage.mesh.coarse(dst, grid, stage.face_only)[top:top + stage.grid.rows, left:left + stage.grid.cols]
        clipped = stage.mesh.coarse(dst, stage.grid, stage.face_only)  # OpenCV's calls, lines clipped
        moved = np.abs(whole - clipped).max(axis=2) > 0
        # Where the triangles with a corner off the warp grid lie (on the padded grid), a cell grown.
        own = np.round(stage.grid.to_cells(dst)).astype(int)
        off = ((own < 0) | (own >= (stage.grid.cols, stage.grid.rows))).any(axis=1)
        leaving = np.zeros((grid.rows, grid.cols), np.uint8)
        for tri in stage.triangles[off[stage.triangles].any(axis=1)]:
            cv2.fillConvexPoly(leaving, corners[tri].astype(np.int32), 1)
        leaving = cv2.dilate(leaving, np.ones((3, 3), np.uint8))[top:top + stage.grid.rows, left:left + stage.grid.cols]
        changed += int(moved.sum())
        outside += int((moved & (leaving == 0)).sum())
    assert padded >= 30  # the box's edge points leave the grid on (nearly) every frame
    assert changed > 0  # OpenCV's clipped lines did move cells
    assert outside == 0, (outside, changed)  # ... only in the triangles that leave the grid
