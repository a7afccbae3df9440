"""HOG searched only where YuNet sees a face: HOG's faces of a large photo at a fraction of its scan.

HOG's cost grows with the pixels it scans, and on a camera library it is most of the encoding
time. YuNet searches a smaller copy far faster, but also keeps faces HOG would not (turned,
tilted, blurred: they form mixed groups, docs/benchmarks.md, "YuNet"). So each face YuNet
proposes is given to HOG alone, in a crop around it at the scale HOG's own scan of the photo
would search it at, and kept, with HOG's box and score, if HOG finds it there. On the 18 camera
photos (12-24 MP) of each seed of bench/hog_cascade.py, detection at 70 px took 8.1 / 7.6 s of
one core against 29.1 / 29.5 s for HOG's scan of the whole photo, finding 163 / 138 pasted faces
against 164 / 138 (docs/benchmarks.md, "HOG searched where YuNet sees a face")."""

from __future__ import annotations

import numpy as np

from ..records import Box
from .models import FaceModels, clip_boxes, iou

# The crop's side, in sizes of the face YuNet proposes: room for HOG's window around a face
# whose box YuNet puts a little off HOG's.
CROP_FACES = 3
# The face's size in the crop at most, in pixels: a larger face is searched in a copy shrunk by
# whole steps of HOG's pyramid (5/6), where HOG's own scan would find it, at less cost.
FACE_IN_CROP = 110
# HOG's detection in the crop is the face proposed if their boxes overlap at least this much
# (intersection over union): HOG's box is squarer and a little smaller than YuNet's mapped one.
SAME_FACE = 0.3
# Two proposals HOG confirms with boxes overlapping more than this are one face.
DUPLICATE = 0.5


def hog_confirms(models: FaceModels, rgb: np.ndarray, box: Box, factor: float) -> tuple[Box, float] | None:
    """HOG's box and score for the face proposed at ``box`` in ``rgb``, searched in a crop around
    it at ``factor`` (HOG's scale for the photo, upsampling included) times whole pyramid steps;
    None if HOG finds no face there."""
    import cv2

    top, right, bottom, left = box
    size = max(right - left, bottom - top)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    steps = max(0, int(np.floor(np.log(size * factor / FACE_IN_CROP) / np.log(6 / 5))))
    scale = factor * (5 / 6) ** steps
    side = max(1, round(CROP_FACES * size * scale))
    # The crop cut and resized in one warp; outside the photo, its edge repeated, as HOG's
    # own scan sees nothing there to find.
    warp = np.array(
        [[scale, 0, side / 2 - scale * centre_x], [0, scale, side / 2 - scale * centre_y]], np.float32
    )
    crop = cv2.warpAffine(
        rgb,
        warp,
        (side, side),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    rects, scores, _ = models.hog_detector.run(crop, 0, 0.0)
    half = size * scale / 2
    expected = (side / 2 - half, side / 2 + half, side / 2 + half, side / 2 - half)
    best: tuple[Box, float] | None = None
    for rect, score in zip(rects, scores, strict=True):
        found = (rect.top(), rect.right(), rect.bottom(), rect.left())
        if iou(found, expected) >= SAME_FACE and (best is None or score > best[1]):
            best = (found, float(score))
    if best is None:
        return None
    (found_top, found_right, found_bottom, found_left), score = best

    def back(value: float, centre: float) -> int:
        return round((value - side / 2) / scale + centre)

    in_photo = (
        back(found_top, centre_y),
        back(found_right, centre_x),
        back(found_bottom, centre_y),
        back(found_left, centre_x),
    )
    clipped = clip_boxes([in_photo], *rgb.shape[:2])
    return (clipped[0], score) if clipped else None


def detect_hog_where_yunet_sees(
    models: FaceModels, rgb: np.ndarray, hog_scale: float, upsample: int, proposal_scale: float
) -> list[tuple[Box, float]]:
    """HOG's boxes and scores, in ``rgb``'s pixels, for the faces YuNet finds in ``rgb``
    searched at ``proposal_scale``; HOG searches each as its own scan at ``hog_scale``, enlarged
    ``upsample`` times by two, would (:meth:`FaceModels.detect_hog_scored`)."""
    factor = min(1.0, hog_scale) * 2**upsample
    kept: list[tuple[Box, float]] = []
    for box, _ in models.detect_yunet_scored(rgb, proposal_scale):
        confirmed = hog_confirms(models, rgb, box, factor)
        if confirmed is None:
            continue
        twin = next((i for i, (other, _) in enumerate(kept) if iou(confirmed[0], other) > DUPLICATE), None)
        if twin is None:
            kept.append(confirmed)
        elif confirmed[1] > kept[twin][1]:
            kept[twin] = confirmed
    return kept
