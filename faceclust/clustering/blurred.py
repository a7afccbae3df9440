"""Blurred faces may join a group but not make one: a group with fewer than two sharp faces
is left unknown.

dlib's embedding puts faces out of focus near each other whoever they are (faces/sharpness.py),
so strangers in the background would otherwise make groups of their own, people who are no one.
A blurred face of someone the library knows still joins that person's group, which its sharp
faces made.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..records import Face
from .labels import NOISE

# Under this sharpness (faces/sharpness.py) a face is blurred. Chosen on the generated camera
# photos of bench/background_faces.py seed 0, checked on seed 1 and on the web sets
# (docs/benchmarks.md, "Strangers in the background").
BLURRED = 0.25
# The sharp faces a group needs to stand.
SHARP_FACES = 2


def sharpness_of(faces: Sequence[Face]) -> np.ndarray:
    """Each face's sharpness, NaN where it was not measured."""
    return np.array(
        [np.nan if face.sharpness is None else face.sharpness for face in faces], dtype=np.float64
    )


def without_blurred_groups(
    labels: np.ndarray, sharpness: np.ndarray, keep: np.ndarray | None = None
) -> np.ndarray:
    """``labels`` with each group of fewer than :data:`SHARP_FACES` faces of ``sharpness``
    :data:`BLURRED` or more made unknown; NaN (not measured: encoded by an older version) counts
    as sharp, and a group holding a face ``keep`` marks (a user's correction) stays."""
    labels = np.asarray(labels, dtype=np.int64)
    sharpness = np.asarray(sharpness, dtype=np.float64)
    if len(sharpness) != len(labels):
        raise ValueError(f"sharpness has {len(sharpness)} entries for {len(labels)} faces")
    clustered = labels != NOISE
    if not clustered.any():
        return labels
    sharp = clustered & ~(sharpness < BLURRED)
    ids, inverse = np.unique(labels[clustered], return_inverse=True)
    sharp_counts = np.bincount(inverse, weights=sharp[clustered], minlength=len(ids))
    weak = sharp_counts < SHARP_FACES
    if keep is not None:
        weak[np.unique(inverse[np.asarray(keep, dtype=bool)[clustered]])] = False
    result = labels.copy()
    result[np.flatnonzero(clustered)[weak[inverse]]] = NOISE
    return result
