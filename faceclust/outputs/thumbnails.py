"""A face's square thumbnail, cut from its photo and stored as a JPEG.

The montages and the gallery show these; the encoder cuts them too, from the photo it has
decoded anyway, and keeps them in the index, so that the outputs need not decode the photos
again (a library's outputs spent minutes per thousand photos doing so).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import OutputError
from ..photos.images import decode_image
from ..photos.video import frame_at, is_video
from ..records import Box

THUMBNAIL_SIZE = 128  # face thumbnails of the gallery page, and the montages' tiles' source
# Crops reach this far beyond the detector's box (a fraction of its larger side), which is
# tight around eyes and mouth; a little hair and chin make a face easier to recognise.
CROP_MARGIN = 0.15
BACKGROUND_RGB = (32, 32, 32)
JPEG_QUALITY = 90


def face_tile(rgb: np.ndarray, box: Box, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A ``(size, size, 3)`` square crop centred on ``box``, padded where it leaves the image."""
    import cv2

    top, right, bottom, left = box
    side = round(max(bottom - top, right - left) * (1 + 2 * CROP_MARGIN))
    side = max(side, 1)
    centre_y, centre_x = (top + bottom) // 2, (left + right) // 2
    y0, x0 = centre_y - side // 2, centre_x - side // 2
    height, width = rgb.shape[:2]
    src_y0, src_x0 = max(y0, 0), max(x0, 0)
    src_y1, src_x1 = min(y0 + side, height), min(x0 + side, width)
    if src_y0 >= src_y1 or src_x0 >= src_x1:
        square = background(side, side)
    else:
        # The part inside the photo, padded by OpenCV where the square leaves it: no copy of the
        # whole square filled with a colour first (milliseconds for a large face).
        square = cv2.copyMakeBorder(
            rgb[src_y0:src_y1, src_x0:src_x1],
            src_y0 - y0,
            y0 + side - src_y1,
            src_x0 - x0,
            x0 + side - src_x1,
            cv2.BORDER_CONSTANT,
            value=BACKGROUND_RGB,
        )
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation)


def cut_from_photo(
    path: str | os.PathLike[str], boxes: Sequence[Box], times: Sequence[float | None] | None = None
) -> list[np.ndarray]:
    """The thumbnails of the faces at ``boxes`` (pixels of the full-size upright photo), from the
    photo decoded as reduced as they allow; raises ImageLoadError when it cannot be read. In a
    video, ``times`` say which frame each face is in (each frame decoded once)."""
    if is_video(path):
        frames = {time: frame_at(os.fspath(path), time or 0.0) for time in dict.fromkeys(times or [0.0])}
        return [
            face_tile(frames[time], box) for box, time in zip(boxes, times or [0.0] * len(boxes), strict=True)
        ]
    decoded = decode_image(path, min_scale=_thumbnail_scale(boxes))
    return [face_tile(decoded.rgb, _scaled_box(box, decoded.scale)) for box in boxes]


def _thumbnail_scale(boxes: Iterable[Box]) -> float:
    """How far a photo may be decoded reduced and still give every face's thumbnail from at
    least as many pixels as the thumbnail has (1: full size)."""
    crops = [max(bottom - top, right - left) * (1 + 2 * CROP_MARGIN) for top, right, bottom, left in boxes]
    return min(1.0, max(THUMBNAIL_SIZE / max(crop, 1.0) for crop in crops))


def _scaled_box(box: Box, scale: float) -> Box:
    if scale == 1.0:
        return box
    top, right, bottom, left = box
    return (round(top * scale), round(right * scale), round(bottom * scale), round(left * scale))


@functools.cache
def background(height: int, width: int) -> np.ndarray:
    background = np.empty((height, width, 3), np.uint8)
    background[:] = BACKGROUND_RGB
    background.flags.writeable = False
    return background


def encode_jpeg(rgb: np.ndarray) -> bytes:
    import cv2

    # OpenCV wants BGR; converted into a contiguous copy, not handed a reversed view, which
    # made the encoder three times slower.
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OutputError("OpenCV could not encode a JPEG image")
    return buffer.tobytes()
