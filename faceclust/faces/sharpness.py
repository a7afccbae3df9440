"""How sharp a face is for its size.

A face out of focus (a stranger behind the people photographed, someone moving) keeps little
of what tells people apart, and dlib's embedding puts such faces near each other whoever they
are: in generated camera photos, strangers blurred by a fortieth of their face's size or more
were grouped with other strangers four times in five, sharp ones one time in four
(bench/background_faces.py, docs/benchmarks.md "Strangers in the background"). The clustering
lets such faces join a group but not make one of their own (clustering/blurred.py).

Measured on the face's own pixels shrunk to a small square, so that the measure is of blur
relative to the face's size, the same for a face of 40 px and of 400: the variance of the
Laplacian (the energy of the finest detail) over the variance of the pixels (which takes out
contrast and lighting).
"""

from __future__ import annotations

import numpy as np

from ..records import Box

# The square a face is shrunk to: every face the detectors find is larger (HOG's smallest is
# about 36 px), so each is measured on detail at the same share of its size.
SIDE = 32


def sharpness(rgb: np.ndarray, box: Box) -> float:
    """How sharp the face in ``box`` (top, right, bottom, left, in pixels of ``rgb``) is: 0 for
    a flat patch, about 0.9 for a typical sharp face, mostly under 0.25 for one blurred by a
    fortieth of its size or more."""
    import cv2

    top, right, bottom, left = box
    height, width = rgb.shape[:2]
    top, bottom = max(0, int(top)), min(height, int(bottom))
    left, right = max(0, int(left)), min(width, int(right))
    if bottom - top < 2 or right - left < 2:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (SIDE, SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    spread = float(small.var())
    if spread < 1e-6:
        return 0.0
    return float(cv2.Laplacian(small, cv2.CV_32F).var()) / spread
