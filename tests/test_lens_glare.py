"""Glare on the wearer's lenses goes back in front of a swapped face only with a frame round it
(issue 18, item 3): alone, a coloured reflection over the eye read as eye shadow on the photo's
face. Frames drawn round the eyes stay in front; a face without them gets nothing of the wearer's."""
import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam.analysis import face_regions as regions
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.effects import avatar_keep as keep
from livecam.effects import lens_glare
from livecam.effects.mesh_warp import Grid
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis

PURPLE = (255, 190, 235)  # BGR: an anti-reflection coating's glare, lighter than the skin


@pytest.fixture(scope="module")
def wearer_faces():
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    for _ in range(2):
        faces = tracker.process(image)
    return image, faces


def _eyes(landmarks):
    centres = [landmarks[list(e), :2].mean(0) for e in (regions.RIGHT_EYE, regions.LEFT_EYE)]
    return centres, float(np.hypot(*(centres[1] - centres[0])))


def _swap(photo, image, faces, frames=1):
    swap = av.FaceSwap(photo)
    for _ in range(frames):
        out = swap.apply(image, Analysis(faces=faces))[0]
    return out, swap


def _glare(image, landmarks):
    """``image`` with a purple reflection under the right eye, inside the lens, and its mask."""
    (c, _), d = _eyes(landmarks)
    mask = np.zeros(image.shape[:2], np.uint8)
    centre = (int(round(c[0])), int(round(c[1] + 0.3 * d)))
    cv2.ellipse(mask, centre, (int(0.28 * d), int(0.09 * d)), 0.0, 0.0, 360.0, 255, -1)
    out = image.copy()
    out[mask > 0] = PURPLE
    return out, mask > 0


def _frames(image, landmarks):
    """``image`` with thin dark glasses frames drawn on: a loop round each eye and the bridge; and
    the drawn pixels."""
    (r, l), d = _eyes(landmarks)
    mask = np.zeros(image.shape[:2], np.uint8)
    t = max(1, int(round(0.02 * d)))  # thin metal frames: about 1 px on this 43 px eye distance
    for c in (r, l):
        cv2.ellipse(mask, (int(c[0]), int(c[1] + 0.05 * d)), (int(0.42 * d), int(0.33 * d)), 0.0, 0.0, 360.0, 255, t)
    cv2.line(mask, (int(r[0] + 0.42 * d), int(r[1] - 0.05 * d)), (int(l[0] - 0.42 * d), int(l[1] - 0.05 * d)), 255, t)
    out = image.copy()
    out[mask > 0] = (40, 40, 45)
    return out, mask > 0


def test_a_blob_wholly_inside_a_lens_and_lighter_than_the_skin_is_glare(wearer_faces):
    _, faces = wearer_faces
    lm = faces[0].landmarks
    grid = Grid.around(lm, 0.3, (512, 512), 8)
    (c, _), d = _eyes(lm)
    at = np.round(grid.to_cells(c)).astype(int)
    skin = np.full((grid.rows, grid.cols), 60.0, np.float32)
    blob = np.zeros_like(skin)
    blob[at[1] - 1:at[1] + 1, at[0] - 1:at[0] + 2] = 1.0
    assert lens_glare.glare_cells(blob, skin + 20.0, skin, lm, grid)[blob > 0].all()
    assert not lens_glare.glare_cells(blob, skin - 20.0, skin, lm, grid).any()  # darker: a brow, a shadow
    # Reaching out of the lens (a hand, a fringe over the eye): one blob with what lies outside.
    reach = blob.copy()
    reach[:at[1], at[0]] = 1.0
    assert not lens_glare.glare_cells(reach, skin + 20.0, skin, lm, grid).any()


def test_glare_alone_on_a_lens_is_not_pasted_on_the_swapped_face(hopper_photo, wearer_faces):
    """A purple reflection over the wearer's eye, with no frame found: the swap there is the swap of
    the same face without it (it showed the purple as eye shadow before)."""
    image, faces = wearer_faces
    glared, where = _glare(image, faces[0].landmarks)
    plain, _ = _swap(hopper_photo, image, faces)
    out, swap = _swap(hopper_photo, glared, faces)
    assert swap._glasses.gate == 0.0
    diff = np.abs(out.astype(np.int16) - plain.astype(np.int16))[where].mean()
    kept = np.abs(glared.astype(np.int16) - plain.astype(np.int16))[where].mean()
    assert diff < 0.2 * kept


def test_drawn_frames_stay_in_front_and_a_bare_face_gets_none(hopper_photo, wearer_faces, monkeypatch):
    """Thin dark frames drawn round the eyes are still dark lines in the swap; on the same face
    without them the keeper finds nothing and the swap is the swap without the keeper to the pixel."""
    image, faces = wearer_faces
    framed, lines = _frames(image, faces[0].landmarks)
    out, swap = _swap(hopper_photo, framed, faces, frames=8)
    assert swap._glasses.wearing
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32)
    bare, bare_swap = _swap(hopper_photo, image, faces, frames=8)
    bare_grey = cv2.cvtColor(bare, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # Most of the drawn line's core is still far darker than the swap without it.
    assert np.mean((bare_grey - grey)[lines] > 30) > 0.5
    assert not bare_swap._glasses.wearing and bare_swap._glasses.gate == 0.0
    monkeypatch.setattr(keep.GlassesKeeper, "keep", lambda *_: None)
    without, _ = _swap(hopper_photo, image, faces, frames=8)
    assert np.array_equal(bare, without)
