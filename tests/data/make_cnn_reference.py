"""Regenerate cnn_reference.json: dlib's own CNN detections on the bundled and composite photos.

Not part of the test suite (dlib-bin's CNN takes about 10 minutes for all of them here). Run
from the repository root with the project's environment:

    .venv/bin/python tests/data/make_cnn_reference.py

The tests check that faceclust.faces.cnn_detector finds the same boxes with confidences within 1e-4.
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import dlib  # noqa: E402

from faceclust.faces.models import MODEL_FILES, model_folder  # noqa: E402
from faceclust.photos.images import load_rgb  # noqa: E402
from tests.cnn_photos import REFERENCE, bundled_photos, composite_photos  # noqa: E402


def detections(detector, rgb, upsample: int) -> list[dict]:
    return [
        {
            "box": [found.rect.left(), found.rect.top(), found.rect.right(), found.rect.bottom()],
            "confidence": found.confidence,
        }
        for found in detector(rgb, upsample)
    ]


def main() -> None:
    detector = dlib.cnn_face_detection_model_v1(str(model_folder() / MODEL_FILES["cnn"]))
    references = []
    for path in bundled_photos():
        rgb = load_rgb(path)
        for upsample in (0, 1):
            name = str(path.relative_to(REPO))
            references.append(
                {"photo": name, "upsample": upsample, "found": detections(detector, rgb, upsample)}
            )
            print(name, upsample, len(references[-1]["found"]), flush=True)
    for name, rgb in composite_photos().items():
        for upsample in (0, 1, 2):
            references.append(
                {"photo": name, "upsample": upsample, "found": detections(detector, rgb, upsample)}
            )
            print(name, upsample, len(references[-1]["found"]), flush=True)
    REFERENCE.write_text(json.dumps({"dlib": dlib.__version__, "references": references}, indent=1) + "\n")


if __name__ == "__main__":
    main()
