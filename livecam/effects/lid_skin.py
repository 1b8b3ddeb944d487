"""The photo's own lid skin round an eye opening, which fills the eye when the face swap shuts it.

A shut eye is filled from the light skin just around the opening (the lashes, crease and socket
shadow there are dark, and a fill that took them in still read as an open eye). On a photo with
glasses that ring lies behind the lenses, and its lightest pixels are glare and reflections on the
glass, or a metal frame's highlight: a fill taken from them was a light pink or grey patch that dlib
read as an open eye (the reporting pair d9<-lp_d8: blink r 0.45 -> -0.14).

Glare adds light to what is behind the glass: brighter than the lid skin, and, as it is the colour
of the light rather than of the skin, less of the skin's hue. So a ring pixel counts as lid skin
where its hue is the photo's skin hue (a skin model fitted on the photo's own cheeks, as the swap's
relighting does) and it is not brighter than the ring's typical skin by more than the skin's own
spread of lightness allows. Only then is the lightest part of what is left taken.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis.face_measures import face_width
from livecam.effects import avatar_light as light
from livecam.effects.avatar_cover import CHEEK_RADIUS, CHEEKS

# Chroma distance from the cheeks' skin, in the cheeks' own spreads, where a ring pixel stops being
# skin fully / at all (as the swap's skin model; lens tints and coatings shift the skin behind glass
# a little, glare and frames far).
HUE_SCORE = (2.5, 4.0)
# Lightness above the ring skin's median, in its spreads, where a pixel stops being skin fully / at all:
# past it is light on the glass (glare, reflections) or a frame's highlight, not a lit lid.
GLARE_RISE = (1.5, 2.5)
GLARE_HALO = 0.015  # round a glare spot this far (fraction of the face width) is left out too
LIGHT_SPREAD_MIN = 2.0  # floor of the ring skin's lightness spread (L units): an even lid is not too strict
SKIN_SHARE_MIN = 0.1  # below this share of the ring in the skin's hue (a tinted lens), hue is not asked


def cheek_skin(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo's skin colour on its cheeks below the eyes: Lab median and chroma spread."""
    mask = np.zeros(image.shape[:2], np.uint8)
    r = max(1, int(round(CHEEK_RADIUS * face_width(landmarks))))
    for x, y in np.round(landmarks[list(CHEEKS), :2]).astype(int):
        cv2.circle(mask, (int(x), int(y)), r, 255, -1)
    pixels = image[mask > 0]
    if len(pixels) < 16:
        pixels = image.reshape(-1, 3)
    lab = light.lab(pixels[None])
    median, spread = light.skin_statistics([p.reshape(-1) for p in cv2.split(lab)], lab.dtype)
    return median, light.chroma_spread(spread)


class LidSkin:
    """The photo's light lid skin on ``ring`` (a bool mask round the eye openings of ``image``):
    ``weights`` per ring pixel, 0..1, how much it is that skin, ``colour`` its colour (BGR float32).
    ``light_share``: the grey percentiles of the ring's skin below which a pixel counts not at all,
    and from which fully."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, ring: np.ndarray,
                 light_share: tuple[float, float]) -> None:
        pixels = image[ring]
        lab = light.lab(pixels[None]).reshape(-1, 3)
        median, spread = cheek_skin(image, landmarks)
        hue = np.hypot(lab[:, 1] - median[1], lab[:, 2] - median[2]) / spread
        lo, hi = HUE_SCORE
        skin = np.clip((hi - hue) / (hi - lo), 0.0, 1.0)
        if skin.mean() < SKIN_SHARE_MIN:
            skin = np.ones_like(skin)
        core = skin >= 0.5 if np.count_nonzero(skin >= 0.5) >= 8 else np.ones(len(skin), bool)
        # The ring skin's typical lightness and spread, from its skin-hued pixels only: glare is
        # a minority there, so the median stays on the lid.
        self.level = float(np.median(lab[core, 0]))
        self.rise = max(1.4826 * float(np.median(np.abs(lab[core, 0] - self.level))), LIGHT_SPREAD_MIN)
        # A glare spot's soft edge is glare too, only fainter than the test can tell from skin.
        self.halo = max(1, int(round(GLARE_HALO * face_width(landmarks))))
        glare = np.zeros(ring.shape, np.float32)
        glare[ring] = self.glare_of(lab[:, 0])
        skin *= 1.0 - self._grown(glare)[ring]
        # The lightest of the lid skin: the dark lashes, crease and socket shadow are left out.
        grey = pixels.astype(np.float32) @ np.float32([0.114, 0.587, 0.299])
        kept = skin >= 0.5
        if np.count_nonzero(kept) < 8:
            kept = np.ones(len(skin), bool)
        lo, hi = np.percentile(grey[kept], light_share)
        self.weights = (skin * np.clip((grey - lo) / max(hi - lo, 1.0), 0.0, 1.0)).astype(np.float32)
        best = self.weights >= 0.5
        self.colour = np.median(pixels[best if best.any() else kept].reshape(-1, 3), axis=0).astype(np.float32)

    def glare_of(self, lightness: np.ndarray) -> np.ndarray:
        """0..1 per pixel of Lab ``lightness``: how far it is lit past the lid skin (light on the glass)."""
        lo, hi = GLARE_RISE
        return np.clip((lightness - self.level - lo * self.rise) / ((hi - lo) * self.rise), 0.0, 1.0)

    def glare(self, image: np.ndarray) -> np.ndarray:
        """``glare_of`` over a whole BGR ``image`` (float32 map), each spot grown by its halo."""
        return self._grown(self.glare_of(light.lab(image)[..., 0]).astype(np.float32))

    def _grown(self, glare: np.ndarray) -> np.ndarray:
        return cv2.dilate(glare, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.halo + 1,) * 2))


def shade_opacity(warped: np.ndarray, lid: np.ndarray, mask: np.ndarray, lower: np.ndarray, lash: np.ndarray,
                  fw: float, most: float) -> float:
    """The opacity (share of the lash colour ``lash``, BGR) of a shut lid's shading above its lashes:
    as much as takes the lid (``lid`` where ``mask`` is over half) down to the photo's own skin just
    below the eye (``warped`` 0.03-0.05 face widths under the lower margin ``lower``), at most
    ``most``. A shut lid is no darker than the skin under the eye: shaded past it, the lid made a
    dark band over the lashes where dlib put the upper lid of an open eye, and on every tuning photo
    a full closure read less shut than a half one. A lid already dark (a deep crease or socket) gets
    none."""
    h, w = warped.shape[:2]
    below = np.round(lower[:, None, :2] + np.float32([[0.0, 0.03 * fw], [0.0, 0.05 * fw]])[None]).reshape(-1, 2).astype(int)
    below = below[(below[:, 0] >= 0) & (below[:, 0] < w) & (below[:, 1] >= 0) & (below[:, 1] < h)]
    covered = cv2.compare(mask, 128, cv2.CMP_GT)
    if len(below) == 0 or not covered.any():
        return 0.0
    grey = np.float32([0.114, 0.587, 0.299])  # BGR
    under = float(np.median(warped[below[:, 1], below[:, 0]] @ grey))
    lid_grey = cv2.mean(cv2.cvtColor(lid, cv2.COLOR_BGR2GRAY), covered)[0]
    return float(np.clip((lid_grey - under) / max(lid_grey - float(np.dot(lash, grey)), 1.0), 0.0, most))
