"""A portrait cut by the frame's top edge (its hair touches it) on a head that moves down: the stage
goes on above the photo with the top rows' colour, smoothed along the row and fading out
(``avatar_stage.extend_above``), where sampling above the photo repeated its top row into a vertical
stripe per strand of hair. Real data: a tuning-half wearer as his own portrait."""
import cv2
import numpy as np
import pytest
from conftest import clip_frames, portrait_avatar


@pytest.fixture(scope="module")
def d12_top():
    """lp_d12's frame 0 (a tuning-half wearer): a tuft of his hair touches the frame's top edge."""
    frames, faces = clip_frames("lp_d12_talking_indoor.mp4", 1)
    first, lm = frames[0], faces[0][0].landmarks
    avatar = portrait_avatar(first)
    return first, lm, avatar


def test_a_head_cut_by_the_top_edge_moving_down_ends_its_hair_softly_not_in_stripes(d12_top):
    from livecam.analysis.face_measures import face_width

    first, lm, avatar = d12_top
    stage = avatar.stage_for((first.shape[1], first.shape[0]), lm)
    tuft = np.flatnonzero(stage.mask[0] > 127)
    assert len(tuft) >= 10  # the case: his hair touches the top edge
    # At rest the picture is the portrait itself, the rows above change nothing.
    face, ring, shift = avatar.driven_points(stage, lm, np.zeros(2))
    out, _, _ = stage.render(face, ring, shift)
    assert np.abs(out.astype(np.int16) - stage.canvas).mean() < 0.5
    fw = face_width(lm)
    moved = lm.copy()
    moved[:, 1] += 0.15 * fw  # the head moves down
    face, ring, shift = avatar.driven_points(stage, moved, np.zeros(2))
    down = int(shift[0, 1])
    assert down > 0.1 * fw
    out, mask, grid = stage.render(face, ring, shift)
    cols = slice(max(0, tuft[0] - int(0.1 * fw)), tuft[-1] + int(0.1 * fw))
    band = slice(grid.y0, grid.y0 + down // 2)  # the warped box's top rows: they sample above the photo
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32)[band, cols]
    # Stripes are the tuft's own steps from column to column repeated down every row (HEAD 1.46 grey
    # levels a column, the photo's top row's own); smoothed along the row, 0.56.
    across = np.abs(np.diff(grey, axis=1)).mean()
    assert across < 1.0, across
    # The hair fades out towards the frame's edge (HEAD: as strong there as where the head now is,
    # 105.8 against 106.0; now 57.7 against 104.9).
    top, held = mask[grid.y0, cols].mean(), mask[grid.y0 + down, cols].mean()
    assert top < 0.75 * held, (top, held)
