"""The k nearest neighbours of every face: the graph that lets clustering scale to a million faces.

Memory is ``n * k`` entries whatever the size of the largest cluster, and time grows about
linearly with the faces. Up to :data:`EXACT_LIMIT` faces every face is compared with every
other (one matrix product per block, in faiss, which is BLAS underneath). Beyond it the faces
are first split into cells of about :data:`CELL_SIZE` by k-means, and the faces of a cell are
compared with those of the :data:`PROBES` cells whose centres lie nearest its own, as one
matrix product per cell rather than one search per face. A face near the border of its cell
misses neighbours across it, so this is done for :data:`PARTITIONS` k-means partitions drawn
with different seeds, whose borders lie in different places, and each face keeps the nearest
it met in any. On 100,000 synthetic faces (bench/synthetic.py) three partitions of two probes
each find 89% of the exact ten nearest in the time one of six probes took to find 80%, and the
clustering's BCubed F1 rises from 0.912 to 0.939 (0.943 on the exact graph); the people seen
a few times gained most (their nearest faces are strangers spread over many cells). At a
million faces each partition's fixed cost (placing every face among 1,000 centres, splitting
oversized cells) makes the search about a third slower than one partition's (docs/benchmarks.md, "A
million faces"). A caller that only needs a face's neighbours out to some distance says so
(``settled``): a face whose k nearest in the first partition all lie within it is not searched
again, as whatever nearer faces it missed lie within it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

EXACT_LIMIT = 20_000
CELL_SIZE = 1_000
PROBES = 2
PARTITIONS = 3
# k-means learns the cell centres from this many faces per cell, drawn at random: plenty to
# place them, and it keeps training to a second or two at a million faces.
TRAINING_FACES_PER_CELL = 32
KMEANS_ITERATIONS = 10
MAX_SPLIT_DEPTH = 4
# Faces whose neighbours of two partitions are merged at a time.
MERGE_CHUNK = 65_536


@dataclass(frozen=True)
class NeighborGraph:
    """Each face's nearest other faces, nearest first.

    ``indices`` is ``(n, k)`` int64, ``-1`` where a face has fewer than ``k`` others in reach;
    ``distances`` is ``(n, k)`` float32 Euclidean distances, ``inf`` where the index is -1.
    """

    distances: np.ndarray
    indices: np.ndarray

    def edges(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """``(sources, targets)`` of the neighbour pairs no farther apart than ``threshold``."""
        close = (self.distances <= threshold) & (self.indices >= 0)
        sources = np.repeat(np.arange(len(self.indices)), self.indices.shape[1])[close.ravel()]
        return sources, self.indices[close]


def nearest_neighbors(
    encodings: np.ndarray, k: int, n_jobs: int | None = None, seed: int = 0, settled: float | None = None
) -> NeighborGraph:
    """The ``k`` nearest other faces of each row of ``encodings`` (``(n, d)``).

    With ``settled`` (a distance), the cell search looks again, in its later partitions, only
    for faces whose ``k`` nearest found in the first do not all lie within it: for a face deep
    in a crowd of its own person, ``k`` neighbours that near are as good as the nearest ``k``.
    """
    import faiss  # deferred: only clustering needs it

    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    vectors = np.ascontiguousarray(encodings, dtype=np.float32)
    count = len(vectors)
    faiss.omp_set_num_threads(n_jobs if n_jobs and n_jobs > 0 else os.cpu_count() or 1)
    if count <= EXACT_LIMIT:
        squared, indices = faiss.knn(vectors, vectors, min(k + 1, count))
        squared, indices = _without_self(squared, indices, np.arange(count), k)
    else:
        squared, indices = _cell_search(vectors, k, seed, settled)
    distances = np.sqrt(np.maximum(squared, 0, out=squared), out=squared)
    distances[indices < 0] = np.inf
    return NeighborGraph(distances, indices)


def _without_self(
    squared: np.ndarray, indices: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Drop each row's own index (not always first: duplicates tie with it), keep ``k`` columns,
    and pad with -1 when fewer were found."""
    is_self = indices == rows[:, None]
    if is_self[:, 0].all():
        # The usual case, and a tenth of the work: every face found itself first.
        squared, indices = squared[:, 1 : k + 1], indices[:, 1 : k + 1].astype(np.int64)
    else:
        order = np.argsort(is_self, axis=1, kind="stable")[:, : min(k, indices.shape[1])]
        squared = np.take_along_axis(squared, order, axis=1)
        indices = np.take_along_axis(indices, order, axis=1).astype(np.int64)
        indices[np.take_along_axis(is_self, order, axis=1)] = -1
    if indices.shape[1] < k:
        pad = k - indices.shape[1]
        squared = np.pad(squared, ((0, 0), (0, pad)), constant_values=np.inf)
        indices = np.pad(indices, ((0, 0), (0, pad)), constant_values=-1)
    return squared, indices


def _cell_search(
    vectors: np.ndarray, k: int, seed: int, settled: float | None
) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    # faiss compares a block of queries with its pool as one matrix product (BLAS) only from
    # this many queries (128,000 in faiss 1.15); below, it takes one query at a time with SIMD.
    # A cell has a few hundred queries, and one at a time the search of 100,000 synthetic faces
    # took 4.0-4.3 s against 2.3-2.7 s in blocks (the same neighbours but for rounding ties).
    blas_threshold = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 20
    try:
        # One buffer for each partition's faces in cell order: a fresh one (512 MB at a
        # million faces) took 1.3 s a partition to fill, faulting its pages in, against 0.2 s.
        ordered = np.empty_like(vectors)
        squared, indices = _search_cells(vectors, k, seed, ordered)
        # inf (a face short of k found) is never settled. On 100,000 synthetic faces, settled
        # at 0.35 left 59% of them to search again (53% of a million), and took a third off
        # the later partitions (a million: 37 s against 48 s) for the same clustering.
        unsettled = None if settled is None else squared[:, -1] > np.float32(settled) ** 2
        again = np.arange(len(vectors)) if unsettled is None else np.flatnonzero(unsettled)
        for partition in range(1, PARTITIONS):
            # Seeds far apart: _balanced_cells seeds each level of its splitting seed + depth.
            more_squared, more_indices = _search_cells(
                vectors, k, seed + partition * (MAX_SPLIT_DEPTH + 1), ordered, unsettled
            )
            # In chunks: whole, the merge's sorting arrays came on top of the buffer above.
            for start in range(0, len(again), MERGE_CHUNK):
                rows = again[start : start + MERGE_CHUNK]
                squared[rows], indices[rows] = _nearest_of_both(
                    squared[rows], indices[rows], more_squared[rows], more_indices[rows], k
                )
            del more_squared, more_indices
        return squared, indices
    finally:
        faiss.cvar.distance_compute_blas_threshold = blas_threshold


def _search_cells(
    vectors: np.ndarray, k: int, seed: int, ordered: np.ndarray, asked: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each face's ``k`` nearest in its cell and the cells probed from it; with ``asked`` (a
    mask), only those faces' (the others' rows are -1 and inf). ``ordered`` (shaped as
    ``vectors``) is filled with the faces in cell order."""
    import faiss

    cells = _balanced_cells(vectors, np.arange(len(vectors)), seed)
    # The faces in cell order, so that each cell's faces are one contiguous block.
    by_cell = np.concatenate(cells)
    # mode="clip": with the default mode numpy fills a temporary of the whole size first.
    np.take(vectors, by_cell, axis=0, out=ordered, mode="clip")
    bounds = np.cumsum([0] + [len(members) for members in cells])
    centres = np.stack([ordered[bounds[cell] : bounds[cell + 1]].mean(axis=0) for cell in range(len(cells))])
    _, probed = faiss.knn(centres, centres, min(PROBES, len(cells)))
    squared = np.full((len(vectors), k), np.inf, dtype=np.float32)
    indices = np.full((len(vectors), k), -1, dtype=np.int64)
    asked_in_order = None if asked is None else asked[by_cell]
    for cell, near in enumerate(probed):
        near = near[near >= 0]
        pool = np.concatenate([np.arange(bounds[other], bounds[other + 1]) for other in near])
        queries = np.arange(bounds[cell], bounds[cell + 1])
        if asked_in_order is None:
            # The whole cell: one block of the ordered faces, not a copy.
            block = ordered[queries[0] : queries[-1] + 1]
        else:
            queries = queries[asked_in_order[queries]]
            if len(queries) == 0:
                continue
            block = ordered[queries]
        found_squared, found = faiss.knn(block, ordered[pool], min(k + 1, len(pool)))
        found = np.where(found >= 0, pool[np.maximum(found, 0)], -1)
        found_squared, found = _without_self(found_squared, found, queries, k)
        squared[by_cell[queries]] = found_squared
        indices[by_cell[queries]] = np.where(found >= 0, by_cell[np.maximum(found, 0)], -1)
    return squared, indices


def _nearest_of_both(
    squared: np.ndarray, indices: np.ndarray, more_squared: np.ndarray, more_indices: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest distinct faces of two searches (``-1`` and inf where short)."""
    squared = np.concatenate([squared, more_squared], axis=1)
    indices = np.concatenate([indices, more_indices], axis=1)
    # A face found by both searches may carry distances a rounding apart: found by index.
    order = np.lexsort((squared, indices), axis=-1)
    squared, indices = np.take_along_axis(squared, order, 1), np.take_along_axis(indices, order, 1)
    squared[:, 1:][indices[:, 1:] == indices[:, :-1]] = np.inf
    order = np.argsort(squared, axis=1, kind="stable")[:, :k]
    squared, indices = np.take_along_axis(squared, order, 1), np.take_along_axis(indices, order, 1)
    indices[np.isinf(squared)] = -1
    return squared, indices


def _balanced_cells(vectors: np.ndarray, members: np.ndarray, seed: int, depth: int = 0) -> list[np.ndarray]:
    """Split ``members`` into cells of about :data:`CELL_SIZE` faces by k-means, splitting again
    any cell k-means left more than twice that size (one person seen thousands of times fills
    a cell of its own otherwise, and the work grows with the square of a cell)."""
    import faiss

    count = len(members)
    if count <= 2 * CELL_SIZE:
        return [members]
    parts = max(2, count // CELL_SIZE)
    if depth >= MAX_SPLIT_DEPTH:
        # k-means cannot split (identical faces, say): any split finds the same neighbours.
        return list(np.array_split(members, parts))
    kmeans = faiss.Kmeans(
        vectors.shape[1],
        parts,
        niter=KMEANS_ITERATIONS,
        seed=seed + depth,
        max_points_per_centroid=TRAINING_FACES_PER_CELL,
        min_points_per_centroid=1,
    )
    # The first split takes every face: a copy of a million faces would cost up to 1.7 s of
    # fresh memory for each partition.
    subset = vectors if count == len(vectors) else np.ascontiguousarray(vectors[members])
    kmeans.train(subset)
    _, cell_of = kmeans.index.search(subset, 1)
    cell_of = cell_of.ravel()
    order = np.argsort(cell_of, kind="stable")
    bounds = np.searchsorted(cell_of[order], np.arange(parts + 1))
    cells = []
    for part in range(parts):
        part_members = members[order[bounds[part] : bounds[part + 1]]]
        if len(part_members) == count:
            return list(np.array_split(members, parts))
        if len(part_members):
            cells.extend(_balanced_cells(vectors, part_members, seed, depth + 1))
    return cells
