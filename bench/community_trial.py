"""A trial for issue #12, not the default: average linkage on distances scaled by how close
strangers come to each group, and community detection on the neighbour graph.

    .venv/bin/python bench/local_scale_trial.py [--datasets ../shared/datasets] [--no-community]

Why: dlib's embedding crowds some people closer together than others (East Asian faces: their
own photos lie 0.30-0.40 apart on average and their fifth-nearest stranger 0.46-0.48 away,
against 0.42-0.49 and 0.51-0.61 for the much-photographed Western faces of lfw_large), so one
cut is too loose in one part of the space and too tight in another.

The local scale, as tried here:

1. cut the average-linkage tree at the default (adapted) cut: the groups are nearly always one
   person each;
2. for each face, the single-link distance to each other group; its scale is the
   :data:`NEIGHBOUR_GROUPS`-th smallest; a group's scale is the median of its faces';
3. the scale is shrunk towards the set's median as ``(median / scale) ** weight`` with
   ``weight = distinct / (distinct + SHRINK)``: a small set has few other groups, and those
   are mostly other groups of its own people, so its scale says little (unshrunk, it cost
   five_celebrities 0.991 -> 0.966);
4. distances are multiplied by the root of both faces' factors and average linkage is run
   again, cut by the adaptive rule refitted (bench/cut_fit.py, leave one group out) on these
   distances.

It prints the held-out table of bench/cut_fit.py for this clustering; compare with the
default's ("heldout" table in README.md). With ``--no-community`` it skips Leiden (CPM) and
Infomap on the 20-nearest-neighbour graph (edges under 0.6, weight 1 - d / 0.6), which need
``pip install leidenalg infomap`` (not in requirements.txt). Takes about 3 minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import cut_fit  # noqa: E402
from quality import DEV_SETS, VARIANTS, encoded  # noqa: E402

from faceclust.clustering import REFERENCE_CUT, adaptive_cut, relabel_by_size, split_same_photo_faces  # noqa: E402
from faceclust.clustering.agglomerative import cut_tree  # noqa: E402
from faceclust.evaluation import score_against_folders  # noqa: E402

NEIGHBOUR_GROUPS = 5
SHRINK = 1000


def local_scale_tree(encodings: np.ndarray) -> tuple[np.ndarray, int]:
    """The average-linkage tree of the locally scaled distances, and the set's distinct faces."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist, squareform

    condensed = pdist(encodings)
    distances = squareform(condensed)
    tree = linkage(condensed, method="average")  # as linkage_tree does, from the distances at hand
    distinct = len(np.unique(cut_tree(tree, REFERENCE_CUT)))
    groups = cut_tree(tree, adaptive_cut(distinct))
    order = np.argsort(groups, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(groups[order])) + 1]
    to_group = np.minimum.reduceat(distances[:, order], starts, axis=1)
    own = np.searchsorted(groups[order][starts], groups)
    to_group[np.arange(len(encodings)), own] = np.inf
    k = min(NEIGHBOUR_GROUPS, to_group.shape[1] - 1)
    scale = np.partition(to_group, k - 1, axis=1)[:, k - 1] if k >= 1 else np.ones(len(encodings))
    for group in np.unique(groups):
        scale[groups == group] = np.median(scale[groups == group])
    factor = np.sqrt(np.median(scale) / scale) ** (distinct / (distinct + SHRINK))
    scaled = distances * factor[:, None] * factor[None, :]
    return linkage(squareform(scaled, checks=False), method="average"), distinct


class LocallyScaledSet(cut_fit.ScoredSet):
    @classmethod
    def build(cls, name: str, faces: list, root: Path) -> LocallyScaledSet:
        tree, distinct = local_scale_tree(np.stack([face.encoding for face in faces]).astype(np.float64))
        return cls(name, faces, root, tree, distinct, {})


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--no-community", action="store_true")
    args = parser.parse_args(argv)
    faces = {name: encoded(args.datasets / name, VARIANTS["flip"]) for name in DEV_SETS}
    if not args.no_community:
        for name, found in faces.items():
            for line in community_scores(found, args.datasets / name):
                print(f"{name}, {line}", flush=True)
    print(
        cut_fit.held_out_table(
            {name: faces[name] for name in DEV_SETS[:3]}, faces["lfw_large"], args.datasets, LocallyScaledSet
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
