"""FaceClusterer: one estimator over every method, with scikit-learn's conventions.

Every method ends the same way: clusters are numbered from the largest down, and a face that
ends up alone (or in a group smaller than ``min_cluster_size``) is unknown (``-1``). Two faces
found in the same photo are almost never one person; with ``cannot_link`` a cluster keeps only
the face of each photo that lies nearest its centre, and the others become unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .agglomerative import average_linkage
from .blurred import without_blurred_groups
from .constraints import LinkConstraints, apply_links, photo_codes, split_same_photo_faces
from .graph import GRAPH_NEIGHBORS, chinese_whispers
from .labels import NOISE, relabel_by_size
from .neighbors import nearest_neighbors

METHODS = ("agglomerative", "chinese_whispers", "dbscan", "hdbscan")

DEFAULT_METHOD = "agglomerative"
# Fixed defaults; agglomerative has none: its cut adapts to the set (adaptive_cut.py).
DEFAULT_THRESHOLDS = {"chinese_whispers": 0.5, "dbscan": 0.5}
DEFAULT_MIN_SAMPLES = 5  # DBSCAN's neighbourhood size and HDBSCAN's min_samples, as in the tutorial
DEFAULT_MIN_CLUSTER_SIZE = 2


class FaceClusterer:
    """Cluster ``(n, 128)`` face embeddings; after :meth:`fit`, ``labels_`` holds one label per face.

    Parameters
    ----------
    method : one of :data:`METHODS`.
    threshold : the method's distance scale: DBSCAN's ``eps``, the largest average distance at
        which agglomerative (average linkage) clustering still merges, the longest edge of
        Chinese Whispers' graph. None: the method's default; for agglomerative, a cut adapted
        to the set (adaptive_cut.py). HDBSCAN takes none.

    After :meth:`fit`: ``labels_``; ``threshold_``, the threshold used (None for HDBSCAN);
    ``distinct_faces_``, the count the cut was adapted to (None when it was not adapted).
    min_samples : DBSCAN's and HDBSCAN's neighbourhood size.
    min_cluster_size : smaller clusters become unknown (HDBSCAN's own minimum too).
    cannot_link : keep at most one face per photo in a cluster.
    local_scale : agglomerative with the adapted cut only: a second pass on distances weighted
        by how close strangers come to each group (local_scale.py). Better among thousands of
        people seen a few times each; worse for people whose photos vary a lot (docs/quality.md).
    centre_checks : agglomerative: keep apart two groups whose centres lie far apart, and let
        a face left alone join a group whose centre lies near it (centre_checks.py).
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
        local_scale: bool = False,
        centre_checks: bool = True,
    ):
        self.method = method
        self.threshold = threshold
        self.min_samples = min_samples
        self.min_cluster_size = min_cluster_size
        self.cannot_link = cannot_link
        self.n_jobs = n_jobs
        self.seed = seed
        self.local_scale = local_scale
        self.centre_checks = centre_checks

    def resolved_threshold(self) -> float | None:
        """The threshold given, or the method's fixed default; None for HDBSCAN, and for
        agglomerative when its cut is to adapt to the set (``threshold_`` says which it chose)."""
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
        elif threshold is not None and not threshold > 0:
            raise ValueError(f"threshold must be greater than 0, not {threshold}")
        if self.local_scale and (self.method != "agglomerative" or threshold is not None):
            raise ValueError("local_scale works with agglomerative and its adapted cut (no threshold)")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be at least 1, not {self.min_samples}")
        if self.min_cluster_size < 1:
            raise ValueError(f"min_cluster_size must be at least 1, not {self.min_cluster_size}")
        return None if threshold is None else float(threshold)

    def fit(
        self,
        encodings: np.ndarray,
        photos: Sequence[object] | None = None,
        links: LinkConstraints | None = None,
        sharpness: np.ndarray | None = None,
    ) -> FaceClusterer:
        """Cluster ``encodings``; ``photos`` names each face's photo for the cannot-link rule.

        ``links``: groups of faces a user put together or apart; they win over the method and
        over the cannot-link rule. ``sharpness``: each face's (faces/sharpness.py; NaN where not
        measured), so that blurred faces join groups but make none (clustering/blurred.py).
        """
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
        self.threshold_, self.distinct_faces_ = threshold, None
        # Faces the blurred-groups rule left unknown, for the run's report.
        self.blurred_faces_ = 0
        if len(encodings) == 0:
            self.labels_ = np.empty(0, dtype=np.int64)
            return self
        # Numbered once: the cannot-link rule looks the photos up more than once.
        photo_numbers = photo_codes(photos) if self.cannot_link and photos is not None else None
        labels = _RUNNERS[self.method](self, encodings, threshold, photo_numbers)
        if photo_numbers is not None:
            labels = split_same_photo_faces(encodings, labels, photo_numbers)
        keep = None
        if links is not None and links.groups:
            labels = apply_links(encodings, labels, links)
            keep = links.kept_faces(len(labels))
        self.labels_ = relabel_by_size(labels, self.min_cluster_size, keep)
        if sharpness is not None:
            # Counted against the groups that would stand without the rule: a group too small
            # to keep anyway is not the rule's doing.
            grouped = self.labels_ != NOISE
            labels = without_blurred_groups(labels, sharpness, keep)
            self.labels_ = relabel_by_size(labels, self.min_cluster_size, keep)
            self.blurred_faces_ = int(np.count_nonzero(grouped & (self.labels_ == NOISE)))
        return self

    def fit_predict(
        self,
        encodings: np.ndarray,
        photos: Sequence[object] | None = None,
        links: LinkConstraints | None = None,
        sharpness: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.fit(encodings, photos, links, sharpness).labels_


def _dbscan(
    clusterer: FaceClusterer, encodings: np.ndarray, threshold: float, photos: Sequence[object] | None
) -> np.ndarray:
    from sklearn.cluster import DBSCAN  # deferred: scikit-learn takes a second to import

    model = DBSCAN(eps=threshold, min_samples=clusterer.min_samples, n_jobs=clusterer.n_jobs)
    return model.fit_predict(encodings.astype(np.float64, copy=False))


def _hdbscan(
    clusterer: FaceClusterer, encodings: np.ndarray, threshold: None, photos: Sequence[object] | None
) -> np.ndarray:
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


def _agglomerative(
    clusterer: FaceClusterer, encodings: np.ndarray, threshold: float | None, photos: Sequence[object] | None
) -> np.ndarray:
    result = average_linkage(
        encodings,
        threshold,
        clusterer.n_jobs,
        clusterer.seed,
        clusterer.local_scale,
        clusterer.centre_checks,
        photos,
    )
    clusterer.threshold_, clusterer.distinct_faces_ = result.cut, result.distinct_faces
    return result.labels


def _chinese_whispers(
    clusterer: FaceClusterer, encodings: np.ndarray, threshold: float, photos: Sequence[object] | None
) -> np.ndarray:
    graph = nearest_neighbors(encodings, GRAPH_NEIGHBORS, clusterer.n_jobs, clusterer.seed)
    sources, targets = graph.edges(threshold)
    return chinese_whispers(len(encodings), sources, targets, clusterer.seed)


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
