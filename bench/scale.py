"""Clustering at scale: time and peak memory against faces, ours against the tutorial's DBSCAN.

    .venv/bin/python bench/scale.py [--sizes 10000 100000 1000000] [--baseline-up-to 100000]

For each size, synthetic dlib-like faces (bench/synthetic.py: the two-covariance model measured
on lfw_large, skewed sizes, seed 0) are clustered in a fresh process each time, so one run's
memory cannot hide in another's:

- ours: ``FaceClusterer()`` as cluster_faces.py runs it (average linkage with its cut adapted
  to the set: exact up to 10,000 faces, on the nearest-neighbour graph beyond), the same cut
  fixed at 0.6 (the default before the cut adapted: the baseline its time is held to), and
  ``--method chinese_whispers`` (always on the graph);
- tutorial: ``DBSCAN(eps=0.5, min_samples=5, n_jobs=-1)`` on the float64 matrix, as the tutorial
  calls it (only up to ``--baseline-up-to`` faces: it grows about quadratically).

Time is the clustering call alone (the faces are already in memory and the libraries imported),
the fastest of ``--repeat`` runs (3; one at sizes above ``--repeat-up-to``), each in a new
process, for ours and the tutorial's alike: this shared 2-core machine's timings vary by up
to a third from run to run. Peak memory is the most
the process held while clustering, faces included: the peak is reset (``/proc/self/clear_refs``)
after the faces are made. The scores are against the synthetic identities (BCubed and pairwise
F1) and, as ARI, against the tutorial's DBSCAN where it ran. The compact store is timed saving
the largest size once and loading it three times. The table goes to bench/results/scale.md and into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import bench_parser, publish  # noqa: E402
from synthetic import save_as_encodings, synthetic_embeddings  # noqa: E402

CONFIGURATIONS = ("agglomerative", "agglomerative_0.6", "chinese_whispers", "tutorial")


def _peak_reset() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure_clustering(
    configuration: str, faces: int, labels_path: Path, largest_share: float | None
) -> dict:
    """Run in a fresh process: make the faces, cluster them, save the labels."""
    from faceclust.clustering import EXACT_AGGLOMERATIVE_FACES, FaceClusterer

    encodings, _ = synthetic_embeddings(faces, largest_share=largest_share)
    photos = [f"face_{index}.jpg" for index in range(faces)]
    if configuration == "tutorial":
        from sklearn.cluster import DBSCAN

        matrix = encodings.astype(np.float64)
        del encodings
        _peak_reset()
        started = time.perf_counter()
        labels = DBSCAN(metric="euclidean", eps=0.5, min_samples=5, n_jobs=-1).fit_predict(matrix)
        method = "dbscan 0.5 (tutorial)"
    else:
        # Imported before the clock starts, as scikit-learn is for the tutorial's side.
        import faiss  # noqa: F401
        import scipy.sparse  # noqa: F401
        import sklearn.cluster  # noqa: F401

        method_name, _, fixed = configuration.partition("_0")
        clusterer = FaceClusterer(method_name, threshold=float("0" + fixed) if fixed else None)
        _peak_reset()
        started = time.perf_counter()
        labels = clusterer.fit_predict(encodings, photos)
        if clusterer.distinct_faces_ is not None:
            method = f"{method_name}, adapted: {clusterer.threshold_:.3f}"
        else:
            method = f"{method_name} {clusterer.threshold_:g}"
        if method_name == "agglomerative":
            method += " (exact)" if faces <= EXACT_AGGLOMERATIVE_FACES else " (graph)"
    seconds = time.perf_counter() - started
    np.save(labels_path, labels)
    return {"seconds": seconds, "peak_mb": _peak_mb(), "method": method}


def measure_store(faces: int, folder: Path) -> dict:
    """Run in a fresh process: save and load ``faces`` faces in the compact store."""
    from faceclust.library.store import load_faces

    encodings, identities = synthetic_embeddings(faces)
    path = folder / "faces.npz"
    started = time.perf_counter()
    save_as_encodings(path, encodings, identities)
    saved = time.perf_counter() - started
    del encodings, identities
    loads = []
    for _ in range(3):
        started = time.perf_counter()
        loaded = load_faces(path)
        loads.append(time.perf_counter() - started)
        del loaded
    return {"save_seconds": saved, "load_seconds": min(loads), "slowest_load": max(loads), "faces": faces}


def _child(arguments: list[str], script: Path = Path(__file__)) -> dict:
    result = subprocess.run(
        [sys.executable, str(script), *arguments], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _baseline_checkout(commit: str, folder: Path) -> Path:
    """A checkout of ``commit`` in ``folder`` (a git worktree), whose bench/scale.py measures the
    default clustering as it was there, on the faces today's generator makes (its synthetic.py
    and model are copied in, so both sides cluster the same faces)."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), commit], check=True)
    for name in ("synthetic.py", "embedding_model.npz"):
        shutil.copy(REPO / "bench" / name, folder / "bench" / name)
    return folder / "bench" / "scale.py"


def _growth(rows: list[dict], key: str, row: dict) -> str:
    """The exponent of ``key`` against faces since the previous size of the same method on the
    same kind of people."""
    earlier = [
        other for other in rows if (other["method"], other["people"]) == (row["method"], row["people"])
    ]
    if not earlier:
        return ""
    previous = earlier[-1]
    return f"{math.log(row[key] / previous[key]) / math.log(row['faces'] / previous['faces']):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--half-sizes",
        type=int,
        nargs="*",
        default=[20_000, 1_000_000],
        help="sizes at which one person also holds half the faces",
    )
    parser.add_argument("--baseline-up-to", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--repeat-up-to", type=int, default=100_000, help="larger sizes run once")
    parser.add_argument(
        "--baseline-commit",
        help="also measure the default clustering as it was at this commit (from a git worktree), in the same run",
    )
    parser.add_argument("--measure", choices=[*CONFIGURATIONS, "store"], help=argparse.SUPPRESS)
    parser.add_argument("--faces", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--largest-share", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure == "store":
        print(json.dumps(measure_store(args.faces, args.out)))
        return 0
    if args.measure:
        print(json.dumps(measure_clustering(args.measure, args.faces, args.out, args.largest_share)))
        return 0

    from sklearn.metrics import adjusted_rand_score

    from faceclust.evaluation import score

    rows: list[dict] = []
    scenarios = [(faces, None) for faces in args.sizes] + [(faces, 0.5) for faces in args.half_sizes]
    with tempfile.TemporaryDirectory() as scratch:
        baseline = None
        if args.baseline_commit:
            baseline = _baseline_checkout(args.baseline_commit, Path(scratch) / "baseline")
        configurations = ("baseline", *CONFIGURATIONS) if baseline else CONFIGURATIONS
        for faces, share in scenarios:
            _, identities = synthetic_embeddings(faces, largest_share=share)
            labels = {}
            for configuration in configurations:
                if configuration == "tutorial" and faces > args.baseline_up_to:
                    continue
                if (
                    configuration in ("chinese_whispers", "agglomerative_0.6")
                    and share is not None
                    and faces < 1_000_000
                ):
                    continue
                if configuration == "chinese_whispers" and share is not None:
                    continue
                path = Path(scratch) / f"{configuration}-{faces}.npy"
                measured = "agglomerative" if configuration == "baseline" else configuration
                command = ["--measure", measured, "--faces", str(faces), "--out", str(path)]
                if share is not None:
                    command += ["--largest-share", str(share)]
                script = baseline if configuration == "baseline" else Path(__file__)
                runs = [
                    _child(command, script) for _ in range(args.repeat if faces <= args.repeat_up_to else 1)
                ]
                row = min(runs, key=lambda run: run["seconds"])
                if configuration == "baseline":
                    row["method"] += f", as at {args.baseline_commit}"
                row["peak_mb"] = max(run["peak_mb"] for run in runs)
                row["runs"] = len(runs)
                labels[configuration] = np.load(path)
                scores = score(identities, labels[configuration])
                row.update(
                    configuration=configuration,
                    faces=faces,
                    people="power law" if share is None else f"one holds {share:.0%}",
                    clusters=len(set(labels[configuration].tolist()) - {-1}),
                    bcubed=scores.bcubed_f1,
                    pairwise=scores.pairwise_f1,
                )
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
            if "tutorial" in labels:
                for row in rows[-len(labels) :]:
                    row["ari"] = adjusted_rand_score(labels["tutorial"], labels[row["configuration"]])
                    row["speedup"] = rows[-1]["seconds"] / row["seconds"]
        store = _child(["--measure", "store", "--faces", str(max(args.sizes)), "--out", scratch])
        if baseline:
            # Not removed if the run fails: `git worktree prune` then forgets it.
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline.parent.parent)]
            )

    lines = [
        "| faces | people | clustering | seconds | time growth | peak MB | memory growth | clusters "
        "| B3 F1 | pair F1 | ARI vs tutorial | speed-up |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for index, row in enumerate(rows):
        lines.append(
            f"| {row['faces']:,} | {row['people']} | {row['method']} | {row['seconds']:.2f} "
            f"| {_growth(rows[:index], 'seconds', row)} | {row['peak_mb']:,.0f} "
            f"| {_growth(rows[:index], 'peak_mb', row)} | {row['clusters']:,} | {row['bcubed']:.3f} "
            f"| {row['pairwise']:.3f} | {row.get('ari', float('nan')):.3f} | "
            + (f"{row['speedup']:.1f}x |" if "speedup" in row else " |")
        )
    lines.append("")
    lines.append(
        f"Compact store, {store['faces']:,} faces: saved in {store['save_seconds']:.1f} s, "
        f"loaded in {store['load_seconds']:.1f} s (fastest of 3; slowest {store['slowest_load']:.1f} s). "
        f"{os.cpu_count()} cores; seconds are the fastest "
        f"of {args.repeat} runs up to {args.repeat_up_to:,} faces, peak memory the largest."
    )
    table = "\n".join(lines).replace("| nan |", "| |") + "\n"
    publish(table, "scale", "scale", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
