"""HOG searched only where YuNet sees a face (faces/hog_cascade.py) against HOG's own full scan.

    .venv/bin/python bench/hog_cascade.py [--datasets ../shared/datasets] [--seeds 0 1]

How encode_faces.py searches a photo larger than 1024 px with HOG, unless --full-scan: YuNet
finds faces in the copy it searches for faces of 40 px (half size for a camera photo; 3/4 of
the size asked if smaller); each of
its faces is then given to HOG alone, in a crop three times the face's size, resized as HOG's
own scan of the photo would resize it (times whole 5/6 steps of HOG's pyramid, so that the face
reaches HOG's window at about the size it would in that scan), and kept with HOG's box if HOG
finds a face there scoring over 0 (then the face check, as for HOG's own). Faces HOG would not
find (turned, tilted, blurred), which YuNet alone keeps, are dropped.

1. Camera photos of bench/camera_photos.py --ways detectors (seeds 0 and 1, made there first):
   detection seconds on one core (the face check and embedding left out: the same for every
   way), pasted faces found, and the tutorial's faces found (its detection, HOG with one
   upsample over the full-size photo, run here), for HOG's own scan at 70 and 40 px and the
   cascade at 70 and 40 px (YuNet proposing faces of 40 and 30 px: settings.PROPOSED_SHARE),
   and at 40 px with YuNet proposing faces of 40 px. Then the whole
   encoding at the defaults on one core (decoding, detection, the face check, embedding) with
   --full-scan and without, and the tutorial's way.
2. The web photos of five_celebrities, lfw_dev and lfw_large (all of 250-380 px, which
   encode_faces.py scans whole): if the cascade searched them too, how many of HOG's own faces
   (the default encoding, bench/quality.py's cache) it would find, with what overlap, and how
   many more; and the default clustering's BCubed and pair F1 with each's faces. Why photos up
   to 1024 px are scanned whole.

Writes bench/results/hog_cascade.md and the table into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from encode_speed import tutorial_encode  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402
from quality import encoded  # noqa: E402

from faceclust.clustering import FaceClusterer  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.errors import ImageLoadError  # noqa: E402
from faceclust.evaluation import score_against_folders  # noqa: E402
from faceclust.faces.face_check import likely_faces  # noqa: E402
from faceclust.faces.hog_cascade import detect_hog_where_yunet_sees  # noqa: E402
from faceclust.faces.models import iou, shared_models  # noqa: E402
from faceclust.photos.images import find_images, load_rgb  # noqa: E402
from faceclust.records import Face  # noqa: E402

SIZES = (70, 40)


def cascade(rgb: np.ndarray, min_face_size: int, proposed: int | None = None) -> list:
    """The boxes and scores encode_faces.py finds in a large photo with HOG at ``min_face_size``
    (faces/hog_cascade.py), YuNet proposing faces of ``proposed`` px (default: the settings')."""
    settings = EncodeSettings("hog", min_face_size=min_face_size)
    proposals = (
        settings.proposal_settings() if proposed is None else EncodeSettings("yunet", min_face_size=proposed)
    )
    longer = max(rgb.shape[:2])
    return detect_hog_where_yunet_sees(
        shared_models(),
        rgb,
        settings.detection_scale(longer),
        settings.upsample,
        proposals.detection_scale(longer),
    )


def hog_scan(rgb: np.ndarray, min_face_size: int) -> list:
    settings = EncodeSettings("hog", min_face_size=min_face_size)
    scale = settings.detection_scale(max(rgb.shape[:2]))
    return shared_models().detect_hog_scored(rgb, settings.upsample, scale)


WAYS = {
    **{f"HOG's full scan, {size} px": (hog_scan, size) for size in SIZES},
    **{f"cascade, {size} px" + (" (default)" if size == 70 else ""): (cascade, size) for size in SIZES},
    # The default proposes faces of 30 px for HOG at 40 px, as HOG's scan reaches them; of 40:
    "cascade, 40 px, YuNet proposing 40 px": (lambda rgb, size: cascade(rgb, size, 40), 40),
}


def camera_photo(path: str) -> tuple[str, list, dict]:
    """The tutorial's boxes for one photo, and each way's boxes and seconds (one core)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import cv2

    cv2.setNumThreads(1)
    rgb = load_rgb(path)
    models = shared_models()
    tutorial = [(r.top(), r.right(), r.bottom(), r.left()) for r in models.hog_detector(rgb, 1)]
    ways = {}
    for label, (way, size) in WAYS.items():
        started = time.perf_counter()
        boxes = [box for box, _ in way(rgb, size)]
        ways[label] = (boxes, time.perf_counter() - started)
    return path, tutorial, ways


def found(box, boxes) -> bool:
    return max((iou(box, other) for other in boxes), default=0.0) >= 0.3


def camera_table(seed: int) -> list[str]:
    folder = RESULTS / f"camera-seed{seed}-from20"
    truth_path = folder / "truth.json"
    if not truth_path.exists():
        sys.exit(f"run bench/camera_photos.py --ways detectors --seed {seed} first: it makes the photos")
    truth = json.loads(truth_path.read_text())["photos"]
    with Pool(2) as pool:
        photos = pool.map(camera_photo, [str(folder / name) for name in sorted(truth)])
    pasted = sum(len(faces) for faces in truth.values())
    lines = [
        f"Camera photos of seed {seed}: {len(photos)}, {pasted} pasted faces of 20 px and more.",
        "",
        "| way | detection s (one core) | pasted faces found | the tutorial's faces found |",
        "|---|---:|---:|---:|",
    ]
    for label in WAYS:
        seconds = sum(ways[label][1] for _, _, ways in photos)
        hits = tutorial_hits = tutorial_total = 0
        for path, tutorial, ways in photos:
            boxes = ways[label][0]
            for box, _ in truth[Path(path).name]:
                in_tutorial = found(box, tutorial)
                tutorial_total += in_tutorial
                hits += found(box, boxes)
                tutorial_hits += in_tutorial and found(box, boxes)
        lines.append(
            f"| {label} | {seconds:.1f} | {hits} | {tutorial_hits} of {tutorial_total} "
            f"({tutorial_hits / tutorial_total:.1%}) |"
        )
        print(lines[-1], flush=True)
    return lines


def cascade_faces(path: str) -> tuple[str, list[Face]]:
    """The faces of one web photo as the cascade finds them (at the default 70 px), embedded
    as encode_faces.py embeds faces by default."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        rgb = load_rgb(path)
    except ImageLoadError:  # the sets' broken files: HOG's encoding skipped them too
        return path, []
    settings = EncodeSettings()
    boxes, _ = likely_faces(shared_models().cnn_net, rgb, cascade(rgb, settings.min_face_size))
    vectors = shared_models().embed(rgb, boxes, flip=settings.flip, framings=settings.framings)
    return path, [Face(path, box, vector) for box, vector in zip(boxes, vectors, strict=True)]


def web_row(datasets: Path, name: str) -> str:
    """How many of HOG's own faces the cascade finds in a set of web photos, and how the
    default clustering scores with each's faces."""
    root = datasets / name
    hog_faces = encoded(root, EncodeSettings())
    own: dict[str, list] = {}
    for face in hog_faces:
        own.setdefault(face.image_path.split(f"/{name}/", 1)[1], []).append(face.box)
    with Pool(2) as pool:
        found_faces = [
            face for _, faces in pool.map(cascade_faces, find_images(root), chunksize=8) for face in faces
        ]
    by_photo: dict[str, list] = {}
    for face in found_faces:
        by_photo.setdefault(face.image_path.split(f"/{name}/", 1)[1], []).append(face.box)
    same = extra = missed = 0
    overlaps = []
    for photo in sorted(set(own) | set(by_photo)):
        boxes, hog = by_photo.get(photo, []), own.get(photo, [])
        for box in boxes:
            best = max((iou(box, other) for other in hog), default=0.0)
            if best > 0.5:
                same += 1
                overlaps.append(best)
            else:
                extra += 1
        missed += sum(1 for other in hog if not any(iou(box, other) > 0.5 for box in boxes))
    scores = []
    for faces in (hog_faces, found_faces):
        labels = FaceClusterer().fit_predict(
            np.stack([f.encoding for f in faces]), [f.image_path for f in faces]
        )
        scored = score_against_folders(faces, labels, root)
        scores.append(f"{scored.bcubed_f1:.3f} / {scored.pairwise_f1:.3f}")
    total = sum(len(boxes) for boxes in own.values())
    return f"| {name} | {total} | {same} (mean IoU {np.mean(overlaps):.2f}) | {missed} | {extra} | {scores[0]} | {scores[1]} |"


def encode_row(seed: int) -> str:
    """The whole encoding of one seed's camera photos on one core, as encode_faces.py runs it at
    its defaults, with HOG's full scan (--full-scan) and with the cascade (the default)
    this process), and the tutorial's way beside."""
    import cv2
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    cv2.setNumThreads(1)
    paths = sorted(str(path) for path in (RESULTS / f"camera-seed{seed}-from20").glob("camera_*.jpg"))
    _, tutorial_seconds = tutorial_encode(paths)
    seconds = {}
    for label, settings in (
        ("HOG's full scan", EncodeSettings(full_scan=True)),
        ("cascade", EncodeSettings()),
    ):
        started = time.perf_counter()
        faces, summary = encode_dataset(paths, settings, jobs=1)
        seconds[label] = (time.perf_counter() - started, len(faces), summary.stage_seconds.get("detect", 0.0))
    cells = " | ".join(
        f"{total:.1f} s ({tutorial_seconds / total:.1f}x the tutorial), detection {detect:.1f} s, {faces} faces"
        for total, faces, detect in seconds.values()
    )
    return f"| {seed} | {tutorial_seconds:.1f} s | {cells} |"


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    args = parser.parse_args(argv)
    lines = []
    for seed in args.seeds:
        lines += [*camera_table(seed), ""]
    if args.seeds:
        lines += [
            "Encoding as encode_faces.py does at its defaults (decoding, detection, the face check, six "
            "embeddings a face), all in one process on one core:",
            "",
            "| seed | the tutorial's way | HOG's full scan (--full-scan) | cascade (default) |",
            "|---|---:|---:|---:|",
        ]
        for seed in args.seeds:
            lines.append(encode_row(seed))
            print(lines[-1], flush=True)
        lines.append("")
    lines += [
        "| web photos | HOG's own faces | found by the cascade too | missed | more than HOG's "
        "| BCubed / pair F1, HOG's faces | BCubed / pair F1, the cascade's |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("five_celebrities", "lfw_dev", "lfw_large"):
        lines.append(web_row(args.datasets, name))
        print(lines[-1], flush=True)
    publish("\n".join(lines) + "\n", "hog_cascade", "hog cascade", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
