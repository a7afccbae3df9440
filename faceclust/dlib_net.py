"""dlib's serialized networks in numpy: reading a model file, and its convolutions as matrix products.

dlib-bin is built without a BLAS, so its own forward passes are slow on the CPU. The networks
written as numpy matrix products, on the BLAS numpy ships with, give the same outputs (to float
rounding) several times faster. :mod:`.resnet` (the face embedding) and :mod:`.mmod` (the CNN
face detector) read their weights from dlib's own model files with :class:`Reader`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# The patch matrix of one convolution is built this many values at a time (128 MB of float32):
# a large photo's first layers would otherwise copy gigabytes at once.
PATCH_VALUES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Convolution:
    """A convolution with dlib's following affine (inference-time batch norm) folded in."""

    weights: np.ndarray  # (rows * columns * in_channels, filters), matching _patches' columns
    bias: np.ndarray  # (filters,)
    size: int
    stride: int
    padding: int

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``(n, h, w, in_channels)`` float32 to ``(n, h', w', filters)``."""
        patches = _patches(images, self.size, self.stride, self.padding)
        count, rows, columns = patches.shape[:3]
        out = np.empty((count, rows, columns, self.weights.shape[1]), np.float32)
        # Whole output rows at a time, so that the patch matrix stays bounded on large images.
        step = max(1, PATCH_VALUES // max(1, columns * self.weights.shape[0]))
        for image in range(count):
            for top in range(0, rows, step):
                block = patches[image, top : top + step]
                product = block.reshape(-1, self.weights.shape[0]) @ self.weights
                product += self.bias
                out[image, top : top + step] = product.reshape(block.shape[0], columns, -1)
        return out


def _patches(images: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    if padding:
        images = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    windows = sliding_window_view(images, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    # (n, h', w', size, size, channels): channels innermost, so that copying the patches into
    # one matrix (in Convolution) moves whole runs of channels; channel-major took 4x longer.
    return windows.transpose(0, 1, 2, 4, 5, 3)


class Reader:
    """dlib's serialization: integers as a length byte (0x80 set if negative) and that many
    little-endian bytes; strings as an integer length and the bytes; floats as an integer
    mantissa and exponent; tensors as version 2, four dimensions and raw float32 data."""

    def __init__(self, data: bytes):
        self.data = data
        self.position = 0

    def integer(self) -> int:
        control = self.data[self.position]
        end = self.position + 1 + (control & 0x0F)
        if control & 0x70 or end > len(self.data):
            raise ValueError(f"bad integer at byte {self.position}")
        value = int.from_bytes(self.data[self.position + 1 : end], "little")
        self.position = end
        return -value if control & 0x80 else value

    def string(self) -> str:
        length = self.integer()
        text = self.data[self.position : self.position + length].decode("ascii")
        self.position += length
        return text

    def real(self) -> float:
        mantissa = self.integer()
        return mantissa * 2.0 ** self.integer()

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise ValueError(f"unknown tensor version at byte {self.position}")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        if self.position + 4 * count > len(self.data):
            raise ValueError("the file ends inside a tensor")
        values = np.frombuffer(self.data, "<f4", count, self.position)
        self.position += 4 * count
        return values.astype(np.float32)  # a copy, so the file's bytes can be freed

    def skip_to(self, layer: str) -> None:
        """Move past the next serialized ``layer`` name (the wrapper layers in between hold
        no parameters)."""
        name = layer.encode("ascii")
        found = self.data.find(bytes([1, len(name)]) + name, self.position)
        if found < 0:
            raise ValueError(f"no {layer} layer after byte {self.position}")
        self.position = found
        self.string()

    def convolution(self, channels: int, filters: int, size: int, stride: int, padding: int) -> Convolution:
        """The next ``con_`` layer and the ``affine_`` layer after it, folded into one, checked
        against the layout expected."""
        self.skip_to("con_4")
        parameters = self.tensor()
        layout = [self.integer() for _ in range(7)]  # filters, rows, columns, strides, paddings
        if layout != [filters, size, size, stride, stride, padding, padding]:
            raise ValueError(f"a convolution is {layout}, expected {[filters, size, size, stride, padding]}")
        weight_count = filters * channels * size * size
        if parameters.size != weight_count + filters:
            raise ValueError(
                f"a convolution has {parameters.size} parameters, expected {weight_count + filters}"
            )
        bias = parameters[weight_count:]
        weights = parameters[:weight_count].reshape(filters, channels, size, size)
        return Convolution(
            weights=np.ascontiguousarray(weights.transpose(2, 3, 1, 0).reshape(-1, filters)),
            bias=bias,
            size=size,
            stride=stride,
            padding=padding,
        )

    def affine(self, convolution: Convolution) -> Convolution:
        """The next ``affine_`` layer folded into ``convolution``, which it follows."""
        filters = convolution.bias.size
        self.skip_to("affine_")
        scale_and_shift = self.tensor()
        if scale_and_shift.size != 2 * filters:
            raise ValueError(f"an affine layer has {scale_and_shift.size} parameters, expected {2 * filters}")
        scale, shift = scale_and_shift[:filters], scale_and_shift[filters:]
        return Convolution(
            weights=convolution.weights * scale,
            bias=convolution.bias * scale + shift,
            size=convolution.size,
            stride=convolution.stride,
            padding=convolution.padding,
        )
