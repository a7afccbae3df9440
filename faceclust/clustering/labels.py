"""Cluster labels: numbering from the largest group down, noise, and each group's mean."""

from __future__ import annotations

import numpy as np

from ..records import Face

NOISE = -1


def relabel_by_size(
    labels: np.ndarray, min_cluster_size: int = 1, keep: np.ndarray | None = None
) -> np.ndarray:
    """Renumber clusters 0, 1, 2, ... from the largest down (ties by first face); noise stays -1.

    Clusters smaller than ``min_cluster_size`` become noise, unless they hold a face that
    ``keep`` (a boolean mask over the faces) marks. Face ID 0 is then the person seen most,
    whatever order the method found them in.
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids, first, inverse, counts = np.unique(
        labels, return_index=True, return_inverse=True, return_counts=True
    )
    inverse = inverse.ravel()
    large = counts >= min_cluster_size
    if keep is not None:
        large[np.unique(inverse[np.asarray(keep, dtype=bool)])] = True
    kept = (ids != NOISE) & large
    order = np.lexsort((first, -counts))
    order = order[kept[order]]
    new_ids = np.full(len(ids), NOISE, dtype=np.int64)
    new_ids[order] = np.arange(len(order))
    return new_ids[inverse]


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


def centroids(
    faces: list[Face], labels: np.ndarray, encodings: np.ndarray | None = None
) -> dict[int, np.ndarray]:
    """The mean embedding of each cluster (noise left out), by cluster id; ``encodings``, the
    faces' vectors as one matrix if the caller has it (else they are stacked here)."""
    if encodings is None:
        encodings = np.stack([face.encoding for face in faces]) if faces else np.empty((0, 128))
    ids, means = cluster_means(encodings, labels)
    return dict(zip(ids.tolist(), means, strict=True))
