"""Small faces in camera photos: faces found by size, and photos per second, against the tutorial.

    .venv/bin/python bench/camera_photos.py [--datasets ../shared/datasets] [--photos12 12 --photos24 6]
        [--seed 0] [--ways hog-sizes|detectors]

What it does, all on this machine:
1. Generates group photos like a camera's (bench/results/camera/): 12-megapixel (4000x3000)
   and 24-megapixel (6000x4000) JPEGs, each with 1 to 20 faces of 40 to 500 px (log-uniform)
   at random places, pasted from lfw_large (people with three photos or more, so that each
   person is seen several times), on a background of real photos (the _no_face scenes of
   face_recognition_examples: gravel, brick, coffee, a motorcycle, ...), a third of them saved
   at JPEG quality 75 (seeded).
2. Runs the tutorial's way on them (one process, full resolution, HOG with one upsample) and
   ours at several --min-face-size settings and the older --detect-size 1024 default, all
   cores, timing each and summing the worker time per stage (decode, detect, embed).
3. Matches each pasted face to a found box (IoU >= 0.3) and reports, by face size, how many
   each way found; the share of the faces the tutorial's way found that each setting finds
   (all, and those of 80 px or more); and how well each size's faces cluster (BCubed F1 of the
   default clustering of all faces found, scored on the faces of that size against the pasted
   people).

Writes bench/results/camera_photos.md and the table into docs/ between the camera markers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from encode_speed import tutorial_encode  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402

from faceclust.clustering import FaceClusterer  # noqa: E402
from faceclust.clustering.blurred import sharpness_of  # noqa: E402
from faceclust.encode.local import default_jobs  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import DEFAULT_MIN_FACE_SIZE, EncodeSettings  # noqa: E402
from faceclust.evaluation import score  # noqa: E402
from faceclust.faces.models import iou  # noqa: E402
from faceclust.photos.images import find_images  # noqa: E402

BUCKETS = ((40, 60), (60, 80), (80, 120), (120, 200), (200, 10_000))
# --ways hog-sizes: HOG at each --min-face-size (how HOG's default was chosen).
SETTINGS = {
    f"--min-face-size {size}" + (" (default)" if size == DEFAULT_MIN_FACE_SIZE["hog"] else ""): (
        EncodeSettings("hog", min_face_size=size)
    )
    for size in (40, 50, 60, 70, 80, 120)
}
SETTINGS["--detect-size 1024 (the default before)"] = EncodeSettings("hog", detect_size=1024)
# --ways detectors: HOG and YuNet side by side, on photos with faces from 20 px (--smallest 20).
DETECTORS = {
    f"HOG --min-face-size {size}" + (" (default)" if size == DEFAULT_MIN_FACE_SIZE["hog"] else ""): (
        EncodeSettings("hog", min_face_size=size)
    )
    for size in (DEFAULT_MIN_FACE_SIZE["hog"], 70, 40)
}
DETECTORS.update(
    {
        f"YuNet --min-face-size {size}"
        + (" (YuNet's default)" if size == DEFAULT_MIN_FACE_SIZE["yunet"] else ""): (
            EncodeSettings("yunet", min_face_size=size)
        )
        for size in (70, 40, 20)
    }
)
# The tutorial embeds each face once: YuNet with the same embedding work, for the speed alone.
DETECTORS["YuNet --min-face-size 40 --framings 1 --no-flip"] = EncodeSettings(
    "yunet", min_face_size=40, framings=1, flip=False
)
# dlib's box on LFW's 250 px deep-funneled photos is about 107 px, centred near (121, 133): the
# central 150 px square holds it, 71% of the square's side, centred.
CROP = (46, 58, 196, 208)
FACE_SHARE = 107 / 150


def bucket_name(low: int, high: int) -> str:
    return f"{low}+ px" if high >= 10_000 else f"{low}-{high} px"


def real_scenes(datasets: Path) -> list[Image.Image]:
    """The real photos without faces that the camera photos' backgrounds are made of."""
    return [
        Image.open(path).convert("RGB")
        for path in find_images(datasets / "face_recognition_examples" / "_no_face")
    ]


def scene_canvas(scenes: list[Image.Image], rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A camera-size background: four real scenes, one per quarter, enlarged."""
    canvas = Image.new("RGB", (width, height))
    for quarter in range(4):
        scene = scenes[int(rng.integers(len(scenes)))]
        x0, y0 = (quarter % 2) * width // 2, (quarter // 2) * height // 2
        canvas.paste(scene.resize((width // 2, height // 2), Image.Resampling.BICUBIC), (x0, y0))
    return canvas


def free_spot(
    rng: np.random.Generator, width: int, height: int, tile_px: int, placed: list
) -> tuple[int, int] | None:
    """Where a ``tile_px`` tile overlaps none of the ``placed`` boxes (added to them), or None
    after 50 tries."""
    for _attempt in range(50):
        x = int(rng.integers(0, width - tile_px))
        y = int(rng.integers(0, height - tile_px))
        box = (y, x + tile_px, y + tile_px, x)
        if all(iou(box, other) == 0 for other in placed):
            placed.append(box)
            return x, y
    return None


def lfw_tile(path: Path, tile_px: int) -> Image.Image:
    """An LFW photo's central square (:data:`CROP`, dlib's face :data:`FACE_SHARE` of it) at
    ``tile_px`` on a side."""
    with Image.open(path) as source:
        return source.convert("RGB").crop(CROP).resize((tile_px, tile_px), Image.Resampling.LANCZOS)


def face_box(spot: tuple[int, int], tile_px: int, face_px: float) -> tuple[int, int, int, int]:
    """The face's box (top, right, bottom, left) in a tile pasted at ``spot``: the face is
    :data:`FACE_SHARE` of the tile, centred."""
    x, y = spot
    inset = (tile_px - face_px) / 2
    return (round(y + inset), round(x + tile_px - inset), round(y + tile_px - inset), round(x + inset))


def made_before(folder: Path, recipe: dict) -> dict | None:
    """The photos' truth (photo path -> pasted faces) if ``folder`` holds photos made by
    ``recipe``; otherwise None, with ``folder`` made and emptied of photos for new ones."""
    truth_path = folder / "truth.json"
    if truth_path.exists():
        stored = json.loads(truth_path.read_text())
        if stored["recipe"] == recipe:
            return {str(folder / name): faces for name, faces in stored["photos"].items()}
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    return None


def keep_truth(folder: Path, recipe: dict, truth: dict) -> dict:
    """Write the photos' truth (photo name -> pasted faces) beside them, for the next run of the
    same recipe; return it by photo path."""
    (folder / "truth.json").write_text(json.dumps({"recipe": recipe, "photos": truth}))
    return {str(folder / name): faces for name, faces in truth.items()}


def make_photos(
    datasets: Path, folder: Path, counts: dict[tuple[int, int], int], seed: int = 0, smallest: int = 40
) -> dict:
    """The photos and, per photo, the pasted faces as ``[box, person]``; made once per recipe."""
    recipe = {"counts": {f"{w}x{h}": n for (w, h), n in counts.items()}, "seed": seed, "version": 1}
    if smallest != 40:
        recipe["smallest"] = smallest
    made = made_before(folder, recipe)
    if made is not None:
        return made
    rng = np.random.default_rng(seed)
    lfw = datasets / "lfw_large"
    people = [p for p in sorted(lfw.iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) >= 3]
    scenes = real_scenes(datasets)
    truth: dict[str, list] = {}
    index = 0
    for (width, height), count in counts.items():
        for _ in range(count):
            canvas = scene_canvas(scenes, rng, width, height)
            faces, placed = int(rng.integers(1, 21)), []
            for _ in range(faces):
                face_px = float(np.exp(rng.uniform(np.log(smallest), np.log(500))))
                tile_px = round(face_px / FACE_SHARE)
                spot = free_spot(rng, width, height, tile_px, placed)
                if spot is None:
                    continue
                person = people[int(rng.integers(len(people)))]
                photos = sorted(person.glob("*.jpg"))
                canvas.paste(lfw_tile(photos[int(rng.integers(len(photos)))], tile_px), spot)
                truth.setdefault(f"camera_{index:03d}.jpg", []).append(
                    [face_box(spot, tile_px, face_px), person.name]
                )
            quality = 75 if index % 3 == 2 else 92
            canvas.save(folder / f"camera_{index:03d}.jpg", quality=quality)
            index += 1
    return keep_truth(folder, recipe, truth)


def match(truth: dict, faces: list) -> dict[tuple[str, int], int]:
    """(photo, pasted face index) -> index in ``faces`` of the found face that is that face."""
    by_photo: dict[str, list[int]] = {}
    for number, face in enumerate(faces):
        by_photo.setdefault(face.image_path, []).append(number)
    matched = {}
    for photo, pasted in truth.items():
        for index, (box, *_) in enumerate(pasted):
            candidates = [(iou(box, faces[n].box), n) for n in by_photo.get(photo, [])]
            best = max(candidates, default=(0.0, -1))
            if best[0] >= 0.3:
                matched[(photo, index)] = best[1]
    return matched


def size_of(box) -> float:
    return float(box[2] - box[0])


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--photos12", type=int, default=12, help="12-megapixel photos (default 12)")
    parser.add_argument("--photos24", type=int, default=6, help="24-megapixel photos (default 6)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the photos: 0 chose the default, 1 checks it (default 0)"
    )
    parser.add_argument(
        "--ways",
        choices=("hog-sizes", "detectors"),
        default="hog-sizes",
        help="hog-sizes: HOG at each --min-face-size (default); detectors: HOG and YuNet, on photos "
        "with faces from 20 px",
    )
    args = parser.parse_args(argv)
    smallest = 20 if args.ways == "detectors" else 40
    global BUCKETS
    if smallest < 40:
        BUCKETS = ((smallest, 40), *BUCKETS)
    ways = DETECTORS if args.ways == "detectors" else SETTINGS

    truth = make_photos(
        args.datasets,
        RESULTS / (f"camera-seed{args.seed}" + (f"-from{smallest}" if smallest != 40 else "")),
        {(4000, 3000): args.photos12, (6000, 4000): args.photos24},
        args.seed,
        smallest,
    )
    paths = sorted(truth)
    pasted = [
        (photo, index, size_of(box), person)
        for photo in paths
        for index, (box, person) in enumerate(truth[photo])
    ]
    jobs = default_jobs()
    print(f"{len(paths)} photos, {len(pasted)} pasted faces", file=sys.stderr)

    runs = {}
    faces, seconds = tutorial_encode(paths)
    runs["tutorial's way (full size, HOG, one upsample, one process)"] = (faces, seconds, {})
    print(f"tutorial: {len(faces)} faces in {seconds:.0f} s", file=sys.stderr)
    for label, settings in ways.items():
        started = time.perf_counter()
        found, summary = encode_dataset(paths, settings, jobs)
        runs[label] = (found, time.perf_counter() - started, summary.stage_seconds)
        print(f"{label}: {len(found)} faces in {runs[label][1]:.0f} s", file=sys.stderr)

    tutorial_label = next(iter(runs))
    tutorial_found = match(truth, runs[tutorial_label][0])
    header = (
        "| way | photos/s | speed-up | "
        + " | ".join(f"found {bucket_name(*b)}" for b in BUCKETS)
        + " | tutorial's faces found: all / 80+ px | not a pasted face | B3 F1 by size (same buckets) "
        "| worker s: decode / detect / embed |"
    )
    lines = [
        f"Photos of seed {args.seed}: {len(paths)} ({args.photos12} of 12 and {args.photos24} of 24 "
        f"megapixels), {len(pasted)} pasted faces; ours uses {jobs} worker processes on {jobs} cores.",
        "",
        header,
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in BUCKETS) + " | ---: | ---: | --- | --- |",
    ]
    totals = [sum(1 for p in pasted if low <= p[2] < high) for low, high in BUCKETS]
    for label, (found, seconds, stages) in runs.items():
        matched = match(truth, found)
        per_bucket = [
            sum(1 for p in pasted if low <= p[2] < high and (p[0], p[1]) in matched) for low, high in BUCKETS
        ]
        in_tutorial = [key for key in tutorial_found]
        big = [key for key in in_tutorial if size_of(truth[key[0]][key[1]][0]) >= 80]
        share_all = sum(1 for key in in_tutorial if key in matched) / max(1, len(in_tutorial))
        share_big = sum(1 for key in big if key in matched) / max(1, len(big))
        # Cluster everything this way found; score each size's matched faces against their people.
        encodings = np.stack([face.encoding for face in found])
        labels = FaceClusterer().fit_predict(
            encodings, [face.image_path for face in found], sharpness=sharpness_of(found)
        )
        f1s = []
        for low, high in BUCKETS:
            keys = [(p[0], p[1]) for p in pasted if low <= p[2] < high and (p[0], p[1]) in matched]
            if len(keys) < 2:
                f1s.append("-")
                continue
            people = [truth[photo][index][1] for photo, index in keys]
            f1s.append(f"{score(people, labels[[matched[key] for key in keys]]).bcubed_f1:.2f}")
        rate = len(paths) / seconds
        speedup = rate / (len(paths) / runs[tutorial_label][1])
        stage = (
            " / ".join(f"{stages.get(name, 0):.0f}" for name in ("decode", "detect", "embed"))
            if stages
            else "-"
        )
        lines.append(
            f"| {label} | {rate:.2f} | {speedup:.1f}x | "
            + " | ".join(f"{n}/{t}" for n, t in zip(per_bucket, totals, strict=True))
            + f" | {share_all:.1%} / {share_big:.1%} | {len(found) - len(set(matched.values()))} "
            f"| {' / '.join(f1s)} | {stage} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    detectors = " detectors" if args.ways == "detectors" else ""
    publish(
        table,
        f"camera_photos_seed{args.seed}{detectors.replace(' ', '_')}",
        f"camera seed {args.seed}{detectors}",
        args,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
