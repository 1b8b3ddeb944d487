"""Avatar photos: what is refused (one sentence each), how big they are decoded, and the private
copies kept in the config folder (exact path only, 0600 in a 0700 folder, listed and removable)."""
import os
import resource
import struct
import zlib

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam.analysis import avatar_photo as ap
from livecam.analysis.avatar_photo import AvatarPhotoError, load_avatar_photo
from livecam.settings import config_dir

HOPPER = FIXTURES / "mpl_grace_hopper.jpg"
ASTRONAUT = FIXTURES / "sk_astronaut.png"


def test_photo_without_a_face_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 128, np.uint8))
    with pytest.raises(AvatarPhotoError, match="shows no face"):
        load_avatar_photo(path)


def test_photo_with_two_faces_is_refused(tmp_path):
    two = np.hstack([cv2.resize(cv2.imread(str(HOPPER)), (512, 512)), cv2.imread(str(ASTRONAUT))])
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), two)
    with pytest.raises(AvatarPhotoError, match="shows 2 faces; crop it"):
        load_avatar_photo(path)


def test_photo_with_a_tiny_face_is_refused(tmp_path):
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), cv2.resize(cv2.imread(str(HOPPER)), (128, 150), interpolation=cv2.INTER_AREA))
    with pytest.raises(AvatarPhotoError, match="pixels wide; use a photo where it is at least"):
        load_avatar_photo(path)


def test_missing_or_unreadable_photo_is_refused(tmp_path):
    with pytest.raises(AvatarPhotoError, match="does not exist"):
        load_avatar_photo(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture")
    with pytest.raises(AvatarPhotoError, match="^Avatar photo: .*not a JPEG, PNG"):
        load_avatar_photo(bad)
    with pytest.raises(AvatarPhotoError, match="No avatar photo is set"):
        load_avatar_photo("")


@pytest.mark.parametrize("turn, words", [(cv2.ROTATE_90_CLOCKWISE, "tilted"), (cv2.ROTATE_180, "upside down")])
def test_a_face_lying_on_its_side_or_upside_down_is_refused(tmp_path, turn, words):
    path = tmp_path / "turned.png"
    cv2.imwrite(str(path), cv2.rotate(cv2.imread(str(HOPPER)), turn))
    with pytest.raises(AvatarPhotoError) as caught:
        load_avatar_photo(path)
    message = str(caught.value)
    assert words in message and "rotate the photo so the face is upright" in message
    assert message.endswith(".") and ". " not in message  # one sentence


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels (signature, IHDR, an empty IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_photo_over_the_megapixel_limit_is_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(12000, 15000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(AvatarPhotoError) as caught:
        load_avatar_photo(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    message = str(caught.value)
    assert "12000x15000" in message and "megapixel limit" in message
    assert grown_mb < 50  # nothing was decoded (a decode would take 540 MB)


def test_a_big_photo_is_decoded_near_the_size_it_is_used_at(tmp_path):
    big = cv2.resize(cv2.imread(str(HOPPER)), None, fx=6.5, fy=6.5, interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 85])
    photo = load_avatar_photo(path, store=False)
    assert max(photo.image.shape[:2]) <= ap.PHOTO_MAX_SIDE
    assert max(photo.image.shape[:2]) >= ap.PHOTO_MAX_SIDE // 2
    # The mesh is fitted in the decoded picture's own pixels.
    h, w = photo.image.shape[:2]
    assert 0 < photo.landmarks[:, 0].min() and photo.landmarks[:, 0].max() < w
    assert 0 < photo.landmarks[:, 1].min() and photo.landmarks[:, 1].max() < h


# ---------------------------------------------------------------- stored copies


def test_accepted_photo_is_kept_privately_in_the_config_folder(tmp_path):
    original = tmp_path / "me.jpg"
    original.write_bytes(HOPPER.read_bytes())
    os.chmod(original, 0o644)
    photo = load_avatar_photo(original)
    folder = config_dir() / "avatars"
    assert photo.path.parent == folder
    assert photo.path.read_bytes() == HOPPER.read_bytes()
    if os.name == "posix":
        assert os.stat(photo.path).st_mode & 0o777 == 0o600
        assert os.stat(folder).st_mode & 0o777 == 0o700
    original.unlink()  # the stored copy keeps working without the original
    assert load_avatar_photo(photo.path).path == photo.path
    assert load_avatar_photo(original).path == photo.path  # the setting still names the original


def test_a_stored_copy_is_found_by_its_exact_path_only(tmp_path):
    anna, anna_maria = tmp_path / "anna.jpg", tmp_path / "anna-maria.jpg"
    anna.write_bytes(HOPPER.read_bytes())
    anna_maria.write_bytes(cv2.imencode(".jpg", cv2.imread(str(ASTRONAUT)))[1].tobytes())
    load_avatar_photo(anna_maria)
    with pytest.raises(AvatarPhotoError, match="does not exist"):
        load_avatar_photo(tmp_path / "anna-m.jpg")  # never stored: no guessing by name
    anna.unlink()
    with pytest.raises(AvatarPhotoError, match="does not exist"):
        load_avatar_photo(anna)  # anna.jpg was never accepted, anna-maria's copy is not hers
    anna.write_bytes(HOPPER.read_bytes())
    kept = load_avatar_photo(anna).path
    anna.unlink()
    assert load_avatar_photo(anna).path == kept
    assert kept.read_bytes() == HOPPER.read_bytes()
    elsewhere = tmp_path / "other" / "anna.jpg"  # the same name in another folder is another photo
    with pytest.raises(AvatarPhotoError, match="does not exist"):
        load_avatar_photo(elsewhere)


def test_stored_copies_are_listed_and_removed_by_name(tmp_path):
    assert ap.stored_avatars() == []
    first, second = tmp_path / "one.jpg", tmp_path / "two.png"
    first.write_bytes(HOPPER.read_bytes())
    second.write_bytes(ASTRONAUT.read_bytes())
    load_avatar_photo(first)
    load_avatar_photo(second)
    listed = ap.stored_avatars()
    assert len(listed) == 2
    assert {s.name for s in listed} == {ap.stored_name(first), ap.stored_name(second)}
    assert all(s.size > 0 and s.path.is_file() for s in listed)
    removed = ap.remove_stored_avatar(ap.stored_name(first))
    assert not removed.exists() and [s.name for s in ap.stored_avatars()] == [ap.stored_name(second)]
    with pytest.raises(AvatarPhotoError, match="No stored avatar photo is called nope.jpg; the stored ones are: two-"):
        ap.remove_stored_avatar("nope.jpg")
    with pytest.raises(AvatarPhotoError, match="No stored avatar photo is called"):
        ap.remove_stored_avatar("../settings.json")  # only names from the listing
