"""The few questions that fix the most: "are these the same person?", where the answer would
change the groups most.

Three kinds, each about two small sets of faces shown to a person:

- ``merge``: two groups that lie near each other (the clustering nearly joined them);
- ``split``: a group whose faces fall into two parts that lie apart (it may hold two people);
- ``lone``: a face left unknown, or a group of one or two, that lies near a larger group.

Each is ranked by the face pairs its answer would set right, expected: the pairs between the
two sides, times the chance that the answer changes something (that a merge's or a lone
face's sides are one person, that a split's parts are two). That chance is a logistic curve of
the distance between the two sides, as a share of the clustering's cut, one per kind, fitted by
bench/questions.py on half of lfw_large and checked on the other half and the small sets
(docs/quality.md, "Questions"). The distance is the root-mean-square distance between the two
sides' faces, which each side's mean and spread give at no cost: a million faces' questions take
a few seconds, on the exact path and the graph path alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..records import Face
from .corrections import Correction
from .labels import NOISE

KINDS = ("merge", "split", "lone")
# Per kind, the logistic chance that the two sides are one person: centre and width, in shares
# of the cut (bench/questions.py).
CURVES = {"merge": (1.16, 0.05), "split": (1.12, 0.05), "lone": (1.14, 0.05)}
# Faces shown per side: the ones nearest the side's mean, the most typical.
SIDE_FACES = 4
# Groups of this many faces or more are "people" a lone face or small group may belong to.
PERSON = 3
# How far the search looks, so that a million faces cost seconds: merges among the largest
# groups, each with its nearest few; splits of the largest groups, each judged on a sample.
MERGE_GROUPS = 5000
MERGE_NEIGHBOURS = 4
SPLIT_GROUPS = 1000
SPLIT_SAMPLE = 48
LONE_TARGETS = 2000
QUESTIONS = 100


@dataclass(frozen=True)
class Question:
    """Two sets of faces (indices) and what their answer would set right.

    ``a`` and ``b`` are the faces shown (at most :data:`SIDE_FACES` each); ``a_size`` and
    ``b_size`` the faces each side stands for; ``p_same`` the chance, as the curve judges it,
    that they are one person; ``pairs`` the face pairs between them; ``value`` the pairs the
    answer is expected to set right, by which questions are ranked.
    """

    kind: str
    a: tuple[int, ...]
    b: tuple[int, ...]
    a_size: int
    b_size: int
    distance: float
    p_same: float
    pairs: int
    value: float

    def why(self, cut: float) -> str:
        apart = f"{self.distance:.2f} apart, where the cut was {cut:.2f}"
        if self.kind == "merge":
            return f"two groups of {self.a_size} and {self.b_size} faces that lie near each other ({apart})"
        if self.kind == "split":
            return (
                f"a group of {self.a_size + self.b_size} faces whose two parts, {self.a_size} and "
                f"{self.b_size} faces, lie apart ({apart})"
            )
        alone = "a face no group took" if self.a_size == 1 else f"{self.a_size} faces no larger group took"
        return f"{alone}, near a group of {self.b_size} faces ({apart})"


def p_same(kind: str, distance: np.ndarray | float, cut: float) -> np.ndarray:
    centre, width = CURVES[kind]
    return 1.0 / (1.0 + np.exp((np.asarray(distance) / cut - centre) / width))


@dataclass
class _Units:
    """Groups and lone faces with their size, mean and mean squared distance to the mean."""

    members: list[np.ndarray]
    sizes: np.ndarray
    means: np.ndarray
    spreads: np.ndarray  # mean squared distance of the members to their mean

    @classmethod
    def of(cls, encodings: np.ndarray, members: list[np.ndarray]) -> _Units:
        sizes = np.array([len(m) for m in members], dtype=np.int64)
        means = np.stack([encodings[m].mean(axis=0) for m in members]) if members else np.empty((0, 128))
        spreads = np.array(
            [
                float(np.mean(np.sum((encodings[m] - mean) ** 2, axis=1)))
                for m, mean in zip(members, means, strict=True)
            ]
        )
        return cls(members, sizes, means, spreads)


def _rms_distance(mean_a, spread_a, mean_b, spread_b) -> np.ndarray:
    """The root-mean-square distance between the faces of two sets: from their means and spreads
    (E|x - y|^2 = |mean_a - mean_b|^2 + spread_a + spread_b)."""
    return np.sqrt(np.sum((mean_a - mean_b) ** 2, axis=-1) + spread_a + spread_b)


def _typical(encodings: np.ndarray, members: np.ndarray) -> tuple[int, ...]:
    mean = encodings[members].mean(axis=0)
    order = np.argsort(np.sum((encodings[members] - mean) ** 2, axis=1), kind="stable")
    return tuple(int(i) for i in members[order[:SIDE_FACES]])


def ask(
    encodings: np.ndarray,
    labels: np.ndarray,
    cut: float,
    apart: list[tuple[set[int], set[int]]] | None = None,
    limit: int = QUESTIONS,
    seed: int = 0,
) -> list[Question]:
    """The ``limit`` questions of most value about a clustering (``labels`` of ``encodings``,
    cut at ``cut``), best first, leaving out any whose sides a user already said are two
    people (``apart``: pairs of face-index sets kept apart by corrections)."""
    encodings = np.asarray(encodings, dtype=np.float64)
    labels = np.asarray(labels)
    groups = [np.flatnonzero(labels == label) for label in np.unique(labels[labels != NOISE])]
    groups.sort(key=len, reverse=True)
    people = [g for g in groups if len(g) >= PERSON]
    small = [g for g in groups if len(g) < PERSON] + [np.array([i]) for i in np.flatnonzero(labels == NOISE)]
    candidates = [
        *_merges(encodings, people[:MERGE_GROUPS], cut),
        *_splits(encodings, people[:SPLIT_GROUPS], cut, seed),
        *_lones(encodings, small, people[:LONE_TARGETS], cut),
    ]
    # Ranked first, the faces to show found after: only for the questions asked.
    candidates.sort(key=lambda candidate: -candidate.value)
    asked: list[Question] = []
    typical: dict[int, tuple[int, ...]] = {}
    for candidate in candidates:
        if len(asked) == limit:
            break
        if _said_apart(apart or [], candidate.a, candidate.b):
            continue
        sides = []
        for members in (candidate.a, candidate.b):
            # A group's typical faces, once however many questions it is in.
            key = id(members)
            if key not in typical:
                typical[key] = _typical(encodings, members)
            sides.append(typical[key])
        asked.append(
            Question(
                candidate.kind,
                *sides,
                len(candidate.a),
                len(candidate.b),
                candidate.distance,
                candidate.chance,
                len(candidate.a) * len(candidate.b),
                candidate.value,
            )
        )
    return asked


def _said_apart(apart: list[tuple[set[int], set[int]]], members_a: np.ndarray, members_b: np.ndarray) -> bool:
    if not apart:
        return False
    side_a, side_b = set(members_a.tolist()), set(members_b.tolist())
    return any(
        (first & side_a and second & side_b) or (first & side_b and second & side_a)
        for first, second in apart
    )


@dataclass(frozen=True)
class _Candidate:
    kind: str
    a: np.ndarray
    b: np.ndarray
    distance: float
    chance: float
    value: float


def _candidate(
    kind: str, members_a: np.ndarray, members_b: np.ndarray, distance: float, cut: float
) -> _Candidate:
    chance = float(p_same(kind, distance, cut))
    # A merge or a lone face changes the groups when the sides are one person; a split, when two.
    value = len(members_a) * len(members_b) * (1.0 - chance if kind == "split" else chance)
    return _Candidate(kind, members_a, members_b, float(distance), chance, value)


def _merges(encodings: np.ndarray, people: list[np.ndarray], cut: float) -> list[_Candidate]:
    if len(people) < 2:
        return []
    units = _Units.of(encodings, people)
    k = min(MERGE_NEIGHBOURS, len(people) - 1)
    squared = np.sum(units.means**2, axis=1)
    found = []
    pairs: set[tuple[int, int]] = set()
    # The nearest groups of each, by their means, a block of groups at a time.
    for start in range(0, len(people), 1024):
        block = units.means[start : start + 1024]
        distances = squared[start : start + 1024, None] + squared[None, :] - 2 * block @ units.means.T
        for row, first in enumerate(range(start, start + len(block))):
            distances[row, first] = np.inf
        for row, nearest in enumerate(np.argpartition(distances, k - 1, axis=1)[:, :k]):
            for second in nearest.tolist():
                pairs.add((min(start + row, second), max(start + row, second)))
    for first, second in sorted(pairs):
        distance = _rms_distance(
            units.means[first], units.spreads[first], units.means[second], units.spreads[second]
        )
        found.append(_candidate("merge", people[first], people[second], distance, cut))
    return found


def _splits(encodings: np.ndarray, people: list[np.ndarray], cut: float, seed: int) -> list[_Candidate]:
    from scipy.cluster.hierarchy import fcluster, linkage

    rng = np.random.default_rng(seed)
    found = []
    for members in people:
        if len(members) < 2 * 2:
            continue
        sample = members if len(members) <= SPLIT_SAMPLE else rng.choice(members, SPLIT_SAMPLE, replace=False)
        parts = fcluster(linkage(encodings[sample], method="average"), 2, criterion="maxclust")
        if len(set(parts.tolist())) < 2:
            continue
        centres = np.stack([encodings[sample[parts == part]].mean(axis=0) for part in (1, 2)])
        nearest = np.argmin(
            np.sum((encodings[members][:, None, :] - centres[None, :, :]) ** 2, axis=2), axis=1
        )
        first, second = members[nearest == 0], members[nearest == 1]
        if not len(first) or not len(second):
            continue
        # The larger part first: "a" is the part to keep, "b" the one that may be someone else.
        if len(second) > len(first):
            first, second = second, first
        units = _Units.of(encodings, [first, second])
        distance = _rms_distance(units.means[0], units.spreads[0], units.means[1], units.spreads[1])
        found.append(_candidate("split", first, second, distance, cut))
    return found


def _lones(
    encodings: np.ndarray, small: list[np.ndarray], people: list[np.ndarray], cut: float
) -> list[_Candidate]:
    if not small or not people:
        return []
    targets = _Units.of(encodings, people)
    units = _Units.of(encodings, small)
    squared = np.sum(targets.means**2, axis=1)
    found = []
    for start in range(0, len(small), 4096):
        block = units.means[start : start + 4096]
        distances = np.sum(block**2, axis=1)[:, None] + squared[None, :] - 2 * block @ targets.means.T
        # The group whose faces lie nearest on average: its mean distance plus its spread.
        nearest = np.argmin(distances + targets.spreads[None, :], axis=1)
        for row, target in enumerate(nearest.tolist()):
            unit = start + row
            distance = _rms_distance(
                units.means[unit], units.spreads[unit], targets.means[target], targets.spreads[target]
            )
            found.append(_candidate("lone", small[unit], people[target], distance, cut))
    return found


def corrections_for(question: Question, faces: Sequence[Face]) -> tuple[list[Correction], list[Correction]]:
    """The corrections an answer makes, "same" and "different", in the corrections.json format's
    terms, so that a saved answer does on the next run what it meant: "same" puts both sides'
    faces (and so their groups) together; "different" keeps them apart, which also keeps the
    question from being asked again. For a merge the faces stay where they are (``apart``); for a
    split or a lone face, the faces that may be someone else leave the group (``move``)."""
    a = tuple((faces[i].image_path, tuple(faces[i].box)) for i in question.a)
    b = tuple((faces[i].image_path, tuple(faces[i].box)) for i in question.b)
    same = [Correction("merge", a + b)]
    if question.kind == "merge":
        different = [Correction("apart", a, away_from=b)]
    elif question.kind == "split":
        different = [Correction("move", b, away_from=a)]
    else:
        different = [Correction("move", a, away_from=b)]
    return same, different
