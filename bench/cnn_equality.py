"""The numpy CNN detector's boxes against dlib-bin's own on a folder of photos.

    .venv/bin/python bench/cnn_equality.py FOLDER [--upsample 0,1] [--every N]

For every photo (every Nth with --every) and upsample count: the same number of detections,
the largest difference between corresponding box coordinates (pixels), and the largest
difference between their confidences. dlib-bin's CNN takes seconds per photo, minutes for a
large one: this is a check to run on demand, not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import bench_parser  # noqa: E402

from faceclust.errors import ImageLoadError  # noqa: E402
from faceclust.faces.cnn_detector import FaceDetectorNet  # noqa: E402
from faceclust.faces.models import MODEL_FILES, model_folder  # noqa: E402
from faceclust.photos.images import find_images, load_rgb  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import dlib

    parser = bench_parser(__doc__, publishes=False)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--upsample", default="0,1", help="comma-separated upsample counts (default 0,1)")
    parser.add_argument("--every", type=int, default=1, help="take every Nth photo (default: all)")
    args = parser.parse_args(argv)
    path = model_folder() / MODEL_FILES["cnn"]
    ours, theirs = FaceDetectorNet.from_file(path), dlib.cnn_face_detection_model_v1(str(path))
    upsamples = [int(value) for value in args.upsample.split(",")]
    photos = detections = mismatched = 0
    box_difference = confidence_difference = 0.0
    for photo in find_images(args.folder)[:: args.every]:
        try:
            rgb = load_rgb(photo)
        except ImageLoadError:
            continue
        photos += 1
        for upsample in upsamples:
            found = sorted(
                (d.rect.left, d.rect.top, d.rect.right, d.rect.bottom, d.confidence)
                for d in ours(rgb, upsample)
            )
            reference = sorted(
                (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), d.confidence)
                for d in theirs(rgb, upsample)
            )
            detections += len(reference)
            if len(found) != len(reference):
                mismatched += 1
                print(
                    f"{photo} upsample {upsample}: {len(found)} against dlib's {len(reference)}",
                    file=sys.stderr,
                )
                continue
            for a, b in zip(found, reference, strict=True):
                box_difference = max(box_difference, *(abs(x - y) for x, y in zip(a[:4], b[:4], strict=True)))
                confidence_difference = max(confidence_difference, abs(a[4] - b[4]))
    print(
        f"{args.folder}: {photos} photos, upsample {args.upsample}: {detections} detections by dlib, "
        f"{mismatched} photo-upsample pairs with another count, largest box difference {box_difference:.0f} px, "
        f"largest confidence difference {confidence_difference:.1e}"
    )
    return 1 if mismatched or box_difference > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
