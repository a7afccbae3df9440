"""The CNN detector in numpy against dlib-bin's own, and whether the CNN is worth choosing over HOG.

    .venv/bin/python bench/cnn_detector.py [--datasets ../shared/datasets] [--small 24]

What it does, all on this machine, in one run:
1. Speed per core: dlib-bin's cnn_face_detection_model_v1 and faceclust.faces.cnn_detector on the same small
   photos (lfw_dev, 250 px, one upsample as the tutorial's CNN call), each pinned to one core
   with one BLAS thread, and whether they found the same boxes (and how far the confidences
   differ).
2. Memory: the peak resident memory of one process detecting with the CNN in a 12-megapixel
   photo at the default smallest face (70 px).
3. Worth it: encode_faces's defaults with HOG and with CNN, all cores, on
   - face_recognition_examples (people, their group photos and non-faces),
   - lfw_dev photos turned by 20 to 45 degrees (seeded), the head tilts HOG's upright windows miss,
   - 12-megapixel camera photos (bench/camera_photos.py, seed 0; faces of 40-500 px upright):
   faces found, labelled photos where the labelled face was found, BCubed F1 of the default
   clustering, photos per second.

Writes bench/results/cnn_detector.md and the table into docs/ between the cnn markers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from camera_photos import BUCKETS, bucket_name, make_photos, match, size_of  # noqa: E402
from encode_speed import bcubed, peak_tree_memory  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402

from faceclust.encode.local import default_jobs  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.evaluation import scored_faces  # noqa: E402
from faceclust.faces.models import MODEL_FILES, model_folder  # noqa: E402
from faceclust.photos.images import find_images, load_rgb  # noqa: E402


def one_core() -> None:
    """Pin this process to one core with one BLAS thread: speed per core."""
    from threadpoolctl import threadpool_limits

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    threadpool_limits(1)


def speed_per_core(paths: list[str]) -> dict:
    import dlib

    from faceclust.faces.cnn_detector import FaceDetectorNet

    one_core()
    path = model_folder() / MODEL_FILES["cnn"]
    ours, theirs = FaceDetectorNet.from_file(path), dlib.cnn_face_detection_model_v1(str(path))
    images = [load_rgb(p) for p in paths]
    ours(images[0], 1)  # load and warm up both before timing
    theirs(images[0], 1)
    # Each detector over all the photos in turn, as a run uses one of them: interleaving the
    # two made each evict the other's memory and cost the numpy one 15%.
    seconds = {}
    started = time.perf_counter()
    found_ours = [ours(image, 1) for image in images]
    seconds["numpy"] = time.perf_counter() - started
    started = time.perf_counter()
    found_theirs = [theirs(image, 1) for image in images]
    seconds["dlib"] = time.perf_counter() - started
    same, boxes, worst = 0, 0, 0.0
    for found, reference in zip(found_ours, found_theirs, strict=True):
        ours_boxes = [(d.rect.left, d.rect.top, d.rect.right, d.rect.bottom) for d in found]
        their_boxes = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in reference]
        boxes += len(their_boxes)
        if ours_boxes == their_boxes:
            same += 1
            worst = max(
                [worst] + [abs(a.confidence - b.confidence) for a, b in zip(found, reference, strict=True)]
            )
    return {"photos": len(images), "seconds": seconds, "same": same, "boxes": boxes, "worst": worst}


def peak_memory_12mp(photo: str) -> float:
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); "
        "from faceclust.encode.settings import EncodeSettings; from faceclust.encode.batch import encode_image; "
        f"encode_image({photo!r}, EncodeSettings(detection_method='cnn'))"
    )
    return peak_tree_memory([sys.executable, "-c", code])


def turned_photos(lfw: Path, folder: Path, seed: int = 0) -> list[str]:
    """lfw_dev's photos, each turned by 20 to 45 degrees either way (seeded), in person folders."""
    rng = np.random.default_rng(seed)
    paths = []
    for source in find_images(lfw):
        person = Path(source).parent.name
        target = folder / person / Path(source).name
        angle = float(rng.uniform(20, 45) * rng.choice([-1, 1]))
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(source) as image:
                image.convert("RGB").rotate(angle, resample=Image.Resampling.BICUBIC).save(target, quality=95)
        paths.append(str(target))
    return paths


def labelled_found(faces: list, paths: list[str], root: Path) -> tuple[int, int]:
    """Photos in person folders with a face found, of all such photos."""
    in_folders = [
        p for p in paths if not Path(p).parent.name.startswith("_") and Path(p).parent.parent == root
    ]
    found = {faces[i].image_path for i in scored_faces(faces, root)}
    return len(found & set(in_folders)), len(in_folders)


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--small", type=int, default=24, help="small photos timed per core (default 24)")
    args = parser.parse_args(argv)
    lfw_dev = args.datasets / "lfw_dev"
    jobs = default_jobs()

    # 1. Speed per core, in a child process so that pinning it leaves this one free.
    small = find_images(lfw_dev)[:: max(1, len(find_images(lfw_dev)) // args.small)][: args.small]
    code = (
        f"import sys, json; sys.path.insert(0, {str(REPO / 'bench')!r}); "
        f"from cnn_detector import speed_per_core; print(json.dumps(speed_per_core({small!r})))"
    )
    speed = json.loads(
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    )
    print(f"per core: {speed}", file=sys.stderr)

    # 2. Memory on a 12-megapixel photo.
    camera_truth = make_photos(
        args.datasets, RESULTS / "camera-seed0", {(4000, 3000): 12, (6000, 4000): 6}, 0
    )
    camera = sorted(camera_truth)[:6]  # the first six are 12 megapixels
    memory_seconds, memory_mb = peak_memory_12mp(camera[0])
    print(f"12 MP CNN: {memory_seconds:.1f} s, {memory_mb:.0f} MB", file=sys.stderr)

    # 3. HOG against CNN at the defaults.
    fre = args.datasets / "face_recognition_examples"
    turned_root = RESULTS / "turned-lfw_dev"
    sets = {
        "face_recognition_examples": (find_images(fre), fre),
        "lfw_dev turned 20-45 degrees": (turned_photos(lfw_dev, turned_root), turned_root),
        "12 MP camera photos (seed 0, first 6)": (camera, None),
    }
    worth = []
    for name, (paths, root) in sets.items():
        for method in ("hog", "cnn"):
            started = time.perf_counter()
            faces, _ = encode_dataset(paths, EncodeSettings(detection_method=method), jobs)
            seconds = time.perf_counter() - started
            row = {"set": name, "method": method, "faces": len(faces), "rate": len(paths) / seconds}
            if root is not None:
                row["labelled"] = labelled_found(faces, paths, root)
                row["b3"] = bcubed(faces, root)
            else:
                truth = {p: camera_truth[p] for p in paths}
                matched = match(truth, faces)
                pasted = [(p, i, size_of(box)) for p in paths for i, (box, _) in enumerate(truth[p])]
                row["buckets"] = [
                    (
                        sum(1 for p, i, s in pasted if low <= s < high and (p, i) in matched),
                        sum(1 for _, _, s in pasted if low <= s < high),
                    )
                    for low, high in BUCKETS
                ]
            worth.append(row)
            print(row, file=sys.stderr)

    ratio = speed["seconds"]["dlib"] / speed["seconds"]["numpy"]
    lines = [
        f"Speed per core: {speed['photos']} lfw_dev photos (250 px), one upsample, each detector pinned "
        "to one core with one BLAS thread.",
        "",
        "| CNN detector | photos/s per core | speed-up | same boxes as dlib | largest confidence difference |",
        "| --- | ---: | ---: | --- | ---: |",
        f"| dlib-bin's own | {speed['photos'] / speed['seconds']['dlib']:.2f} | 1.0x | - | - |",
        f"| faceclust.faces.cnn_detector (numpy) | {speed['photos'] / speed['seconds']['numpy']:.2f} | {ratio:.1f}x | "
        f"{speed['same']}/{speed['photos']} photos ({speed['boxes']} faces) | {speed['worst']:.1e} |",
        "",
        f"One 12-megapixel photo with `--detection-method cnn` at the default smallest face (70 px): "
        f"{memory_seconds:.1f} s in one process, peak memory {memory_mb:.0f} MB.",
        "",
        f"HOG against CNN at encode_faces.py's defaults ({jobs} worker processes):",
        "",
        "| photos | detector | photos/s | faces found | labelled photos with their face | BCubed F1 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in worth:
        if "buckets" in row:
            continue
        found, total = row["labelled"]
        lines.append(
            f"| {row['set']} | {row['method']} | {row['rate']:.2f} | {row['faces']} | {found}/{total} | {row['b3']:.3f} |"
        )
    lines += [
        "",
        "| 12 MP camera photos (seed 0, first 6) | photos/s | "
        + " | ".join(f"found {bucket_name(*b)}" for b in BUCKETS)
        + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in BUCKETS) + " |",
    ]
    for row in worth:
        if "buckets" in row:
            cells = " | ".join(f"{found}/{total}" for found, total in row["buckets"])
            lines.append(f"| {row['method']} | {row['rate']:.2f} | {cells} |")
    table = "\n".join(lines) + "\n"
    publish(table, "cnn_detector", "cnn", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
