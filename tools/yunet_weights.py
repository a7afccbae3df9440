"""Convert libfacedetection's YuNet (C++ arrays and code) into faceclust/faces/yunet.onnx.

    .venv/bin/python tools/yunet_weights.py LIBFACEDETECTION_CHECKOUT

libfacedetection (https://github.com/ShiqiYu/libfacedetection, 3-clause BSD licence, Shiqi Yu)
keeps its network's 53 convolutions as float arrays in ``src/facedetectcnn-data.cpp`` and lists
them, in the order the network uses them, in ``param_pConvInfo``: input channels, filters,
depthwise or pointwise, ReLU. This reads both (a pointwise layer's weights ``(filters,
channels)``, a depthwise one's ``(9, channels)``, row-major 3x3 taps) and writes the network as
``src/facedetectcnn-model.cpp`` chains them (:func:`network`) in ONNX, with the commit it was
made from, for OpenCV's DNN module to run (faceclust/faces/yunet.py); the licence notice is
copied to faceclust/faces/YUNET_LICENSE.txt. Needs the ``onnx`` package (requirements-dev.txt).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "faceclust" / "faces" / "yunet.onnx"
# The heads of each level, as faceclust/faces/yunet.py reads them.
STRIDES = (8, 16, 32)
LICENSE = REPO / "faceclust" / "faces" / "YUNET_LICENSE.txt"

ARRAY = re.compile(r"float\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{([^}]*)\}\s*;")
ENTRY = re.compile(
    r"\{\s*(\d+)\s*,\s*(\d+)\s*,\s*(true|false)\s*,\s*(true|false)\s*,\s*(true|false)\s*,\s*(\w+)\s*,\s*(\w+)\s*\}"
)


def convert(checkout: Path) -> dict[str, np.ndarray]:
    source = (checkout / "src" / "facedetectcnn-data.cpp").read_text()
    arrays = {
        name: np.array(
            [float(value.rstrip("f")) for value in body.replace("\n", "").split(",") if value.strip()],
            np.float32,
        )
        for name, body in ARRAY.findall(source)
    }
    table = source[source.index("param_pConvInfo") :]
    layers = ENTRY.findall(table)
    out: dict[str, np.ndarray] = {}
    kinds = []
    for number, (channels, filters, depthwise, pointwise, _relu, weights, biases) in enumerate(layers):
        channels, filters = int(channels), int(filters)
        if pointwise == "true" and depthwise == "false":
            out[f"w{number}"] = arrays[weights].reshape(filters, channels)
            kinds.append(1)
        elif depthwise == "true" and pointwise == "false":
            out[f"w{number}"] = arrays[weights].reshape(9, channels)
            kinds.append(2)
        else:
            raise SystemExit(f"layer {number}: neither pointwise nor depthwise")
        out[f"b{number}"] = arrays[biases].reshape(filters)
    out["kinds"] = np.array(kinds, np.int8)
    return out


def network(layers: dict[str, np.ndarray], source: str):
    """The ONNX model of YuNet's forward pass, as facedetectcnn-model.cpp's objectdetect_cnn runs
    it: input ``(1, 3, h, w)`` BGR pixel values unscaled, ``h`` and ``w`` multiples of 32 (the
    image padded with zeros below and right); outputs ``stride8``, ``stride16``, ``stride32``,
    each ``(1, 16, h / s, w / s)``: face score, box (4), objectness, landmarks (10), before
    decoding."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers = [], []

    def named(prefix: str) -> str:
        return f"{prefix}{len(nodes)}_{len(initializers)}"

    def constant(array: np.ndarray) -> str:
        name = named("c")
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attributes) -> str:
        out = named(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    def conv(x: str, number: int, relu: bool) -> str:
        weights, biases = layers[f"w{number}"], layers[f"b{number}"]
        if number == 0:
            # The head: 3x3 stride 2 over the image, which the C++ lays out as 27 channels
            # (tap by tap, three colours each, five zero channels after) and multiplies as 1x1.
            filters = weights.shape[0]
            kernel = weights[:, :27].reshape(filters, 3, 3, 3).transpose(0, 3, 1, 2)
            out = node(
                "Conv",
                [x, constant(kernel), constant(biases)],
                kernel_shape=[3, 3],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
            )
        elif layers["kinds"][number] == 1:  # pointwise
            out = node(
                "Conv", [x, constant(weights[:, :, None, None]), constant(biases)], kernel_shape=[1, 1]
            )
        else:  # depthwise: one 3x3 filter per channel, zero padding
            channels = weights.shape[1]
            kernel = weights.T.reshape(channels, 1, 3, 3)
            out = node(
                "Conv",
                [x, constant(kernel), constant(biases)],
                kernel_shape=[3, 3],
                pads=[1, 1, 1, 1],
                group=channels,
            )
        return node("Relu", [out]) if relu else out

    def dp(x: str, pointwise: int, depthwise: int, relu: bool = True) -> str:
        """convolutionDP: pointwise without ReLU, then depthwise (with ReLU if asked)."""
        return conv(conv(x, pointwise, False), depthwise, relu)

    def unit(x: str, first: int) -> str:
        """convolution4layerUnit: two depthwise-separable pairs, both with ReLU."""
        return dp(dp(x, first, first + 1), first + 2, first + 3)

    def maxpool(x: str) -> str:
        return node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])

    def upsample_add(x: str, below: str) -> str:
        scales = constant(np.array([1, 1, 2, 2], np.float32))
        return node("Add", [node("Resize", [x, "", scales], mode="nearest"), below])

    x = conv("input", 0, True)
    x = maxpool(dp(x, 1, 2))
    x = maxpool(unit(unit(x, 3), 7))
    level8 = unit(x, 11)
    level16 = unit(maxpool(level8), 15)
    level32 = dp(unit(maxpool(level16), 19), 27, 28)
    level16 = dp(upsample_add(level32, level16), 25, 26)
    level8 = dp(upsample_add(level16, level8), 23, 24)
    outputs = []
    # Layers of each head by level: score 29/31/33, box 35/37/39, objectness 41/43/45,
    # landmarks 47/49/51 (each a pointwise and a depthwise layer, no ReLU).
    for level, (stride, x) in enumerate(zip(STRIDES, (level8, level16, level32), strict=True)):
        parts = [dp(x, first + 2 * level, first + 2 * level + 1, relu=False) for first in (29, 35, 41, 47)]
        nodes.append(helper.make_node("Concat", parts, [f"stride{stride}"], axis=1))
        outputs.append(
            helper.make_tensor_value_info(f"stride{stride}", TensorProto.FLOAT, [1, 16, None, None])
        )
    graph = helper.make_graph(
        nodes,
        "yunet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, None, None])],
        outputs,
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], doc_string=source)
    model.ir_version = 8  # what OpenCV's importer and onnxruntime of 2023 on read
    return model


def main() -> int:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    checkout = Path(sys.argv[1])
    weights = convert(checkout)
    try:
        commit = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    import onnx

    model = network(weights, f"ShiqiYu/libfacedetection@{commit}")
    onnx.checker.check_model(model)
    TARGET.write_bytes(model.SerializeToString())
    LICENSE.write_text(
        "YuNet's weights (faceclust/faces/yunet.onnx) are converted from libfacedetection,\n"
        f"https://github.com/ShiqiYu/libfacedetection (commit {commit}), under this licence:\n\n"
        + (checkout / "LICENSE").read_text()
    )
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes, {len(weights['kinds'])} layers) and {LICENSE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
