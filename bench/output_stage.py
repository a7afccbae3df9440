#!/usr/bin/env python3
"""The output stage with real photos behind the faces: montages and thumbnails decode photos.

.venv/bin/python bench/output_stage.py [--faces 100000,1000000] [--library-faces 10000] [--photos 200]

Generates ``--photos`` real 12-megapixel JPEGs (4000x3000, faces from lfw_dev pasted on a
blurred background: bench/encode_speed.py's generator, kept in bench/results/output_photos/),
then gives each synthetic face (bench/synthetic.py) a path of its own that is a symbolic link
to one of them, in folders of 1,000 links, with a box of 80-480 px. This is the issue's case
of "a million faces whose paths are links to a few thousand real photos": every montage (25
faces) and gallery thumbnail (100 per person) crops from a real photo. Runs the whole
cluster_faces.py command and reports its time and peak memory, the time of the same command
with --no-gallery, and how many photos it decoded. Writes the table into docs/ (harness.publish).

Links make that case easier than a library: the outputs decode each file once however many
links lead to it, so 200 photos are decoded for a million faces. ``--library-faces`` adds the
layout of a photo library: the faces are dealt at random into photos of 1 to 4 faces (2 on
average), each photo a path of its own that is a *hard* link to one of the real photos, which
the outputs cannot tell from a separate file, so each photo shown is decoded as in a library;
then the same faces again with the encoding index encode_faces.py leaves beside its encodings
file, holding each face's thumbnail, which the outputs use instead of decoding the photos.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from encode_speed import make_large_photos  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402
from memory import run_measured  # noqa: E402
from synthetic import synthetic_embeddings  # noqa: E402

from faceclust.library.index import EncodingCache, FileStamp, cache_path  # noqa: E402
from faceclust.library.store import save_faces  # noqa: E402
from faceclust.outputs.thumbnails import encode_jpeg, face_tile  # noqa: E402
from faceclust.photos.images import decode_image  # noqa: E402
from faceclust.records import Face, ImageResult  # noqa: E402

LINKS_PER_FOLDER = 1000
# A library's photos hold 1 to 4 faces each, 2 on average (mostly portraits, some groups).
FACES_PER_PHOTO = (1, 2, 3, 4)
FACES_PER_PHOTO_SHARE = (0.4, 0.3, 0.2, 0.1)


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak MB of the command's processes together (bench/memory.py), its stderr."""
    seconds, peak, _, errors = run_measured(command)
    return seconds, peak, errors


def keep_thumbnails(faces: list[Face], encodings_path: Path) -> None:
    """Write the encoding index encode_faces.py would have left beside ``encodings_path``: each
    photo's faces with their thumbnails (cut here from a half-size decoding, to save time; the
    encoder cuts them from the photo it decoded anyway)."""
    by_photo: dict[str, list[Face]] = {}
    for face in faces:
        by_photo.setdefault(face.image_path, []).append(face)
    index = EncodingCache(cache_path(encodings_path), "bench")
    for path, photo_faces in by_photo.items():
        decoded = decode_image(path, min_scale=0.5)
        thumbnails = [
            encode_jpeg(face_tile(decoded.rgb, tuple(round(v * decoded.scale) for v in face.box)))
            for face in photo_faces
        ]
        index.append(ImageResult(path, photo_faces, thumbnails=thumbnails), FileStamp.of(path))
    index.close()


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--faces", default="100000,1000000")
    parser.add_argument("--library-faces", default="10000", help="sizes in the layout of a photo library")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "datasets" / "lfw_dev")
    args = parser.parse_args()
    photos = make_large_photos(args.lfw, RESULTS / "output_photos", args.photos, (4000, 3000), seed=1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        layouts = [("links", int(value)) for value in args.faces.split(",") if value] + [
            (layout, int(value))
            for value in args.library_faces.split(",")
            if value
            for layout in ("library", "indexed")
        ]
        for layout, size in layouts:
            encodings, _ = synthetic_embeddings(size, 0)
            rng = np.random.default_rng(0)
            sides = rng.integers(80, 481, size)
            corners = rng.integers(0, 3000 - 480, (size, 2))
            library = layout != "links"
            if not library:
                photo_of = np.arange(size)
            else:
                # Faces dealt at random (the synthetic faces come ordered by person) into photos.
                counts = rng.choice(FACES_PER_PHOTO, size=size, p=FACES_PER_PHOTO_SHARE)
                photo_of = np.repeat(np.arange(size), counts)[:size][rng.permutation(size)]
            faces = []
            links = root / f"{layout}{size}"
            made: set[int] = set()
            for index in range(size):
                photo = int(photo_of[index])
                link = links / f"d{photo // LINKS_PER_FOLDER:04d}" / f"f{photo:07d}.jpg"
                if photo not in made:
                    made.add(photo)
                    link.parent.mkdir(parents=True, exist_ok=True)
                    target = photos[photo % len(photos)]
                    if not library:
                        os.symlink(target, link)
                    else:
                        try:
                            os.link(target, link)
                        except OSError:  # another file system: a copy is a separate photo too
                            shutil.copyfile(target, link)
                top, left = int(corners[index, 0]), int(corners[index, 1])
                side = int(sides[index])
                faces.append(Face(str(link), (top, left + side, top + side, left), encodings[index]))
            encodings_path = root / f"faces{layout}{size}.npz"
            save_faces(encodings_path, faces)
            if layout == "indexed":
                keep_thumbnails(faces, encodings_path)
            del faces
            command = [sys.executable, str(REPO / "cluster_faces.py"), "-e", str(encodings_path)]
            out = root / f"out{layout}{size}"
            seconds, peak, printed = timed([*command, "-o", str(out)])
            unreadable = [line for line in printed.splitlines() if "could not be read" in line]
            no_gallery, _, _ = timed([*command, "-o", str(root / f"plain{layout}{size}"), "--no-gallery"])
            thumbnails = len(os.listdir(out / "thumbs"))
            rows.append((layout, size, len(made), seconds, peak, no_gallery, thumbnails, unreadable))
            print(rows[-1], flush=True)
    lines = [
        "| faces | photos behind them | whole command | peak MB | with --no-gallery | thumbnails written |",
        "|---|---|---|---|---|---|",
    ]
    for layout, size, paths, seconds, peak, no_gallery, thumbnails, unreadable in rows:
        note = f" ({unreadable[0]})" if unreadable else ""
        behind = {
            "links": f"{paths:,} links to {len(photos)} real 12 MP photos",
            "library": f"{paths:,} photos of 1-4 faces (hard links to {len(photos)} real 12 MP photos)",
            "indexed": f"the same {paths:,} photos, their faces' thumbnails in the encoding index",
        }[layout]
        lines.append(
            f"| {size:,} | {behind} | {seconds:.1f} s{note} | {peak:,.0f} | {no_gallery:.1f} s | {thumbnails:,} |"
        )
    table = "\n".join(lines) + "\n"
    publish(table, "output_stage", "output stage", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
