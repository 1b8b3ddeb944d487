"""The one compositing helper every background effect shares: the person over a new background.

All of it is 8-bit OpenCV arithmetic: a float blend in numpy costs 9-13 ms per 720p frame,
``cv2.multiply`` + ``cv2.add`` about 1 ms.
"""
from __future__ import annotations

import cv2
import numpy as np


def composite(frame: np.ndarray, background: np.ndarray, mask: np.ndarray,
              foreground: np.ndarray | None = None) -> np.ndarray:
    """Person from ``frame`` over ``background`` by uint8 ``mask`` (255 = person).

    ``foreground`` (frame size, BGR uint8): the person's own colour on the edge, where the frame's
    pixels are part old room (``Analysis.foreground``). It is used only where the mask is partial
    (1..254): everywhere else the frame is taken as it is now, so what effects did to it after the
    analysis (touch-up, face swap) stays. Costs 0.3 ms at 720p.
    """
    person = frame
    if foreground is not None and foreground.shape == frame.shape:
        person = frame.copy()
        cv2.copyTo(foreground, cv2.inRange(mask, 1, 254), person)
    alpha = cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR)
    out = cv2.multiply(person, alpha, scale=1 / 255)
    # Reuse the alpha buffer for the background term: two fewer 720p buffers per frame, -0.4 ms.
    cv2.bitwise_not(alpha, dst=alpha)
    cv2.multiply(background, alpha, dst=alpha, scale=1 / 255)
    return cv2.add(out, alpha, dst=out)
