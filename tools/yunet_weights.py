"""Convert libfacedetection's YuNet weights (C++ arrays) into faceclust/faces/yunet.npz.

    .venv/bin/python tools/yunet_weights.py LIBFACEDETECTION_CHECKOUT

libfacedetection (https://github.com/ShiqiYu/libfacedetection, 3-clause BSD licence, Shiqi Yu)
keeps its network's 53 convolutions as float arrays in ``src/facedetectcnn-data.cpp`` and lists
them, in the order the network uses them, in ``param_pConvInfo``: input channels, filters,
depthwise or pointwise, ReLU. This reads both and writes, per layer, ``w<N>`` and ``b<N>``
(float32, as the C++ lays them out: a pointwise layer ``(filters, channels)``, a depthwise one
``(9, channels)``, row-major 3x3 taps) and ``kinds`` (1 pointwise, 2 depthwise), with the
commit it was made from. faceclust/faces/yunet.py runs them; the licence notice is copied to
faceclust/faces/YUNET_LICENSE.txt.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "faceclust" / "faces" / "yunet.npz"
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
    np.savez_compressed(TARGET, **weights, source=np.array(f"ShiqiYu/libfacedetection@{commit}"))
    LICENSE.write_text(
        "YuNet's weights (faceclust/faces/yunet.npz) are converted from libfacedetection,\n"
        f"https://github.com/ShiqiYu/libfacedetection (commit {commit}), under this licence:\n\n"
        + (checkout / "LICENSE").read_text()
    )
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes, {len(weights['kinds'])} layers) and {LICENSE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
