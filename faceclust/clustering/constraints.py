"""Rules a clustering must keep: two faces of one photo are different people (the cannot-link
rule), and what a user said about some faces (:class:`LinkConstraints`, from corrections)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .labels import NOISE, cluster_means


def split_same_photo_faces(
    encodings: np.ndarray, labels: np.ndarray, photos: Sequence[object] | np.ndarray
) -> np.ndarray:
    """Within each cluster keep one face per photo, the one nearest the cluster's mean;
    ``photos`` names each face's photo (or numbers it, as :func:`photo_codes` does)."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    clustered = np.flatnonzero(labels != NOISE)
    photo = photo_codes(photos, clustered)
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


def photo_codes(photos: Sequence[object] | np.ndarray, faces: np.ndarray | None = None) -> np.ndarray:
    """A number per photo for each of ``faces`` (indices into ``photos``; all if None), equal
    for the faces of one photo. ``photos`` may already be such numbers (an integer array),
    which is how :class:`FaceClusterer` hands them on after numbering them once."""
    if isinstance(photos, np.ndarray) and photos.dtype.kind in "iu":
        return photos.astype(np.int64) if faces is None else photos[faces].astype(np.int64)
    indices = range(len(photos)) if faces is None else faces.tolist()
    codes: dict[object, int] = {}
    return np.array([codes.setdefault(photos[index], len(codes)) for index in indices], dtype=np.int64)


@dataclass(frozen=True)
class LinkConstraints:
    """What a user said about some faces, in face indices of the set being clustered.

    ``groups``: faces that must end in one cluster, each an index array (disjoint);
    ``apart``: pairs of group numbers whose faces must not share a cluster (people with
    different names, a face taken out of a group and the group's other faces);
    ``kept``: per group, whether its cluster stays a cluster whatever its size (named and
    merged groups) instead of becoming unknown below ``min_cluster_size``.
    """

    groups: list[np.ndarray]
    apart: frozenset[tuple[int, int]] = frozenset()
    kept: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if self.kept and len(self.kept) != len(self.groups):
            raise ValueError(f"kept has {len(self.kept)} entries for {len(self.groups)} groups")
        for first, second in self.apart:
            if first == second or not (0 <= first < len(self.groups) and 0 <= second < len(self.groups)):
                raise ValueError(
                    f"apart pair {(first, second)} does not name two of the {len(self.groups)} groups"
                )

    def kept_faces(self, faces: int) -> np.ndarray:
        """A boolean mask over ``faces`` faces: True for the faces of the kept groups."""
        mask = np.zeros(faces, dtype=bool)
        if not self.kept:
            return mask
        for members, kept in zip(self.groups, self.kept, strict=True):
            mask[members] = kept
        return mask


def apply_links(encodings: np.ndarray, labels: np.ndarray, links: LinkConstraints) -> np.ndarray:
    """``labels`` changed so that every group is whole and no apart pair of groups shares a cluster.

    A group joins every cluster its faces lie in: a user who merges two groups means the
    whole groups, not only the faces they were shown. Where that brings apart groups
    together, the groups are shared out into compatible parts, one cluster each, and every
    face of no group goes to the part whose mean lies nearest among the parts found in its
    own cluster. Faces of no group that were unknown stay unknown. New cluster ids follow the
    largest old one; renumber afterwards.
    """
    original = np.asarray(labels, dtype=np.int64)
    labels = original.copy()
    if not links.groups:
        return labels
    group_of = np.full(len(labels), -1, dtype=np.int64)
    for number, members in enumerate(links.groups):
        if np.any(group_of[members] >= 0):
            raise ValueError(f"group {number} shares faces with another group")
        group_of[members] = number

    # Clusters and groups as nodes of one graph: a group links the clusters its faces lie in.
    cluster_ids = np.unique(original[original != NOISE])
    parent = list(range(len(cluster_ids) + len(links.groups)))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    groups_in_cluster: dict[int, set[int]] = {}
    for number, members in enumerate(links.groups):
        group_node = len(cluster_ids) + number
        for label in np.unique(original[members]).tolist():
            if label != NOISE:
                groups_in_cluster.setdefault(label, set()).add(number)
                parent[root(int(np.searchsorted(cluster_ids, label)))] = root(group_node)

    components: dict[int, tuple[list[int], list[int]]] = {}
    for number in range(len(links.groups)):
        components.setdefault(root(len(cluster_ids) + number), ([], []))[0].append(number)
    for label in groups_in_cluster:
        components[root(int(np.searchsorted(cluster_ids, label)))][1].append(label)

    apart: dict[int, set[int]] = {}
    for first, second in links.apart:
        apart.setdefault(first, set()).add(second)
        apart.setdefault(second, set()).add(first)
    next_label = int(cluster_ids[-1]) + 1 if len(cluster_ids) else 0
    # The faces of no group, by cluster, from one sort: not a scan of every face per cluster.
    untagged_faces = np.flatnonzero((original != NOISE) & (group_of < 0))
    untagged_faces = untagged_faces[np.argsort(original[untagged_faces], kind="stable")]
    untagged_labels = original[untagged_faces]
    for groups, clusters in components.values():
        parts = _compatible_parts(groups, apart, encodings, links.groups)
        part_of = {group: index for index, part in enumerate(parts) for group in part}
        part_labels = np.arange(next_label, next_label + len(parts))
        next_label += len(parts)
        for group in groups:
            labels[links.groups[group]] = part_labels[part_of[group]]
        for label in clusters:
            start, end = np.searchsorted(untagged_labels, [label, label + 1])
            untagged = untagged_faces[start:end]
            candidates = sorted({part_of[group] for group in groups_in_cluster[label]})
            if len(candidates) == 1 or len(untagged) == 0:
                labels[untagged] = part_labels[candidates[0]]
                continue
            means = np.stack(
                [
                    encodings[np.concatenate([links.groups[g] for g in parts[c]])].mean(axis=0)
                    for c in candidates
                ]
            )
            distances = np.linalg.norm(encodings[untagged][:, None, :] - means[None, :, :], axis=2)
            labels[untagged] = part_labels[np.asarray(candidates)[distances.argmin(axis=1)]]
    return labels


def _compatible_parts(
    groups: list[int], apart: dict[int, set[int]], encodings: np.ndarray, members: list[np.ndarray]
) -> list[list[int]]:
    """Share ``groups`` out into parts that hold no apart pair, greedily.

    Groups with an apart rule go first, then the others, largest first; each joins the part
    whose mean lies nearest its own among the parts it may join, or starts a new one.
    """
    order = sorted(groups, key=lambda g: (g not in apart, -len(members[g]), g))
    parts: list[list[int]] = []
    sums: list[np.ndarray] = []
    counts: list[int] = []
    for group in order:
        mean = encodings[members[group]].mean(axis=0)
        allowed = [
            index for index, part in enumerate(parts) if not apart.get(group, set()).intersection(part)
        ]
        if not allowed:
            parts.append([group])
            sums.append(encodings[members[group]].sum(axis=0))
            counts.append(len(members[group]))
            continue
        best = min(allowed, key=lambda index: float(np.linalg.norm(sums[index] / counts[index] - mean)))
        parts[best].append(group)
        sums[best] = sums[best] + encodings[members[group]].sum(axis=0)
        counts[best] += len(members[group])
    return parts
