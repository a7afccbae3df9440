"""The few questions that fix the most: "are these the same person?", where the answer would
change the groups most.

Three kinds, each about two small sets of faces shown to a person:

- ``merge``: two groups that lie near each other (the clustering nearly joined them);
- ``split``: a group whose faces fall into two parts that lie apart (it may hold two people);
- ``lone``: a face left unknown, or a group of one or two, that lies near a larger group.

Each is ranked by the face pairs its answer would set right, expected: the pairs between the
two sides, times the chance that the answer changes something (that a merge's or a lone
face's sides are one person, that a split's parts are two). That chance is a logistic model,
one for the "near" kinds (merge and lone) and one for splits, of two things:

- closeness: the distance between the two sides as a share of the clustering's cut, weighed by
  how much nearer each other they lie than either lies to any other group (a ratio test). The
  distance is the root-mean-square distance between the two sides' faces, which each side's
  mean and spread give at no cost;
- neighbour share: of the larger side's faces' nearest faces outside that side, the share that
  are the other side's. A stray photo of a person is among the nearest faces of that person's
  other photos more often than a stranger at the same distance is, who has nearer strangers
  around him (a rank-order test, as in Zhu et al.'s rank-order clustering). Searched among the
  faces of the groups nearest the larger side, not all faces: a million faces' questions still
  take seconds, whichever path clustered them.

bench/questions.py fits the models on half of lfw_large and checks them on the other half and
the small sets (docs/quality.md, "Questions").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..records import Face
from .corrections import Correction
from .labels import MEANS_CHUNK, NOISE, cluster_means

# Which chance model judges each kind: a merge and a lone face change the groups when their
# sides are one person, a split when its parts are two.
FAMILY = {"merge": "near", "lone": "near", "split": "split"}
# Per family, the logistic chance that an answer changes the groups:
# 1 / (1 + exp(-(intercept + per_closeness * closeness + per_share * neighbour share))),
# fitted by bench/questions.py on lfw_large half A.
CHANCE_MODELS = {"near": (8.09, -12.64, 5.41), "split": (-8.44, 11.56, -24.16)}
# How much the ratio test weighs beside the distance: chosen among 0, 0.5, 1 and 2 on lfw_large
# half A by what 50 answers gained there (a split has no "other group": its ratio is 1).
RATIO_POWER = 2.0
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
TYPICAL_AMONG = 2000
# The neighbour share: each of (at most) SHARE_QUERIES faces of the larger side looks for its
# SHARE_NEIGHBOURS nearest among the other side's faces and those of the SHARE_UNITS groups or
# lone faces whose means lie nearest the larger side's, at most SHARE_UNIT_FACES of each.
# Set once, by reason, not tuned: only the models above were fitted on these numbers.
SHARE_NEIGHBOURS = 5
SHARE_QUERIES = 16
SHARE_UNITS = 16
SHARE_UNIT_FACES = 64
QUESTIONS = 100


@dataclass(frozen=True)
class Question:
    """Two sets of faces (indices) and what their answer would set right.

    ``a`` and ``b`` are the faces shown (at most :data:`SIDE_FACES` each); ``a_size`` and
    ``b_size`` the faces each side stands for; ``p_same`` the chance, as the model judges it,
    that they are one person; ``pairs`` the face pairs between them; ``value`` the pairs the
    answer is expected to set right, by which questions are ranked; ``ratio`` and ``share``
    what the model read beside the distance (:func:`chance`).
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
    ratio: float = 1.0
    share: float = 0.0

    def why(self, cut: float) -> str:
        apart = f"{self.distance:.2f} apart, where the cut was {cut:.2f}"
        # The neighbour share, the models' second reading, in words: it was measured around the
        # larger side.
        if self.kind == "merge":
            around = f"{self.share:.0%} of the faces nearest the larger group, outside it, are the other's"
            return f"two groups of {self.a_size} and {self.b_size} faces that lie near each other ({apart}); {around}"
        if self.kind == "split":
            around = (
                f"{self.share:.0%} of the faces nearest the larger part, outside it, are the other part's"
            )
            return (
                f"a group of {self.a_size + self.b_size} faces whose two parts, {self.a_size} and "
                f"{self.b_size} faces, lie apart ({apart}); {around}"
            )
        if self.a_size == 1:
            alone, these = "a face no group took", "this face"
        else:
            alone, these = f"{self.a_size} faces no larger group took", "these faces"
        if self.b_size >= self.a_size:
            around = f"{self.share:.0%} of the faces nearest the group, outside it, are {these}"
        else:
            around = f"{self.share:.0%} of the faces nearest {these}, outside them, are the group's"
        return f"{alone}, near a group of {self.b_size} faces ({apart}); {around}"


def chance(kind: str, closeness_: np.ndarray | float, share: np.ndarray | float) -> np.ndarray:
    """The chance that the answer to a ``kind`` question changes the groups (a merge's or a lone
    face's sides are one person, a split's parts two), from its family's model over
    :func:`closeness` and the neighbour share."""
    intercept, per_closeness, per_share = CHANCE_MODELS[FAMILY[kind]]
    logit = intercept + per_closeness * np.asarray(closeness_) + per_share * np.asarray(share)
    # Clipped: a logit past 50 is a certainty either way, and exp would overflow.
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))


def closeness(distance: np.ndarray | float, cut: float, ratio: np.ndarray | float = 1.0) -> np.ndarray:
    """What the models read first: the distance as a share of the cut, times ``ratio`` (the
    distance over that to the nearest other group, as in Lowe's ratio test) to the power
    :data:`RATIO_POWER`: a face or group much nearer one group than any other is likelier that
    person than one lying between several."""
    return np.asarray(distance) / cut * np.asarray(ratio) ** RATIO_POWER


class _Groups:
    """The clustering's groups and lone faces, each a unit with its size, mean and spread (mean
    squared distance of its faces to their mean), from one sort and sums: no pass over the faces
    per group, which at a million faces in 50,000 groups would take minutes."""

    def __init__(self, encodings: np.ndarray, labels: np.ndarray):
        self.encodings = encodings
        clustered = labels != NOISE
        ids, means = cluster_means(encodings, labels)
        position = np.searchsorted(ids, labels[clustered])
        sizes = np.bincount(position, minlength=len(ids))
        squares = np.zeros(len(ids))
        faces = np.flatnonzero(clustered)
        for start in range(0, len(faces), MEANS_CHUNK):
            chunk = faces[start : start + MEANS_CHUNK]
            rows = np.asarray(encodings[chunk], dtype=np.float64)
            squares += np.bincount(
                position[start : start + MEANS_CHUNK], np.sum(rows * rows, axis=1), len(ids)
            )
        spreads = np.maximum(squares / np.maximum(sizes, 1) - np.sum(means * means, axis=1), 0.0)
        # Each group's faces: a slice of one sort of the clustered faces by group.
        self._order = faces[np.argsort(position, kind="stable")]
        self._starts = np.r_[0, np.cumsum(sizes)]
        noise = np.flatnonzero(~clustered)
        # Units: the groups, then each lone face; largest first within the groups.
        by_size = np.argsort(-sizes, kind="stable")
        self.sizes = np.r_[sizes[by_size], np.ones(len(noise), dtype=np.int64)]
        self.means = np.concatenate([means[by_size], np.asarray(encodings[noise], dtype=np.float64)])
        self.spreads = np.r_[spreads[by_size], np.zeros(len(noise))]
        self._group = by_size
        self._noise = noise

    def members(self, unit: int) -> np.ndarray:
        if unit < len(self._group):
            group = self._group[unit]
            return self._order[self._starts[group] : self._starts[group + 1]]
        return self._noise[unit - len(self._group) : unit - len(self._group) + 1]


def _rms_distance(mean_a, spread_a, mean_b, spread_b) -> np.ndarray:
    """The root-mean-square distance between the faces of two sets: from their means and spreads
    (E|x - y|^2 = |mean_a - mean_b|^2 + spread_a + spread_b)."""
    return np.sqrt(np.maximum(np.sum((mean_a - mean_b) ** 2, axis=-1) + spread_a + spread_b, 0.0))


def _typical(encodings: np.ndarray, members: np.ndarray) -> tuple[int, ...]:
    """The faces nearest the side's mean (of a large group, among its first 2,000 faces)."""
    members = members[:TYPICAL_AMONG]
    rows = np.asarray(encodings[members], dtype=np.float64)
    order = np.argsort(np.sum((rows - rows.mean(axis=0)) ** 2, axis=1), kind="stable")
    return tuple(int(i) for i in members[order[:SIDE_FACES]])


def _spaced(members: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` of ``members``, evenly spaced: a sample that is the same every run."""
    if len(members) <= count:
        return members
    return members[np.linspace(0, len(members) - 1, count).astype(np.int64)]


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
    labels = np.asarray(labels)
    if not len(labels):
        return []
    groups = _Groups(encodings, labels)
    people = int(np.count_nonzero(groups.sizes >= PERSON))
    # Of each kind, a few times as many as are asked (some turn out to be settled already), the
    # best as they would be if the neighbour share were its most telling; then the share is
    # found for those only.
    keep = 4 * limit
    candidates = [
        *_merges(groups, people, cut, keep),
        *_splits(groups, people, cut, keep, seed),
        *_lones(groups, people, cut, keep),
    ]
    shares = _neighbour_shares(groups, candidates)
    chances = np.array(
        [
            chance(c.kind, closeness(c.distance, cut, c.ratio), s)
            for c, s in zip(candidates, shares, strict=True)
        ]
    )
    values = np.array([c.pairs for c in candidates]) * chances
    asked: list[Question] = []
    # Ranked first, the faces to show found after: only for the questions asked.
    for index in np.argsort(-values, kind="stable").tolist():
        if len(asked) == limit:
            break
        candidate = candidates[index]
        if _said_apart(apart or [], candidate.a, candidate.b):
            continue
        changes = float(chances[index])
        asked.append(
            Question(
                candidate.kind,
                _typical(encodings, candidate.a),
                _typical(encodings, candidate.b),
                len(candidate.a),
                len(candidate.b),
                candidate.distance,
                1.0 - changes if candidate.kind == "split" else changes,
                candidate.pairs,
                float(values[index]),
                candidate.ratio,
                float(shares[index]),
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
    """A question not yet ranked: its sides' faces, the units they are of (``a_unit`` equals
    ``b_unit`` for a split's two parts of one group) and the distance and ratio between them."""

    kind: str
    a: np.ndarray
    b: np.ndarray
    a_unit: int
    b_unit: int
    distance: float
    ratio: float = 1.0

    @property
    def pairs(self) -> int:
        return len(self.a) * len(self.b)


def _top(
    kind: str, pairs: np.ndarray, distance: np.ndarray, ratio: np.ndarray, cut: float, keep: int
) -> np.ndarray:
    """The indices of the ``keep`` candidates whose value would be highest at the neighbour
    share that makes it highest (so that the share, found after, can only lower it)."""
    most_telling = 1.0 if CHANCE_MODELS[FAMILY[kind]][2] > 0 else 0.0
    values = pairs * chance(kind, closeness(distance, cut, ratio), most_telling)
    return np.argsort(-values, kind="stable")[:keep]


def _chosen(kind, groups: _Groups, first, second, distance, ratio, cut: float, keep: int) -> list[_Candidate]:
    """The ``keep`` best (:func:`_top`) of the unit pairs ``first``, ``second``, as candidates."""
    top = _top(kind, groups.sizes[first] * groups.sizes[second], distance, ratio, cut, keep)
    return [
        _Candidate(
            kind,
            groups.members(first[i]),
            groups.members(second[i]),
            int(first[i]),
            int(second[i]),
            float(distance[i]),
            float(ratio[i]),
        )
        for i in top.tolist()
    ]


def _neighbour_shares(groups: _Groups, candidates: list[_Candidate]) -> np.ndarray:
    """For each candidate, the share of its larger side's faces' nearest faces outside that side
    that are the other side's, among the faces of the units whose means lie nearest the larger
    side's unit (module docstring)."""
    if not candidates:
        return np.empty(0)
    encodings = groups.encodings
    larger = [c.a_unit if len(c.a) >= len(c.b) else c.b_unit for c in candidates]
    # The nearest units to each larger side's unit (itself first), by their means, a few rows at
    # a time: the units include the lone faces, which at a million faces may be a few hundred
    # thousand (32 rows of distances to 500,000 units are 64 MB).
    centres = np.unique(larger)
    means = np.ascontiguousarray(groups.means, dtype=np.float32)
    squared = np.sum(means * means, axis=1)
    reach = min(SHARE_UNITS + 2, len(means))
    nearby: dict[int, np.ndarray] = {}
    for start in range(0, len(centres), 32):
        block = centres[start : start + 32]
        # Squared distances but for each row's own constant, which leaves its order as it is.
        distances = means[block] @ means.T
        distances *= -2
        distances += squared[None, :]
        near = np.argpartition(distances, reach - 1, axis=1)[:, :reach]
        order = np.argsort(np.take_along_axis(distances, near, axis=1), axis=1)
        nearby.update(zip(block.tolist(), np.take_along_axis(near, order, axis=1), strict=True))
    shares = np.zeros(len(candidates))
    for index, (candidate, unit) in enumerate(zip(candidates, larger, strict=True)):
        big, small = (
            (candidate.a, candidate.b) if len(candidate.a) >= len(candidate.b) else (candidate.b, candidate.a)
        )
        own = {candidate.a_unit, candidate.b_unit}
        others = [other for other in nearby[unit].tolist() if other not in own][:SHARE_UNITS]
        small_faces = _spaced(small, SHARE_UNIT_FACES)
        pool = np.concatenate([small_faces, *(_spaced(groups.members(o), SHARE_UNIT_FACES) for o in others)])
        queries = np.asarray(encodings[_spaced(big, SHARE_QUERIES)], dtype=np.float32)
        rows = np.asarray(encodings[pool], dtype=np.float32)
        distances = (
            np.sum(queries**2, axis=1)[:, None] + np.sum(rows**2, axis=1)[None, :] - 2 * queries @ rows.T
        )
        k = min(SHARE_NEIGHBOURS, len(pool))
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
        shares[index] = float(np.mean(nearest < len(small_faces)))
    return shares


def _merges(groups: _Groups, people: int, cut: float, keep: int) -> list[_Candidate]:
    count = min(people, MERGE_GROUPS)
    if count < 2:
        return []
    means, k = groups.means[:count], min(MERGE_NEIGHBOURS, count - 1)
    squared = np.sum(means**2, axis=1)
    pairs: set[tuple[int, int]] = set()
    # The nearest groups of each, by their means, a block of groups at a time.
    for start in range(0, count, 1024):
        block = means[start : start + 1024]
        distances = squared[start : start + 1024, None] + squared[None, :] - 2 * block @ means.T
        distances[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        for row, nearest in enumerate(np.argpartition(distances, k - 1, axis=1)[:, :k]):
            pairs.update((min(start + row, other), max(start + row, other)) for other in nearest.tolist())
    first, second = np.array(sorted(pairs)).T
    spreads = groups.spreads[:count]
    distance = _rms_distance(means[first], spreads[first], means[second], spreads[second])
    # For the ratio test: each side's nearest other group but the pair's other side, among the
    # neighbours found.
    nearest: dict[int, list[tuple[float, int]]] = {}
    for one, other, apart in zip(first.tolist(), second.tolist(), distance.tolist(), strict=True):
        nearest.setdefault(one, []).append((apart, other))
        nearest.setdefault(other, []).append((apart, one))

    def beside(unit: int, partner: int) -> float:
        return min((apart for apart, other in nearest[unit] if other != partner), default=np.inf)

    pairs_list = zip(first.tolist(), second.tolist(), strict=True)
    others = np.array([min(beside(one, other), beside(other, one)) for one, other in pairs_list])
    ratio = np.where(np.isfinite(others), distance / np.maximum(others, 1e-9), 1.0)
    return _chosen("merge", groups, first, second, distance, ratio, cut, keep)


def _splits(groups: _Groups, people: int, cut: float, keep: int, seed: int) -> list[_Candidate]:
    from scipy.cluster.hierarchy import fcluster, linkage

    encodings = groups.encodings
    rng = np.random.default_rng(seed)
    found = []
    for unit in range(min(people, SPLIT_GROUPS)):
        members = groups.members(unit)
        if len(members) < 2 * 2:
            continue
        sample = members if len(members) <= SPLIT_SAMPLE else rng.choice(members, SPLIT_SAMPLE, replace=False)
        rows = np.asarray(encodings[sample], dtype=np.float64)
        parts = fcluster(linkage(rows, method="average"), 2, criterion="maxclust")
        if len(set(parts.tolist())) < 2:
            continue
        centres = np.stack([rows[parts == part].mean(axis=0) for part in (1, 2)])
        everyone = np.asarray(encodings[members], dtype=np.float64)
        nearest = np.argmin(np.sum((everyone[:, None, :] - centres[None, :, :]) ** 2, axis=2), axis=1)
        first, second = members[nearest == 0], members[nearest == 1]
        if not len(first) or not len(second):
            continue
        # The larger part first: "a" is the part to keep, "b" the one that may be someone else.
        if len(second) > len(first):
            first, second = second, first
        stats = []
        for part in (first, second):
            part_rows = np.asarray(encodings[part], dtype=np.float64)
            mean = part_rows.mean(axis=0)
            stats.append((mean, float(np.mean(np.sum((part_rows - mean) ** 2, axis=1)))))
        distance = float(_rms_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1]))
        found.append(_Candidate("split", first, second, unit, unit, distance))
    if not found:
        return []
    pairs = np.array([candidate.pairs for candidate in found])
    distances = np.array([candidate.distance for candidate in found])
    return [found[i] for i in _top("split", pairs, distances, np.ones(len(found)), cut, keep).tolist()]


def _lones(groups: _Groups, people: int, cut: float, keep: int) -> list[_Candidate]:
    """Each lone face or group of one or two, with the group of people (among the largest) whose
    faces lie nearest it."""
    lone = np.flatnonzero(groups.sizes < PERSON)
    targets = min(people, LONE_TARGETS)
    if not len(lone) or not targets:
        return []
    means, spreads = groups.means[:targets], groups.spreads[:targets]
    squared = np.sum(means**2, axis=1)
    nearest = np.empty(len(lone), dtype=np.int64)
    second = np.full(len(lone), np.inf)
    for start in range(0, len(lone), 4096):
        block = groups.means[lone[start : start + 4096]]
        # The groups whose faces lie nearest on average: each mean's squared distance plus the
        # group's spread (the RMS distance squared, but for the lone unit's own spread).
        squares = (
            np.sum(block**2, axis=1)[:, None] + squared[None, :] - 2 * block @ means.T + spreads[None, :]
        )
        if targets == 1:
            nearest[start : start + 4096] = 0
            continue
        # The nearest, then the next: two passes of argmin beat one argpartition here.
        rows = np.arange(len(block))
        first = np.argmin(squares, axis=1)
        nearest[start : start + 4096] = first
        squares[rows, first] = np.inf
        second[start : start + 4096] = squares.min(axis=1)
    distance = _rms_distance(groups.means[lone], groups.spreads[lone], means[nearest], spreads[nearest])
    # For the ratio test: the second nearest group's RMS distance.
    others = np.sqrt(np.maximum(second + groups.spreads[lone], 0.0))
    ratio = np.where(np.isfinite(others), distance / np.maximum(others, 1e-9), 1.0)
    return _chosen("lone", groups, lone, nearest, distance, ratio, cut, keep)


def corrections_for(question: Question, faces: Sequence[Face]) -> tuple[list[Correction], list[Correction]]:
    """The corrections an answer makes, "same" and "different", in the corrections.json format's
    terms, so that a saved answer does on the next run what it meant: "same" puts both sides'
    faces (and so their groups) together; "different" keeps them apart, which also keeps the
    question from being asked again. For a split the part that may be someone else leaves the
    group (``move``); for a merge or a lone face the faces stay where they are (``apart``):
    "different" says only that they are not the other side's person, and must not undo what put
    them where they are (a face the user already put with its person in the gallery)."""
    a = tuple(faces[i].key for i in question.a)
    b = tuple(faces[i].key for i in question.b)
    same = [Correction("merge", a + b)]
    if question.kind == "split":
        different = [Correction("move", b, away_from=a)]
    else:
        different = [Correction("apart", a, away_from=b)]
    return same, different
