"""Where HOG's time goes in a camera photo: the cost of each level of its image pyramid.

    .venv/bin/python bench/hog_levels.py [--photos 4]

dlib's HOG detector (scan_fhog_pyramid with pyramid_down<6>) scans the image it is given (at the
default, the photo resized once to twice the detection scale), and then copies of it each 5/6
the size of the one before, down to its 80 px window.
Detecting in the upsampled image shrunk by (5/6)^k with no upsampling scans exactly levels k and
below, so the difference between two such runs is the cost of one level. This script measures
that on the first photos of bench/camera_photos.py's seed 0, at the default smallest face (the
photo searched at 4/7 of its size), one process, one core, and says which face sizes each level
finds (a face of 80 px in a level is 80 / 2 / (5/6)^k px in the searched copy).

It also measures how much of each photo is flat (8x8 cells of the upsampled copy whose gradient
energy is under a twentieth of the photo's median): the most that skipping flat regions in the
fine levels could save; and what scanning the copy tile by tile costs, the only way dlib's
scanner can be kept off a region (tiled_scan_seconds).

Writes bench/results/hog_levels.md and the table into docs/ between the hog levels markers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import RESULTS, bench_parser, best_of, publish  # noqa: E402

from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.faces.models import shared_models  # noqa: E402
from faceclust.photos.images import decode_image, resized  # noqa: E402

LEVELS = 8
# Tiles of the searched copy for the flat-region bound: 1024 px, overlapping by 160 px (the
# three finest levels find faces up to 145 px of the photo, 166 px of the copy at 1.14).
TILE, TILE_OVERLAP = 1024, 160


def flat_share(gray: np.ndarray) -> float:
    gy, gx = np.gradient(gray.astype(np.float32))
    energy = gx * gx + gy * gy
    rows, columns = (energy.shape[0] // 8) * 8, (energy.shape[1] // 8) * 8
    cells = energy[:rows, :columns].reshape(rows // 8, 8, columns // 8, 8).mean(axis=(1, 3))
    return float(np.mean(cells < np.median(cells) / 20))


def tiled_scan_seconds(hog, copy: np.ndarray) -> tuple[float, float]:
    """Seconds to scan ``copy`` tile by tile (every tile, TILE px with TILE_OVERLAP px of
    overlap, so that a face of up to the overlap lies whole in some tile), and to scan the copy
    shrunk past the three finest levels for the larger faces.

    dlib scans every level of its pyramid over whatever image it is given, so tiles are the
    only way to leave a flat region out of the fine levels: skipping flat tiles pays only if
    the flat share exceeds 1 - (one scan - the coarse scan) / every tile."""
    height, width = copy.shape[:2]
    step = TILE - TILE_OVERLAP
    tiles = [
        np.ascontiguousarray(copy[top : top + TILE, left : left + TILE])
        for top in range(0, height, step)
        for left in range(0, width, step)
    ]
    coarse = resized(copy, (5 / 6) ** 3)
    return best_of(lambda: [hog(tile, 0) for tile in tiles]), best_of(lambda: hog(coarse, 0))


def main(argv: list[str] | None = None) -> int:
    import cv2
    from threadpoolctl import threadpool_limits

    parser = bench_parser(__doc__)
    parser.add_argument("--photos", type=int, default=4)
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    threadpool_limits(1)
    cv2.setNumThreads(1)

    photos = sorted((RESULTS / "camera-seed0").glob("camera_*.jpg"))[: args.photos]
    if not photos:
        sys.exit("run bench/camera_photos.py --seed 0 first: it makes the photos")
    settings = EncodeSettings("hog")
    models = shared_models()
    hog = models.hog_detector
    level_seconds = np.zeros(LEVELS + 1)
    total_seconds, flat = 0.0, []
    tiled_seconds = coarse_seconds = 0.0
    for photo in photos:
        min_side, min_scale = settings.decode_limits()
        decoded = decode_image(str(photo), min_side=min_side, min_scale=min_scale)
        scale = settings.detection_scale(max(decoded.full_size)) / decoded.scale
        total_seconds += best_of(lambda rgb=decoded.rgb, scale=scale: models.detect_hog_scored(rgb, 1, scale))
        # The copy HOG searches: the photo at twice the detection scale, in one resize.
        upsampled = resized(decoded.rgb, 2 * scale)
        flat.append(flat_share(cv2.cvtColor(upsampled, cv2.COLOR_RGB2GRAY)))
        tiled, coarse = tiled_scan_seconds(hog, upsampled)
        tiled_seconds += tiled
        coarse_seconds += coarse
        from_level = []
        for level in range(LEVELS + 1):
            factor = (5 / 6) ** level
            size = (round(upsampled.shape[1] * factor), round(upsampled.shape[0] * factor))
            copy = cv2.resize(upsampled, size, interpolation=cv2.INTER_AREA)
            from_level.append(best_of(lambda copy=copy: hog(copy, 0)))
        level_seconds += np.array(from_level)
        print(f"{photo.name}: {from_level[0]:.2f} s from level 0", file=sys.stderr)

    count = len(photos)
    scanned = level_seconds[0] / count
    searched = settings.detection_scale(4000)
    lines = [
        f"{count} photos of 4000x3000 (camera seed 0), searched in one copy at {2 * searched:.2f} of full size "
        f"(that is, at {searched:.2f} and upsampled once), one core: HOG takes {total_seconds / count:.2f} s per photo "
        f"(the same scan by levels: {scanned:.2f} s).",
        "",
        "| pyramid level | scale of the searched copy | faces it finds, px in the photo | seconds per photo | share of HOG's time |",
        "| ---: | ---: | --- | ---: | ---: |",
    ]
    for level in range(LEVELS):
        seconds = (level_seconds[level] - level_seconds[level + 1]) / count
        face = 80 / 2 / (5 / 6) ** level / searched
        lines.append(
            f"| {level} | {2 * (5 / 6) ** level:.2f} | {face:.0f}-{face * 6 / 5:.0f} | {seconds:.2f} | "
            f"{seconds / scanned:.0%} |"
        )
    rest = level_seconds[LEVELS] / count
    lines.append(
        f"| {LEVELS}+ | - | {80 / 2 / (5 / 6) ** LEVELS / searched:.0f} and up | {rest:.2f} | {rest / scanned:.0%} |"
    )
    lines += [
        "",
        f"Flat cells of the upsampled copy: {np.mean(flat):.0%} on average ({min(flat):.0%} to {max(flat):.0%}).",
        "",
        f"Scanned tile by tile instead ({TILE} px tiles overlapping by {TILE_OVERLAP} px): every tile "
        f"{tiled_seconds / count:.2f} s per photo, plus {coarse_seconds / count:.2f} s for the copy shrunk "
        f"past the three finest levels, against {total_seconds / count:.2f} s for one scan: leaving out the flat "
        f"tiles gains only where more than {1 - (total_seconds - coarse_seconds) / tiled_seconds:.0%} of "
        "the tiles are flat.",
    ]
    table = "\n".join(lines) + "\n"
    publish(table, "hog_levels", "hog levels", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
