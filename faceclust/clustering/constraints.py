"""The cannot-link rule: two faces found in one photo are almost never one person."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .labels import NOISE, cluster_means


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
