"""HOG searched only where YuNet sees a face: HOG's faces at YuNet's cost? A measured proposal.

    .venv/bin/python bench/hog_cascade.py [--datasets ../shared/datasets] [--seeds 0 1]

Not how encode_faces.py searches: a design measured before it is built. YuNet finds faces in the
copy it searches for ``--min-face-size`` 40 (half size for a camera photo); each of its faces is
then given to HOG alone, in a crop three times the face's size, resized as HOG's own scan of the
photo would resize it at the smallest face asked (times whole 5/6 steps of HOG's pyramid, so
that the face reaches HOG's window at about the size it would in that scan), and kept if HOG
finds a face there scoring over 0, with HOG's box (and, for the clustering below, if the face
check keeps it, as it keeps HOG's own). Faces HOG would not find (turned, tilted,
blurred), which YuNet alone keeps, are dropped; HOG's own scan of the whole photo is skipped.

1. Camera photos of bench/camera_photos.py --ways detectors (seeds 0 and 1, made there first):
   detection seconds on one core (the face check and embedding left out: the same for every
   way), pasted faces found, and the tutorial's faces found (its detection, HOG with one
   upsample over the full-size photo, run here), for HOG's own scan at 70 and 40 px and the
   cascade at 70 and 40 px. Then the whole encoding at the defaults on one core (decoding,
   detection, the face check, embedding) with HOG's own scan and with the cascade, and the
   tutorial's way.
2. The web photos of five_celebrities, lfw_dev and lfw_large: how many of HOG's own faces (the
   default encoding, bench/quality.py's cache) the cascade finds, with what overlap, and how
   many more; and the default clustering's BCubed and pair F1 with each's faces, embedded as
   encode_faces.py embeds them.

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

from encode_speed import iou, tutorial_encode  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402
from quality import encoded  # noqa: E402

from faceclust.clustering import FaceClusterer  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.errors import ImageLoadError  # noqa: E402
from faceclust.evaluation import score_against_folders  # noqa: E402
from faceclust.faces.face_check import likely_faces  # noqa: E402
from faceclust.faces.models import FaceModels, shared_models  # noqa: E402
from faceclust.photos.images import find_images, load_rgb  # noqa: E402
from faceclust.records import Face  # noqa: E402

SIZES = (70, 40)
# The proposals: YuNet searched for faces of 40 px whatever HOG is then asked for, since at
# 70 px it loses faces of 60-80 px that HOG keeps (docs/benchmarks.md, "YuNet").
PROPOSALS = EncodeSettings("yunet", min_face_size=40)
# HOG's score on the crop over which a proposal is kept: 0, as in HOG's own scan; HOG's doubtful
# ones (under face_check.DOUBTFUL_BELOW) then go to the CNN check, as HOG's own do.
HOG_KEEPS = 0.0
CROP_FACES = 3  # the crop's side, in face sizes
FACE_IN_CROP = 110  # the face's size in the crop, at most, before HOG's pyramid shrinks it


def confirmed(rgb: np.ndarray, box, factor: float):
    """HOG's box and score for the face YuNet put at ``box``, searched in a crop around it at
    ``factor`` (HOG's own scale for the photo, its upsampling included) times whole 5/6 steps."""
    import cv2

    top, right, bottom, left = box
    size = max(right - left, bottom - top)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    steps = max(0, int(np.floor(np.log(size * factor / FACE_IN_CROP) / np.log(6 / 5))))
    scale = factor * (5 / 6) ** steps
    side = round(CROP_FACES * size * scale)
    warp = np.array(
        [[scale, 0, side / 2 - scale * centre_x], [0, scale, side / 2 - scale * centre_y]], np.float32
    )
    crop = cv2.warpAffine(
        rgb,
        warp,
        (side, side),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    rects, scores, _ = shared_models().hog_detector.run(crop, 0, HOG_KEEPS)
    half = size * scale / 2
    expected = (side / 2 - half, side / 2 + half, side / 2 + half, side / 2 - half)
    best = None
    for rect, score in zip(rects, scores, strict=True):
        found = (rect.top(), rect.right(), rect.bottom(), rect.left())
        if iou(found, expected) > 0.3 and (best is None or score > best[1]):
            best = (found, score)
    if best is None:
        return None
    (found_top, found_right, found_bottom, found_left), score = best

    def back(value: float, centre: float) -> int:
        return round((value - side / 2) / scale + centre)

    return (
        back(found_top, centre_y),
        back(found_right, centre_x),
        back(found_bottom, centre_y),
        back(found_left, centre_x),
    ), score


def cascade(rgb: np.ndarray, min_face_size: int) -> list:
    """HOG's boxes and scores for the faces YuNet proposes in ``rgb``, as detect_hog_scored gives
    its own scan's."""
    longer = max(rgb.shape[:2])
    hog = EncodeSettings("hog", min_face_size=min_face_size)
    factor = hog.detection_scale(longer) * 2**hog.upsample
    proposals = shared_models().detect_yunet_scored(rgb, PROPOSALS.detection_scale(longer))
    found = [found for found in (confirmed(rgb, box, factor) for box, _ in proposals) if found is not None]
    return found


def hog_scan(rgb: np.ndarray, min_face_size: int) -> list:
    settings = EncodeSettings("hog", min_face_size=min_face_size)
    scale = settings.detection_scale(max(rgb.shape[:2]))
    return shared_models().detect_hog_scored(rgb, settings.upsample, scale)


WAYS = {
    **{
        f"HOG's own scan, {size} px" + (" (default)" if size == 70 else ""): (hog_scan, size)
        for size in SIZES
    },
    **{f"cascade, {size} px": (cascade, size) for size in SIZES},
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
    its defaults, with HOG's own scan and with the cascade in its place (the one line swapped in
    this process), and the tutorial's way beside."""
    import cv2
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    cv2.setNumThreads(1)
    paths = sorted(str(path) for path in (RESULTS / f"camera-seed{seed}-from20").glob("camera_*.jpg"))
    _, tutorial_seconds = tutorial_encode(paths)
    own_scan = FaceModels.detect_hog_scored
    seconds = {}
    try:
        for label, detect in (
            ("HOG's own scan", own_scan),
            ("cascade", lambda self, rgb, upsample, scale: cascade(rgb, 70)),
        ):
            FaceModels.detect_hog_scored = detect
            started = time.perf_counter()
            faces, summary = encode_dataset(paths, EncodeSettings(), jobs=1)
            seconds[label] = (
                time.perf_counter() - started,
                len(faces),
                summary.stage_seconds.get("detect", 0.0),
            )
    finally:
        FaceModels.detect_hog_scored = own_scan
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
            "| seed | the tutorial's way | HOG's own scan (default) | cascade |",
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
