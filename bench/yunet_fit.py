"""YuNet's boxes against dlib's HOG boxes: the mapping to the box dlib's landmarks expect, and the
smallest face YuNet finds.

    .venv/bin/python bench/yunet_fit.py [--datasets ../shared/datasets]

1. On lfw_dev (82 people, 698 photos), every face HOG finds at the defaults is paired with the
   YuNet detection that overlaps it most. dlib's box is square; it is predicted from YuNet's box
   as a centre shifted by a share of its width and height and a side a multiple of its mean
   side, least squares on the photos of even position (the fit), scored on the odd ones (held
   out) by intersection over union with HOG's own box.
2. Each photo is shrunk so that its HOG face measures 10 to 48 px, and YuNet (with the mapping,
   and the encoder's confidence threshold, 0.3) searched in it: the share of faces found (IoU 0.4 with the shrunk HOG box) by size, which
   sets the smallest face YuNet is asked for.

Writes bench/results/yunet_fit.md and the table into docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import bench_parser, publish  # noqa: E402

from faceclust.faces.models import YUNET_CONFIDENCE, FaceModels, iou  # noqa: E402
from faceclust.faces.yunet import YuNet  # noqa: E402
from faceclust.photos.images import find_images, load_rgb, resized  # noqa: E402

SIZES = (10, 12, 14, 16, 20, 24, 32, 40, 48)


def features(detection) -> np.ndarray:
    x, y, w, h = detection.box
    return np.array([x + w / 2, y + h / 2, w, h])


def to_box(detection, shift_x: float, shift_y: float, scale: float):
    x, y, w, h = detection.box
    cx, cy = x + w / 2 + shift_x * w, y + h / 2 + shift_y * h
    half = scale * (w + h) / 4
    return (round(cy - half), round(cx + half), round(cy + half), round(cx - half))


def fit(pairs) -> tuple[float, float, float]:
    """(shift_x, shift_y, scale) by least squares: centre offsets as shares of w and h, side as a
    multiple of (w + h) / 2."""
    yunet = np.array([features(d) for d, _ in pairs])
    hog = np.array([[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2, b[1] - b[3]] for _, b in pairs])
    shift_x = float(np.mean((hog[:, 0] - yunet[:, 0]) / yunet[:, 2]))
    shift_y = float(np.mean((hog[:, 1] - yunet[:, 1]) / yunet[:, 3]))
    mean_side = (yunet[:, 2] + yunet[:, 3]) / 2
    scale = float(np.sum(hog[:, 2] * mean_side) / np.sum(mean_side**2))
    return shift_x, shift_y, scale


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    models, net = FaceModels(), YuNet()
    photos = find_images(args.datasets / "lfw_dev")
    pairs: list[tuple[int, object, tuple]] = []  # (photo number, YuNet detection, HOG box)
    images = {}
    for number, path in enumerate(photos):
        rgb = load_rgb(path)
        images[number] = rgb
        hog = [box for box, _ in models.detect_hog_scored(rgb, 1, 1.0)]
        found = net.detect(rgb, YUNET_CONFIDENCE)
        for box in hog:
            best = max(found, key=lambda d: iou(to_box(d, 0, 0, 1), box), default=None)
            if best is not None and iou(to_box(best, 0, 0, 1), box) > 0.2:
                pairs.append((number, best, box))
    fitted = [(d, b) for n, d, b in pairs if n % 2 == 0]
    held = [(d, b) for n, d, b in pairs if n % 2 == 1]
    shift_x, shift_y, scale = fit(fitted)
    lines = [
        f"YuNet's box to dlib's: centre + ({shift_x:+.3f} w, {shift_y:+.3f} h), side {scale:.3f} x (w + h) / 2, "
        f"fitted on {len(fitted)} faces of lfw_dev's even photos.",
        "",
        "| faces | mean IoU with HOG's box | IoU under 0.5 |",
        "|---|---|---|",
    ]
    for name, group in (("fitted (even photos)", fitted), ("held out (odd photos)", held)):
        scores = np.array([iou(to_box(d, shift_x, shift_y, scale), b) for d, b in group])
        lines.append(f"| {name}: {len(group)} | {scores.mean():.3f} | {int((scores < 0.5).sum())} |")
    hog_faces = [(n, b) for n, _, b in pairs]
    lines += ["", "| HOG face of | found by YuNet (IoU 0.4) |", "|---|---|"]
    for size in SIZES:
        hit = 0
        for number, box in hog_faces:
            factor = size / (box[1] - box[3])
            if factor > 1:
                continue
            small = resized(images[number], factor)
            target = tuple(round(v * factor) for v in box)
            found = net.detect(small, YUNET_CONFIDENCE)
            hit += any(iou(to_box(d, shift_x, shift_y, scale), target) >= 0.4 for d in found)
        lines.append(f"| {size} px | {hit / len(hog_faces):.1%} |")
    publish("\n".join(lines), "yunet_fit", "yunet fit", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
