"""The photo avatar over a blurred background: the blur of the portrait at rest is made once."""
import numpy as np

from livecam import settings as S
from livecam.effects.background import BLUR_SCALE, BlurBackground
from livecam.pipeline import Pipeline

from conftest import tracked_frames


def test_the_photo_avatars_blurred_room_is_made_once_and_is_its_still_portraits(data_dir, monkeypatch):
    """Without the segmenter (the avatar gives the mask) the blur used to shrink and blur every
    output frame again (~4 ms at 720p); the portrait at rest is the same picture every frame, so
    its blur is made once. The frame's room is that blur wherever the mask is 0."""
    made = []
    real = BlurBackground._small_blur
    monkeypatch.setattr(BlurBackground, "_small_blur", lambda self, *a: made.append(a) or real(self, *a))
    masks = []  # the full-size mask each frame was composited with
    apply = BlurBackground.apply
    monkeypatch.setattr(BlurBackground, "apply", lambda self, image, analysis: masks.append(analysis.mask) or
                        apply(self, image, analysis))
    photo = str(data_dir / "faces" / "single" / "mpl_grace_hopper.jpg")
    settings = S.update(S.Settings(), background={"mode": "blur"}, avatar={"mode": "animate", "photo": photo},
                        badge={"enabled": False})
    pipeline = Pipeline(settings)
    try:
        assert not pipeline.problems()
        frames = [pipeline.process(frame) for frame, _ in tracked_frames(data_dir / "video" / "lp_d12_talking_indoor.mp4", 8)]
    finally:
        pipeline.close()
    assert len(made) == 1
    image, mask, small, small_mask = made[0]
    h, w = image.shape[:2]
    assert small.shape[:2] == (h // BLUR_SCALE, w // BLUR_SCALE) and small_mask.shape == small.shape[:2]
    blurred = BlurBackground(settings.background.blur).blurred(image, mask, small, small_mask)
    for out, mask in zip(frames, masks, strict=True):
        room = mask == 0
        assert room.mean() > 0.3 and np.array_equal(out[room], blurred[room])
