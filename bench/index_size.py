#!/usr/bin/env python3
"""What the encoding index takes on disk and in time, against the JSON-lines journal it replaced.

.venv/bin/python bench/index_size.py [--faces 1000000]

Writes N made-up faces, one photo each, the way a run does (one transaction per photo), into a
fresh index, then looks every photo up as a re-run would. The earlier JSON-lines journal's size
is computed from the same records (one line each, base64 float64 vectors, as it wrote them).
Writes the table into docs/ (harness.publish).
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import bench_parser, publish  # noqa: E402

from faceclust.library.index import EncodingCache, FileStamp, cache_path  # noqa: E402
from faceclust.records import Face, ImageResult  # noqa: E402


def journal_line(result: ImageResult, stamp: FileStamp) -> str:
    """One line of the earlier JSON-lines journal (format 2), for its size."""
    return json.dumps(
        {
            "format": 2,
            "path": result.image_path,
            "key": "/home/user/" + result.image_path,
            "size": stamp.size,
            "mtime_ns": stamp.mtime_ns,
            "settings": "hog/up1/min70/size1024/flip/checked/v1",
            "skip": None,
            "rejected": 0,
            "faces": [
                [list(face.box), base64.b64encode(np.asarray(face.encoding, "<f8").tobytes()).decode("ascii")]
                for face in result.faces
            ],
        }
    )


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--faces", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.normal(scale=0.1, size=(10_000, 128))
    journal_bytes = 0
    with tempfile.TemporaryDirectory() as folder:
        encodings = Path(folder) / "encodings.pickle"
        index = cache_path(encodings)
        cache = EncodingCache(index, "hog/up1/min70/size1024/flip/checked/v1")
        started = time.perf_counter()
        for n in range(args.faces):
            path = f"photos/{n // 1000:04d}/IMG_{n:07d}.jpg"
            result = ImageResult(path, [Face(path, (120, 340, 330, 130), vectors[n % len(vectors)])])
            stamp = FileStamp(3_000_000 + n, 1_700_000_000_000_000_000 + n)
            cache.append(result, stamp)
            journal_bytes += len(journal_line(result, stamp)) + 1
            if n % 100_000 == 0:
                print(f"{n:,} written, {time.perf_counter() - started:.0f} s", flush=True)
        write_seconds = time.perf_counter() - started
        cache.close()  # checkpoints the WAL into the database
        size = sum(path.stat().st_size for path in Path(folder).glob("encodings.pickle.index*"))
        cache = EncodingCache(index, "hog/up1/min70/size1024/flip/checked/v1")
        started = time.perf_counter()
        for n in range(args.faces):
            path = f"photos/{n // 1000:04d}/IMG_{n:07d}.jpg"
            assert cache.lookup(path, FileStamp(3_000_000 + n, 1_700_000_000_000_000_000 + n)) is not None
        read_seconds = time.perf_counter() - started
        cache.close()
    table = (
        "| faces (one per photo) | index on disk | JSON-lines journal (before) | writing, per photo | a re-run's look-ups, per photo |\n"
        "|---|---|---|---|---|\n"
        f"| {args.faces:,} | {size / 1e9:.2f} GB | {journal_bytes / 1e9:.2f} GB | "
        f"{write_seconds / args.faces * 1e6:.0f} µs | {read_seconds / args.faces * 1e6:.0f} µs |\n"
    )
    publish(table, "index_size", "index size", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
