"""Is the person mask the right way round? An independent check on a confidently inverted mask.

A model can answer confidently but wrong with the coverage and decidedness of a right answer, so the
output gate's other checks let it out and the background effect shows the room where the mask claims
the person. An inverted mask (person 0, room 1) is told by its shape: a person enters the picture from
its bottom or sides and the room surrounds them, so a mask that calls most of the top row and of both
sides "person" has the room in its middle, and where the person reaches the bottom edge (as at a
desk) the bottom row's middle is then the room's. A close-up that fills the picture is person on all
four edges, so that last test keeps it from being taken for an inverted mask.

Left on purpose: a mask shifted or mirrored off the person, or an old frame's mask stuck while the
person moves. maskcheck49 caught those by the picture's contrast across the mask's outline against the
stream's own level, with no false hide on any shared clip or photo, but a person who walked in front of
a wall the colour of their shirt was then hidden for as long as they stayed there (the outline's
contrast fell like a fault's): a false hide that does not end is worse than the rare fault it catches.
"""
from __future__ import annotations

import cv2
import numpy as np

ROWS = 4  # every 4th row of the model-size mask: the shape needs no more
PERSON = 0.5  # a pixel is the person's where the mask reads at least this
# Share of the top row and of each side called "person" from which the mask is inverted: on maskcheck49's
# tuning half (clips sorted by name, even index) a right mask called at most 0.0 of the top row and 0.14 of
# a side person, an inverted one at least 1.0 and 0.91 (several people side by side, or a close-up, reach
# the sides but not the top as well).
BORDER = 0.8
# Frames in a row not inverted before the fault ends: the temporal blend keeps a wrong mask's part in the
# room for a few frames after the model answers right again.
BACK_FRAMES = 4


class MaskCheck:
    """Per stream: whether the mask is inverted (``judge``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.fault: str | None = None  # "inverted" while the mask is held wrong
        self._back = 0  # frames in a row, during a fault, that were not inverted

    def judge(self, *masks: np.ndarray) -> str | None:
        """Judge this frame's ``masks`` (float 0..1, one size) as one, person wherever any says so: what is
        wrong (a few words), or None."""
        person = np.ascontiguousarray(masks[0])[::ROWS]
        for mask in masks[1:]:
            person = cv2.max(person, np.ascontiguousarray(mask)[::ROWS])
        cells = cv2.compare(person, PERSON, cv2.CMP_GE)
        h, w = cells.shape
        middle = cells[-1:, w // 3:w - w // 3]
        if (cv2.countNonZero(cells[:1]) > BORDER * w and cv2.countNonZero(cells[:, :1]) > BORDER * h
                and cv2.countNonZero(cells[:, -1:]) > BORDER * h
                and cv2.countNonZero(middle) < (1.0 - BORDER) * middle.size):
            self.fault, self._back = "inverted", 0
        elif self.fault is not None:
            self._back += 1
            if self._back >= BACK_FRAMES:
                self.fault = None
        return self.fault
