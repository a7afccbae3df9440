"""YuNet, libfacedetection's face detector: boxes and five landmarks of faces from about 10 px,
in one pass over the image.

The network (Shiqi Yu's libfacedetection, 3-clause BSD; licence in YUNET_LICENSE.txt) is 53
convolutions, each 1x1 ("pointwise") or 3x3 per channel ("depthwise"), as
``src/facedetectcnn-model.cpp`` chains them: a 3x3 stride-2 head, a backbone of depthwise-
separable pairs with 2x2 max-pooling down to 1/32, a feature pyramid that adds each level to
the one below, and per level (strides 8, 16, 32) four heads: face score, objectness, box and
landmarks. tools/yunet_weights.py writes it, weights and all, as yunet.onnx, which OpenCV's DNN
module runs (0.13 s for 3 megapixels on one core, where the same network in numpy with
OpenCV's per-channel filters took 0.25 s). This module follows ``src/facedetectcnn.cpp`` for
the rest (the image padded with zeros to a multiple of 32, BGR pixel values unscaled, the box
decoding, confidence the geometric mean of the two scores, its NMS): tests/test_yunet.py
compares it with the C++ compiled once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL = Path(__file__).with_name("yunet.onnx")
# detection_output's arguments in facedetectcnn-model.cpp.
NMS_OVERLAP = 0.45
CONFIDENCE = 0.2
TOP_K = 1000
KEEP_TOP_K = 512
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Detection:
    """One face: its score (0-1), box ``(x, y, w, h)`` and five landmarks (right eye, left eye,
    nose tip, mouth's right and left corners, as ``(x, y)``), in pixels of the image searched,
    as floats (the C++ truncates them to integers when it reports them)."""

    score: float
    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]


class YuNet:
    """The network, read once; :meth:`detect` takes an RGB image."""

    def __init__(self, path: Path = MODEL):
        import cv2

        self.net = cv2.dnn.readNetFromONNX(np.fromfile(path, dtype=np.uint8))
        self.names = [f"stride{stride}" for stride in STRIDES]

    def outputs(self, bgr: np.ndarray) -> dict[int, np.ndarray]:
        """Per stride, the raw head outputs ``(16, h, w)``: score, box (4), objectness, landmarks
        (10), before decoding."""
        height, width = bgr.shape[:2]
        blob = np.zeros((1, 3, math.ceil(height / 32) * 32, math.ceil(width / 32) * 32), np.float32)
        blob[0, :, :height, :width] = bgr.transpose(2, 0, 1)
        self.net.setInput(blob)
        return {stride: out[0] for stride, out in zip(STRIDES, self.net.forward(self.names), strict=True)}

    def detect(self, rgb: np.ndarray, confidence: float = CONFIDENCE) -> list[Detection]:
        """The faces in an RGB image, best first, as libfacedetection's objectdetect_cnn finds
        them in the same image in BGR."""
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        scores, boxes, landmarks = [], [], []
        for stride, out in self.outputs(bgr).items():
            rows, cols = out.shape[1:]
            ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32) * stride
            out = out.reshape(16, -1).T
            xs, ys = xs.ravel(), ys.ravel()
            cls, reg, obj, kps = out[:, 0], out[:, 1:5], out[:, 5], out[:, 6:16]
            score = np.sqrt(_sigmoid(cls) * _sigmoid(obj))
            cx, cy = reg[:, 0] * stride + xs, reg[:, 1] * stride + ys
            w, h = np.exp(reg[:, 2]) * stride, np.exp(reg[:, 3]) * stride
            scores.append(score)
            boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
            points = kps.reshape(-1, 5, 2) * stride + np.stack([xs, ys], axis=1)[:, None, :]
            landmarks.append(points)
        score = np.concatenate(scores)
        box = np.concatenate(boxes)
        points = np.concatenate(landmarks)
        candidates = np.flatnonzero(score >= confidence)
        # Stable, best first, as std::stable_sort in the C++; then its top_k.
        candidates = candidates[np.argsort(-score[candidates], kind="stable")][:TOP_K]
        kept = _nms(box[candidates], NMS_OVERLAP)[:KEEP_TOP_K]
        found = []
        for index in candidates[kept].tolist():
            x0, y0, x1, y1 = box[index].tolist()
            found.append(
                Detection(
                    float(score[index]),
                    (x0, y0, x1 - x0, y1 - y0),
                    tuple((float(x), float(y)) for x, y in points[index].tolist()),
                )
            )
        return found


def _sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, -88.3762626647949, 88.3762626647949)
    return 1.0 / (1.0 + np.exp(-x))


def _nms(boxes: np.ndarray, overlap: float) -> np.ndarray:
    """Greedy non-maximum suppression over boxes already best first, as detection_output does
    it: a box is kept unless it overlaps a kept one by more than ``overlap`` (IoU)."""
    kept: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for index in range(len(boxes)):
        if kept:
            others = boxes[kept]
            width = np.minimum(others[:, 2], boxes[index, 2]) - np.maximum(others[:, 0], boxes[index, 0])
            height = np.minimum(others[:, 3], boxes[index, 3]) - np.maximum(others[:, 1], boxes[index, 1])
            inside = np.where((width > 0) & (height > 0), width * height, 0.0)
            iou = inside / (areas[kept] + areas[index] - inside)
            if (iou > overlap).any():
                continue
        kept.append(index)
    return np.array(kept, dtype=np.int64)


# One pass of the network over at most this many pixels: past it the image is searched in
# overlapping tiles, and again at a quarter of the size for faces too large for a tile's overlap.
MAX_PASS_PIXELS = 4_000_000
TILE = 2048
OVERLAP = 512


def detect_tiled(net: YuNet, rgb: np.ndarray, confidence: float = CONFIDENCE) -> list[Detection]:
    """:meth:`YuNet.detect` over an image of any size: whole when it is small enough, else in
    tiles of :data:`TILE` px overlapping by :data:`OVERLAP` (every face up to that size lies
    whole in one tile, which alone reports it) plus a pass at a quarter of the size for faces
    from half that size up, the detections of all joined by the same non-maximum
    suppression."""
    height, width = rgb.shape[:2]
    if height * width <= MAX_PASS_PIXELS:
        return net.detect(rgb, confidence)
    found: list[Detection] = []
    step = TILE - OVERLAP
    margin = OVERLAP / 2
    for y in range(0, max(1, height - OVERLAP), step):
        for x in range(0, max(1, width - OVERLAP), step):
            tile = rgb[y : y + TILE, x : x + TILE]
            # Each tile keeps the faces centred in its core (the tile less half the overlap on
            # every side it shares): a face no larger than the overlap lies whole in the tile
            # whose core holds its centre, and a face cut by a tile's edge is centred outside it.
            low_x, low_y = (margin if x else 0.0), (margin if y else 0.0)
            high_x = tile.shape[1] - (margin if x + TILE < width else 0.0)
            high_y = tile.shape[0] - (margin if y + TILE < height else 0.0)
            for detection in net.detect(tile, confidence):
                bx, by, bw, bh = detection.box
                centre_x, centre_y = bx + bw / 2, by + bh / 2
                if max(bw, bh) <= OVERLAP and low_x <= centre_x < high_x and low_y <= centre_y < high_y:
                    found.append(_moved(detection, x, y, 1.0))
    import cv2

    quarter = cv2.resize(rgb, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA)
    # Faces too large for the tiles, from the quarter-size pass.
    found += [
        _moved(detection, 0, 0, 4.0)
        for detection in detect_tiled(net, quarter, confidence)
        # From half the overlap up, where the tiles keep faces up to the overlap: the ranges
        # overlap, as one face's box differs between the two scales (a face the tiles saw as
        # 531 px was 500 px at quarter size, and neither kept it), and the non-maximum
        # suppression below keeps one of the two.
        if max(detection.box[2], detection.box[3]) * 4 > OVERLAP / 2
    ]
    found.sort(key=lambda detection: -detection.score)
    boxes = np.array([[d.box[0], d.box[1], d.box[0] + d.box[2], d.box[1] + d.box[3]] for d in found]).reshape(
        -1, 4
    )
    return [found[index] for index in _nms(boxes, NMS_OVERLAP).tolist()]


def _moved(detection: Detection, x: float, y: float, scale: float) -> Detection:
    bx, by, bw, bh = detection.box
    return Detection(
        detection.score,
        (bx * scale + x, by * scale + y, bw * scale, bh * scale),
        tuple((px * scale + x, py * scale + y) for px, py in detection.landmarks),
    )
