"""dlib's CNN face detector, ``mmod_human_face_detector``, run with numpy.

dlib-bin is built without a BLAS, so its CNN detector spends about 3 s on a 250 px photo here.
This module runs the same network from the same model file as numpy matrix products, and
reproduces each step dlib's ``cnn_face_detection_model_v1`` takes around it, so that the
detections are the same (tests compare the two on real photos):

1. upsampling: the photo is doubled ``upsample`` times (``pyramid_up`` with ``pyramid_down<2>``);
2. the input layer (``input_rgb_image_pyramid<pyramid_down<6>>``): the photo, less the
   channel means, over 256, and then every level of a 5/6 image pyramid, tiled into one image
   (levels down to 5 px, in two columns, 10 px apart, 11 px of border);
3. the network: three 5x5 convolutions of stride 2 (16, 32, 32 filters), three 5x5 ones of 45
   filters, each with its batch norm and ReLU, and one 9x9 filter giving a score per place;
4. the MMOD loss's detection step: every place scoring above 0 is an 80 x 80 window, mapped
   from the tiled pyramid back to the photo, and the windows are kept best first unless they
   overlap one already kept (the model's own non-maximum suppression thresholds);
5. the windows are mapped back down through the upsampling.

Where dlib works in float32 the code does too, and the bilinear resizes sample at the positions
dlib's SIMD loops do, so that pixels agree to the last bit nearly everywhere; what float
rounding is left moves a confidence by far less than 1e-4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dlib_format import Convolution, Reader, read_model

# (in channels, filters, size, stride, padding) of each convolution, in the order they run:
# the net_type of dlib's tools/python/src/cnn_face_detector.cpp.
LAYERS = (
    (3, 16, 5, 2, 0),
    (16, 32, 5, 2, 0),
    (32, 32, 5, 2, 0),
    (32, 45, 5, 1, 2),
    (45, 45, 5, 1, 2),
    (45, 45, 5, 1, 2),
)
SCORE_LAYER = (45, 1, 9, 1, 4)
# pyramid_down<6>: each level of the input pyramid is 5/6 the size of the one before, and a
# point on a level maps up to the one before as p * 6/5 + 0.3.
PYRAMID_RATE = 5 / 6
PYRAMID_UP = 6 / 5.0
# compute_tiled_image_pyramid_details: levels stop below 5 rows.
PYRAMID_MIN_HEIGHT = 5
# The first three convolutions (stride 2, no padding) run over bands of the tiled pyramid of
# about this many pixels, so that their outputs never exist whole for a large photo.
DOWNSAMPLERS = 3
BAND_PIXELS = 4 * 1024 * 1024
# The rows of the tiled pyramid handled at once by the score layer's shifted sums.
SCORE_ROWS = 256
# Values (channels x columns x rows) a resize computes at once: 4 MB blocks of float32.
RESIZE_VALUES = 1024 * 1024


@dataclass(frozen=True)
class Rect:
    """dlib's rectangle: inclusive integer corners."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def intersect(self, other: Rect) -> Rect:
        return Rect(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )

    def is_empty(self) -> bool:
        return self.left > self.right or self.top > self.bottom

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom


@dataclass(frozen=True)
class Detection:
    """A face the CNN found: its box in pixels of the photo, and the network's score."""

    rect: Rect
    confidence: float


def tiled_pyramid(rows: int, columns: int, padding: int, outer_padding: int) -> tuple[list[Rect], int, int]:
    """Where each pyramid level of a ``rows`` x ``columns`` image lies in the tiled image, and
    the tiled image's rows and columns: dlib's compute_tiled_image_pyramid_details."""
    if rows * columns == 0:
        return [], 0, 0
    sizes = [(columns, rows)]
    while True:
        rows, columns = math.floor(PYRAMID_RATE * rows), math.floor(PYRAMID_RATE * columns)
        if rows * columns == 0 or rows < PYRAMID_MIN_HEIGHT:
            break
        sizes.append((columns, rows))
    first_width, first_height = sizes[0]
    total_height = sum(height + padding for _, height in sizes) - 2 * padding
    height = 0
    previous_width = 0
    for width, level_height in sizes:
        # Down the first column until the next level fits beside the one before, and the
        # second column, going back up, can hold the rest.
        if width <= first_width - previous_width - padding and (height - first_height) * 2 >= (
            total_height - first_height
        ):
            break
        height += level_height + padding
        previous_width = width
    height -= padding
    canvas_rows, canvas_columns = height + 2 * outer_padding, first_width + 2 * outer_padding

    rects: list[Rect] = []
    y = outer_padding
    while y < height + outer_padding and len(rects) < len(sizes):
        width, level_height = sizes[len(rects)]
        rects.append(Rect(outer_padding, y, outer_padding + width - 1, y + level_height - 1))
        y += level_height + padding
    y -= padding
    while len(rects) < len(sizes):
        width, level_height = sizes[len(rects)]
        right, bottom = outer_padding + first_width - 1, y - 1
        rect = Rect(right - (width - 1), bottom - (level_height - 1), right, bottom)
        # The last levels are dropped where they would run into the full-size image.
        if not rects[0].intersect(rect).is_empty():
            break
        rects.append(rect)
        y -= level_height + padding
    return rects, canvas_rows, canvas_columns


def resize_bilinear(planes: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """``planes`` (channels, h, w), uint8 or float32, resized as dlib's resize_image does it.

    dlib maps the corner pixels onto each other, steps down the rows in double precision and
    across the columns four at a time in float32 (SIMD lanes); the last few columns, where a
    lane would read past the edge, in double. uint8 results are truncated, not rounded.
    """
    in_rows, in_columns = planes.shape[1:]
    x_scale = (in_columns - 1) / max(columns - 1, 1)
    y_scale = (in_rows - 1) / max(rows - 1, 1)

    y = np.add.accumulate(np.r_[-y_scale, np.full(rows, y_scale)])[1:]
    top = np.floor(y).astype(np.intp)
    bottom = np.minimum(top + 1, in_rows - 1)
    tb = y - top

    # The SIMD columns: lane j starts at float32(-4 x_scale + j x_scale) and adds
    # float32(4 x_scale) once per group of four before its first use.
    groups = columns // 4 + 1
    lanes = np.empty((groups + 1, 4), np.float32)
    lanes[0] = (-4 * x_scale + np.arange(4) * x_scale).astype(np.float32)
    lanes[1:] = np.float32(4 * x_scale)
    x = np.add.accumulate(lanes, axis=0, dtype=np.float32)[1:].ravel()
    left = x.astype(np.int32)  # truncation, as _mm_cvttps_epi32
    beyond = np.nonzero(left.reshape(-1, 4)[:, 3] + 1 >= in_columns)[0]
    simd_columns = min(4 * int(beyond[0]) if len(beyond) else 4 * groups, columns)
    x, left = x[:simd_columns], left[:simd_columns].astype(np.intp)
    lr = x - left.astype(np.float32)
    inv_lr = np.float32(1) - lr
    tb32 = tb.astype(np.float32)[:, None]
    inv_tb32 = (1 - tb).astype(np.float32)[:, None]

    tail = np.add.accumulate(
        np.r_[-x_scale + simd_columns * x_scale, np.full(columns - simd_columns, x_scale)]
    )[1:]
    tail_left = np.floor(tail).astype(np.intp)
    tail_right = np.minimum(tail_left + 1, in_columns - 1)
    lr64 = tail - tail_left

    out = np.empty((planes.shape[0], rows, columns), planes.dtype)
    # A block of output rows at a time: the temporaries stay small on large images.
    step = max(1, RESIZE_VALUES // max(1, planes.shape[0] * columns))
    for first in range(0, rows, step):
        block = slice(first, min(rows, first + step))
        top_rows = np.take(planes, top[block], axis=1).astype(np.float32, copy=False)
        bottom_rows = np.take(planes, bottom[block], axis=1).astype(np.float32, copy=False)
        tb_block, inv_tb_block = tb32[block], inv_tb32[block]
        # ((tl w_tl + tr w_tr) + bl w_bl) + br w_br, in float32 as the SIMD loop adds them
        simd = np.take(top_rows, left, axis=2)
        simd *= inv_tb_block * inv_lr
        term = np.take(top_rows, left + 1, axis=2)
        term *= inv_tb_block * lr
        simd += term
        np.take(bottom_rows, left, axis=2, out=term)
        term *= tb_block * inv_lr
        simd += term
        np.take(bottom_rows, left + 1, axis=2, out=term)
        term *= tb_block * lr
        simd += term
        out[:, block, :simd_columns] = simd.astype(np.int32) if planes.dtype == np.uint8 else simd
        if simd_columns < columns:
            tb64 = tb[block, None]
            values = (1 - tb64) * (
                (1 - lr64) * top_rows[:, :, tail_left] + lr64 * top_rows[:, :, tail_right]
            ) + tb64 * ((1 - lr64) * bottom_rows[:, :, tail_left] + lr64 * bottom_rows[:, :, tail_right])
            out[:, block, simd_columns:] = values.astype(np.int32) if planes.dtype == np.uint8 else values
    return out


def pyramid_up(planes: np.ndarray) -> np.ndarray:
    """``planes`` (channels, h, w) doubled as dlib's pyramid_up with pyramid_down<2> does: its
    rectangle mapped up ((p + (1.25, 0.75)) * 2, rounded) gives the new size."""
    rows, columns = planes.shape[1:]
    right, bottom = _lround(np.array([(columns - 1 + 1.25) * 2, (rows - 1 + 0.75) * 2]))
    return resize_bilinear(planes, int(bottom) + 1, int(right) + 1)


class FaceDetectorNet:
    """dlib's MMOD CNN face detector: finds faces of about 80 px and larger (40 px and larger
    with one upsample)."""

    def __init__(
        self,
        channel_means: np.ndarray,
        convolutions: list[Convolution],
        score: Convolution,
        window: tuple[int, int],
        nms: tuple[float, float],
        padding: tuple[int, int],
    ):
        self.channel_means = channel_means
        self.convolutions = convolutions
        self.score = score
        self.window_width, self.window_height = window
        self.nms_iou, self.nms_covered = nms
        self.padding, self.outer_padding = padding

    @classmethod
    def from_file(cls, path: Path | str) -> FaceDetectorNet:
        return read_model(path, _read_network, "CNN face detector")

    def __call__(self, rgb: np.ndarray, upsample: int = 0, threshold: float = 0.0) -> list[Detection]:
        """The faces in one ``(h, w, 3)`` uint8 RGB image, best first; ``threshold`` is dlib's
        adjust_threshold (the score a window needs, 0 by default)."""
        kept: list[Detection] = []
        for detection in self.windows(rgb, upsample, threshold):
            if not any(self._overlaps(other.rect, detection.rect) for other in kept):
                kept.append(detection)
        return kept

    def windows(self, rgb: np.ndarray, upsample: int = 0, threshold: float = 0.0) -> list[Detection]:
        """Every window scoring above ``threshold``, best first, before non-maximum suppression."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (h, w, 3) uint8 image, not {rgb.shape} {rgb.dtype}")
        planes = np.ascontiguousarray(rgb.transpose(2, 0, 1))
        for _ in range(upsample):
            planes = pyramid_up(planes)
        levels, canvas_rows, canvas_columns = tiled_pyramid(
            *planes.shape[1:], self.padding, self.outer_padding
        )
        if not levels:
            return []
        scores = self._scores(planes, levels, (canvas_rows, canvas_columns))
        rows, columns = np.nonzero(scores > threshold)
        confidences = scores[rows, columns].astype(np.float64)
        # The window in whole pixels of the (upsampled) image, then pyramid_down<2>::rect_down
        # through the upsampling, rounded once at the end.
        corners = _lround(_to_image(levels, self._window_corners(rows, columns)))
        for _ in range(upsample):
            corners = corners / 2 - np.array([1.25, 0.75, 1.25, 0.75])
        corners = _lround(corners)
        # std::sort of the windows by score, then taken from the best
        order = np.argsort(-confidences, kind="stable")
        return [Detection(Rect(*map(int, corners[i])), float(confidences[i])) for i in order]

    def _tiled_input(self, planes: np.ndarray, levels: list[Rect], shape: tuple[int, int]) -> np.ndarray:
        """The tiled pyramid (rows, columns, 3) of the (3, h, w) image ``planes``. Each level is
        resized from the one before in planes, as dlib's tensor holds it, and copied into the
        canvas channels last, the layout the convolutions read."""
        canvas = np.zeros((*shape, 3), np.float32)
        level_planes = (planes.astype(np.float32) - self.channel_means[:, None, None]) / np.float32(256)
        for index, level in enumerate(levels):
            if index:
                level_planes = resize_bilinear(level_planes, level.height, level.width)
            canvas[level.top : level.bottom + 1, level.left : level.right + 1] = level_planes.transpose(
                1, 2, 0
            )
        return canvas

    def _scores(self, planes: np.ndarray, levels: list[Rect], shape: tuple[int, int]) -> np.ndarray:
        canvas = self._tiled_input(planes, levels, shape)
        downsampling, rest = self.convolutions[:DOWNSAMPLERS], self.convolutions[DOWNSAMPLERS:]
        x = self._downsampled(canvas, downsampling)
        del canvas
        for convolution in rest:
            if x.shape[1] == 0 or min(x.shape[1:3]) + 2 * convolution.padding < convolution.size:
                return np.empty((0, 0), np.float32)  # too small to hold one window
            x = convolution(x, relu=True)
        return _single_filter(x[0], self.score)

    @staticmethod
    def _downsampled(canvas: np.ndarray, downsampling: list[Convolution]) -> np.ndarray:
        """The three stride-2 convolutions over the canvas, in bands of rows on a large one.

        They have no padding, so an output row depends only on input rows 2i to 2i + 4, and a
        band of output rows can be computed from its band of the canvas alone, exactly: the
        full-size outputs of the first two layers (1/4 and 1/16 of the canvas, 16 and 32
        channels) never exist at once, only the last one's.
        """
        rows = canvas.shape[0]
        for convolution in downsampling:
            if rows < convolution.size:
                return np.empty((1, 0, 0, downsampling[-1].bias.size), np.float32)
            rows = (rows - convolution.size) // convolution.stride + 1
        # The canvas rows that a band of final rows [a, b) needs: [8a, 8b + 21).
        reach = 0
        for convolution in reversed(downsampling):
            reach = reach * convolution.stride + convolution.size - convolution.stride
        scale = int(np.prod([convolution.stride for convolution in downsampling]))
        band = max(1, (BAND_PIXELS // canvas.shape[1] - reach) // scale)
        parts = []
        for first in range(0, rows, band):
            last = min(rows, first + band)
            x = canvas[None, first * scale : last * scale + reach]
            for convolution in downsampling:
                x = convolution(x, relu=True)
            parts.append(x[:, : last - first])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _window_corners(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """(n, 4) left, top, right, bottom of the windows centred on these places of the score
        map, in the tiled input: each stride-2 5x5 convolution maps p to 2p + 2, the others
        keep it (dlib's map_output_to_input)."""
        x, y = columns.astype(np.float64), rows.astype(np.float64)
        for convolution in reversed(self.convolutions):
            x = x * convolution.stride - convolution.padding + convolution.size // 2
            y = y * convolution.stride - convolution.padding + convolution.size // 2
        half_width, half_height = (self.window_width - 1) / 2, (self.window_height - 1) / 2
        return np.stack([x - half_width, y - half_height, x + half_width, y + half_height], axis=1)

    def _overlaps(self, a: Rect, b: Rect) -> bool:
        """dlib's test_box_overlap: the shared area against the box holding both, or against
        either box."""
        inner = a.intersect(b).area
        outer = Rect(
            min(a.left, b.left), min(a.top, b.top), max(a.right, b.right), max(a.bottom, b.bottom)
        ).area
        return (
            inner / outer > self.nms_iou
            or inner / a.area > self.nms_covered
            or inner / b.area > self.nms_covered
        )


def _single_filter(x: np.ndarray, score: Convolution) -> np.ndarray:
    """A same-size convolution with one filter, as one matrix product per block of rows and a
    sum of shifted planes: its patch matrix would copy 81 times the input."""
    size, padding = score.size, score.padding
    rows, columns, channels = x.shape
    taps = score.weights[:, 0].reshape(size * size, channels).T  # (channels, size * size)
    padded = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    out = np.empty((rows, columns), np.float32)
    for top in range(0, rows, SCORE_ROWS):
        bottom = min(rows, top + SCORE_ROWS)
        block = padded[top : bottom + 2 * padding]
        planes = (block.reshape(-1, channels) @ taps).reshape(block.shape[0], block.shape[1], size * size)
        total = np.zeros((bottom - top, columns), np.float32)
        for dy in range(size):
            for dx in range(size):
                total += planes[dy : dy + bottom - top, dx : dx + columns, dy * size + dx]
        out[top:bottom] = total + score.bias[0]
    return out


def _lround(values: np.ndarray) -> np.ndarray:
    """std::lround: halves away from zero."""
    return np.copysign(np.floor(np.abs(values) + 0.5), values)


def _to_image(levels: list[Rect], corners: np.ndarray) -> np.ndarray:
    """tiled_pyramid_to_image for (n, 4) window corners: the level nearest each window's centre
    (the first holding it, else the closest), and the corners scaled up from that level
    (p * 6/5 + 0.3 per level)."""
    centre_x = np.round((corners[:, 0] + corners[:, 2]) / 2)
    centre_y = np.round((corners[:, 1] + corners[:, 3]) / 2)
    holding = np.full(len(corners), -1)
    distances = np.empty((len(levels), len(corners)))
    for index, level in enumerate(levels):
        dx = np.maximum(np.maximum(level.left - centre_x, centre_x - level.right), 0)
        dy = np.maximum(np.maximum(level.top - centre_y, centre_y - level.bottom), 0)
        distances[index] = np.hypot(dx, dy)
        holding[(holding < 0) & (distances[index] == 0)] = index
    level_of = np.where(holding >= 0, holding, np.argmin(distances, axis=0))
    origins = np.array([[level.left, level.top, level.left, level.top] for level in levels], np.float64)
    points = corners - origins[level_of]
    for up in range(int(level_of.max(initial=0))):
        higher = level_of > up
        points[higher] = points[higher] * PYRAMID_UP + 0.3
    return points


def _read_network(reader: Reader) -> FaceDetectorNet:
    if reader.integer() != 1 or reader.string() != "loss_mmod_":
        raise ValueError("the network's loss is not MMOD")
    window, nms = _read_mmod_options(reader)
    reader.skip_to("input_rgb_image_pyramid")
    channel_means = np.array([reader.real() for _ in range(3)], np.float32)
    # input_rgb_image_pyramid (version 1) stores no padding: dlib then uses 10 and 11
    padding = (10, 11)
    convolutions = [reader.batch_norm(reader.convolution(*layout)) for layout in LAYERS]
    score = reader.convolution(*SCORE_LAYER)
    return FaceDetectorNet(channel_means, convolutions, score, window, nms, padding)


def _read_mmod_options(reader: Reader) -> tuple[tuple[int, int], tuple[float, float]]:
    """mmod_options version 1: one detector window, then the loss settings and two overlap
    tests; only the window and the non-maximum suppression test matter for detecting."""
    version = reader.integer()
    if version != 1:
        raise ValueError(f"mmod_options version {version} is not the face detector's (1)")
    window = (reader.integer(), reader.integer())
    for _ in range(3):  # loss per false alarm, per missed target, truth match threshold
        reader.real()
    nms = (reader.real(), reader.real())
    return window, nms
