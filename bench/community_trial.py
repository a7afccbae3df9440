"""A trial for issue #12, not the default: community detection on the neighbour graph.

    .venv/bin/python bench/community_trial.py [--datasets ../shared/datasets]

Leiden (CPM, three resolutions) and Infomap on each dev set's 20-nearest-neighbour graph (edges
under 0.6, weight 1 - d / 0.6), with the cannot-link rule and the default minimum group size
after, scored against the person folders. Needs ``pip install leidenalg infomap`` (not in
requirements.txt: neither won, docs/quality.md, "How the cut is chosen"). Takes about 3 minutes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import bench_parser  # noqa: E402
from quality import DEV_SETS, VARIANTS, encoded  # noqa: E402

from faceclust.clustering import relabel_by_size, split_same_photo_faces  # noqa: E402
from faceclust.evaluation import score_against_folders  # noqa: E402


def community_scores(faces: list, root: Path) -> list[str]:
    import igraph
    import infomap
    import leidenalg
    from scipy.spatial.distance import pdist, squareform

    encodings = np.stack([face.encoding for face in faces]).astype(np.float64)
    distances = squareform(pdist(encodings))
    np.fill_diagonal(distances, np.inf)
    neighbours = np.argsort(distances, axis=1)[:, : min(20, len(faces) - 1)]
    first = np.repeat(np.arange(len(faces)), neighbours.shape[1])
    second = neighbours.ravel()
    keep = (distances[first, second] < 0.6) & (first < second)
    first, second = first[keep], second[keep]
    weights = 1 - distances[first, second] / 0.6
    results = []
    for resolution in (0.05, 0.1, 0.15):
        graph = igraph.Graph(n=len(faces), edges=list(zip(first.tolist(), second.tolist(), strict=True)))
        partition = leidenalg.find_partition(
            graph,
            leidenalg.CPMVertexPartition,
            weights=weights.tolist(),
            resolution_parameter=resolution,
            seed=1,
        )
        results.append((f"leiden CPM {resolution}", np.array(partition.membership)))
    flow = infomap.Infomap(two_level=True, silent=True, seed=1)
    flow.add_nodes(range(len(faces)))
    for a, b, w in zip(first.tolist(), second.tolist(), weights.tolist(), strict=True):
        flow.add_link(a, b, w)
    labels = np.zeros(len(faces), dtype=np.int64)
    for node, module in flow.run().modules().items():
        labels[node] = module
    results.append(("infomap", labels))
    lines = []
    for label, found in results:
        found = split_same_photo_faces(encodings, found, [face.image_path for face in faces])
        scores = score_against_folders(faces, relabel_by_size(found, 2), root)
        lines.append(f"{label}: pair F1 {scores.pairwise_f1:.3f} / B3 F1 {scores.bcubed_f1:.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, publishes=False)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    for name in DEV_SETS:
        for line in community_scores(encoded(args.datasets / name, VARIANTS["flip"]), args.datasets / name):
            print(f"{name}, {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
