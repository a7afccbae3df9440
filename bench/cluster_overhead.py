#!/usr/bin/env python3
"""What going through a Dask scheduler costs: the same photos encoded locally and on a local cluster.

.venv/bin/python bench/cluster_overhead.py [--dataset ../shared/datasets/lfw_dev] [--repeats 3]

On this machine: encode_faces.py's local pool (--jobs 2) against a distributed.LocalCluster of
two worker processes with one thread each (the same two cores), through --scheduler, on the
698 photos of lfw_dev, alternating, each run from an empty index. Starting the cluster and the
workers' first model load are timed apart (a user's cluster is already running; the local
pool loads its models inside the run). Also checks that both give the same faces (boxes equal,
vectors within 1e-6). Writes the table into docs/ (harness.publish).
"""

from __future__ import annotations

import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import bench_parser, in_turns, publish  # noqa: E402

from faceclust.encode.settings import EncodeSettings  # noqa: E402

MODELS = ("hog_detector", "landmark_predictor", "embedding_net", "cnn_net")
from faceclust.pipeline import encode_folder  # noqa: E402


def encode(dataset: Path, out: Path, scheduler: str | None) -> None:
    encode_folder(dataset, out, EncodeSettings(), jobs=2, fresh=True, scheduler=scheduler)


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "datasets" / "lfw_dev")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    from faceclust.faces.models import shared_models

    with tempfile.TemporaryDirectory() as folder:
        local_out, cluster_out = Path(folder) / "local.pickle", Path(folder) / "cluster.pickle"
        started = time.perf_counter()
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster:
            with Client(cluster.scheduler_address, set_as_default=False) as client:
                client.run(lambda: bool([getattr(shared_models(), name) for name in MODELS]))  # load once
            startup = time.perf_counter() - started
            seconds = in_turns(
                {
                    "local": lambda: encode(args.dataset, local_out, None),
                    "cluster": lambda: encode(args.dataset, cluster_out, cluster.scheduler_address),
                },
                args.repeats,
            )
            local_seconds, cluster_seconds = seconds["local"], seconds["cluster"]
            print(f"local {local_seconds} s, cluster {cluster_seconds} s", flush=True)
        local, remote = pickle.loads(local_out.read_bytes()), pickle.loads(cluster_out.read_bytes())
        same_boxes = [(r["imagePath"], r["loc"]) for r in local] == [
            (r["imagePath"], r["loc"]) for r in remote
        ]
        largest = max(
            float(np.abs(a["encoding"] - b["encoding"]).max()) for a, b in zip(local, remote, strict=True)
        )
    photos = sum(1 for path in args.dataset.rglob("*") if path.is_file() and path.suffix.lower() == ".jpg")
    local_time, cluster_time = statistics.median(local_seconds), statistics.median(cluster_seconds)
    table = (
        "| photos | local pool, 2 processes | local Dask cluster, 2 workers | overhead | same faces | cluster start and model load (once) |\n"
        "|---|---|---|---|---|---|\n"
        f"| {photos} ({args.dataset.name}) | {local_time:.1f} s ({photos / local_time:.1f} photos/s) | "
        f"{cluster_time:.1f} s ({photos / cluster_time:.1f} photos/s) | {(cluster_time / local_time - 1) * 100:+.0f}% | "
        f"{'boxes equal' if same_boxes else 'BOXES DIFFER'}, vectors within {largest:.0e} | {startup:.1f} s |\n"
    )
    publish(table, "cluster_overhead", "cluster overhead", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
