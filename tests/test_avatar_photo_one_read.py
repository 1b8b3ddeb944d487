"""The avatar photo is read once: the picture fitted, the fit's key and the kept private copy are
the same bytes (redteam23 found the file read three times, and replaced between the reads)."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from livecam.analysis import avatar_photo

FIXTURES = Path(__file__).parent / "fixtures"


def _fake_fit(image, name="photo", provider="auto", threads=1):
    """A fit that tells pictures apart (their mean colour) without running the models."""
    return np.full((468, 3), float(image.mean()), np.float32), (0.0, 0.0, 0.0)


def test_a_photo_replaced_after_its_check_is_neither_kept_nor_fitted_under_the_new_files_name(tmp_path, monkeypatch):
    """Before: the photo was decoded and fitted, then read again to hash it and a third time to keep
    it. Replaced in between, the kept copy was the new photo (never checked), and the fit cache took
    the new photo's hash with the old photo's landmarks: loaded again, the swap was drawn 130 px off."""
    monkeypatch.setattr(avatar_photo, "fit_face", _fake_fit)
    monkeypatch.setattr(avatar_photo, "_FITS", type(avatar_photo._FITS)())
    a, b, photo = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "me.png"
    hopper = cv2.imread(str(FIXTURES / "mpl_grace_hopper.jpg"))
    cv2.imwrite(str(a), hopper)
    cv2.imwrite(str(b), cv2.resize(cv2.imread(str(FIXTURES / "sk_astronaut.png")), hopper.shape[1::-1]))
    shutil.copy(a, photo)
    real = avatar_photo.read_photo_bytes

    def replaced_after_reading(path):
        read = real(path)
        shutil.copy(b, photo)  # another program writes the file while LiveCam fits the face
        return read

    monkeypatch.setattr(avatar_photo, "read_photo_bytes", replaced_after_reading)
    first = avatar_photo.load_avatar_photo(photo)
    monkeypatch.setattr(avatar_photo, "read_photo_bytes", real)
    assert first.path.parent == avatar_photo.store_dir()
    assert first.path.read_bytes() == a.read_bytes()  # the checked photo is the one kept
    assert np.array_equal(first.image, avatar_photo.read_photo(a))

    again = avatar_photo.load_avatar_photo(photo)  # the file now holds the other picture
    assert np.array_equal(again.image, avatar_photo.read_photo(b))
    assert np.array_equal(again.landmarks, _fake_fit(again.image)[0])  # its own fit, not the old one's
    assert again.path.read_bytes() == b.read_bytes()
