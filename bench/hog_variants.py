"""Ways of handing a camera photo to HOG at the default smallest face, against each other.

    .venv/bin/python bench/hog_variants.py

On the photos of bench/camera_photos.py (seeds 0 and 1; run it first), one process, one core,
HOG at the default --min-face-size:
- "one copy" (what encode_faces.py does): the decoded photo resized once to twice the
  detection scale (models.detect_hog_scored), scanned with no upsampling;
- "shrunk, dlib upsamples" (what it did before): the photo shrunk to the detection scale,
  and dlib's own upsampling (pyramid_up) doubling it;
- "one copy, grey": the one copy in shades of grey, so that HOG takes its gradients from one
  channel instead of the strongest of three.
Each variant's faces are matched to the pasted faces (IoU >= 0.3) and counted by size, with
HOG's seconds (resizing included). Writes bench/results/hog_variants.md and the table in
docs/ between the hog variants markers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from camera_photos import BUCKETS, bucket_name  # noqa: E402
from harness import RESULTS, publish  # noqa: E402

from faceclust.encode.batch import working_image  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.faces.models import (  # noqa: E402
    boxes_to_original,
    iou,
    shared_models,
)
from faceclust.photos.images import decode_image, resized  # noqa: E402


def one_copy(models, rgb, scale, grey=False):
    if not grey:
        return [box for box, _ in models.detect_hog_scored(rgb, 1, scale)]
    import cv2

    # The same copy in grey, scanned as it is (factor 1), its boxes mapped back as the encoder's.
    factor = 2 * scale
    copy = cv2.cvtColor(resized(rgb, factor), cv2.COLOR_RGB2GRAY)
    boxes = [box for box, _ in models.detect_hog_scored(copy, 0)]
    return boxes_to_original(boxes, factor, *rgb.shape[:2])


def shrunk_then_upsampled(models, rgb, scale):
    image, scale = working_image(rgb, scale)
    return boxes_to_original(models.detect(image, "hog", 1), scale, *rgb.shape[:2])


VARIANTS = {
    "one copy (encode_faces.py)": lambda models, rgb, scale: one_copy(models, rgb, scale),
    "shrunk, dlib upsamples (before)": shrunk_then_upsampled,
    "one copy, grey": lambda models, rgb, scale: one_copy(models, rgb, scale, grey=True),
}


def main() -> int:
    import cv2
    from threadpoolctl import threadpool_limits

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    threadpool_limits(1)
    cv2.setNumThreads(1)
    models = shared_models()
    settings = EncodeSettings("hog")
    lines = [
        "Camera photos of seeds 0 and 1, HOG at the default smallest face (70 px), one core.",
        "",
        "| way | seeds | HOG s per photo | "
        + " | ".join(f"found {bucket_name(*b)}" for b in BUCKETS)
        + " | found, not pasted |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in BUCKETS) + " | ---: |",
    ]
    photos = []
    for seed in (0, 1):
        folder = RESULTS / f"camera-seed{seed}"
        if not (folder / "truth.json").exists():
            sys.exit(f"run bench/camera_photos.py --seed {seed} first: it makes the photos")
        truth = json.loads((folder / "truth.json").read_text())["photos"]
        photos += [(folder / Path(name).name, pasted) for name, pasted in sorted(truth.items())]
    totals = [
        sum(1 for _, pasted in photos for box, _ in pasted if low <= box[2] - box[0] < high)
        for low, high in BUCKETS
    ]
    for label, variant in VARIANTS.items():
        found = [0] * len(BUCKETS)
        extra, seconds = 0, 0.0
        for path, pasted in photos:
            min_side, min_scale = settings.decode_limits()
            decoded = decode_image(path, min_side=min_side, min_scale=min_scale)
            scale = settings.detection_scale(max(decoded.full_size)) / decoded.scale
            started = time.perf_counter()
            boxes = variant(models, decoded.rgb, scale)
            seconds += time.perf_counter() - started
            boxes = boxes_to_original(boxes, decoded.scale, *decoded.full_size)
            matched = set()
            for box, _ in pasted:
                best = max(range(len(boxes)), key=lambda n: iou(box, boxes[n]), default=None)
                if best is not None and iou(box, boxes[best]) >= 0.3:
                    matched.add(best)
                    size = box[2] - box[0]
                    found[next(i for i, (low, high) in enumerate(BUCKETS) if low <= size < high)] += 1
            extra += len(boxes) - len(matched)
        lines.append(
            f"| {label} | 0 and 1 | {seconds / len(photos):.2f} | "
            + " | ".join(f"{n}/{t}" for n, t in zip(found, totals, strict=True))
            + f" | {extra} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    publish(table, "hog_variants", "hog variants")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
