"""A second opinion on a detector's doubtful detections: does dlib's CNN detector see a face there?

HOG's window also fires, weakly, on a blurred crowd, a lamp, a shirt's pattern, a hand, the
back of a head. Those "faces" then form groups of their own, or join real people. Its detection
score alone cannot tell them apart: real faces scored as low as the junk did (one in a hundred
labelled LFW faces scores under 0.25). So a HOG detection scoring under :data:`DOUBTFUL_BELOW`
is shown to the CNN detector, in a crop around its box scaled so that the face is 100 px; it is
kept if a CNN window over the box scores more than :data:`CNN_CUT`. No labelled face of the dev
sets or the camera photos was lost that way, and every not-a-face was dropped
(bench/face_check.py, docs/quality.md, "Faces that are not faces").
"""

from __future__ import annotations

import numpy as np

from ..records import Box
from .cnn_detector import FaceDetectorNet

# HOG detections scoring this much or more are never doubted: every detection that was not a
# face on the dev sets and the camera photos scored 0.29 or less (bench/face_check.py; 0.20
# with HOG's own search copy). 0.5 doubted 37% more detections, real faces all, for the same
# drops: each costs a CNN pass.
DOUBTFUL_BELOW = 0.4
# YuNet's detections scoring under this are doubted the same way. Its scores do not part faces
# from the rest as HOG's do: on the camera photos of seed 0, headlights, galaxies and coffee cups
# scored up to 0.81 and labelled faces as low as 0.31, while the CNN gave every labelled face
# 0.92 or more and all but 5 of 190 others -0.6 or less (bench/camera_photos.py --ways
# detectors; docs/benchmarks.md, "YuNet"). Under 0.85 keeps 3 of those 190, and checks 7
# detections a 12-24 megapixel photo (25 ms each).
YUNET_DOUBTFUL_BELOW = 0.85
# The CNN confidence a doubtful detection needs to be kept: chosen by bench/face_check.py on
# half of lfw_large and the camera photos of seed 0, midway between the lowest labelled face
# (-0.11) and the highest not-a-face below it (-1.10). It was -0.2 (0.99 / -1.47) before HOG
# searched its own one-resize copy, whose boxes put a labelled face at -0.11.
CNN_CUT = -0.6
# The crop shown to the CNN: the box's longer side scaled to CROP_FACE px, in a square of
# CROP_SIDE px around its centre (the CNN finds faces from 80 px without upsampling).
CROP_FACE = 100
CROP_SIDE = 200
# Windows over the box: intersection over union with the box's square in the crop.
WINDOW_OVERLAP = 0.3


def box_crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The CROP_SIDE square around ``box``, scaled so its longer side is CROP_FACE px; black
    where the square leaves the photo."""
    import cv2

    top, right, bottom, left = box
    side = max(right - left, bottom - top, 1)
    half = side * CROP_SIDE / CROP_FACE / 2
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    x0, y0 = round(centre_x - half), round(centre_y - half)
    x1, y1 = round(centre_x + half), round(centre_y + half)
    height, width = rgb.shape[:2]
    square = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    inside_x0, inside_y0, inside_x1, inside_y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if inside_x0 < inside_x1 and inside_y0 < inside_y1:
        square[inside_y0 - y0 : inside_y1 - y0, inside_x0 - x0 : inside_x1 - x0] = rgb[
            inside_y0:inside_y1, inside_x0:inside_x1
        ]
    shrinking = square.shape[0] > CROP_SIDE
    return cv2.resize(
        square, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )


def cnn_confidence(net: FaceDetectorNet, rgb: np.ndarray, box: Box, floor: float = CNN_CUT) -> float:
    """The best CNN window over ``box`` in ``rgb``, or ``floor`` if none scores above it."""
    margin = (CROP_SIDE - CROP_FACE) / 2
    target = (margin, margin, margin + CROP_FACE, margin + CROP_FACE)
    best = floor
    for window in net.windows(box_crop(rgb, box), 0, threshold=floor):
        rect = window.rect
        left, top = max(rect.left, target[0]), max(rect.top, target[1])
        right, bottom = min(rect.right, target[2]), min(rect.bottom, target[3])
        inner = max(0.0, right - left) * max(0.0, bottom - top)
        union = (rect.right - rect.left) * (rect.bottom - rect.top) + CROP_FACE * CROP_FACE - inner
        if inner / union >= WINDOW_OVERLAP:
            best = max(best, window.confidence)
    return best


def likely_faces(
    net: FaceDetectorNet,
    rgb: np.ndarray,
    found: list[tuple[Box, float]],
    detection_method: str = "hog",
) -> tuple[list[Box], int]:
    """The boxes of ``found`` (box, the detector's score) that are faces by the rule above, and
    how many were dropped; a detection is doubted under :data:`DOUBTFUL_BELOW` for HOG's scores,
    :data:`YUNET_DOUBTFUL_BELOW` for YuNet's."""
    doubtful_below = YUNET_DOUBTFUL_BELOW if detection_method == "yunet" else DOUBTFUL_BELOW
    kept = [
        box
        for box, score in found
        if score >= doubtful_below or cnn_confidence(net, rgb, box, CNN_CUT) > CNN_CUT
    ]
    return kept, len(found) - len(kept)
