#!/usr/bin/env python3
"""cluster_faces.py end to end at 100,000 and 1,000,000 faces, against the tutorial's DBSCAN call.

.venv/bin/python bench/end_to_end.py [--sizes 100000,1000000] [--baseline-up-to 100000] [--repeat 3]

Synthetic faces (bench/synthetic.py, seed 0), one photo each, whose photos do not exist (so
every montage is drawn, and every photo is looked for and reported missing), written as the
tutorial's pickle and as the compact .npz. Each run is the whole command, in a fresh process:
loading, clustering, clusters.csv and clusters.json, montages and the gallery; time is wall
clock, memory the peak of what the command's processes hold together (bench/memory.py: it
writes its tables and gallery in a forked child). The tutorial's DBSCAN(eps=0.5, min_samples=5)
is timed alone on the same faces, already in memory, as the bar is stated. Up to
``--repeat-up-to`` faces each run is repeated (``--repeat``, 3) and the fastest counts, for ours
and the tutorial's alike, as in bench/scale.py: this shared machine's timings vary by 15-40%
from run to run (the same 100,000-face command took 8.6 s and 11.7 s a minute apart). The
repeats take turns (pickle, .npz, tutorial, and again), so that a slow spell falls on every side
alike. Each run of ours writes into a new output folder, as a first run does (a re-run leaves
the montages it would make again as they are, and is faster). Below the table, how fast the
disk made small files in the runs' folder before and after the runs (bench/disk.py). Writes
the table into docs/ (harness.publish).
"""

from __future__ import annotations

import compileall
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from disk import disk_note, small_file_seconds  # noqa: E402
from harness import bench_parser, publish  # noqa: E402
from memory import run_measured  # noqa: E402

DBSCAN_ALONE = """
import sys, time, numpy as np
sys.path.insert(0, sys.argv[2])
from faceclust.library.store import load_faces_and_matrix
from sklearn.cluster import DBSCAN
faces, matrix = load_faces_and_matrix(sys.argv[1])
matrix = np.asarray(matrix, dtype=np.float64)
started = time.perf_counter()
DBSCAN(eps=0.5, min_samples=5, n_jobs=-1).fit(matrix)
print(time.perf_counter() - started)
"""


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--baseline-up-to", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--repeat-up-to", type=int, default=100_000, help="larger sizes run once")
    args = parser.parse_args()
    from synthetic import save_as_encodings, synthetic_embeddings

    # The package's bytecode, as a user's copy has it after its first run (or pip's install):
    # where PYTHONDONTWRITEBYTECODE is set, as on this machine, every run would compile it from
    # source again, 0.05-0.1 s of each (scikit-learn's comes compiled with its wheel).
    compileall.compile_dir(REPO / "faceclust", quiet=1)

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        disk_before = small_file_seconds(Path(folder))
        for size in sorted(int(value) for value in args.sizes.split(",")):
            encodings, identities = synthetic_embeddings(size, 0)
            repeats = args.repeat if size <= args.repeat_up_to else 1
            # Each side's command, then the runs taken in turns (ours from the pickle, from
            # .npz, the tutorial's call, and again): a slow spell of the machine falls on every
            # side alike instead of on whichever ran during it.
            sides: dict[str, list[str]] = {}
            for suffix in (".pickle", ".npz"):
                path = Path(folder) / f"faces{size}{suffix}"
                save_as_encodings(path, encodings, identities)
                out = Path(folder) / f"out{size}{suffix}"
                sides[suffix] = [
                    sys.executable,
                    str(REPO / "cluster_faces.py"),
                    "-e",
                    str(path),
                    "-o",
                    str(out),
                ]
            if size <= args.baseline_up_to:
                pickle_path = Path(folder) / f"faces{size}.pickle"
                sides["tutorial"] = [sys.executable, "-c", DBSCAN_ALONE, str(pickle_path), str(REPO)]
            runs: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
            for repeat in range(repeats):
                for side, command in sides.items():
                    if side != "tutorial":
                        # Each run writes into a folder of its own, as a first run does: a
                        # re-run leaves the montages it would make again as they are.
                        command = [*command[:-1], f"{command[-1]}-{repeat}"]
                    seconds, peak, printed, _ = run_measured(command)
                    # The tutorial's call is timed inside its process, around DBSCAN alone.
                    runs[side].append(
                        (float(printed.strip()), 0.0) if side == "tutorial" else (seconds, peak)
                    )
                    print(side, size, runs[side][-1], flush=True)
            for side, measured in runs.items():
                rows.append(
                    {
                        "faces": size,
                        "file": side,
                        "seconds": [seconds for seconds, _ in measured],
                        "peak": None if side == "tutorial" else max(peak for _, peak in measured),
                    }
                )
                print(rows[-1], flush=True)
        disk_after = small_file_seconds(Path(folder))
    lines = [
        "| faces | run | seconds (fastest) | runs (slowest) | peak MB | against the tutorial's DBSCAN call alone |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = next(
            (min(r["seconds"]) for r in rows if r["faces"] == row["faces"] and r["file"] == "tutorial"), None
        )
        fastest = min(row["seconds"])
        ratio = f"{baseline / fastest:.1f}x faster" if baseline and row["file"] != "tutorial" else ""
        what = (
            "tutorial: DBSCAN(eps=0.5, min_samples=5) alone, faces in memory"
            if row["file"] == "tutorial"
            else f"cluster_faces.py, whole command, from {row['file']}"
        )
        peak = "" if row["peak"] is None else f"{row['peak']:,.0f}"
        runs = f"{len(row['seconds'])} ({max(row['seconds']):.1f})" if len(row["seconds"]) > 1 else "1"
        lines.append(f"| {row['faces']:,} | {what} | {fastest:.1f} | {runs} | {peak} | {ratio} |")
    table = "\n".join(lines) + "\n\n" + disk_note(disk_before, disk_after)
    publish(table, "end_to_end", "end to end", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
