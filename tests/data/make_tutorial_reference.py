"""Regenerate tutorial_reference.json: what the tutorial's encode_faces.py computes on dataset/.

The tutorial reads each photo with OpenCV and calls face_recognition 1.3.0 (HOG, one upsample,
one jitter). ``encode_faces.py --exact`` must give the same boxes and vectors within 1e-6
(tests/test_exact.py). Not part of the test suite: face_recognition forces a source build of
dlib, so run this in a scratch environment, from the repository root:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install dlib-bin==20.0.1.post1 numpy opencv-python-headless "setuptools<81"
    /tmp/refvenv/bin/pip install --no-binary=face-recognition-models face_recognition_models==0.3.0
    /tmp/refvenv/bin/pip install --no-deps face_recognition==1.3.0
    /tmp/refvenv/bin/python tests/data/make_tutorial_reference.py
"""

import json
from pathlib import Path

import cv2
import face_recognition
import numpy as np

DATASET = Path("dataset")


def main() -> None:
    references = []
    for path in sorted(DATASET.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        # The tutorial's three lines, as it wrote them.
        image = cv2.imread(str(path))
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        boxes = face_recognition.face_locations(rgb, model="hog")
        encodings = face_recognition.face_encodings(rgb, boxes)
        references.append(
            {
                "image_path": path.relative_to(DATASET).as_posix(),
                "boxes": [list(box) for box in boxes],
                # dlib's vectors are float32 values: their shortest float32 text is exact.
                "encodings": [[float(str(np.float32(value))) for value in vector] for vector in encodings],
            }
        )
    out = Path(__file__).with_name("tutorial_reference.json")
    out.write_text(
        json.dumps({"face_recognition": "1.3.0", "images": references}, separators=(",", ":")) + "\n"
    )
    print(f"{len(references)} images, {sum(len(r['boxes']) for r in references)} faces -> {out}")


if __name__ == "__main__":
    main()
