"""Grouping face embeddings by person. Labels follow scikit-learn: ``-1`` is noise (unknown)."""

from __future__ import annotations

import numpy as np

NOISE = -1

# The tutorial's settings; see the README's quality table before changing them.
DEFAULT_EPS = 0.5
DEFAULT_MIN_SAMPLES = 5


def cluster_dbscan(
    encodings: np.ndarray,
    eps: float = DEFAULT_EPS,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    jobs: int | None = None,
) -> np.ndarray:
    """DBSCAN over ``(n, 128)`` embeddings with Euclidean distance; returns ``n`` int labels."""
    if not eps > 0:
        raise ValueError(f"eps must be greater than 0, not {eps}")
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, not {min_samples}")
    encodings = np.asarray(encodings, dtype=np.float64)
    if encodings.ndim != 2:
        raise ValueError(f"encodings must be a 2-d array, not shape {encodings.shape}")
    if len(encodings) == 0:
        return np.empty(0, dtype=np.int64)
    from sklearn.cluster import DBSCAN  # deferred: scikit-learn takes a second to import

    model = DBSCAN(eps=eps, min_samples=min_samples, metric="euclidean", n_jobs=jobs)
    return relabel_by_size(model.fit_predict(encodings))


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, 2, ... from the largest down (ties by first face); noise stays -1.

    Face ID 0 is then the person seen most, whatever order the clustering found them in.
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(
        (
            pair
            for pair in zip(ids.tolist(), first.tolist(), counts.tolist(), strict=True)
            if pair[0] != NOISE
        ),
        key=lambda pair: (-pair[2], pair[1]),
    )
    mapping = {old: new for new, (old, _, _) in enumerate(order)}
    mapping[NOISE] = NOISE
    return np.array([mapping[label] for label in labels.tolist()], dtype=np.int64)
