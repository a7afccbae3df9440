"""Two checks of average linkage against the groups' centres, at any cut.

Average linkage joins two groups when their faces are within the cut *on average*, and that
average mixes how far apart the groups are with how varied each one is: a person seen in
varied photos has faces farther apart than two similar-looking strangers (lfw_large: Lance
Armstrong's photos average 0.52 apart; Junichiro Koizumi's 58 photos and Naoto Kan's 4 average
0.48, and average linkage joins them at its cut of 0.5). The groups' centres tell the two
apart: Koizumi's and Kan's lie 0.39 apart, the two largest groups of each of seven people the
default had split 0.30-0.38 (0.48 for one).

- **Kept apart**: two groups of at least :data:`APART_MIN_FACES` faces each are not joined
  when their centres lie more than :data:`APART_SHARE` x the cut apart, and neither is joined
  to anything after (on the tree: the merge and every merge above it are left out).
- **Lone faces join**: a face left alone joins the group (of two faces or more) whose centre
  lies within :data:`JOIN_SHARE` x the cut of it, the nearest such, unless the group holds a
  face of its photo. A lone face is where average linkage is strictest: its distance to each
  face of a varied group counts in full.

Both shares were chosen on half of lfw_large and checked on the other half and the other dev
sets (bench/centre_fit.py; docs/quality.md, "Centre checks").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .constraints import photo_codes
from .labels import NOISE, cluster_means
from .neighbors import NeighborGraph

APART_MIN_FACES = 4
APART_SHARE = 0.68
JOIN_SHARE = 0.88
# Lone faces are compared with their candidate groups' centres this many at a time: each
# takes GRAPH_NEIGHBORS float64 differences of 128 numbers, 10 KB (8,192 at a time added 130 MB
# to the peak at 100,000 faces).
JOIN_CHUNK = 1_024


def parted_tree(tree: np.ndarray, encodings: np.ndarray, threshold: float) -> np.ndarray:
    """A copy of scipy's average-linkage ``tree`` of ``encodings`` in which the merges up to
    ``threshold`` that the kept-apart check refuses, and every merge above them, are out of
    reach (height inf): cut it at ``threshold``."""
    count = len(encodings)
    reach = int(np.searchsorted(tree[:, 2], threshold, side="right"))  # heights ascend
    first, second = tree[:reach, 0].astype(np.int64), tree[:reach, 1].astype(np.int64)
    # Each node's sum of faces and size, in merge order: a merge's parts are always earlier.
    sums = np.empty((count + reach, encodings.shape[1]))
    sums[:count] = encodings
    sizes = np.ones(count + reach)
    for row in range(reach):
        sums[count + row] = sums[first[row]] + sums[second[row]]
        sizes[count + row] = sizes[first[row]] + sizes[second[row]]
    gaps = sums[first] / sizes[first, None] - sums[second] / sizes[second, None]
    out_of_reach = kept_apart(sizes[first], sizes[second], np.einsum("ij,ij->i", gaps, gaps), threshold)
    for row in range(reach):
        parts = (first[row], second[row])
        out_of_reach[row] |= any(part >= count and out_of_reach[part - count] for part in parts)
    parted = tree.copy()
    parted[:reach][out_of_reach, 2] = np.inf
    return parted


def kept_apart(
    sizes_a: np.ndarray, sizes_b: np.ndarray, squared_gaps: np.ndarray, threshold: float
) -> np.ndarray:
    """Which pairs of groups the kept-apart check refuses, from their sizes and the squared
    distances between their centres."""
    return (np.minimum(sizes_a, sizes_b) >= APART_MIN_FACES) & (squared_gaps > (APART_SHARE * threshold) ** 2)


def join_lone_faces(
    encodings: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    graph: NeighborGraph,
    photos: Sequence[object] | np.ndarray | None = None,
) -> np.ndarray:
    """``labels`` (no noise) with each lone face moved into the nearest group whose centre lies
    within :data:`JOIN_SHARE` x ``threshold``, among the groups of its neighbours in ``graph``
    (on the dev sets, always the nearest of all groups), unless the group holds a face of its
    photo (``photos``: one per face, or numbers as constraints.photo_codes gives)."""
    labels = np.array(labels, dtype=np.int64)
    sizes = np.bincount(labels)[labels]
    lone = np.flatnonzero(sizes == 1)
    grouped = np.where(sizes >= 2, labels, NOISE)
    if len(lone) == 0 or not (grouped != NOISE).any():
        return labels
    ids, means = cluster_means(encodings, grouped)
    limit = (JOIN_SHARE * threshold) ** 2
    targets = np.full(len(lone), NOISE)
    for start in range(0, len(lone), JOIN_CHUNK):
        faces = lone[start : start + JOIN_CHUNK]
        neighbours = graph.indices[faces]
        candidates = np.searchsorted(ids, grouped[neighbours])  # a slot of ``ids``, or junk
        valid = (neighbours >= 0) & (grouped[neighbours] != NOISE)
        candidates[~valid] = 0
        gaps = means[candidates] - np.asarray(encodings[faces], dtype=np.float64)[:, None]
        squared = np.einsum("ijk,ijk->ij", gaps, gaps)
        squared[~valid] = np.inf
        nearest = squared.argmin(axis=1)
        rows = np.arange(len(faces))
        within = squared[rows, nearest] <= limit
        targets[start : start + JOIN_CHUNK] = np.where(within, ids[candidates[rows, nearest]], NOISE)
    joining = np.flatnonzero(targets != NOISE)
    if photos is not None and len(joining):
        codes = photo_codes(photos)
        # Only the grouped faces of the joining faces' photos can stand in the way.
        of_joining_photos = np.zeros(codes.max() + 1, dtype=bool)
        of_joining_photos[codes[lone[joining]]] = True
        blockers = np.flatnonzero((grouped != NOISE) & of_joining_photos[codes])
        taken = set(zip(grouped[blockers].tolist(), codes[blockers].tolist(), strict=True))
        wanted = zip(targets[joining].tolist(), codes[lone[joining]].tolist(), strict=True)
        joining = joining[[pair not in taken for pair in wanted]]
    labels[lone[joining]] = targets[joining]
    return labels
