"""Faces that are not faces: choose the CNN cut of faceclust.faces.face_check on part of the data, check it on the rest.

    .venv/bin/python bench/face_check.py [--datasets ../shared/datasets]

What it does, all on this machine:
1. Runs HOG as encode_faces.py does at its defaults (and at --min-face-size 40 on the camera
   photos) over every photo of the dev sets and of the generated camera photos
   (bench/camera_photos.py, seeds 0 and 1), keeping every detection with its HOG score, and
   for those HOG doubts (score under face_check.DOUBTFUL_BELOW) the CNN's confidence over the box.
2. Labels each detection:
   - labelled face: in a person folder, the face at the photo's centre (LFW's deep-funneled
     photos centre their person) or the largest face (the other sets, as evaluation scores
     them); on a camera photo, a pasted face;
   - not a face: anything found in face_recognition_examples/_no_face, and anything on a camera
     photo that is not a pasted face (their backgrounds are real scenes without people);
   - other: the rest (people in the background, and whatever else HOG fired on).
3. Chooses the cut on the tuning part (half of lfw_large by a hash of the person's name, and
   the camera photos of seed 0): midway between the lowest labelled face's CNN confidence and
   the highest not-a-face below it. Then reports, for the tuning part and each held-out set
   (the other half of lfw_large, lfw_dev, five_celebrities, face_recognition_examples, camera
   seed 1): labelled faces lost, not-faces dropped, others dropped, and how many detections
   were doubted at all (each costs a CNN pass on a 200 px crop).

Writes bench/results/face_check.md and the table into docs/ between the face check markers.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from camera_photos import make_photos  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402

from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.errors import ImageLoadError  # noqa: E402
from faceclust.faces import face_check  # noqa: E402
from faceclust.faces.models import (  # noqa: E402
    boxes_to_original,
    iou,
    shared_models,
)
from faceclust.photos.images import decode_image, find_images  # noqa: E402

# CNN confidences are measured down to this (a window scoring less counts as this).
FLOOR = -4.0
LFW_SETS = ("lfw_dev", "lfw_large")


def detections(job: tuple[str, int]) -> tuple[str, int, list]:
    """Every HOG detection of one photo at ``min_face_size``: (box in full-size pixels, HOG
    score, CNN confidence or None where HOG did not doubt it, full-size photo size)."""
    path, min_face_size = job
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    settings = EncodeSettings("hog", min_face_size=min_face_size)
    models = shared_models()
    try:
        min_side, min_scale = settings.decode_limits()
        decoded = decode_image(path, min_side=min_side, min_scale=min_scale)
    except ImageLoadError:
        return path, min_face_size, []
    scale = settings.detection_scale(max(decoded.full_size)) / decoded.scale
    found = []
    for in_decoded, score in models.detect_hog_scored(decoded.rgb, settings.upsample, scale):
        confidence = None
        if score < face_check.DOUBTFUL_BELOW:
            confidence = face_check.cnn_confidence(models.cnn_net, decoded.rgb, in_decoded, FLOOR)
        full = boxes_to_original([in_decoded], decoded.scale, *decoded.full_size)[0]
        found.append((full, score, confidence, decoded.full_size))
    return path, min_face_size, found


def half_of(path: str) -> str:
    return "A" if zlib.crc32(Path(path).parent.name.encode()) % 2 == 0 else "B"


def label(path: str, found: list, dataset: str, truth: dict | None) -> list[str]:
    """'labelled', 'not a face' or 'other' for each detection of one photo."""
    if truth is not None:
        pasted = [box for box, _ in truth.get(path, [])]
        return [
            "labelled" if any(iou(box, other) >= 0.3 for other in pasted) else "not a face"
            for box, *_ in found
        ]
    folder = Path(path).parent.name
    if folder == "_no_face":
        return ["not a face"] * len(found)
    if folder.startswith("_") or not found:
        return ["other"] * len(found)
    if dataset in LFW_SETS:
        height, width = found[0][3]
        centred = [box[0] <= height / 2 <= box[2] and box[3] <= width / 2 <= box[1] for box, *_ in found]
        return ["labelled" if is_centred else "other" for is_centred in centred]
    areas = [(box[2] - box[0]) * (box[1] - box[3]) for box, *_ in found]
    largest = areas.index(max(areas))
    return ["labelled" if index == largest else "other" for index in range(len(found))]


def tally(rows: list, cut: float) -> dict:
    """Counts at ``cut`` over rows of (kind, HOG score, CNN confidence or None)."""
    counts = {}
    for kind in ("labelled", "not a face", "other"):
        of_kind = [row for row in rows if row[0] == kind]
        dropped = [row for row in of_kind if row[2] is not None and row[2] <= cut]
        doubted = [row for row in of_kind if row[2] is not None]
        counts[kind] = (len(dropped), len(doubted), len(of_kind))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    jobs: list[tuple[str, int]] = []
    source: dict[str, tuple[str, dict | None]] = {}
    for dataset in ("five_celebrities", "face_recognition_examples", "lfw_dev", "lfw_large"):
        for path in find_images(args.datasets / dataset):
            jobs.append((path, 70))
            source[path] = (dataset, None)
    for seed in (0, 1):
        truth = make_photos(
            args.datasets, RESULTS / f"camera-seed{seed}", {(4000, 3000): 12, (6000, 4000): 6}, seed
        )
        for path in sorted(truth):
            for size in (70, 40):
                jobs.append((path, size))
            source[path] = (f"camera seed {seed}", truth)

    # The detections take about 10 minutes; they are kept for re-runs that change only the cut.
    stored = RESULTS / "face_check_detections.json"
    recipe = {
        "doubtful_below": face_check.DOUBTFUL_BELOW,
        "floor": FLOOR,
        "jobs": [list(job) for job in jobs],
        "version": 2,  # 2: HOG searches its own one-resize copy (models.detect_hog_scored)
    }
    saved = json.loads(stored.read_text()) if stored.exists() else None
    # Detections stored with a higher DOUBTFUL_BELOW hold a CNN confidence for every detection
    # doubted now, and more: those above the current line are simply not doubted.
    if (
        saved is not None
        and {**saved["recipe"], "doubtful_below": recipe["doubtful_below"]} == recipe
        and (saved["recipe"]["doubtful_below"] >= recipe["doubtful_below"])
    ):
        results = [
            (
                path,
                size,
                [
                    (box, score, c if score < face_check.DOUBTFUL_BELOW else None, full)
                    for box, score, c, full in found
                ],
            )
            for path, size, found in saved["results"]
        ]
    else:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            results = []
            for done, result in enumerate(pool.imap(detections, jobs, chunksize=8), 1):
                results.append(result)
                if done % 500 == 0:
                    print(f"{done}/{len(jobs)} photos", file=sys.stderr)
        stored.write_text(json.dumps({"recipe": recipe, "results": results}))

    rows_by_group: dict[str, list] = {}
    for path, _size, found in results:
        dataset, truth = source[path]
        group = f"lfw_large half {half_of(path)}" if dataset == "lfw_large" else dataset
        for kind, (_, score, confidence, _) in zip(label(path, found, dataset, truth), found, strict=True):
            rows_by_group.setdefault(group, []).append((kind, score, confidence))

    tuning = rows_by_group["lfw_large half A"] + rows_by_group["camera seed 0"]
    labelled = [c for kind, _, c in tuning if kind == "labelled" and c is not None]
    lowest = min(labelled)
    below = [c for kind, _, c in tuning if kind == "not a face" and c is not None and c < lowest]
    cut = round((lowest + max(below, default=FLOOR)) / 2, 1)
    not_faces_scores = [s for group in rows_by_group.values() for kind, s, _ in group if kind == "not a face"]

    lines = [
        f"Cut chosen on lfw_large half A and camera seed 0: **{cut}** (lowest labelled face {lowest:.2f}, "
        f"highest not-a-face below it {max(below, default=FLOOR):.2f}). HOG doubts a detection scoring "
        f"under {face_check.DOUBTFUL_BELOW}; the highest HOG score of a not-a-face anywhere: "
        f"{max(not_faces_scores, default=0):.2f}.",
        "",
        "| set | part | labelled faces lost | not-faces dropped | others dropped | detections doubted "
        "| CNN confidence: lowest doubted labelled face / highest not-a-face |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    order = [
        ("lfw_large half A", "tuning"),
        ("camera seed 0", "tuning"),
        ("lfw_large half B", "held out"),
        ("lfw_dev", "held out"),
        ("five_celebrities", "held out"),
        ("face_recognition_examples", "held out"),
        ("camera seed 1", "held out"),
    ]
    for group, part in order:
        rows = rows_by_group.get(group, [])
        counts = tally(rows, cut)
        doubted = sum(counts[kind][1] for kind in counts)
        cells = [
            f"{counts['labelled'][0]} of {counts['labelled'][2]}",
            f"{counts['not a face'][0]} of {counts['not a face'][2]}",
            f"{counts['other'][0]} of {counts['other'][2]}",
            f"{doubted} of {len(rows)}",
            " / ".join(
                f"{pick(values):.2f}" if values else "-"
                for pick, values in (
                    (min, [c for kind, _, c in rows if kind == "labelled" and c is not None]),
                    (max, [c for kind, _, c in rows if kind == "not a face" and c is not None]),
                )
            ),
        ]
        lines.append(f"| {group} | {part} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Camera photos count each detection at --min-face-size 70 and 40. The current default cut is "
        f"{face_check.CNN_CUT}.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    (RESULTS / "face_check_rows.json").write_text(json.dumps(rows_by_group))
    publish(table, "face_check", "face check", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
