"""dlib's face-embedding ResNet, ``dlib_face_recognition_resnet_model_v1``, run with numpy.

dlib-bin is built without a BLAS, so dlib's own forward pass spends about 90 ms on each face
here. The same network written as numpy matrix products, on the BLAS numpy ships with, takes
about 10 ms and gives the same vectors to within 1e-6 (tests compare the two on real faces).

The weights are read from dlib's model file itself. It is dlib's serialization of the network,
outermost layer first; its parameter tensors are little-endian float32 arrays, and they come
in the order the layers run. The layout is checked against :data:`BLOCKS`, so a different
file is refused with an error instead of giving wrong vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..records import EMBEDDING_SIZE
from .dlib_format import Convolution, Reader, read_model

# dlib's ResNet sees each face as a 150 px chip aligned on its landmarks.
INPUT_SIZE = 150
STEM_FILTERS = 32
# (filters, downsamples) of each residual block in the order they run: dlib's anet_type in
# dnn_face_recognition_ex.cpp (alevel4 ... alevel0).
BLOCKS = (
    ((32, False),) * 3
    + ((64, True),)
    + ((64, False),) * 3
    + ((128, True),)
    + ((128, False),) * 2
    + ((256, True),)
    + ((256, False),) * 2
    + ((256, True),)
)
# Chips are run through the network this many at a time: enough for BLAS to work on large
# matrices, small enough that the biggest intermediate stays under about 50 MB.
BATCH_SIZE = 16


def _max_pool_3x3_stride_2(images: np.ndarray) -> np.ndarray:
    rows = (images.shape[1] - 3) // 2 + 1
    columns = (images.shape[2] - 3) // 2 + 1
    out = images[:, : 2 * rows : 2, : 2 * columns : 2].copy()
    for dy, dx in [(dy, dx) for dy in range(3) for dx in range(3)][1:]:
        np.maximum(out, images[:, dy : dy + 2 * rows : 2, dx : dx + 2 * columns : 2], out=out)
    return out


def _average_pool_2x2_stride_2(images: np.ndarray) -> np.ndarray:
    rows = (images.shape[1] - 2) // 2 + 1
    columns = (images.shape[2] - 2) // 2 + 1
    out = np.zeros((images.shape[0], rows, columns, images.shape[3]), np.float32)
    for dy in range(2):
        for dx in range(2):
            out += images[:, dy : dy + 2 * rows : 2, dx : dx + 2 * columns : 2]
    out *= 0.25
    return out


def _add_padded(block: np.ndarray, shortcut: np.ndarray) -> np.ndarray:
    """dlib's add_prev: tensors of different sizes add as if padded with zeros at the end of
    each axis (a downsampling block's shortcut has fewer channels and can be a pixel larger)."""
    shape = tuple(int(size) for size in np.maximum(block.shape, shortcut.shape))
    if block.shape == shape:
        out = block
    else:
        out = np.zeros(shape, np.float32)
        out[:, : block.shape[1], : block.shape[2], : block.shape[3]] = block
    out[:, : shortcut.shape[1], : shortcut.shape[2], : shortcut.shape[3]] += shortcut
    return out


class FaceEmbeddingNet:
    """Maps aligned 150 px face chips to dlib's 128-d face embeddings."""

    def __init__(self, channel_means: np.ndarray, convolutions: list[Convolution], projection: np.ndarray):
        self.channel_means = channel_means
        self.convolutions = convolutions
        self.projection = projection

    @classmethod
    def from_file(cls, path: Path | str) -> FaceEmbeddingNet:
        return read_model(path, _read_network, "face embedding")

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        """``(n, 150, 150, 3)`` uint8 RGB chips to ``(n, 128)`` float32 embeddings."""
        if chips.ndim != 4 or chips.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"chips must be (n, {INPUT_SIZE}, {INPUT_SIZE}, 3), not {chips.shape}")
        parts = [self._forward(chips[i : i + BATCH_SIZE]) for i in range(0, len(chips), BATCH_SIZE)]
        return np.concatenate(parts) if parts else np.empty((0, EMBEDDING_SIZE), np.float32)

    def _forward(self, chips: np.ndarray) -> np.ndarray:
        # dlib's input layer: (pixel - channel mean) / 256
        x = (chips.astype(np.float32) - self.channel_means) * np.float32(1 / 256)
        convolutions = iter(self.convolutions)
        x = next(convolutions)(x, relu=True)
        x = _max_pool_3x3_stride_2(x)
        for _, downsamples in BLOCKS:
            y = next(convolutions)(x, relu=True)
            y = next(convolutions)(y)
            x = _add_padded(y, _average_pool_2x2_stride_2(x)) if downsamples else y + x
            np.maximum(x, 0, out=x)
        return x.mean(axis=(1, 2), dtype=np.float32) @ self.projection


def _read_network(reader: Reader) -> FaceEmbeddingNet:
    reader.skip_to("input_rgb_image_sized")
    channel_means = np.array([reader.real() for _ in range(3)], np.float32)
    if (reader.integer(), reader.integer()) != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"the input is not {INPUT_SIZE} x {INPUT_SIZE}")
    # (in channels, filters, size, stride, padding) of each convolution, in the order they run
    expected = [(3, STEM_FILTERS, 7, 2, 0)]
    channels = STEM_FILTERS
    for filters, downsamples in BLOCKS:
        expected += [(channels, filters, 3, 2, 0) if downsamples else (channels, filters, 3, 1, 1)]
        expected += [(filters, filters, 3, 1, 1)]
        channels = filters
    convolutions = [reader.affine(reader.convolution(*layout)) for layout in expected]
    reader.skip_to("fc_2")
    outputs, inputs = reader.integer(), reader.integer()
    weights = reader.tensor()
    if (inputs, outputs) != (channels, EMBEDDING_SIZE) or weights.size != inputs * outputs:
        raise ValueError(f"the last layer maps {inputs} to {outputs} values")
    return FaceEmbeddingNet(channel_means, convolutions, weights.reshape(inputs, outputs))
