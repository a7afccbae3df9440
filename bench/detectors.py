"""Clustering quality with each detector: do YuNet's faces group as well as HOG's?

    .venv/bin/python bench/detectors.py [--datasets ../shared/datasets]

Encodes lfw_dev (82 people) and lfw_large (2,794 people, most seen once) with HOG and with
YuNet, each at encode_faces.py's defaults otherwise (cached under bench/results/encodings/, as
bench/quality.py caches them), clusters each with the default clustering and scores it against
the person folders: faces found, labelled photos with a face scored, BCubed and pair F1. Neither
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
from faceclust.evaluation import score_against_folders  # noqa: E402
from faceclust.photos.images import find_images  # noqa: E402

DETECTORS = {"HOG (default)": EncodeSettings(), "YuNet": EncodeSettings("yunet")}


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    lines = [
        "| set | detector | faces found | labelled photos scored | BCubed F1 | pair F1 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in ("lfw_dev", "lfw_large"):
        dataset = args.datasets / name
        for label, settings in DETECTORS.items():
            # Named below the dataset as given here (the cache keeps the paths of the run that
            # encoded it, from wherever that ran).
            faces = [
                dataclasses.replace(face, image_path=str(dataset / face.image_path.split(f"/{name}/", 1)[1]))
                for face in encoded(dataset, settings)
            ]
            encodings = np.stack([face.encoding for face in faces])
            labels = FaceClusterer().fit_predict(encodings, [face.frame for face in faces])
            scores = score_against_folders(faces, labels, dataset)
            lines.append(
                f"| {name} | {label} | {len(faces)} | {scores.faces_scored} | {scores.bcubed_f1:.3f} | "
                f"{scores.pairwise_f1:.3f} |"
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
