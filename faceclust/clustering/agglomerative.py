"""Average linkage, cut at a given threshold or at one adapted to the set (adaptive_cut.py).

Up to :data:`EXACT_AGGLOMERATIVE_FACES` faces the whole tree is built from every pairwise
distance, so the adaptive cut costs nothing: the tree is cut once at the reference cut to count
the distinct faces and once at the cut that count gives. Beyond, it runs on the
nearest-neighbour graph (graph.py), merging up to the reference cut, counting, and merging on.

With ``centre_checks`` (the default), the cut leaves out merges of groups whose centres lie far
apart, and lone faces then join a group whose centre lies near (centre_checks.py).

With ``local_scale`` (``--local-scale``), a second pass follows the adapted cut: each face is
weighted by how close strangers come to its group (local_scale.py) and average linkage runs
again on the distances so weighted, cut at the same cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .adaptive_cut import REFERENCE_CUT, adaptive_cut
from .centre_checks import join_lone_faces, parted_tree
from .graph import GRAPH_NEIGHBORS, chinese_whispers, merge_by_average_linkage
from .local_scale import stranger_weights
from .neighbors import NeighborGraph, nearest_neighbors

# Exact average linkage keeps every pairwise distance (8 bytes x n^2 / 2) and its time grows
# faster still: 6 s and 0.9 GB at 10,000 faces, 36 s and 3.3 GB at 20,000. Beyond this it runs on
# the nearest-neighbour graph, which on the dev sets gives what the exact tree gives (run on the
# graph, lfw_large scores pairwise F1 0.924 / BCubed F1 0.945 against 0.923 / 0.945, adjusted
# Rand index 0.993 at the 0.5 cut; bench/quality.py).
EXACT_AGGLOMERATIVE_FACES = 10_000
# Chinese Whispers' edges on the graph: no longer than this, whatever the cut, so that its
# fragments are one person. Chinese Whispers chains: at 0.5 its fragments joined strangers
# wholesale where faces crowd (lfw_large on the graph: pairwise precision 0.40 against 0.93
# exact); at 0.35 the graph agrees with the exact tree (adjusted Rand index 0.993 on lfw_large
# and lfw_dev). Shorter still (0.3) changed little and took twice the merge rounds.
FRAGMENT_EDGE = 0.35


@dataclass(frozen=True)
class Linkage:
    """Labels of an average-linkage clustering, the cut used, and (when the cut was adapted)
    the number of distinct faces it was adapted to."""

    labels: np.ndarray
    cut: float
    distinct_faces: int | None


def linkage_tree(encodings: np.ndarray) -> np.ndarray:
    """scipy's average-linkage tree of ``encodings`` (``(n, d)``, n >= 2), Euclidean."""
    from scipy.spatial.distance import pdist

    return _average_tree(pdist(np.asarray(encodings, dtype=np.float64)))


def _average_tree(condensed: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage

    return linkage(condensed, method="average")  # works on a copy: ``condensed`` stays as it was


def locally_scaled_tree(
    encodings: np.ndarray, n_jobs: int | None = None, seed: int = 0
) -> tuple[np.ndarray, int]:
    """The second pass's tree of ``encodings`` (``(n, d)``, n >= 2): average linkage on the
    distances weighted by :func:`stranger_weights`, and the distinct faces that set the cut. Cut
    it at ``adaptive_cut(distinct)``."""
    from scipy.spatial.distance import pdist

    encodings = np.asarray(encodings, dtype=np.float64)
    condensed = pdist(encodings)
    tree = _average_tree(condensed)
    distinct = distinct_faces(tree)
    groups = cut_tree(tree, adaptive_cut(distinct))
    del tree
    weights = stranger_weights(nearest_neighbors(encodings, GRAPH_NEIGHBORS, n_jobs, seed), groups, distinct)
    factors = np.sqrt(weights)
    # Row by row of the condensed matrix (pairs (i, j > i) in order): no second n^2 array.
    start = 0
    for row in range(len(encodings) - 1):
        end = start + len(encodings) - 1 - row
        condensed[start:end] *= factors[row] * factors[row + 1 :]
        start = end
    return _average_tree(condensed), distinct


def cut_tree(tree: np.ndarray, threshold: float) -> np.ndarray:
    """Flat labels of a :func:`linkage_tree`: groups whose faces are within ``threshold`` on average."""
    from scipy.cluster.hierarchy import fcluster

    return fcluster(tree, threshold, criterion="distance").astype(np.int64)


def average_linkage(
    encodings: np.ndarray,
    threshold: float | None,
    n_jobs: int | None = None,
    seed: int = 0,
    local_scale: bool = False,
    centre_checks: bool = True,
    photos: Sequence[object] | None = None,
) -> Linkage:
    """Average linkage of ``encodings`` cut at ``threshold``, or at :func:`adaptive_cut` if None;
    ``local_scale`` (only with the adapted cut) adds the second pass (the module's docstring).

    ``centre_checks``: keep apart groups whose centres lie far apart and let lone faces join a
    near group's centre (centre_checks.py); ``photos`` (one per face) keeps a lone face out of
    a group that holds a face of its photo.
    """
    if local_scale and threshold is not None:
        raise ValueError("local_scale works with the adapted cut: leave threshold at None")
    if len(encodings) > EXACT_AGGLOMERATIVE_FACES:
        return _on_graph(encodings, threshold, n_jobs, seed, local_scale, centre_checks, photos)
    if len(encodings) < 2:
        return Linkage(np.zeros(len(encodings), dtype=np.int64), threshold or adaptive_cut(1), None)
    encodings = np.asarray(encodings, dtype=np.float64)
    distinct = None
    if local_scale:
        tree, distinct = locally_scaled_tree(encodings, n_jobs, seed)
        cut = adaptive_cut(distinct)
    else:
        tree = linkage_tree(encodings)
        cut = threshold
        if threshold is None:
            distinct = distinct_faces(tree, encodings if centre_checks else None)
            cut = adaptive_cut(distinct)
    if not centre_checks:
        return Linkage(cut_tree(tree, cut), cut, distinct)
    graph = nearest_neighbors(encodings, GRAPH_NEIGHBORS, n_jobs, seed)
    return Linkage(checked_cut(tree, encodings, cut, graph, photos), cut, distinct)


def distinct_faces(tree: np.ndarray, encodings: np.ndarray | None = None) -> int:
    """The groups of ``tree`` at :data:`REFERENCE_CUT`, what the adapted cut follows; with the
    kept-apart check when ``encodings`` (the tree's faces) are given, as the graph counts."""
    return len(
        np.unique(
            cut_tree(
                tree if encodings is None else parted_tree(tree, encodings, REFERENCE_CUT), REFERENCE_CUT
            )
        )
    )


def checked_cut(
    tree: np.ndarray,
    encodings: np.ndarray,
    threshold: float,
    graph: NeighborGraph,
    photos: Sequence[object] | None = None,
) -> np.ndarray:
    """Flat labels of ``tree`` (of ``encodings``) at ``threshold`` with the centre checks
    (centre_checks.py): refused merges left out, then lone faces joined to near centres among
    their neighbours in ``graph``."""
    labels = cut_tree(parted_tree(tree, encodings, threshold), threshold)
    return join_lone_faces(encodings, labels, threshold, graph, photos)


def _on_graph(
    encodings: np.ndarray,
    threshold: float | None,
    n_jobs: int | None,
    seed: int,
    local_scale: bool,
    centre_checks: bool,
    photos: Sequence[object] | None,
) -> Linkage:
    """Chinese Whispers on the neighbour graph's short edges cuts the faces into fragments of
    one person each; then they are merged as average linkage merges groups
    (:func:`merge_by_average_linkage`), along the same graph's edges."""
    # Everything on the graph computes in float32: faces from the tutorial's pickle (float64)
    # are converted once here, not by the search and by each merge again.
    encodings = np.asarray(encodings, dtype=np.float32)
    fragment_edge = min(FRAGMENT_EDGE, REFERENCE_CUT if threshold is None else threshold)
    # A face whose ten neighbours found first are all within the fragment edge is not searched
    # again: any nearer face it missed would be an edge inside its fragment too.
    graph = nearest_neighbors(encodings, GRAPH_NEIGHBORS, n_jobs, seed, settled=fragment_edge)
    sources, targets = graph.edges(fragment_edge)
    fragments = chinese_whispers(len(encodings), sources, targets, seed)
    del sources, targets

    def merged(groups: np.ndarray, cut: float, weights: np.ndarray | None = None) -> np.ndarray:
        return merge_by_average_linkage(encodings, groups, cut, n_jobs, seed, graph, weights, centre_checks)

    distinct = None
    if threshold is not None:
        cut = threshold
        groups = merged(fragments, cut)
    else:
        # Average linkage merges in order of distance, so merging up to the reference cut and
        # then on up to the cut gives what merging straight to the cut would (with the centre
        # checks nearly: a pair kept apart at the reference cut may join on the way to a looser
        # one, as the exact path counts and cuts). The graph counts about what the exact tree
        # does (lfw_large 2,905 distinct faces against 2,896, lfw_dev 143 against 140).
        groups = merged(fragments, REFERENCE_CUT)
        distinct = len(np.unique(groups))
        cut = adaptive_cut(distinct)
        if cut > REFERENCE_CUT:
            groups = merged(groups, cut)
        if local_scale:
            # The second pass starts again from the fragments: the weights may part what the
            # first pass joined.
            weights = stranger_weights(graph, groups, distinct)
            del groups
            groups = merged(fragments, cut, weights)
    if centre_checks:
        groups = join_lone_faces(encodings, groups, cut, graph, photos)
    return Linkage(groups, cut, distinct)
