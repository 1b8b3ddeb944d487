"""The photo avatar's silhouette on a turning head: the face outline kept on the outside of the face and
the head ring kept outside the outline, each frame.

The portrait's mesh is turned as a rigid 3-D shape. On the far side of a turn its outline points (the
face's edge at rest, lying furthest back) swing in behind the cheek, whose points lie nearer the
camera: the triangles between them turn inside out, and so do the head ring's triangles beyond (the
ring lies further back still, and swings in further). Inside-out triangles still sample the portrait,
mirrored: the coarse warp map then shows the cheek's edge, the hair and the room in stair-steps of its
cells, and the hair between the cheek and the ring is folded away so the room shows next to the cheek.

:class:`Silhouette` moves, per frame, each outline point out along its ray from the face's centre onto
the hull of the face's other points, where it went inside it (the far cheek's band is then squeezed,
as a turned cheek's is, not folded), and each head-ring point beside those out to at least a share of
its rest gap beyond the outline (hair foreshortened, not folded onto the cheek). At rest nothing moves.
On lp_d3 turned ~23 degrees (frames 250-279) the face's inside-out area falls from 18.1 to 0.9
thousandths of a squared face width, and the far cheek's stair-stepped edge is a smooth one.

Under the chin the ring's points take only their share of the head's motion and none of its
expression, so a jaw that opens or rolls over a still torso crossed them; they are kept outside the
jaw's two outline edges nearest them (:meth:`Silhouette._outside_outline`). On lp_d18 (mouth opening) and
lp_d12 (rolling over a torso measured going the other way) the frames with a fold under the chin fall
from 61 and 20 to 0 and 1. The rest of the ring is kept so too: it follows the wearer's own hair and
neck, which stay as a turning jaw passes over them.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.effects.avatar_stage import outline_radius

# Share of a head-ring point's rest gap beyond the face outline that it keeps on a turn (the far side's
# hair is foreshortened, never folded under the cheek). Tuning side, face-box SSIM lp_d3 / lp_d12 (frame
# 0 as the portrait) / lp_d12 from its turned frame 47, with the ring at 0.35 face widths deep: outline
# alone 0.7704 / 0.7848 / 0.7203; 0.2 beside the moved outline 0.7702 / 0.7848 / 0.7203, 0.5 there
# 0.7693 / 0.7849 / 0.7202 (the far ear and earring pulled into view); on every side 0.1, 0.25 and 0.5:
# 0.7704 / 0.7848 / 0.7190, 0.7701 / 0.7848 / 0.7180, 0.7693 / 0.7835 / 0.7149.
RING_KEEP = 0.2


def ray_exits(centre: np.ndarray, dirs: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """Per direction (rows of ``dirs``), t with ``centre + t * dir`` on the boundary of the convex
    polygon ``hull`` (its vertices in order, either way round), for a centre inside it; 0 where no
    edge is met. Each edge's line is n . x = h (n its outward normal): the ray leaves through the
    nearest line it heads out of, t = min over those of (h - n . centre) / (n . dir)."""
    e = np.empty_like(hull)
    np.subtract(hull[1:], hull[:-1], out=e[:-1])
    np.subtract(hull[0], hull[-1], out=e[-1])
    normal = np.empty_like(e)
    normal[:, 0], normal[:, 1] = e[:, 1], -e[:, 0]
    room = ((hull - centre) * normal).sum(1)  # outward normals give positive room
    if room.sum() < 0:
        normal, room = -normal, -room
    along = dirs @ normal.T
    t = np.full(along.shape, np.inf)
    np.divide(room, along, out=t, where=along > 1e-12)
    t = t.min(1)
    t[~np.isfinite(t)] = 0.0
    return t


def _unit_normals(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Per edge p0 -> p1 (rows), its unit normal (the edge turned a quarter clockwise in image rows)."""
    edge = p1 - p0
    normal = np.stack([edge[:, 1], -edge[:, 0]], axis=1)
    return normal / np.maximum(np.hypot(normal[:, 0], normal[:, 1]), 1e-9)[:, None]


class Silhouette:
    """Per stage: where the outline and the head ring lie at rest, to keep them unfolded each frame.

    ``landmarks`` the stage's mesh at rest (468 rows), ``points`` the mesh rows the warp uses, ``ring``
    the head ring at rest and ``ring_head`` the share of the head's motion each ring point takes (those
    under the chin follow the torso and are left alone)."""

    def __init__(self, landmarks: np.ndarray, points: np.ndarray, ring: np.ndarray, ring_head: np.ndarray) -> None:
        self.oval = np.asarray(regions.FACE_OVAL)
        self.inner = np.setdiff1d(np.asarray(points), self.oval)
        # At rest an outline point may lie inside its inner points' hull (a notch in the outline): it
        # is allowed as far in now, in proportion, and no further.
        self.inset = np.minimum(1.0, self._outline_share(landmarks))
        self.ring_head = np.asarray(ring_head, np.float64)
        oval = landmarks[self.oval, :2].astype(np.float64)
        c = oval.mean(0)
        off = ring[:, :2] - c
        self.ring_gap = np.hypot(off[:, 0], off[:, 1]) - outline_radius(oval, c, np.arctan2(off[:, 1], off[:, 0]))
        # Under the chin the ring has more rows than one a direction (the neck's, ``avatar_stage.NECK_STEPS``):
        # the ring's angular step counts directions, and each row further out keeps to the outline edges
        # its direction's first point keeps to (below), so the rows on one direction are pushed alike.
        rays = np.unique(np.round(np.arctan2(off[:, 1], off[:, 0]), 6), return_inverse=True)[1].ravel()
        self.step = 2 * np.pi / max(rays.max() + 1, 1)
        # Per ring point: the outline's two edges at the outline point nearest it (rows of
        # ``oval``), the side of each it lies on, and the share of its rest distance from each edge's
        # line it keeps (see :meth:`_outside_outline`). Every point, since none need move with the
        # jaw: under the chin they take only their share of the head's motion, and on the person
        # they follow the wearer's own picture (``PhotoAvatar.follow_surround``), whose neck and
        # hair stay as a turning jaw passes over them (lp_d3 frames 250-279: the ring's inside-out
        # area 31.0 thousandths of a squared face width with only those under the chin kept, 2.0 so).
        pts = ring[:, :2].astype(np.float64)
        n = len(oval)
        near = np.argmin(np.linalg.norm(pts[:, None] - oval[None], axis=2), axis=1)
        first = {}
        for k in np.argsort(np.hypot(off[:, 0], off[:, 1])):
            first.setdefault(rays[k], near[k])
        near = np.array([first[ray] for ray in rays], int)
        self.edges = np.stack([np.stack([(near - 1) % n, near], 1), np.stack([near, (near + 1) % n], 1)], 1)
        self.side = np.ones((len(pts), 2))
        self.keep = np.zeros((len(pts), 2))
        for k in range(2):
            p0 = oval[self.edges[:, k, 0]]
            dist = ((pts - p0) * _unit_normals(p0, oval[self.edges[:, k, 1]])).sum(1)
            self.side[:, k] = np.where(dist < 0, -1.0, 1.0)
            self.keep[:, k] = RING_KEEP * np.abs(dist)

    def _outline_share(self, face: np.ndarray) -> np.ndarray:
        """Per outline point, its distance from the outline's centre over the inner hull's there."""
        oval = face[self.oval, :2].astype(np.float64)
        c = oval.mean(0)
        hull = cv2.convexHull(face[self.inner, :2].astype(np.float32)).reshape(-1, 2).astype(np.float64)
        exits = ray_exits(c, oval - c, hull)
        return np.where(exits > 0, 1.0 / np.maximum(exits, 1e-9), 1.0)

    def _outside_outline(self, oval: np.ndarray, ring: np.ndarray) -> np.ndarray:
        """``ring`` with its points kept on the outer side of the two outline edges (``oval``,
        driven) at the outline point nearest them at rest, by ``RING_KEEP`` of their rest distance
        from each edge's line. Under the chin they move only by their share of the head's motion,
        so a jaw that opens, or rolls and slides over a torso that stays or goes the other way,
        crossed them and folded the neck's band over (lp_d18 frame 70; lp_d12 frame 176: a jagged
        collar); elsewhere the wearer's own motion round the head can leave them as the jaw turns."""
        out = None
        for k in range(2):
            p0 = oval[self.edges[:, k, 0]]
            normal = _unit_normals(p0, oval[self.edges[:, k, 1]]) * self.side[:, k, None]
            pts = (ring if out is None else out)[:, :2].astype(np.float64)
            short = self.keep[:, k] - ((pts - p0) * normal).sum(1)
            if (short > 0).any():
                out = ring.copy() if out is None else out
                out[:, :2] = pts + np.maximum(short, 0.0)[:, None] * normal
        return ring if out is None else out

    def __call__(self, face: np.ndarray, ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``face`` (the driven mesh) and ``ring`` (the driven head ring), unfolded (copies where moved)."""
        oval = face[self.oval, :2].astype(np.float64)
        c = oval.mean(0)
        hull = cv2.convexHull(face[self.inner, :2].astype(np.float32)).reshape(-1, 2).astype(np.float64)
        exits = ray_exits(c, oval - c, hull) * self.inset  # where the outline must reach, share of now
        out = exits > 1.0
        if out.any():
            face = face.copy()
            oval[out] = c + (oval[out] - c) * exits[out, None]
            face[self.oval[out], :2] = oval[out]
        ring = self._outside_outline(oval, ring)
        if not out.any():
            return face, ring
        # The ring only beside the outline points moved out (the far side): on the near side the ring
        # goes behind the widening face as the back of a head does, and pushing it out widened the
        # hair past the wearer's (tuning half, lp_d12 from its frame 47: 0.7203 -> 0.7190 at 0.1).
        off = ring[:, :2].astype(np.float64) - c
        r = np.hypot(off[:, 0], off[:, 1])
        ang = np.arctan2(off[:, 1], off[:, 0])
        least = outline_radius(oval, c, ang) + RING_KEEP * self.ring_gap
        moved = np.arctan2(oval[out, 1] - c[1], oval[out, 0] - c[0])
        beside = np.abs((ang[:, None] - moved[None, :] + np.pi) % (2 * np.pi) - np.pi).min(1) < self.step
        push = (least > r) & (self.ring_head >= 1.0) & beside
        if push.any():
            ring = ring.copy()
            ring[push, :2] = c + off[push] * (least[push] / np.maximum(r[push], 1e-9))[:, None]
        return face, ring
