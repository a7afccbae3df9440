"""Cluster labels: numbering from the largest group down, noise, and each group's mean."""

from __future__ import annotations

import numpy as np

from ..records import Face

NOISE = -1
MEANS_CHUNK = 16_384


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
    labels = np.asarray(labels, dtype=np.int64)
    clustered = np.flatnonzero(labels != NOISE)
    ids, inverse, sizes = np.unique(labels[clustered], return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    # Summed in float64 over the faces in label order, 16,384 at a time: a sparse product would
    # first copy all the faces to float64 (1 GB for a million; 2.8 s of a 10 s clusters.json).
    order = clustered[np.argsort(inverse, kind="stable")]
    slots = np.sort(inverse)
    sums = np.zeros((len(ids), encodings.shape[1]))
    for start in range(0, len(order), MEANS_CHUNK):
        chunk = slots[start : start + MEANS_CHUNK]
        starts = np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1]])
        rows = np.asarray(encodings[order[start : start + MEANS_CHUNK]], dtype=np.float64)
        sums[chunk[starts]] += np.add.reduceat(rows, starts, axis=0)
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
