"""Grouping face embeddings by person. Labels follow scikit-learn: ``-1`` is noise (unknown).

Every method ends the same way: clusters are numbered from the largest down, and a face that
ends up alone (or in a group smaller than ``min_cluster_size``) is unknown. Two faces found in
the same photo are almost never one person; with ``cannot_link`` a cluster keeps only the face
of each photo that lies nearest its centre, and the others become unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .neighbors import nearest_neighbors
from .records import Face

NOISE = -1

METHODS = ("agglomerative", "chinese_whispers", "dbscan", "hdbscan")

# Chosen by measurement on the three dev sets (see the README's quality table and
# bench/quality.py); dlib documents 0.6 as its same-person distance for these embeddings.
DEFAULT_METHOD = "agglomerative"
DEFAULT_THRESHOLDS = {"agglomerative": 0.6, "chinese_whispers": 0.5, "dbscan": 0.5}
DEFAULT_MIN_SAMPLES = 5  # DBSCAN's neighbourhood size and HDBSCAN's min_samples, as in the tutorial
DEFAULT_MIN_CLUSTER_SIZE = 2

# The graph methods look at each face's nearest faces only, so their memory grows with the
# faces times this, not with their square; see neighbors.py.
GRAPH_NEIGHBORS = 10
MAX_WHISPER_ROUNDS = 200

# Exact average linkage keeps every pairwise distance (8 bytes x n^2 / 2) and its time grows
# faster still: 6 s and 0.9 GB at 10,000 faces, 36 s and 3.3 GB at 20,000. Beyond this it runs on
# the nearest-neighbour graph (average_linkage_on_graph), which on 20,000 synthetic faces took
# 1 s and agreed with it (adjusted Rand index 0.997, BCubed F1 0.973 against 0.973).
EXACT_AGGLOMERATIVE_FACES = 10_000


def relabel_by_size(labels: np.ndarray, min_cluster_size: int = 1) -> np.ndarray:
    """Renumber clusters 0, 1, 2, ... from the largest down (ties by first face); noise stays -1.

    Clusters smaller than ``min_cluster_size`` become noise. Face ID 0 is then the person seen
    most, whatever order the method found them in.
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids, first, inverse, counts = np.unique(
        labels, return_index=True, return_inverse=True, return_counts=True
    )
    kept = (ids != NOISE) & (counts >= min_cluster_size)
    order = np.lexsort((first, -counts))
    order = order[kept[order]]
    new_ids = np.full(len(ids), NOISE, dtype=np.int64)
    new_ids[order] = np.arange(len(order))
    return new_ids[inverse.ravel()]


def cluster_means(encodings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, means)``: each cluster's id (noise left out), ascending, and its mean row of
    ``encodings`` (``(n, d)``)."""
    from scipy.sparse import csr_matrix

    labels = np.asarray(labels, dtype=np.int64)
    clustered = np.flatnonzero(labels != NOISE)
    ids, inverse, sizes = np.unique(labels[clustered], return_inverse=True, return_counts=True)
    # Sums as a sparse (clusters x faces) product: no copy of the faces.
    membership = csr_matrix(
        (np.ones(len(clustered)), (inverse.ravel(), clustered)), shape=(len(ids), len(labels))
    )
    sums = np.asarray(membership @ encodings, dtype=np.float64).reshape(len(ids), encodings.shape[1])
    return ids, sums / sizes[:, None]


def split_same_photo_faces(encodings: np.ndarray, labels: np.ndarray, photos: Sequence[object]) -> np.ndarray:
    """Within each cluster keep one face per photo, the one nearest the cluster's mean."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    clustered = np.flatnonzero(labels != NOISE)
    codes: dict[object, int] = {}
    photo = np.array(
        [codes.setdefault(photos[index], len(codes)) for index in clustered.tolist()], dtype=np.int64
    )
    # Only faces whose photo has another face in some cluster can break the rule.
    _, photo_row, photo_faces = np.unique(photo, return_inverse=True, return_counts=True)
    shared = photo_faces[photo_row.ravel()] > 1
    clustered, photo = clustered[shared], photo[shared]
    if len(clustered) == 0:
        return labels
    ids, means = cluster_means(encodings, labels)
    cluster_row = np.searchsorted(ids, labels[clustered])
    distance = np.linalg.norm(encodings[clustered] - means[cluster_row], axis=1)
    # Nearest first within each (cluster, photo); every face after the first of its group is noise.
    order = np.lexsort((distance, photo, cluster_row))
    group = np.stack([cluster_row[order], photo[order]], axis=1)
    repeated = np.zeros(len(order), dtype=bool)
    repeated[1:] = (group[1:] == group[:-1]).all(axis=1)
    labels[clustered[order[repeated]]] = NOISE
    return labels


class FaceClusterer:
    """Cluster ``(n, 128)`` face embeddings; after :meth:`fit`, ``labels_`` holds one label per face.

    Parameters
    ----------
    method : one of :data:`METHODS`.
    threshold : the method's distance scale: DBSCAN's ``eps``, the largest average distance at
        which agglomerative (average linkage) clustering still merges, the longest edge of
        Chinese Whispers' graph. None: the method's default. HDBSCAN takes none.
    min_samples : DBSCAN's and HDBSCAN's neighbourhood size.
    min_cluster_size : smaller clusters become unknown (HDBSCAN's own minimum too).
    cannot_link : keep at most one face per photo in a cluster.
    n_jobs : processes for the neighbour searches that support it.
    seed : Chinese Whispers' random order, and where the nearest-neighbour search for many
        faces starts its k-means.
    """

    def __init__(
        self,
        method: str = DEFAULT_METHOD,
        threshold: float | None = None,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        min_cluster_size: int = DEFAULT_MIN_CLUSTER_SIZE,
        cannot_link: bool = True,
        n_jobs: int | None = None,
        seed: int = 0,
    ):
        self.method = method
        self.threshold = threshold
        self.min_samples = min_samples
        self.min_cluster_size = min_cluster_size
        self.cannot_link = cannot_link
        self.n_jobs = n_jobs
        self.seed = seed

    def resolved_threshold(self) -> float | None:
        """The threshold in force: the one given, or the method's default (None for HDBSCAN)."""
        return DEFAULT_THRESHOLDS.get(self.method) if self.threshold is None else self.threshold

    def _validate(self) -> float | None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        threshold = self.resolved_threshold()
        if self.method == "hdbscan":
            if threshold is not None:
                raise ValueError(
                    "threshold does not apply to hdbscan, which finds its own; set min_cluster_size"
                )
        elif not threshold > 0:
            raise ValueError(f"threshold must be greater than 0, not {threshold}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be at least 1, not {self.min_samples}")
        if self.min_cluster_size < 1:
            raise ValueError(f"min_cluster_size must be at least 1, not {self.min_cluster_size}")
        return None if threshold is None else float(threshold)

    def fit(self, encodings: np.ndarray, photos: Sequence[object] | None = None) -> FaceClusterer:
        """Cluster ``encodings``; ``photos`` names each face's photo for the cannot-link rule."""
        threshold = self._validate()
        encodings = np.asarray(encodings)
        if encodings.dtype not in (np.float32, np.float64):
            encodings = encodings.astype(np.float64)
        # float32 is kept as it comes: the graph methods compute in float32 (a float64 copy of
        # a million faces would add 1 GB); the exact methods below take float64.
        if encodings.ndim != 2:
            raise ValueError(f"encodings must be a 2-d array, not shape {encodings.shape}")
        if photos is not None and len(photos) != len(encodings):
            raise ValueError(f"photos has {len(photos)} entries for {len(encodings)} faces")
        if len(encodings) == 0:
            self.labels_ = np.empty(0, dtype=np.int64)
            return self
        labels = _RUNNERS[self.method](self, encodings, threshold)
        if self.cannot_link and photos is not None:
            labels = split_same_photo_faces(encodings, labels, photos)
        self.labels_ = relabel_by_size(labels, self.min_cluster_size)
        return self

    def fit_predict(self, encodings: np.ndarray, photos: Sequence[object] | None = None) -> np.ndarray:
        return self.fit(encodings, photos).labels_


def _dbscan(clusterer: FaceClusterer, encodings: np.ndarray, threshold: float) -> np.ndarray:
    from sklearn.cluster import DBSCAN  # deferred: scikit-learn takes a second to import

    model = DBSCAN(eps=threshold, min_samples=clusterer.min_samples, n_jobs=clusterer.n_jobs)
    return model.fit_predict(encodings.astype(np.float64, copy=False))


def _hdbscan(clusterer: FaceClusterer, encodings: np.ndarray, threshold: None) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    if len(encodings) < 2:
        return np.full(len(encodings), NOISE)
    model = HDBSCAN(
        min_cluster_size=max(2, clusterer.min_cluster_size),
        min_samples=min(clusterer.min_samples, len(encodings)),
        n_jobs=clusterer.n_jobs,
        copy=True,
    )
    return model.fit_predict(encodings.astype(np.float64, copy=False))


def _agglomerative(clusterer: FaceClusterer, encodings: np.ndarray, threshold: float) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    if len(encodings) > EXACT_AGGLOMERATIVE_FACES:
        return average_linkage_on_graph(encodings, threshold, clusterer.n_jobs, clusterer.seed)
    if len(encodings) < 2:
        return np.zeros(len(encodings), dtype=np.int64)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage="average")
    return model.fit_predict(encodings.astype(np.float64, copy=False))


def average_linkage_on_graph(
    encodings: np.ndarray, threshold: float, n_jobs: int | None = None, seed: int = 0
) -> np.ndarray:
    """Average linkage cut at ``threshold`` for more faces than its distance matrix allows.

    First Chinese Whispers on the nearest-neighbour graph, with edges no longer than the
    smaller of ``threshold`` and Chinese Whispers' own default, cuts the faces into fragments
    that are almost never two people (BCubed precision 0.99 or more on the synthetic faces of
    bench/scale.py), but often split one. Then the fragments are merged as average linkage merges
    clusters, by :func:`merge_by_average_linkage`. Memory grows with the faces times
    :data:`GRAPH_NEIGHBORS`; both steps are near-linear in time.
    """
    graph = nearest_neighbors(encodings, GRAPH_NEIGHBORS, n_jobs, seed)
    sources, targets = graph.edges(min(threshold, DEFAULT_THRESHOLDS["chinese_whispers"]))
    fragments = chinese_whispers(len(encodings), sources, targets, seed)
    return merge_by_average_linkage(encodings, fragments, threshold, n_jobs, seed)


def merge_by_average_linkage(
    encodings: np.ndarray, labels: np.ndarray, threshold: float, n_jobs: int | None = None, seed: int = 0
) -> np.ndarray:
    """Merge the clusters of ``labels`` (no noise) while two are within ``threshold`` on average.

    Average linkage may merge any pair of reciprocal nearest clusters in any order and still
    give the same tree (it is reducible), so each round merges every such pair within the
    threshold at once. The candidates are each cluster's :data:`GRAPH_NEIGHBORS` nearest by
    mean, and a merged cluster keeps the candidates of both. The distance between two clusters
    is the root mean square of their faces' pairwise distances, which their means, sizes and
    spreads give exactly without looking at the faces: ``|mean_a - mean_b|^2 + spread_a +
    spread_b``, a spread being the mean squared distance to the cluster's mean. It is never
    below the mean distance that exact average linkage cuts at, so this merges a little less.
    """
    _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    count = len(sizes)
    sizes = sizes.astype(np.float64)
    _, means = cluster_means(encodings, inverse)
    squared_norms = np.einsum("ij,ij->i", encodings, encodings, dtype=np.float64)
    _, mean_squared_norms = cluster_means(squared_norms[:, None], inverse)
    spreads = np.maximum(mean_squared_norms[:, 0] - np.einsum("ij,ij->i", means, means), 0.0)
    del squared_norms
    graph = nearest_neighbors(means, GRAPH_NEIGHBORS, n_jobs, seed)
    found = graph.indices >= 0
    first = np.repeat(np.arange(count), graph.indices.shape[1])[found.ravel()]
    second = graph.indices[found]
    # The search already measured the distances between the means.
    squared = graph.distances[found].astype(np.float64) ** 2 + spreads[first] + spreads[second]
    stale = np.zeros(len(first), dtype=bool)
    merged_into = np.arange(count)
    limit = threshold * threshold
    while True:
        first, second, squared, stale = _unique_pairs(count, first, second, squared, stale)
        squared[stale] = _mean_squared_distance(means, spreads, first[stale], second[stale])
        nearest, nearest_squared = _nearest_by_pair(count, first, second, squared)
        candidates = np.flatnonzero((nearest >= 0) & (nearest_squared <= limit))
        partner = nearest[candidates]
        reciprocal = (nearest[partner] == candidates) & (candidates < partner)
        keep, drop = candidates[reciprocal], partner[reciprocal]
        if len(keep) == 0:
            break
        size_keep, size_drop = sizes[keep], sizes[drop]
        total = size_keep + size_drop
        mean = (means[keep] * size_keep[:, None] + means[drop] * size_drop[:, None]) / total[:, None]
        spreads[keep] = (
            size_keep * (spreads[keep] + np.einsum("ij,ij->i", means[keep] - mean, means[keep] - mean))
            + size_drop * (spreads[drop] + np.einsum("ij,ij->i", means[drop] - mean, means[drop] - mean))
        ) / total
        means[keep], sizes[keep] = mean, total
        merged_into[drop] = keep
        rename = np.arange(count)
        rename[drop] = keep
        first, second = rename[first], rename[second]
        changed = np.zeros(count, dtype=bool)
        changed[keep] = True
        stale = changed[first] | changed[second]
    while True:
        parent = merged_into[merged_into]
        if (parent == merged_into).all():
            break
        merged_into = parent
    return merged_into[inverse]


def _mean_squared_distance(
    means: np.ndarray, spreads: np.ndarray, first: np.ndarray, second: np.ndarray, chunk: int = 100_000
) -> np.ndarray:
    """Mean squared distance between the faces of clusters ``first[i]`` and ``second[i]``, in
    chunks: the gaps between all candidate pairs at once would be gigabytes."""
    result = np.empty(len(first))
    for start in range(0, len(first), chunk):
        a, b = first[start : start + chunk], second[start : start + chunk]
        gap = means[a] - means[b]
        result[start : start + chunk] = np.einsum("ij,ij->i", gap, gap) + spreads[a] + spreads[b]
    return result


def _unique_pairs(
    count: int, first: np.ndarray, second: np.ndarray, squared: np.ndarray, stale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each unordered pair of different nodes once, with its ``squared`` and ``stale`` flag (a
    pair whose distance is out of date is stale in every copy, so any copy will do)."""
    low, high = np.minimum(first, second), np.maximum(first, second)
    distinct = np.flatnonzero(low != high)
    _, index = np.unique(low[distinct] * count + high[distinct], return_index=True)
    index = distinct[index]
    return low[index], high[index], squared[index], stale[index]


def _nearest_by_pair(
    count: int, first: np.ndarray, second: np.ndarray, squared: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``count`` nodes, the other end of its shortest pair (-1 if it has none) and
    that pair's ``squared`` (inf if none)."""
    from scipy.sparse import csr_matrix

    # Grouping the pairs by node is a counting sort inside scipy's COO-to-CSR conversion,
    # linear where sorting by (node, length) was the slowest step of a merge round.
    # Offset by one: the conversion may drop stored zeros (two fragments with equal means).
    by_node = csr_matrix(
        (
            np.concatenate([squared, squared]) + 1.0,
            (np.concatenate([first, second]), np.concatenate([second, first])),
        ),
        shape=(count, count),
    )
    degree = np.diff(by_node.indptr)
    nodes = np.flatnonzero(degree)
    nearest = np.full(count, -1, dtype=np.int64)
    nearest_squared = np.full(count, np.inf)
    if len(nodes) == 0:
        return nearest, nearest_squared
    shortest = np.minimum.reduceat(by_node.data, by_node.indptr[nodes])
    is_shortest = by_node.data == np.repeat(shortest, degree[nodes])
    node_of_entry = np.repeat(nodes, degree[nodes])
    _, first_shortest = np.unique(node_of_entry[is_shortest], return_index=True)
    nearest[nodes] = by_node.indices[np.flatnonzero(is_shortest)[first_shortest]]
    nearest_squared[nodes] = shortest - 1.0
    return nearest, nearest_squared


def _chinese_whispers(clusterer: FaceClusterer, encodings: np.ndarray, threshold: float) -> np.ndarray:
    graph = nearest_neighbors(encodings, GRAPH_NEIGHBORS, clusterer.n_jobs, clusterer.seed)
    sources, targets = graph.edges(threshold)
    return chinese_whispers(len(encodings), sources, targets, clusterer.seed)


def chinese_whispers(count: int, sources: np.ndarray, targets: np.ndarray, seed: int = 0) -> np.ndarray:
    """Chinese Whispers (Biemann 2006) on the undirected graph of ``count`` nodes whose edges join
    ``sources[i]`` and ``targets[i]``: every node starts as its own label and repeatedly takes
    the label most common among its neighbours, until no label changes.

    dlib updates one random node at a time; here a random half of the nodes that may still
    change is updated at once, which keeps the work in numpy and still never oscillates for
    long. A node whose neighbours did not change is not looked at again.
    """
    from scipy.sparse import coo_matrix

    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.int64)
    rows = np.concatenate([sources, targets])
    cols = np.concatenate([targets, sources])
    keep = rows != cols
    adjacency = coo_matrix(
        (np.ones(int(keep.sum()), dtype=np.int8), (rows[keep], cols[keep])), shape=(count, count)
    ).tocsr()
    adjacency.sum_duplicates()
    starts, neighbours = adjacency.indptr, adjacency.indices
    degree = np.diff(starts)
    active = degree > 0
    for _ in range(MAX_WHISPER_ROUNDS):
        candidates = np.flatnonzero(active)
        if len(candidates) == 0:
            break
        nodes = candidates[rng.random(len(candidates)) < 0.5]
        active[nodes] = False
        if len(nodes) == 0:
            continue
        node_of_entry = np.repeat(np.arange(len(nodes)), degree[nodes])
        key, votes = np.unique(
            node_of_entry * count + labels[neighbours[_row_entries(starts, nodes)]], return_counts=True
        )
        voter, label = np.divmod(key, count)
        # A random fraction below one breaks ties without outweighing a whole vote.
        score = votes + rng.random(len(votes)) * 0.5
        group_starts = np.flatnonzero(np.r_[True, voter[1:] != voter[:-1]])
        best = np.maximum.reduceat(score, group_starts)
        winner = score == np.repeat(best, np.diff(np.r_[group_starts, len(score)]))
        new_labels = label[winner]
        changed = nodes[new_labels != labels[nodes]]
        labels[nodes] = new_labels
        if len(changed):
            active[neighbours[_row_entries(starts, changed)]] = True
    return labels


def _row_entries(starts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in a CSR matrix's ``indices`` of all entries of ``rows``, row after row."""
    lengths = starts[rows + 1] - starts[rows]
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts[rows] - before, lengths) + np.arange(lengths.sum())


def centroids(faces: list[Face], labels: np.ndarray) -> dict[int, np.ndarray]:
    """The mean embedding of each cluster (noise left out), by cluster id."""
    encodings = np.stack([face.encoding for face in faces]) if faces else np.empty((0, 128))
    ids, means = cluster_means(encodings, labels)
    return dict(zip(ids.tolist(), means, strict=True))


def tuning_grid(method: str) -> tuple[str, list[float]]:
    """The main parameter of ``method`` (a :class:`FaceClusterer` attribute) and values to try."""
    if method == "hdbscan":
        return "min_cluster_size", [2, 3, 4, 5, 6, 8]
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    return "threshold", [round(0.40 + 0.025 * step, 3) for step in range(13)]


_RUNNERS = {
    "agglomerative": _agglomerative,
    "chinese_whispers": _chinese_whispers,
    "dbscan": _dbscan,
    "hdbscan": _hdbscan,
}
