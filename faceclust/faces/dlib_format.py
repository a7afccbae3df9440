"""dlib's serialized networks in numpy: reading a model file, and its convolutions as matrix products.

dlib-bin is built without a BLAS, so its own forward passes are slow on the CPU. The networks
written as numpy matrix products, on the BLAS numpy ships with, give the same outputs (to float
rounding) several times faster. :mod:`.embedding_net` (the face embedding) and :mod:`.cnn_detector` (the CNN
face detector) read their weights from dlib's own model files with :class:`Reader`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ModelError

Network = TypeVar("Network")

# The patch matrix of one convolution is built this many values (16 MB) at a time: a large
# photo's first layers would otherwise copy gigabytes at once, and blocks under glibc's 32 MB
# mmap threshold reuse the same memory instead of faulting fresh pages in (ten times slower).
PATCH_VALUES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Convolution:
    """A convolution with dlib's following affine (inference-time batch norm) folded in."""

    weights: np.ndarray  # (rows * columns * in_channels, filters), matching _patches' columns
    bias: np.ndarray  # (filters,)
    size: int
    stride: int
    padding: int

    def __call__(self, images: np.ndarray, relu: bool = False) -> np.ndarray:
        """``(n, h, w, in_channels)`` float32 to ``(n, h', w', filters)``; with ``relu``, negative
        outputs are zeroed (block by block, while each block is still in the cache)."""
        patches = _patches(images, self.size, self.stride, self.padding)
        count, rows, columns = patches.shape[:3]
        filters = self.weights.shape[1]
        out = np.empty((count, rows, columns, filters), np.float32)
        # Whole output rows at a time, so that the patch matrix stays bounded on large images;
        # each block's product is written straight into its rows of the output.
        step = max(1, PATCH_VALUES // max(1, columns * self.weights.shape[0]))
        for image in range(count):
            for top in range(0, rows, step):
                block = patches[image, top : top + step]
                target = out[image, top : top + step].reshape(-1, filters)
                np.matmul(block.reshape(-1, self.weights.shape[0]), self.weights, out=target)
                target += self.bias
                if relu:
                    np.maximum(target, 0, out=target)
        return out


def _patches(images: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    if padding:
        images = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    windows = sliding_window_view(images, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    # (n, h', w', size, size, channels): channels innermost, so that copying the patches into
    # one matrix (in Convolution) moves whole runs of channels; channel-major took 4x longer.
    return windows.transpose(0, 1, 2, 4, 5, 3)


def read_model(path: Path | str, read: Callable[[Reader], Network], what: str) -> Network:
    """The network ``read`` builds from dlib's model file at ``path``; a file that is not the
    layout ``read`` expects is a :class:`ModelError` naming ``what`` it should have been."""
    data = Path(path).read_bytes()
    try:
        return read(Reader(data))
    except (IndexError, ValueError, UnicodeDecodeError) as error:
        raise ModelError(f"{path} is not dlib's {what} model ({error})") from None


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
        return _scaled(convolution, scale_and_shift[:filters], scale_and_shift[filters:])

    def batch_norm(self, convolution: Convolution) -> Convolution:
        """The next ``bn_con2`` layer (a batch norm as saved in training, which dlib runs as
        the affine layer its running statistics give) folded into ``convolution``."""
        filters = convolution.bias.size
        self.skip_to("bn_con2")
        gamma_and_beta = self.tensor()
        for _ in range(2):  # the gamma and beta views into those parameters
            self.alias()
        self.tensor(), self.tensor()  # the last training batch's means and inverse deviations
        running_means, running_variances = self.tensor(), self.tensor()
        if not gamma_and_beta.size == running_means.size * 2 == running_variances.size * 2 == 2 * filters:
            raise ValueError(f"a batch norm layer does not have {filters} channels")
        self.integer(), self.integer()  # updates so far, the running statistics' window
        for _ in range(4):  # learning rate and weight decay multipliers
            self.real()
        epsilon = np.float32(self.real())
        # affine_'s constructor from a bn_: float32 throughout, as dlib computes it
        scale = gamma_and_beta[:filters] / np.sqrt(running_variances + epsilon)
        shift = gamma_and_beta[filters:] - scale * running_means
        return _scaled(convolution, scale, shift)

    def alias(self) -> None:
        """Skip an alias_tensor: a version and four dimensions."""
        if self.integer() != 1:
            raise ValueError(f"unknown alias tensor version at byte {self.position}")
        for _ in range(4):
            self.integer()


def _scaled(convolution: Convolution, scale: np.ndarray, shift: np.ndarray) -> Convolution:
    return Convolution(
        weights=convolution.weights * scale,
        bias=convolution.bias * scale + shift,
        size=convolution.size,
        stride=convolution.stride,
        padding=convolution.padding,
    )
