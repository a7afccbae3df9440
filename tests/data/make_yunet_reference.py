"""Regenerate yunet_reference.json: libfacedetection's own YuNet (its C++, compiled here) on the
bundled and composite photos.

Not part of the test suite: it needs a C++ compiler and a checkout of libfacedetection (the
same commit tools/yunet_weights.py converted, named in faceclust/faces/YUNET_LICENSE.txt):

    .venv/bin/python tests/data/make_yunet_reference.py LIBFACEDETECTION_CHECKOUT

The tests check that faceclust.faces.yunet finds the same faces: the same count, boxes and
landmarks within a pixel of the C++'s (which truncates them to integers), scores within 1e-4.
"""

import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from faceclust.photos.images import load_rgb  # noqa: E402
from tests.cnn_photos import bundled_photos, composite_photos  # noqa: E402

REFERENCE = Path(__file__).with_name("yunet_reference.json")
MAIN = r"""
// For each file argument (int32 width, int32 height, then width*height*3 bytes of BGR), one
// line per face: score x y w h lm0..lm9, as objectdetect_cnn gives them.
#include <cstdio>
#include <vector>
#include "facedetectcnn.h"
// As facedetectcnn-model.cpp defines it (the header declares a const variant it never defines).
std::vector<FaceRect> objectdetect_cnn(unsigned char* rgbImageData, int width, int height, int step);
int main(int argc, char** argv) {
    for (int a = 1; a < argc; a++) {
        FILE* f = fopen(argv[a], "rb");
        int wh[2];
        if (!f || fread(wh, sizeof(int), 2, f) != 2) return 1;
        std::vector<unsigned char> data(size_t(wh[0]) * wh[1] * 3);
        if (fread(data.data(), 1, data.size(), f) != data.size()) return 1;
        fclose(f);
        for (const FaceRect& r : objectdetect_cnn(data.data(), wh[0], wh[1], wh[0] * 3)) {
            printf("%.7g %d %d %d %d", r.score, r.x, r.y, r.w, r.h);
            for (int i = 0; i < 10; i++) printf(" %d", r.lm[i]);
            printf("\n");
        }
        printf("end\n");
    }
    return 0;
}
"""


def photos() -> dict[str, np.ndarray]:
    named = {path.relative_to(REPO).as_posix(): load_rgb(path) for path in bundled_photos()}
    named.update(composite_photos())
    return named


def main() -> None:
    checkout = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "main.cpp").write_text(MAIN)
        (work / "facedetection_export.h").write_text("#define FACEDETECTION_EXPORT\n")
        sources = [
            str(checkout / "src" / name)
            for name in ("facedetectcnn.cpp", "facedetectcnn-model.cpp", "facedetectcnn-data.cpp")
        ]
        binary = work / "yunet"
        subprocess.run(
            [
                "g++",
                "-O2",
                "-std=c++11",
                f"-I{work}",
                f"-I{checkout / 'src'}",
                "-o",
                str(binary),
                str(work / "main.cpp"),
                *sources,
            ],
            check=True,
        )
        named = photos()
        files = []
        for number, rgb in enumerate(named.values()):
            raw = work / f"{number}.raw"
            height, width = rgb.shape[:2]
            raw.write_bytes(
                struct.pack("ii", width, height) + np.ascontiguousarray(rgb[:, :, ::-1]).tobytes()
            )
            files.append(str(raw))
        output = subprocess.run([str(binary), *files], capture_output=True, text=True, check=True).stdout
    blocks = output.split("end\n")[: len(named)]
    reference = {
        name: [[float(value) for value in line.split()] for line in block.splitlines()]
        for name, block in zip(named, blocks, strict=True)
    }
    REFERENCE.write_text(json.dumps(reference, indent=0) + "\n")
    print(f"wrote {REFERENCE}: {sum(map(len, reference.values()))} faces in {len(reference)} photos")


if __name__ == "__main__":
    main()
