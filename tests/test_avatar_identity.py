"""The face swap keeps the photo's identity where the relighting and the cover fill used to hand it
back to the wearer: the photo's own relief (shading at the scale of its features: eye sockets,
cheekbones, the sides of the nose) survives the relighting, which takes the wearer's light at
``avatar_light.SHADE_SIGMA``, coarser than those; and a fringe is filled with the photo's own skin,
not with the colour of the hair just past its outline."""
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.effects import avatar as av
from livecam.effects import avatar_light as light
from livecam.types import Analysis

CLIP = "lp_d18_frontal_plain.mp4"  # a tuning-half wearer (tools/avatar_pairs.csv)
FRAMES = 16
SCORED = range(8, FRAMES)  # after the swap has settled
DEPTH = -15.0  # Lab L at the centre of the patch painted on the photo


@pytest.fixture(scope="module")
def clip():
    from conftest import shared_data, tracked_frames

    path = shared_data() / "video" / CLIP
    if not path.is_file():
        pytest.skip(f"shared test data not found at {path}")
    frames = tracked_frames(path, FRAMES)
    assert all(faces for _, faces in frames)
    return frames


def _lab(image):
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)


def _with_patch(image, landmarks, index, sigma):
    """``image`` with a soft dark patch (Gaussian, ``sigma`` face widths, DEPTH in L) centred on mesh
    point ``index``: shading of the photo's own at the scale of a feature."""
    fw = av.face_width(landmarks)
    c = landmarks[index, :2]
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    g = np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * (sigma * fw) ** 2)).astype(np.float32)
    lab = _lab(image)
    lab[..., 0] += DEPTH * g
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR) * 255, 0, 255).round().astype(np.uint8)


def _swapped(photo_image, frames):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.png"
        cv2.imwrite(str(path), photo_image)
        swap = av.FaceSwap(load_avatar_photo(path, store=False))
    return [swap.apply(frame, Analysis(faces=faces))[0] for frame, faces in frames]


def _kept(clip, index, sigma):
    """Median over the scored frames of the share of the patch's depth the swapped face shows at
    mesh point ``index`` (the photo is the wearer's own frame 0, with and without the patch)."""
    frame, faces = clip[0]
    plain = _swapped(frame, clip)
    patched = _swapped(_with_patch(frame, faces[0].landmarks, index, sigma), clip)
    shares = []
    for i in SCORED:
        lm = clip[i][1][0].landmarks
        c = np.round(lm[index, :2]).astype(int)
        disc = np.zeros(frame.shape[:2], np.uint8)
        cv2.circle(disc, (int(c[0]), int(c[1])), max(2, int(0.03 * av.face_width(lm))), 1, -1)
        disc = disc > 0
        shares.append((_lab(patched[i])[..., 0][disc].mean() - _lab(plain[i])[..., 0][disc].mean()) / DEPTH)
    return float(np.median(shares))


def test_the_photos_own_relief_survives_the_relighting(clip):
    # A patch the size of an eye socket's or a cheekbone's shading, on the cheek beside the nose.
    # At the old lighting scale (LIGHT_SIGMA) the relighting took 0.69 of it for the photo's light
    # and replaced it by the wearer's (kept 0.31 of it; 0.47 of a smaller one); now 0.50 and 0.61.
    assert _kept(clip, 205, 0.10) > 0.42
    assert _kept(clip, 205, 0.06) > 0.55


def test_the_wearers_light_still_reaches_the_face_at_the_wider_scale(clip):
    # A half-dimmed wearer (one side of the frame darker, as a window to one side makes it): the
    # swapped face's dim side darkens with the wearer's, the other side stays.
    frame, faces = clip[0]
    plain = _swapped(frame, clip)
    ramp = np.linspace(0.55, 1.0, frame.shape[1], dtype=np.float32)[None, :, None]
    lit = [((f * ramp).astype(np.uint8), fc) for f, fc in clip]
    out = _swapped(frame, lit)
    drops = []
    for i in SCORED:
        lm = clip[i][1][0].landmarks
        for index in (205, 425):  # cheeks on the dim and the bright side
            c = np.round(lm[index, :2]).astype(int)
            patch = (slice(c[1] - 3, c[1] + 4), slice(c[0] - 3, c[0] + 4))
            wearer_drop = _lab(clip[i][0][patch])[..., 0].mean() - _lab(lit[i][0][patch])[..., 0].mean()
            drop = _lab(plain[i][patch])[..., 0].mean() - _lab(out[i][patch])[..., 0].mean()
            drops.append((wearer_drop, drop))
    drops = np.array(drops)
    assert drops[:, 0].max() > 10.0  # the dim side of the wearer really is darker
    # Most of the wearer's darkening reaches the face at both cheeks (their drops differ by side).
    assert np.all(drops[:, 1] > 0.6 * drops[:, 0])


def test_a_fringe_is_filled_with_the_photos_own_skin(astronaut, tmp_path):
    # Eileen Collins' fringe covers her forehead down to the brows; the blonde hair past the outline
    # passes the skin test, and when it fed the fill the forehead came out grey-tan, 11.7 Delta E from
    # her skin (the hair's colour pasted as a band over the brows once relit).
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), astronaut)
    source = av._SourceFace(load_avatar_photo(path, store=False))
    assert source.cover.mean() > 0.02  # the fringe is found
    cells = cv2.resize(source.image, (source.cover.shape[1], source.cover.shape[0]), interpolation=cv2.INTER_AREA)
    fill = np.median(light.lab(cells)[source.cover > 0.5], axis=0)
    assert np.linalg.norm(fill - source.skin_median) < 5.0


def test_the_wide_lowpass_is_the_full_grids_within_half_a_level():
    rng = np.random.default_rng(3)
    for h, w, sigma in ((130, 110, 15.0), (97, 141, 9.0), (60, 48, 4.5), (40, 40, 3.0)):
        image = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.float32), (0, 0), 3)
        image += (rng.random((h, w, 3)) * 40).astype(np.float32)
        weights = np.zeros((h, w), np.float32)
        cv2.ellipse(weights, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 1.0, -1)
        full = light.masked_lowpass(image, weights, sigma)
        wide = light.wide_lowpass(image, weights, sigma)
        assert wide.shape == full.shape and wide.dtype == np.float32
        assert np.abs(wide - full)[weights > 0].max() < 0.5
