"""The adaptive cut's two numbers, fitted on some dev sets and scored on the others.

The rule (faceclust/clustering/adaptive_cut.py) cuts average linkage at
``clip(intercept - slope * log10(distinct faces), FLOOR, CEILING)``. Here ``intercept`` and
``slope`` are chosen on a grid to maximise the mean of pairwise and BCubed F1 over the sets
fitted on, and the rule so fitted is scored on a set it did not see (leave one group out):

- groups: five_celebrities, face_recognition_examples, lfw_dev, and lfw_large split by person
  into two halves (A and B, by a hash of the name), each with three seeded subsets of its
  people (5%, 15% and 40%), so that the fit sees the many-people case at several sizes;
- a half and its subsets are left out together (they share people);
- the whole of lfw_large (twice the people of either half) is scored with the rule fitted on
  everything: at 3,400 distinct faces it is larger than any set fitted on.

Each set's average-linkage tree is built once; a cut is then a flat cut of that tree with the
centre checks, as the default makes it (faceclust/clustering/centre_checks.py). With
``local_scale``, the tree is the second pass's (faceclust/clustering/local_scale.py): its
weights come from groups cut by the rule in adaptive_cut.py, so a rule fitted on these trees
that differs from it would feed back into the weights.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from faceclust.clustering import GRAPH_NEIGHBORS, adaptive_cut, relabel_by_size, split_same_photo_faces
from faceclust.clustering.adaptive_cut import INTERCEPT, SLOPE
from faceclust.clustering.agglomerative import checked_cut, distinct_faces, linkage_tree, locally_scaled_tree
from faceclust.clustering.neighbors import NeighborGraph, nearest_neighbors
from faceclust.evaluation import identity_of, score_against_folders

INTERCEPTS = np.round(np.arange(0.6, 1.0001, 0.0125), 4)
SLOPES = np.round(np.arange(0.0, 0.2001, 0.0125), 4)
SUBSET_SHARES = (0.05, 0.15, 0.4)


@dataclass
class ScoredSet:
    """One labelled set of faces with its tree, ready to be cut and scored at any threshold."""

    name: str
    faces: list
    root: Path
    tree: np.ndarray
    distinct_faces: int
    graph: NeighborGraph
    _scores: dict

    @classmethod
    def build(cls, name: str, faces: list, root: Path, local_scale: bool = False) -> ScoredSet:
        encodings = np.stack([face.encoding for face in faces])
        if local_scale:
            tree, distinct = locally_scaled_tree(encodings)
        else:
            tree = linkage_tree(encodings)
            distinct = distinct_faces(tree, encodings)
        return cls(name, faces, root, tree, distinct, nearest_neighbors(encodings, GRAPH_NEIGHBORS), {})

    @cached_property
    def encodings(self) -> np.ndarray:
        return np.stack([face.encoding for face in self.faces])

    @cached_property
    def photos(self) -> list[str]:
        return [face.image_path for face in self.faces]

    def score_labels(self, labels: np.ndarray) -> tuple[float, float]:
        """(pairwise F1, BCubed F1) of a clustering's ``labels`` after the cannot-link rule and
        the default minimum group size, as FaceClusterer finishes them."""
        labels = relabel_by_size(split_same_photo_faces(self.encodings, labels, self.photos), 2)
        result = score_against_folders(self.faces, labels, self.root)
        return result.pairwise_f1, result.bcubed_f1

    def scores(self, cut: float) -> tuple[float, float]:
        """(pairwise F1, BCubed F1) at ``cut``, with the centre checks, as FaceClusterer
        clusters; cached by the cut to 4 decimals."""
        key = round(cut, 4)
        if key not in self._scores:
            self._scores[key] = self.score_labels(
                checked_cut(self.tree, self.encodings, key, self.graph, self.photos)
            )
        return self._scores[key]

    def at(self, intercept: float, slope: float) -> tuple[float, float]:
        return self.scores(adaptive_cut(self.distinct_faces, intercept, slope))


def split_by_person(faces: list, root: Path) -> tuple[list, list]:
    """lfw_large's faces in two halves by a hash of the person's name (photos without a person
    by their path)."""
    halves: tuple[list, list] = ([], [])
    for face in faces:
        key = identity_of(face.image_path, root) or face.image_path
        halves[zlib.crc32(key.encode()) % 2].append(face)
    return halves


def person_subset(faces: list, root: Path, share: float, seed: int) -> list:
    people = sorted({identity_of(face.image_path, root) or face.image_path for face in faces})
    chosen = set(np.random.default_rng(seed).choice(people, int(len(people) * share), replace=False).tolist())
    return [face for face in faces if (identity_of(face.image_path, root) or face.image_path) in chosen]


def fit(sets: list[ScoredSet]) -> tuple[float, float]:
    """The (intercept, slope) of the grid with the best mean of pairwise and BCubed F1 over
    ``sets``; ties go to the smaller slope."""
    best, best_score = (float(INTERCEPTS[0]), float(SLOPES[0])), -1.0
    for slope in SLOPES:
        for intercept in INTERCEPTS:
            value = round(float(np.mean([np.mean(s.at(intercept, slope)) for s in sets])), 6)
            if value > best_score:
                best, best_score = (float(intercept), float(slope)), value
    return best


def held_out_table(
    small_sets: dict[str, list], lfw_large: list, datasets: Path, local_scale: bool = False
) -> str:
    """Markdown: for each set, the cut and scores of the rule fitted on everything (in-sample)
    and of the rule fitted without its group (out-of-sample); with ``local_scale``, of the
    second pass's trees."""
    groups: dict[str, list[ScoredSet]] = {
        name: [ScoredSet.build(name, faces, datasets / name, local_scale)]
        for name, faces in small_sets.items()
    }
    root = datasets / "lfw_large"
    for half_name, half in zip(("lfw_large A", "lfw_large B"), split_by_person(lfw_large, root), strict=True):
        groups[half_name] = [ScoredSet.build(half_name, half, root, local_scale)] + [
            ScoredSet.build(
                f"{half_name}, {share:.0%} of its people",
                person_subset(half, root, share, seed),
                root,
                local_scale,
            )
            for seed, share in enumerate(SUBSET_SHARES)
        ]
    everything = [s for sets in groups.values() for s in sets]
    in_sample = fit(everything)
    whole = ScoredSet.build("lfw_large (whole)", lfw_large, root, local_scale)
    lines = [
        f"Fitted on every set below: intercept {in_sample[0]:g}, slope {in_sample[1]:g}"
        + (
            " (the default in adaptive_cut.py)"
            if in_sample == (INTERCEPT, SLOPE)
            else " (adaptive_cut.py has another)"
        )
        + ". Out of sample: fitted with the set's group left out.",
        "",
        "| set | faces | distinct faces | in-sample cut | pair F1 / B3 F1 | left out: intercept, slope "
        "| out-of-sample cut | pair F1 / B3 F1 |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for group, sets in groups.items():
        others = [s for name, members in groups.items() if name != group for s in members]
        held_out = fit(others)
        for s in sets:
            inside, outside = s.at(*in_sample), s.at(*held_out)
            lines.append(
                f"| {s.name} | {len(s.faces):,} | {s.distinct_faces:,} "
                f"| {adaptive_cut(s.distinct_faces, *in_sample):.3f} | {inside[0]:.3f} / {inside[1]:.3f} "
                f"| {held_out[0]:g}, {held_out[1]:g} | {adaptive_cut(s.distinct_faces, *held_out):.3f} "
                f"| {outside[0]:.3f} / {outside[1]:.3f} |"
            )
            print(lines[-1], flush=True)
    inside = whole.at(*in_sample)
    best_cut = max(np.round(np.arange(0.4, 0.65, 0.0125), 4), key=lambda cut: np.mean(whole.scores(cut)))
    lines.append(
        f"| {whole.name}, never fitted on | {len(whole.faces):,} | {whole.distinct_faces:,} "
        f"| {adaptive_cut(whole.distinct_faces, *in_sample):.3f} | {inside[0]:.3f} / {inside[1]:.3f} "
        f"| | best single cut: {best_cut:g} | {whole.scores(best_cut)[0]:.3f} / {whole.scores(best_cut)[1]:.3f} |"
    )
    return "\n".join(lines) + "\n"
