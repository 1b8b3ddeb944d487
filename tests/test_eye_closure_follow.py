"""EyeClosure keeps reading a lid that has started to fall although the mesh does not see it yet."""
from __future__ import annotations

import numpy as np
import pytest

from livecam.analysis.eye_closure import FOLLOW, SHUT_RAMP, EyeClosure, lid_gap
from livecam.analysis.face_landmarker import CONTOUR_INNER, CONTOUR_LOWER, CONTOUR_OUTER, CONTOUR_UPPER


def contour(gap: float, width: float = 40.0) -> np.ndarray:
    """A (71, 2) eye contour whose lid gap over eye width is ``gap``."""
    c = np.zeros((71, 2), np.float32)
    c[CONTOUR_OUTER], c[CONTOUR_INNER] = (0.0, 0.0), (width, 0.0)
    c[CONTOUR_UPPER], c[CONTOUR_LOWER] = (width / 2, -gap * width / 2), (width / 2, gap * width / 2)
    return c


class Gaps:
    """A lid reader that traces both eyes at the gap it is told."""

    def __init__(self, gap: float) -> None:
        self.gap = gap

    def contours(self, image, landmarks, eyes=(0, 1)):
        return [contour(self.gap) for _ in eyes]


def run(gaps: list[float], narrowed: bool = False) -> tuple[EyeClosure, list[list[float]]]:
    reader = Gaps(gaps[0])
    closure = EyeClosure(reader, every=2, refresh=8)
    shut = []
    for gap in gaps:
        reader.gap = gap
        shut.append(closure.update(None, None, narrowed=narrowed))
    return closure, shut


def test_the_contour_helper_gives_the_gap_asked_for():
    assert lid_gap(contour(0.31)) == pytest.approx(0.31)


def test_open_eyes_the_mesh_sees_open_are_read_only_on_refresh():
    closure, shut = run([0.40] * 16)
    assert closure.reads == 2
    assert shut[-1] == [0.0, 0.0]


def test_a_lid_falling_slowly_is_followed_every_second_frame_before_it_reads_shut():
    # Frame 0 learns the usual gap 0.40; frame 8 (a refresh) finds it at 0.96 of that: not shut yet
    # (SHUT_RAMP starts at 0.95) but narrower than FOLLOW. From there it falls to 0.80 of open.
    assert SHUT_RAMP[0] < 0.96 < FOLLOW
    gaps = [0.40] * 8 + [0.384] * 2 + [0.32] * 6
    closure, shut = run(gaps)
    assert shut[8] == [0.0, 0.0]
    # Read on frames 0, 8, 10, 12, 14: the fall is seen on frame 10, not at the next refresh (16).
    assert closure.reads == 5
    lo, hi = SHUT_RAMP
    ref = 0.40 + 0.01 * (0.384 - 0.40)  # the usual gap falls slowly under a narrower reading
    ref += 0.01 * (0.32 - ref)
    assert shut[10] == pytest.approx([(lo - 0.32 / ref) / (lo - hi)] * 2, abs=1e-6)
    assert shut[10][0] > 0.2


def test_without_the_follow_rule_the_fall_waited_for_the_refresh(monkeypatch):
    # The same clip with the rule off (FOLLOW at 0: nothing is ever narrower than that): frame 10
    # still showed the open eye of the last reading.
    import livecam.analysis.eye_closure as ec

    monkeypatch.setattr(ec, "FOLLOW", 0.0)
    gaps = [0.40] * 8 + [0.384] * 2 + [0.32] * 6
    closure, shut = run(gaps)
    assert closure.reads == 2
    assert shut[10] == [0.0, 0.0]


def test_a_gap_back_at_its_usual_value_stops_the_following():
    gaps = [0.40] * 8 + [0.384] * 2 + [0.40] * 6
    closure, shut = run(gaps)
    # Frame 8 narrower (read 10); frame 10 back open: no more readings until the refresh at 16.
    assert closure.reads == 3
    assert shut[-1] == [0.0, 0.0]
