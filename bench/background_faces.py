"""Strangers in the background: what a smaller --min-face-size finds, and does to the groups.

    .venv/bin/python bench/background_faces.py [--datasets ../shared/datasets] [--seed 0]
        [--photos 48]

A smaller smallest face finds the people a user photographs from afar, and the strangers
behind them: faces of 25-90 px, out of focus, tilted, each seen once. The camera benches paste
only sharp, upright faces of people seen several times, so they cannot show what the strangers
do to a library's groups; this bench can:

1. Generates 12-megapixel photos of a family (bench/results/background-seedN/): each photo
   1-5 faces of 40-400 px (log-uniform) of the family's 12 people (lfw_large people with 12
   photos or more, each of their photos pasted once), and 0-10 strangers of 25-90 px, each a
   different lfw_large person seen once there, tilted up to 20 degrees and blurred by up to
   a twentieth of their size (out of focus), on the real scenes of the camera bench; a third
   saved at JPEG quality 75.
2. Encodes them at each --min-face-size (the default detector, as users run it) and clusters
   all the faces found with the default clustering, in which a group with fewer than two sharp
   faces is left unknown (clustering/blurred.py), and as it was before that rule (every group
   kept), in the same run.
3. Scores every pasted face against its person, a face not found counting as unknown (alone):
   pair F1 / BCubed F1 over the family and the strangers together, as a user would see the
   library; the groups, against the family's 12 people; the family's faces found and in their
   person's largest group; the strangers found, and those the clustering put in a group (with
   the family or with each other).

Writes bench/results/background_faces_seedN.md and the table into docs/benchmarks.md between the
"background faces seed N" markers.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from camera_photos import (  # noqa: E402
    CROP,
    FACE_SHARE,
    face_box,
    free_spot,
    keep_truth,
    lfw_tile,
    made_before,
    match,
    real_scenes,
    scene_canvas,
)
from harness import RESULTS, bench_parser, publish  # noqa: E402

from faceclust.clustering import FaceClusterer  # noqa: E402
from faceclust.clustering.blurred import sharpness_of  # noqa: E402
from faceclust.encode.local import default_jobs  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import DEFAULT_MIN_FACE_SIZE, EncodeSettings  # noqa: E402
from faceclust.evaluation import score  # noqa: E402

SIZES = (70, 60, 55, 50, 40)
FAMILY = 12
FAMILY_PHOTOS = 12
FAMILY_FACES = (1, 5)
FAMILY_PX = (40, 400)
STRANGERS = (0, 10)
STRANGER_PX = (25, 90)
TILT_DEGREES = 20
# Out of focus: a Gaussian blur of up to this share of the face's size (2 px for a 40 px face).
BLUR_SHARE = 0.05
# The centre of dlib's box in LFW's deep-funneled photos (bench/camera_photos.py, CROP): a
# stranger's photo is tilted about it, so the crop keeps the face where the box says.
FACE_CENTRE = ((CROP[0] + CROP[2]) / 2, (CROP[1] + CROP[3]) / 2)


def make_photos(datasets: Path, folder: Path, photos: int, seed: int) -> dict:
    """The photos and, per photo, the pasted faces as ``[box, person, "family" | "stranger"]``;
    made once per recipe."""
    recipe = {"photos": photos, "seed": seed, "version": 1}
    made = made_before(folder, recipe)
    if made is not None:
        return made
    rng = np.random.default_rng(seed)
    lfw = datasets / "lfw_large"
    by_person = {p.name: sorted(p.glob("*.jpg")) for p in sorted(lfw.iterdir()) if p.is_dir()}
    regulars = [name for name, files in by_person.items() if len(files) >= FAMILY_PHOTOS]
    family = sorted(rng.choice(regulars, FAMILY, replace=False).tolist())
    # Each family photo pasted once, in a shuffled order: a library holds no two copies.
    unused = {name: list(rng.permutation(by_person[name])) for name in family}
    strangers = list(rng.permutation([name for name, files in by_person.items() if len(files) == 1]))
    scenes = real_scenes(datasets)
    truth: dict[str, list] = {}
    for index in range(photos):
        canvas = scene_canvas(scenes, rng, 4000, 3000)
        placed: list = []
        pasted = truth.setdefault(f"background_{index:03d}.jpg", [])
        for _ in range(int(rng.integers(FAMILY_FACES[0], FAMILY_FACES[1] + 1))):
            left = [name for name in family if unused[name]]
            if not left:
                break
            name = left[int(rng.integers(len(left)))]
            face_px = float(np.exp(rng.uniform(*np.log(FAMILY_PX))))
            tile_px = round(face_px / FACE_SHARE)
            spot = free_spot(rng, 4000, 3000, tile_px, placed)
            if spot is None:
                continue
            canvas.paste(lfw_tile(unused[name].pop(), tile_px), spot)
            pasted.append([face_box(spot, tile_px, face_px), name, "family"])
        for _ in range(int(rng.integers(STRANGERS[0], STRANGERS[1] + 1))):
            face_px = float(np.exp(rng.uniform(*np.log(STRANGER_PX))))
            tile_px = round(face_px / FACE_SHARE)
            tilt = float(rng.uniform(-TILT_DEGREES, TILT_DEGREES))
            blur = float(rng.uniform(0, BLUR_SHARE)) * face_px
            spot = free_spot(rng, 4000, 3000, tile_px, placed)
            if spot is None:
                continue
            name = strangers.pop()
            with Image.open(by_person[name][0]) as source:
                turned = source.convert("RGB").rotate(tilt, Image.Resampling.BICUBIC, center=FACE_CENTRE)
            tile = turned.crop(CROP).resize((tile_px, tile_px), Image.Resampling.LANCZOS)
            canvas.paste(tile.filter(ImageFilter.GaussianBlur(blur)), spot)
            pasted.append([face_box(spot, tile_px, face_px), name, "stranger"])
        canvas.save(folder / f"background_{index:03d}.jpg", quality=75 if index % 3 == 2 else 92)
    return keep_truth(folder, recipe, truth)


def table_row(label: str, truth: dict, found: list, seconds: float, photos: int, blurred_rule: bool) -> str:
    matched = match(truth, found)
    labels = FaceClusterer().fit_predict(
        np.stack([face.encoding for face in found]),
        [face.image_path for face in found],
        sharpness=sharpness_of(found) if blurred_rule else None,
    )
    pasted = [
        (photo, index, person, role)
        for photo in sorted(truth)
        for index, (_, person, role) in enumerate(truth[photo])
    ]
    # Each pasted face's group; one not found, or left unknown, is alone (-1).
    groups = np.array([labels[matched[(p, i)]] if (p, i) in matched else -1 for p, i, _, _ in pasted])
    overall = score([person for _, _, person, _ in pasted], groups)
    family = [n for n, (_, _, _, role) in enumerate(pasted) if role == "family"]
    strangers = [n for n, (_, _, _, role) in enumerate(pasted) if role == "stranger"]
    family_found = sum((pasted[n][0], pasted[n][1]) in matched for n in family)
    # A family face is placed when it is in the group that holds most of its person's faces.
    largest = {}
    for person in {pasted[n][2] for n in family}:
        held = Counter(int(groups[n]) for n in family if pasted[n][2] == person and groups[n] != -1)
        largest[person] = held.most_common(1)[0][0] if held else None
    placed = sum(groups[n] != -1 and groups[n] == largest[pasted[n][2]] for n in family)
    family_groups = {int(groups[n]) for n in family if groups[n] != -1}
    strangers_found = sum((pasted[n][0], pasted[n][1]) in matched for n in strangers)
    with_family = sum(int(groups[n]) in family_groups for n in strangers)
    among_themselves = sum(groups[n] != -1 and int(groups[n]) not in family_groups for n in strangers)
    not_pasted = len(found) - len(set(matched.values()))
    groups = len(set(labels.tolist()) - {-1})
    return (
        f"| {label} | {photos / seconds:.2f} | {overall.pairwise_f1:.3f} / {overall.bcubed_f1:.3f} | {groups} "
        f"| {family_found}/{len(family)} | {placed}/{len(family)} | {strangers_found}/{len(strangers)} "
        f"| {with_family} | {among_themselves} | {not_pasted} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--seed", type=int, default=0, help="seed of the photos (default 0)")
    parser.add_argument("--photos", type=int, default=48, help="12-megapixel photos (default 48)")
    args = parser.parse_args(argv)
    truth = make_photos(args.datasets, RESULTS / f"background-seed{args.seed}", args.photos, args.seed)
    paths = sorted(truth)
    roles = Counter(role for faces in truth.values() for _, _, role in faces)
    jobs = default_jobs()
    lines = [
        f"Photos of seed {args.seed}: {len(paths)} of 12 megapixels, {roles['family']} faces of the family's "
        f"{FAMILY} people (40-400 px) and {roles['stranger']} strangers (25-90 px, tilted, out of focus, each "
        f"seen once); the default detector on {jobs} worker processes, the default clustering (blurred groups "
        "left unknown) and the clustering before that rule, on the same faces.",
        "",
        "| --min-face-size, clustering | photos/s | pair F1 / BCubed F1, every pasted face | groups "
        "| family faces found "
        "| family faces in their person's largest group | strangers found | strangers in a family group "
        "| strangers in a group of strangers | found, not a pasted face |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in SIZES:
        label = f"{size}" + (" (default)" if size == DEFAULT_MIN_FACE_SIZE["hog"] else "")
        started = time.perf_counter()
        found, _ = encode_dataset(paths, EncodeSettings("hog", min_face_size=size), jobs)
        seconds = time.perf_counter() - started
        for blurred_rule, clustering in (
            (True, "blurred groups left unknown"),
            (False, "every group kept (before)"),
        ):
            lines.append(table_row(f"{label}, {clustering}", truth, found, seconds, len(paths), blurred_rule))
            print(lines[-1], flush=True)
    publish(
        "\n".join(lines) + "\n",
        f"background_faces_seed{args.seed}",
        f"background faces seed {args.seed}",
        args,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
