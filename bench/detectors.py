"""Clustering quality with each detector: do YuNet's faces group as well as HOG's?

    .venv/bin/python bench/detectors.py [--datasets ../shared/datasets]

Encodes the four dev sets (five_celebrities and face_recognition_examples, web photos; lfw_dev,
82 people, and lfw_large, 2,794 people, most seen once) with HOG and with YuNet, each at its
defaults (cached under bench/results/encodings/, as bench/quality.py caches them), clusters each
with the default clustering and scores it against the person folders: faces found, labelled
photos with a face scored, BCubed precision and F1, pair F1; and the same scores on the photos
where both detectors scored the same face (IoU 0.5), which compare the embeddings alone. Neither
detector's settings were chosen on these sets' labels (YuNet's box mapping was fitted on
lfw_dev's photos against HOG's boxes, without the people's names).

Then the small-photo sets' speed, each way encoding every photo afresh in the same run: the
tutorial's way (one process), HOG and YuNet at the defaults on all cores; photos per second and
faces found.

Writes bench/results/detectors.md and the table into docs/benchmarks.md.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from encode_speed import tutorial_encode  # noqa: E402
from harness import bench_parser, publish  # noqa: E402
from quality import encoded  # noqa: E402

from faceclust.clustering import FaceClusterer  # noqa: E402
from faceclust.encode.local import default_jobs  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.evaluation import score, score_against_folders, scored_faces  # noqa: E402
from faceclust.faces.models import iou  # noqa: E402
from faceclust.photos.images import find_images  # noqa: E402

DETECTORS = {"HOG (default)": EncodeSettings(), "YuNet": EncodeSettings("yunet")}
QUALITY_SETS = ("five_celebrities", "face_recognition_examples", "lfw_dev", "lfw_large")


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    lines = [
        "| set | detector | faces found | labelled photos scored | BCubed precision | BCubed F1 | pair F1 "
        "| photos scored by both, the same face: count | BCubed F1 | pair F1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in QUALITY_SETS:
        dataset = args.datasets / name
        runs = {}
        for label, settings in DETECTORS.items():
            # Named below the dataset as given here (the cache keeps the paths of the run that
            # encoded it, from wherever that ran).
            faces = [
                dataclasses.replace(face, image_path=str(dataset / face.image_path.split(f"/{name}/", 1)[1]))
                for face in encoded(dataset, settings)
            ]
            encodings = np.stack([face.encoding for face in faces])
            runs[label] = (faces, FaceClusterer().fit_predict(encodings, [face.frame for face in faces]))
        # Each labelled photo is scored on its largest face: where one detector finds a face the
        # other does not (turned, blurred, in the background), it is scored on another face, so
        # the photos where both score the same face compare the embeddings alone.
        scored = {label: scored_faces(faces, dataset) for label, (faces, _) in runs.items()}
        by_photo = {
            label: {runs[label][0][index].image_path: index for index in indices}
            for label, indices in scored.items()
        }
        first, second = DETECTORS
        common = [
            photo
            for photo, index in by_photo[first].items()
            if photo in by_photo[second]
            and iou(runs[first][0][index].box, runs[second][0][by_photo[second][photo]].box) >= 0.5
        ]
        for label, (faces, labels) in runs.items():
            scores = score_against_folders(faces, labels, dataset)
            indices = [by_photo[label][photo] for photo in common]
            same = score([scored[label][index] for index in indices], labels[indices])
            lines.append(
                f"| {name} | {label} | {len(faces)} | {scores.faces_scored} | {scores.bcubed_precision:.3f} | "
                f"{scores.bcubed_f1:.3f} | {scores.pairwise_f1:.3f} | {len(common)} | {same.bcubed_f1:.3f} | "
                f"{same.pairwise_f1:.3f} |"
            )
            print(lines[-1], flush=True)
    lines += [
        "",
        "| small photos | way | photos/s | speed-up | faces found |",
        "|---|---|---:|---:|---:|",
    ]
    jobs = default_jobs()
    for name in ("face_recognition_examples", "lfw_dev"):
        # The tutorial's way stops at the first file that is not an image: its broken files out.
        paths = [path for path in find_images(args.datasets / name) if "/_broken/" not in path]
        tutorial_faces, tutorial_seconds = tutorial_encode(paths)
        ways = {"tutorial's way (one process)": (tutorial_faces, tutorial_seconds)}
        for label, settings in DETECTORS.items():
            started = time.perf_counter()
            faces, _ = encode_dataset(paths, settings, jobs)
            ways[f"{label}, {jobs} workers"] = (faces, time.perf_counter() - started)
        for label, (faces, seconds) in ways.items():
            lines.append(
                f"| {name} ({len(paths)}) | {label} | {len(paths) / seconds:.1f} | "
                f"{tutorial_seconds / seconds:.1f}x | {len(faces)} |"
            )
            print(lines[-1], flush=True)
    publish("\n".join(lines), "detectors", "detectors", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
