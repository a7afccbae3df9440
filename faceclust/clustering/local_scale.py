"""How close strangers come to each group: the weights of the optional second pass
(``FaceClusterer(local_scale=True)``, ``--local-scale``).

dlib's embedding crowds some people closer together than others. East Asian faces, for one
(the network was trained mostly on Western faces): in lfw_large their own photos lie 0.30-0.40
apart on average and their fifth-nearest stranger 0.46-0.48 away, against 0.42-0.49 and
0.51-0.61 for the much-photographed Western faces. One cut is then too loose in the crowded
part of the space (Junichiro Koizumi's 58 photos joined 4 of Naoto Kan's at 0.5) and too
tight in the sparse part.

So the second pass (agglomerative.py) takes the first pass's groups, at the adapted cut, as one
person each. Each face gets the distance to the :data:`NEIGHBOUR_GROUPS`-th nearest *other*
group among its neighbours in the nearest-neighbour graph (its own nearest faces, and the faces
that have it among theirs), and each group the median of its faces' distances: how close
strangers come to that group. A group whose faces see fewer other groups than that keeps the
set's median (no evidence, no change). Distances are then multiplied by ``sqrt(w_i * w_j)``
with ``w = (median / scale) ** weight``: larger where strangers crowd, smaller where they keep
away, and average linkage runs again.

``weight = distinct / (distinct + SHRINK)`` shrinks the scale towards the median in small
sets: there the other groups are mostly other groups of the set's own few people, so how close
they come says little about strangers (unshrunk, five_celebrities fell from 0.991 to 0.966).

Why it is an option and not the default: a person whose photos vary a lot is split by the first
pass into several groups, which then look to this like crowding strangers, so the second pass
splits that person further (docs/quality.md, "How the cut is chosen": lfw_large gains 0.025 pairwise F1;
10,000 synthetic faces drawn like real ones, with a power law of people up to 500 faces each,
lose 0.036). The two numbers below were set in an earlier trial (which
took the scale from every distance, not the graph's) and not tuned again;
bench/local_scale_variants.py scores other choices.
"""

from __future__ import annotations

import numpy as np

from .neighbors import NeighborGraph

NEIGHBOUR_GROUPS = 5
SHRINK = 1000


def stranger_weights(graph: NeighborGraph, groups: np.ndarray, distinct_faces: int) -> np.ndarray:
    """Each face's weight ``w`` (float64, the set's median group at 1): the second pass
    compares faces ``i`` and ``j`` at ``distance * sqrt(w_i * w_j)``.

    ``graph``: the faces' nearest neighbours; ``groups``: the first pass's labels (no noise);
    ``distinct_faces``: the count the cut was adapted to, which sets how far the scale is
    trusted.
    """
    count = len(groups)
    groups = np.asarray(groups, dtype=np.int64)
    scale = _group_scale(groups, _face_scale(graph, groups))
    known = ~np.isnan(scale)
    if not known.any():
        return np.ones(count)
    median = float(np.median(scale[known]))
    scale[~known] = median
    weight = distinct_faces / (distinct_faces + SHRINK)
    return (median / np.maximum(scale, 1e-6)) ** weight


def _face_scale(graph: NeighborGraph, groups: np.ndarray) -> np.ndarray:
    """Per face, the distance to its :data:`NEIGHBOUR_GROUPS`-th nearest other group along
    the graph's edges taken both ways (NaN when it meets fewer)."""
    count, k = graph.indices.shape
    sources = np.repeat(np.arange(count, dtype=np.int64), k)
    targets = graph.indices.ravel()
    distances = graph.distances.ravel()
    found = targets >= 0
    sources, targets, distances = sources[found], targets[found], distances[found]
    # Both ways: a face is also near the faces that count it among their nearest.
    faces = np.concatenate([sources, targets])
    other = groups[np.concatenate([targets, sources])]
    distances = np.concatenate([distances, distances]).astype(np.float64)
    del sources, targets, found
    between = groups[faces] != other
    faces, other, distances = faces[between], other[between], distances[between]
    # By face, then by distance: distances are below 2 (faces are unit-ish vectors; any
    # finite value works as long as the step exceeds the largest distance).
    step = float(distances.max()) + 1.0 if len(distances) else 1.0
    order = np.argsort(faces * step + distances, kind="stable")
    faces, other, distances = faces[order], other[order], distances[order]
    del order
    # The first (nearest) entry of each (face, other group): a stable sort keeps the order.
    _, first = np.unique(faces * (int(groups.max()) + 1) + other, return_index=True)
    first.sort()
    faces, distances = faces[first], distances[first]
    scale = np.full(count, np.nan)
    if len(faces) == 0:
        return scale
    starts = np.flatnonzero(np.r_[True, faces[1:] != faces[:-1]])
    seen = np.diff(np.r_[starts, len(faces)])
    enough = seen >= NEIGHBOUR_GROUPS
    scale[faces[starts[enough]]] = distances[starts[enough] + NEIGHBOUR_GROUPS - 1]
    return scale


def _group_scale(groups: np.ndarray, face_scale: np.ndarray) -> np.ndarray:
    """Each face gets its group's median of ``face_scale`` over the faces that have one (NaN
    for a group none of whose faces has)."""
    known = np.flatnonzero(~np.isnan(face_scale))
    result = np.full(len(groups), np.nan)
    if len(known) == 0:
        return result
    values = face_scale[known]
    keys = groups[known]
    order = np.lexsort((values, keys))
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    # np.median's: the middle value, or the mean of the two middle ones.
    medians = (values[starts + (sizes - 1) // 2] + values[starts + sizes // 2]) / 2
    ids, group_index = np.unique(groups, return_inverse=True)
    per_group = np.full(len(ids), np.nan)
    per_group[np.searchsorted(ids, keys[starts])] = medians
    return per_group[group_index.ravel()]
