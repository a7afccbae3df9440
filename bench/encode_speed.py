"""Encoding speed and memory: the tutorial's way against ours, in the same run.

    .venv/bin/python bench/encode_speed.py [--datasets ../shared/datasets] [--large 40]

What it does, all on this machine:
1. Generates large photos (default 40 JPEGs of 4000x3000) under bench/results/large/, each
   holding 1-4 faces pasted from lfw_dev at 180-480 px on a blurred background (seeded).
2. Times the tutorial's way on them and on lfw_dev (698 photos of 250 px): one process, full
   resolution, HOG with one upsample, face_recognition's dlib calls one face at a time.
3. Times ours at the default settings (all cores, photos searched at the scale a 70 px face needs,
   full-resolution embedding) on the same photos, and counts the tutorial's faces ours also finds
   (IoU >= 0.5).
4. Compares clustering quality on lfw_dev from both sets of embeddings (default clustering).
5. Measures peak memory (whole process tree) encoding four 50-megapixel photos.
6. Times a re-run of encode_faces.py on 1000 unchanged photos.
7. Reports seconds per face of the embedding step alone (the floor no detection trick removes).

Writes bench/results/encode_speed.md and the table into docs/ between the speed markers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import RESULTS, bench_parser, publish  # noqa: E402

from faceclust.clustering import FaceClusterer  # noqa: E402
from faceclust.encode.local import default_jobs  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.evaluation import score_against_folders  # noqa: E402
from faceclust.faces.models import (  # noqa: E402
    MODEL_FILES,
    FaceModels,
    iou,
    model_folder,
)
from faceclust.photos.images import find_images  # noqa: E402
from faceclust.records import Face  # noqa: E402

# ------------------------------------------------------------------ test photos


def make_large_photos(lfw: Path, folder: Path, count: int, size: tuple[int, int], seed: int = 0) -> list[str]:
    """Photos of ``size`` with 1-4 LFW faces each (face about 180-480 px) on a blurred background."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f".made-v2-{count}-{size[0]}x{size[1]}-{seed}"
    if marker.exists():
        return find_images(folder)
    for old in folder.glob("*.jpg"):
        old.unlink()
    rng = np.random.default_rng(seed)
    sources = find_images(lfw)
    width, height = size
    for index in range(count):
        # The corner of a photo (where LFW has no face), blurred: smooth like an out-of-focus scene.
        with Image.open(sources[int(rng.integers(len(sources)))]) as scene:
            corner = scene.convert("RGB").crop((0, 0, 48, 36)).resize((width // 16, height // 16))
        blurred = corner.filter(ImageFilter.GaussianBlur(6))
        background = blurred.resize(size, Image.Resampling.BICUBIC)
        faces = int(rng.integers(1, 5))
        slot_width = width // faces
        for slot in range(faces):
            # dlib's box on LFW's 250 px deep-funneled photos is 107 px, centred near (121, 133).
            # The central 150 px square holds it (71% of the width) and leaves out most of the
            # other people some LFW photos show, whose small faces are not what this measures.
            face_px = int(rng.integers(180, 481))
            tile_px = min(int(face_px / 0.71), slot_width, height)
            with Image.open(sources[int(rng.integers(len(sources)))]) as source:
                centre = source.convert("RGB").crop((46, 58, 196, 208))
                tile = centre.resize((tile_px, tile_px), Image.Resampling.BICUBIC)
            x = slot * slot_width + int(rng.integers(0, max(1, slot_width - tile_px)))
            y = int(rng.integers(0, max(1, height - tile_px)))
            background.paste(tile, (x, y))
        background.save(folder / f"large_{index:03d}.jpg", quality=92)
    marker.touch()
    return find_images(folder)


# ------------------------------------------------------------------ the tutorial's way


def tutorial_encode(paths: list[str]) -> tuple[list[Face], float]:
    """face_recognition 1.3.0's steps: load_image_file, face_locations(upsample 1, hog), face_encodings."""
    import dlib

    models = FaceModels()
    # face_recognition runs dlib's own forward pass (ours runs the same network in numpy)
    embedder = dlib.face_recognition_model_v1(str(model_folder() / MODEL_FILES["embedding"]))
    faces = []
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            rgb = np.array(image.convert("RGB"))
        height, width = rgb.shape[:2]
        for rect in models.hog_detector(rgb, 1):
            box = (
                max(rect.top(), 0),
                min(rect.right(), width),
                min(rect.bottom(), height),
                max(rect.left(), 0),
            )
            shape = models.landmark_predictor(rgb, dlib.rectangle(box[3], box[0], box[1], box[2]))
            vector = np.array(embedder.compute_face_descriptor(rgb, shape, 1))
            faces.append(Face(path, box, vector))
    return faces, time.perf_counter() - started


def ours_encode(paths: list[str], jobs: int) -> tuple[list[Face], float, dict[str, float]]:
    started = time.perf_counter()
    faces, summary = encode_dataset(paths, EncodeSettings(), jobs)
    return faces, time.perf_counter() - started, summary.stage_seconds


# ------------------------------------------------------------------ measures


def found_share(reference: list[Face], candidate: list[Face]) -> tuple[int, int]:
    """How many of ``reference``'s faces ``candidate`` also found (same photo, IoU >= 0.5)."""
    by_photo: dict[str, list] = {}
    for face in candidate:
        by_photo.setdefault(face.image_path, []).append(face.box)
    hits = sum(
        1 for face in reference if any(iou(face.box, box) >= 0.5 for box in by_photo.get(face.image_path, []))
    )
    return hits, len(reference)


def bcubed(faces: list[Face], root: Path) -> float:
    encodings = np.stack([face.encoding for face in faces])
    labels = FaceClusterer().fit_predict(encodings, [face.image_path for face in faces])
    return score_against_folders(faces, labels, root).bcubed_f1


def peak_tree_memory(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (seconds, peak resident memory in MB summed over its process tree)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def tree_rss() -> int:
        pids, total = [process.pid], 0
        while pids:
            pid = pids.pop()
            try:
                with open(f"/proc/{pid}/status") as status:
                    total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
                with open(f"/proc/{pid}/task/{pid}/children") as children:
                    pids += [int(child) for child in children.read().split()]
            except (FileNotFoundError, StopIteration, ProcessLookupError):
                continue
        return total

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    _, err = process.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed: {err.decode()[-500:]}")
    return seconds, peak / 1024


def tutorial_memory_command(paths: list[str]) -> list[str]:
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'bench')!r}); "
        f"from encode_speed import tutorial_encode; tutorial_encode({paths!r})"
    )
    return [sys.executable, "-c", code]


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--large", type=int, default=40, help="large photos to generate (default 40)")
    args = parser.parse_args(argv)
    lfw = args.datasets / "lfw_dev"
    jobs = default_jobs()
    rows = []
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731

    large = make_large_photos(lfw, RESULTS / "large", args.large, (4000, 3000))
    small = find_images(lfw)
    for name, paths in (("large 4000x3000", large), ("small 250x250 (lfw_dev)", small)):
        say(f"{name}: tutorial ...")
        theirs, their_seconds = tutorial_encode(paths)
        say(f"{name}: ours ...")
        ours, our_seconds, stages = ours_encode(paths, jobs)
        hits, total = found_share(theirs, ours)
        rows.append(
            {
                "set": name,
                "photos": len(paths),
                "tutorial_ips": len(paths) / their_seconds,
                "ours_ips": len(paths) / our_seconds,
                "speedup": their_seconds / our_seconds,
                "found": f"{hits}/{total} ({100 * hits / total:.1f}%)",
                "faces": (len(theirs), len(ours)),
                "embed_per_face": stages.get("embed", 0) / max(1, len(ours)),
            }
        )
        if paths is small:
            quality = (bcubed(theirs, lfw), bcubed(ours, lfw))
        say(str(rows[-1]))

    say("50-megapixel photos: memory ...")
    huge = make_large_photos(lfw, RESULTS / "huge", 4, (8660, 5773), seed=1)
    encodings = RESULTS / "huge.pickle"
    our_huge = peak_tree_memory(
        [
            sys.executable,
            str(REPO / "encode_faces.py"),
            "-i",
            str(RESULTS / "huge"),
            "-e",
            str(encodings),
            "-q",
            "--fresh",
            "-j",
            str(jobs),
        ]
    )
    their_huge = peak_tree_memory(tutorial_memory_command(huge))

    say("re-run on 1000 unchanged photos ...")
    thousand = RESULTS / "thousand"
    if not (thousand / ".complete").exists():
        shutil.rmtree(thousand, ignore_errors=True)
        thousand.mkdir(parents=True)
        for index in range(1000):
            source = small[index % len(small)]
            os.link(source, thousand / f"{index:04d}_{Path(source).name}")
        (thousand / ".complete").touch()
    command = [
        sys.executable,
        str(REPO / "encode_faces.py"),
        "-i",
        str(thousand),
        "-e",
        str(RESULTS / "thousand.pickle"),
        "-q",
        "-j",
        str(jobs),
    ]
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    rerun_seconds = time.perf_counter() - started

    lines = [
        f"Measured on {os.cpu_count()} cores; ours uses {jobs} worker processes.",
        "",
        "| photos | count | tutorial photos/s | ours photos/s | speed-up | tutorial's faces ours finds | embedding s/face (ours, one core) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['set']} | {row['photos']} | {row['tutorial_ips']:.2f} | {row['ours_ips']:.2f} | "
            f"{row['speedup']:.1f}x | {row['found']} | {row['embed_per_face']:.3f} |"
        )
    lines += [
        "",
        "| other measure | tutorial | ours |",
        "| --- | --- | --- |",
        f"| lfw_dev clustering quality, BCubed F1 (default clustering) | {quality[0]:.3f} | {quality[1]:.3f} |",
        f"| four 50-megapixel photos: seconds | {their_huge[0]:.0f} | {our_huge[0]:.0f} |",
        f"| four 50-megapixel photos: peak memory of all processes, MB | {their_huge[1]:.0f} | {our_huge[1]:.0f} |",
        f"| re-run of encode_faces.py on 1000 unchanged photos, s | - | {rerun_seconds:.2f} |",
    ]
    table = "\n".join(lines) + "\n"
    publish(table, "encode_speed", "speed", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
