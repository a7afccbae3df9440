"""Scoring a clustering against a dataset laid out one folder per person.

Rules (stated in docs/quality.md and tested):
- a face's identity is the first folder below the dataset root that holds its image; folders
  whose name starts with ``_`` carry no identity, and faces outside the root are not scored;
- when an image holds several faces, only its largest face is scored (the labelled person);
- each unknown (``-1``) face counts as a singleton cluster of its own, never as one big cluster.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from .clustering import NOISE
from .errors import DatasetError
from .records import Face


def identity_of(image_path: str, dataset_root: str | os.PathLike[str]) -> str | None:
    """The person folder of ``image_path`` below ``dataset_root``, or None if it has none."""
    root = os.path.abspath(dataset_root)
    path = os.path.abspath(image_path)
    if os.path.commonpath([root, path]) != root:
        return None
    parts = os.path.relpath(path, root).split(os.sep)
    if len(parts) < 2 or parts[0].startswith("_"):
        return None
    return parts[0]


def scored_faces(faces: list[Face], dataset_root: str | os.PathLike[str]) -> dict[int, str]:
    """Index of each face that is scored -> its identity: the largest face of each labelled image."""
    largest: dict[str, int] = {}
    for index, face in enumerate(faces):
        best = largest.get(face.image_path)
        if best is None or face.area > faces[best].area:
            largest[face.image_path] = index
    scored = {}
    for image_path, index in largest.items():
        identity = identity_of(image_path, dataset_root)
        if identity is not None:
            scored[index] = identity
    return dict(sorted(scored.items()))


def singletons_for_noise(labels: np.ndarray) -> np.ndarray:
    """``labels`` with each ``-1`` replaced by a fresh cluster id of its own."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    noise = labels == NOISE
    start = labels.max(initial=-1) + 1
    labels[noise] = np.arange(start, start + int(noise.sum()))
    return labels


def _pairs(counts: np.ndarray) -> float:
    return float((counts * (counts - 1) / 2).sum())


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Scores:
    """Agreement between a clustering and the true identities (all in [0, 1] but ari in [-1, 1])."""

    faces_scored: int
    identities: int
    clusters: int
    unknown: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    nmi: float
    ari: float

    def as_dict(self) -> dict:
        return asdict(self)


def score(true_ids: list[str] | np.ndarray, labels: np.ndarray) -> Scores:
    """Pairwise and BCubed precision / recall / F1, NMI and ARI of ``labels`` against ``true_ids``.

    ``labels`` use ``-1`` for unknown; each unknown face is its own singleton cluster. With no
    pair to judge, a precision or recall is 1 (nothing was wrongly joined or split).
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    raw = np.asarray(labels, dtype=np.int64)
    true, predicted, cell_of_face, cell_sizes = _contingency(true_ids, raw)
    class_sizes = np.bincount(true)
    cluster_sizes = np.bincount(predicted)

    together = _pairs(cell_sizes)
    predicted_pairs, true_pairs = _pairs(cluster_sizes), _pairs(class_sizes)
    pairwise_precision = together / predicted_pairs if predicted_pairs else 1.0
    pairwise_recall = together / true_pairs if true_pairs else 1.0

    each_precision, each_recall = _bcubed_per_face(true, predicted, cell_of_face, cell_sizes)
    bcubed_precision, bcubed_recall = float(np.mean(each_precision)), float(np.mean(each_recall))

    return Scores(
        faces_scored=len(raw),
        identities=len(class_sizes),
        clusters=len(set(raw.tolist()) - {NOISE}),
        unknown=int(np.count_nonzero(raw == NOISE)),
        pairwise_precision=pairwise_precision,
        pairwise_recall=pairwise_recall,
        pairwise_f1=_f1(pairwise_precision, pairwise_recall),
        bcubed_precision=bcubed_precision,
        bcubed_recall=bcubed_recall,
        bcubed_f1=_f1(bcubed_precision, bcubed_recall),
        nmi=float(normalized_mutual_info_score(true, predicted)),
        ari=float(adjusted_rand_score(true, predicted)),
    )


def _contingency(
    true_ids: list[str] | np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each face's person and cluster as numbers from 0 (unknown faces each a cluster of their
    own), and the contingency table as (person, cluster) cells: each face's cell and each cell's
    size. A dense table would need people x clusters entries, 200 GB for a million faces."""
    true = np.unique(np.asarray(true_ids), return_inverse=True)[1].ravel()
    if len(true) != len(labels):
        raise ValueError(f"true_ids and labels differ in length: {len(true)} != {len(labels)}")
    if len(labels) == 0:
        raise ValueError("there are no faces to score")
    predicted = np.unique(singletons_for_noise(labels), return_inverse=True)[1].ravel()
    _, cell_of_face, cell_sizes = np.unique(
        true * (predicted.max() + 1) + predicted, return_inverse=True, return_counts=True
    )
    return true, predicted, cell_of_face.ravel(), cell_sizes


def _bcubed_per_face(
    true: np.ndarray, predicted: np.ndarray, cell_of_face: np.ndarray, cell_sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # BCubed: each face's share of its cluster that is its person, and of its person that is
    # in its cluster; a cell of n faces contributes n * (n / size) to the sum.
    shared = cell_sizes[cell_of_face]
    return shared / np.bincount(predicted)[predicted], shared / np.bincount(true)[true]


def bcubed_per_face(true_ids: list[str] | np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each face's BCubed precision and recall (their means are :func:`score`'s), so that a
    part of the faces can be scored within the clustering of all of them."""
    return _bcubed_per_face(*_contingency(true_ids, np.asarray(labels, dtype=np.int64)))


def score_against_folders(
    faces: list[Face], labels: np.ndarray, dataset_root: str | os.PathLike[str]
) -> Scores:
    """Score a clustering of ``faces`` against the person folders of ``dataset_root``."""
    scored = scored_faces(faces, dataset_root)
    if not scored:
        raise DatasetError(
            f"no face in the encodings file lies in a person folder of {dataset_root}; "
            "evaluation needs one folder per person"
        )
    indices = list(scored)
    return score([scored[i] for i in indices], np.asarray(labels)[indices])
