"""``imaging.finite_in_unit_range`` (the held person mask's check and the output gate's) says what
cv2.checkRange in 0 .. UNIT_UPPER said, on masks with every kind of value that must fail it, except
for a negative zero: checkRange compares floats by their bits and took -0.0 for out of range."""
import cv2
import numpy as np

from livecam.imaging import UNIT_UPPER, finite_in_unit_range


def _before(values):
    try:
        return bool(cv2.checkRange(values, True, 0.0, UNIT_UPPER)[0])
    except cv2.error:
        return bool(np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0)


def test_the_check_says_what_checkrange_said():
    rng = np.random.default_rng(5)
    odd = np.array([np.nan, np.inf, -np.inf, -1e-9, np.nextafter(np.float32(1), np.float32(2)), 1.0000011,
                    1.0, 0.0], np.float64)
    seen = set()
    for i in range(400):
        dtype = [np.float32, np.float64][i % 2]
        mask = rng.random((int(rng.integers(1, 140)), int(rng.integers(1, 260)))).astype(dtype)
        if i % 3:
            mask.reshape(-1)[rng.integers(0, mask.size)] = dtype(odd[i % len(odd)])
        view = mask[:, ::2] if i % 5 == 4 else mask  # not one block of memory
        want = _before(view)
        assert finite_in_unit_range(view) == want
        seen.add(want)
    assert seen == {True, False}
    assert finite_in_unit_range(np.array([0.5, 1.0], np.float16))
    assert not finite_in_unit_range(np.array([0.5, np.nan], np.float16))
    assert finite_in_unit_range(np.zeros((0, 4), np.float32))
    assert finite_in_unit_range(np.array([0.5, -0.0, 0.0], np.float32))  # zero, whatever its sign
