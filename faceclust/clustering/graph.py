"""Clustering on the nearest-neighbour graph, for more faces than a distance matrix allows.

Chinese Whispers cuts the faces into fragments along the short edges of each face's
:data:`GRAPH_NEIGHBORS` nearest; :func:`merge_by_average_linkage` then merges clusters joined
by an edge of that graph as average linkage does, from their means and spreads. Memory grows
with the faces times :data:`GRAPH_NEIGHBORS` and time about linearly (see neighbors.py).
"""

from __future__ import annotations

import numpy as np

from .centre_checks import kept_apart
from .neighbors import NeighborGraph, nearest_neighbors

GRAPH_NEIGHBORS = 10
MAX_WHISPER_ROUNDS = 200
# A cluster at most this fraction of the size of a merging neighbour may join it in the same
# round (_join_satellites). At 32 the result stays nearly what it is without: adjusted Rand
# index to exact average linkage at 0.5 on lfw_dev 0.995 either way, on lfw_large 0.992 against
# 0.993, on 2,360 synthetic faces with a crowded part 0.989 against 0.995 (at 4-16 the dev sets
# drifted by up to 0.005). It took a million faces from 219 s to 55 s.
SATELLITE_RATIO = 32


def merge_by_average_linkage(
    encodings: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    n_jobs: int | None = None,
    seed: int = 0,
    face_graph: NeighborGraph | None = None,
    weights: np.ndarray | None = None,
    keep_apart: bool = False,
) -> np.ndarray:
    """Merge the clusters of ``labels`` (no noise) while two are within ``threshold`` on average.

    Average linkage may merge any pair of reciprocal nearest clusters in any order and still
    give the same tree (it is reducible), so each round merges every such pair within the
    threshold at once, and lets small clusters join a merging neighbour
    (:func:`_join_satellites`). The candidates are the clusters that an edge of ``face_graph``,
    the faces' neighbour graph (searched here if not given), joins. The distance between two
    clusters is the root mean square of their faces' pairwise distances, which their means,
    sizes and spreads give exactly without looking at the faces: ``|mean_a - mean_b|^2 +
    spread_a + spread_b``, a spread being the mean squared distance to the cluster's mean. It is never
    below the mean distance that exact average linkage cuts at, so this merges a little less.

    ``weights`` (one per face, local_scale.py) compare faces ``i`` and ``j`` at their distance
    times ``sqrt(w_i * w_j)``. The same sums still give the mean exactly, with means and spreads
    weighted by ``w`` and the result multiplied by both clusters' mean weights.

    ``keep_apart``: a pair that centre_checks.py's kept-apart check refuses is not merged, and
    neither cluster merges again, as on the exact tree where every merge above a refused one is
    left out.
    """
    from scipy.sparse import csr_matrix

    _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    count = len(sizes)
    sizes = sizes.astype(np.float64)
    # The means are kept in float32, as the faces are: with the fragments of a million faces
    # (about 560,000) float64 means took 300 MB more at the peak. Distances between means stay
    # good to about 1e-7, far below any cut.
    face_weights = np.ones(len(inverse)) if weights is None else np.asarray(weights, dtype=np.float64)
    membership = csr_matrix(
        (face_weights.astype(np.float32), (inverse, np.arange(len(inverse)))),
        shape=(count, len(inverse)),
    )
    # A cluster's mass is the sum of its faces' weights (its size when they are all 1); its
    # mean and square are weighted by them.
    masses = np.bincount(inverse, weights=face_weights, minlength=count)
    means = membership @ np.asarray(encodings, dtype=np.float32)
    means /= masses[:, None].astype(np.float32)
    # Each cluster's mean squared norm of its faces, in float64: spreads are its difference.
    squares = (
        membership.astype(np.float64) @ np.einsum("ij,ij->i", encodings, encodings, dtype=np.float64)
    ) / masses
    spreads = np.maximum(squares - _squared_norms(means), 0.0)
    del membership
    if face_graph is None:
        face_graph = nearest_neighbors(encodings, GRAPH_NEIGHBORS, n_jobs, seed)
    first, second = face_graph.edges(np.inf)
    first, second = inverse[first], inverse[second]
    between = first != second  # most edges join faces of one fragment
    first, second = first[between], second[between]
    squared = np.zeros(len(first))
    stale = np.ones(len(first), dtype=bool)
    merged_into = np.arange(count)
    limit = threshold * threshold
    finished = np.zeros(count, dtype=bool)  # refused by the kept-apart check
    while True:
        first, second, squared, stale = _unique_pairs(count, first, second, squared, stale)
        if finished.any():
            open_pairs = ~(finished[first] | finished[second])
            first, second, squared, stale = (
                first[open_pairs],
                second[open_pairs],
                squared[open_pairs],
                stale[open_pairs],
            )
        mean_weights = None if weights is None else masses / sizes
        squared[stale] = _mean_squared_distance(means, spreads, mean_weights, first[stale], second[stale])
        # A pair beyond the threshold can be forgotten: a merged cluster's mean squared distance
        # to a third is the size-weighted mean of its parts', so it stays beyond unless a part
        # was within, and that part's pair is kept. Later rounds then look at far fewer pairs.
        within = squared <= limit
        first, second, squared, stale = first[within], second[within], squared[within], stale[within]
        nearest, nearest_squared = _nearest_by_pair(count, first, second, squared)
        candidates = np.flatnonzero((nearest >= 0) & (nearest_squared <= limit))
        partner = nearest[candidates]
        reciprocal = nearest[partner] == candidates
        pairs = reciprocal & (candidates < partner)
        if keep_apart and pairs.any():
            one, other = candidates[pairs], partner[pairs]
            refused = kept_apart(sizes[one], sizes[other], _squared_gaps(means, one, other), threshold)
            if refused.any():
                finished[one[refused]] = finished[other[refused]] = True
                pairs[np.flatnonzero(pairs)[refused]] = False
                if not pairs.any():
                    continue
        if not pairs.any():
            break
        target = np.arange(count)
        target[partner[pairs]] = candidates[pairs]
        _join_satellites(
            target,
            candidates[~reciprocal],
            partner[~reciprocal],
            sizes,
            masses,
            means,
            squares,
            threshold,
            keep_apart,
        )
        moved = np.flatnonzero(target != np.arange(count))
        roots, size, mass, mean, square = _pooled(target, moved, sizes, masses, means, squares)
        sizes[roots], masses[roots], means[roots], squares[roots] = size, mass, mean, square
        spreads[roots] = np.maximum(square - _squared_norms(mean), 0.0)
        merged_into[moved] = target[moved]
        first, second = target[first], target[second]
        changed = np.zeros(count, dtype=bool)
        changed[roots] = True
        stale = changed[first] | changed[second]
    while True:
        parent = merged_into[merged_into]
        if (parent == merged_into).all():
            break
        merged_into = parent
    return merged_into[inverse]


def _pooled(
    target: np.ndarray,
    moved: np.ndarray,
    sizes: np.ndarray,
    masses: np.ndarray,
    means: np.ndarray,
    squares: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(roots, sizes, masses, means, squares)`` of the clusters that ``target`` makes, each
    root together with the clusters ``moved`` into it; a square is the (weighted) mean squared
    norm of the faces."""
    from scipy.sparse import csr_matrix

    members = np.concatenate([np.unique(target[moved]), moved])
    roots, slot = np.unique(target[members], return_inverse=True)
    # Sums by root as a sparse (roots x clusters) product: no copy of the members' means. Its
    # weights are float32 as the means are: a float64 product would first copy every mean.
    pooling = csr_matrix(
        (masses[members].astype(np.float32), (slot, members)), shape=(len(roots), len(sizes))
    )
    size = np.bincount(slot, weights=sizes[members], minlength=len(roots))
    mass = np.bincount(slot, weights=masses[members], minlength=len(roots))
    # Divided in float32 too: a float64 quotient would be a copy of every pooled mean.
    return roots, size, mass, (pooling @ means) / mass[:, None].astype(np.float32), (pooling @ squares) / mass


def _join_satellites(
    target: np.ndarray,
    satellites: np.ndarray,
    hubs: np.ndarray,
    sizes: np.ndarray,
    masses: np.ndarray,
    means: np.ndarray,
    squares: np.ndarray,
    threshold: float,
    keep_apart: bool,
) -> None:
    """Let small clusters whose nearest (``hubs``, within the threshold) merges this round join
    it in the same round, in ``target``.

    Without this, a large cluster takes in the small ones around it one per round (each points
    at it, it points at one), and a million faces took thousands of rounds. A satellite joins
    only if it is at most 1 / :data:`SATELLITE_RATIO` of its hub's size and still within the
    threshold of all the rest of what the hub gathers this round, as if it joined last (and,
    with ``keep_apart``, not refused by the kept-apart check against that rest).
    """
    merging = target != np.arange(len(target))
    merging[target[merging]] = True
    joins = merging[hubs] & ~merging[satellites] & (sizes[satellites] * SATELLITE_RATIO <= sizes[hubs])
    satellites, hubs = satellites[joins], target[hubs[joins]]
    if len(satellites) == 0:
        return
    target[satellites] = hubs
    roots, size, mass, mean, square = _pooled(
        target, np.flatnonzero(target != np.arange(len(target))), sizes, masses, means, squares
    )
    slot = np.searchsorted(roots, hubs)
    own, own_mass = sizes[satellites], masses[satellites]
    rest, rest_mass = size[slot] - own, mass[slot] - own_mass
    rest_sum = mean[slot] * mass[slot][:, None] - means[satellites] * own_mass[:, None]
    rest_square = square[slot] * mass[slot] - own_mass * squares[satellites]
    # Mean squared (weighted) distance between the satellite's faces and the rest's, from sums
    # alone.
    last = (
        rest_square / rest_mass
        - 2 * np.einsum("ij,ij->i", means[satellites], rest_sum) / rest_mass
        + squares[satellites]
    ) * ((own_mass / own) * (rest_mass / rest))
    refused = last > threshold * threshold
    if keep_apart:
        gaps = means[satellites] - rest_sum / rest_mass[:, None]
        refused |= kept_apart(own, rest, np.einsum("ij,ij->i", gaps, gaps), threshold)
    too_far = satellites[refused]
    target[too_far] = too_far


def _squared_gaps(means: np.ndarray, one: np.ndarray, other: np.ndarray) -> np.ndarray:
    gaps = means[one] - means[other]
    return np.einsum("ij,ij->i", gaps, gaps, dtype=np.float64)


def _squared_norms(rows: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", rows, rows)


def _mean_squared_distance(
    means: np.ndarray,
    spreads: np.ndarray,
    mean_weights: np.ndarray | None,
    first: np.ndarray,
    second: np.ndarray,
    chunk: int = 16_384,
) -> np.ndarray:
    """Mean squared (weighted, with each cluster's ``mean_weights``; None: all 1) distance
    between the faces of clusters ``first[i]`` and ``second[i]``, in chunks: the gaps between
    all candidate pairs at once would be gigabytes, and chunks of 16 MB stay under glibc's mmap
    threshold, so each reuses the last one's memory (at 100,000 faces, chunks of 100 MB took the
    peak from 390 to 650 MB and the time from 5.1 to 6.9 s)."""
    result = np.empty(len(first))
    for start in range(0, len(first), chunk):
        a, b = first[start : start + chunk], second[start : start + chunk]
        gap = means[a] - means[b]
        result[start : start + chunk] = np.einsum("ij,ij->i", gap, gap) + spreads[a] + spreads[b]
        if mean_weights is not None:
            result[start : start + chunk] *= mean_weights[a] * mean_weights[b]
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
        # The votes counted as np.unique counts them, but the keys come grouped by node, and
        # a stable sort (timsort) keeps those runs: 5 million keys in 0.05 s against 0.4 s.
        key = np.sort(node_of_entry * count + labels[neighbours[_row_entries(starts, nodes)]], kind="stable")
        first_of_key = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        votes = np.diff(np.r_[first_of_key, len(key)])
        voter, label = np.divmod(key[first_of_key], count)
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
