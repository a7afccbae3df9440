"""How much the gallery's questions fix: a simulated person answers the first N, held out.

For each set the default clustering runs, then a simulated person answers its first N
questions (N = 10, 25, 50, 100) from the labels: "same" when the most common person among the
faces shown on one side is the most common on the other (a side whose faces carry no label,
strangers in the background, is skipped, as a person who cannot tell would). The answers'
corrections are applied as cluster_faces.py --corrections applies them, and the groups scored
(pair F1 / BCubed F1). For comparison, an oracle that knows every label picks the N operations
(join two groups, or take one person's faces out of a group) that raise pair F1 most, greedily.

The chance models that rank the questions (clustering/questions.py, CHANCE_MODELS) are fitted
on lfw_large's half A by maximum likelihood, from every question the default clustering there
could ask and its labelled answer; half B and the small sets are scored with them, never seen
in the fit. Then, for the oracle's 50 best operations, the share of their gain that one of the
first 50 questions asked answers, that some question the clustering could ask answers, and that
no question answers. Then the cost of asking, on 100,000 and a million made-up faces grouped by
their person. Takes about 3 minutes after the sets are encoded (bench/quality.py's cache).
Writes the table into docs/quality.md between the questions markers.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cut_fit import split_by_person  # noqa: E402
from harness import bench_parser, publish  # noqa: E402
from quality import encoded  # noqa: E402
from synthetic import synthetic_embeddings  # noqa: E402

from faceclust.clustering import FaceClusterer  # noqa: E402
from faceclust.clustering.corrections import plan_corrections  # noqa: E402
from faceclust.clustering.questions import CHANCE_MODELS, FAMILY, ask, closeness, corrections_for  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.evaluation import score_against_folders, scored_faces  # noqa: E402
from faceclust.pipeline import _apply_plan  # noqa: E402

ANSWERS = (10, 25, 50, 100)
SMALL_SETS = ("five_celebrities", "face_recognition_examples", "lfw_dev")
# Question-asking's cost, on made-up faces as many as a large library's.
COST_FACES = (100_000, 1_000_000)


class LabelledSet:
    def __init__(self, name: str, faces: list, root: Path):
        self.name, self.faces, self.root = name, faces, root
        self.encodings = np.stack([face.encoding for face in faces])
        self.photos = [face.image_path for face in faces]
        self.identity = scored_faces(faces, root)
        self.clusterer = FaceClusterer()
        self.labels = self.clusterer.fit_predict(self.encodings, self.photos)
        self.oracle_operations: list[Operation] = []  # the oracle's, once table_row has run

    def score(self, labels: np.ndarray, faces: list | None = None) -> tuple[float, float]:
        scores = score_against_folders(faces or self.faces, labels, self.root)
        return scores.pairwise_f1, scores.bcubed_f1

    def side(self, indices: tuple[int, ...]) -> str | None:
        known = [self.identity[i] for i in indices if i in self.identity]
        return Counter(known).most_common(1)[0][0] if known else None

    def changes(self, question) -> bool | None:
        """Whether the labels' answer to ``question`` changes the groups (None: a side unlabelled)."""
        a, b = self.side(question.a), self.side(question.b)
        if a is None or b is None:
            return None
        return a != b if question.kind == "split" else a == b

    def answered(self, questions, count: int) -> tuple[float, float]:
        """Scores after the first ``count`` questions are answered from the labels."""
        corrections = []
        for question in questions[:count]:
            a, b = self.side(question.a), self.side(question.b)
            if a is None or b is None:
                continue
            same, different = corrections_for(question, self.faces)
            corrections += same if a == b else different
        plan = plan_corrections(corrections, self.faces)
        kept = plan.kept
        faces = [self.faces[i] for i in kept]
        clusterer = FaceClusterer()
        labels = clusterer.fit_predict(self.encodings[kept], [f.image_path for f in faces], plan.links)
        faces, _, labels, _, _ = _apply_plan(faces, self.encodings[kept], labels, plan)
        # Faces a correction left out are scored as unknown, as they would be nowhere.
        left = [self.faces[i] for i in plan.not_faces.tolist()]
        return self.score(np.r_[labels, np.full(len(left), -1)], faces + left)


@dataclass
class Operation:
    """One of the oracle's operations: join the faces ``first`` and ``second`` (two groups), or
    take ``second`` (one person's faces) out of ``first`` (their group); and its pair F1 gain."""

    kind: str
    first: np.ndarray
    second: np.ndarray
    gain: float


def oracle(labelled: LabelledSet, steps: int, operations: list | None = None) -> list[tuple[float, float]]:
    """Scores after each of the ``steps`` best operations (greedy on pair F1) that someone who
    knows every label could make: join two groups, or take one person's faces out of a group.
    Each operation is added to ``operations``, if given."""
    labels = labelled.labels.copy()
    noise = np.flatnonzero(labels == -1)
    labels[noise] = labels.max() + 1 + np.arange(len(noise))
    scored = sorted(labelled.identity)
    people = {index: labelled.identity[index] for index in scored}
    totals = Counter(people.values())
    true_pairs = sum(n * (n - 1) / 2 for n in totals.values())
    results = []
    for _ in range(steps):
        cells: dict[int, Counter] = {}
        for index in scored:
            cells.setdefault(int(labels[index]), Counter())[people[index]] += 1
        sizes = {group: sum(cell.values()) for group, cell in cells.items()}
        together = sum(n * (n - 1) / 2 for cell in cells.values() for n in cell.values())
        predicted = sum(n * (n - 1) / 2 for n in sizes.values())
        by_person: dict[str, list[int]] = {}
        for group, cell in cells.items():
            for person in cell:
                by_person.setdefault(person, []).append(group)
        best, best_f1 = None, 2 * together / (predicted + true_pairs)
        for groups in by_person.values():
            for i, first in enumerate(groups):
                for second in groups[i + 1 :]:
                    gain = sum(n * cells[second].get(p, 0) for p, n in cells[first].items())
                    f1 = 2 * (together + gain) / (predicted + sizes[first] * sizes[second] + true_pairs)
                    if f1 > best_f1:
                        best, best_f1 = ("join", first, second), f1
        for group, cell in cells.items():
            for person, n in cell.items():
                if n < sizes[group]:
                    f1 = 2 * together / (predicted - n * (sizes[group] - n) + true_pairs)
                    if f1 > best_f1:
                        best, best_f1 = ("out", group, person), f1
        if best is None:
            results.append(results[-1] if results else labelled.score(labelled.labels))
            continue
        gain = best_f1 - 2 * together / (predicted + true_pairs)
        if best[0] == "join":
            joined = (np.flatnonzero(labels == best[1]), np.flatnonzero(labels == best[2]))
            labels[labels == best[2]] = best[1]
            if operations is not None:
                operations.append(Operation("join", *joined, gain))
        else:
            new = labels.max() + 1
            group = np.flatnonzero(labels == best[1])
            for index in scored:
                if labels[index] == best[1] and people[index] == best[2]:
                    labels[index] = new
            if operations is not None:
                operations.append(Operation("take out", group, np.flatnonzero(labels == new), gain))
        results.append(labelled.score(labels))
    return results


def fit_models(labelled: LabelledSet) -> dict[str, tuple[float, float, float]]:
    """Per family ("near": merges and lone faces; "split"), the logistic chance that an answer
    changes the groups, over closeness and neighbour share, that best fits (maximum likelihood)
    the labelled answers to every question ``labelled`` raises."""
    from sklearn.linear_model import LogisticRegression

    cut = labelled.clusterer.threshold_
    questions = ask(labelled.encodings, labelled.labels, cut, limit=10**9)
    fitted = {}
    for family in sorted(set(FAMILY.values())):
        features, changes = [], []
        for question in questions:
            answer = labelled.changes(question)
            if FAMILY[question.kind] == family and answer is not None:
                features.append([float(closeness(question.distance, cut, question.ratio)), question.share])
                changes.append(answer)
        model = LogisticRegression(C=np.inf, max_iter=10_000).fit(np.array(features), np.array(changes))
        fitted[family] = (
            round(float(model.intercept_[0]), 2),
            round(float(model.coef_[0, 0]), 2),
            round(float(model.coef_[0, 1]), 2),
        )
        print(
            f"  {family}: {len(changes)} questions, {int(np.sum(changes))} change the groups; "
            f"fitted intercept, per closeness, per share {fitted[family]}",
            flush=True,
        )
    return fitted


def answering(operation: Operation, questions, labels: np.ndarray) -> bool:
    """Whether one of ``questions`` (asked of the clustering ``labels``) does what ``operation``
    does when answered: a merge or lone question whose sides lie in the two groups joined, or a
    split whose one part is mostly the faces taken out and the other mostly not."""
    unit = {i: (int(labels[i]), -1) if labels[i] >= 0 else (-1, i) for i in range(len(labels))}
    first = {unit[i] for i in operation.first.tolist()}
    second = {unit[i] for i in operation.second.tolist()}
    taken = set(operation.second.tolist())
    for question in questions:
        a, b = {unit[i] for i in question.a}, {unit[i] for i in question.b}
        if operation.kind == "join" and question.kind != "split":
            if (a <= first and b <= second) or (a <= second and b <= first):
                return True
        elif operation.kind == "take out" and question.kind == "split" and a | b <= first:
            in_a = sum(i in taken for i in question.a) / len(question.a)
            in_b = sum(i in taken for i in question.b) / len(question.b)
            if (in_a > 0.5) != (in_b > 0.5):
                return True
    return False


def coverage_row(name: str, labelled: LabelledSet, operations: list[Operation]) -> str:
    """The oracle's 50 best operations' gain, by kind, split by whether one of the first 50
    questions asked answers it, one of every question the clustering could ask, or none."""
    cut = labelled.clusterer.threshold_
    asked = ask(labelled.encodings, labelled.labels, cut)[:50]
    every = ask(labelled.encodings, labelled.labels, cut, limit=10**9)
    total = sum(operation.gain for operation in operations) or 1.0
    shares = Counter()
    for operation in operations:
        # Judged against the clustering the questions were asked of, as the answers are.
        if answering(operation, asked, labelled.labels):
            where = "asked"
        elif answering(operation, every, labelled.labels):
            where = "askable"
        else:
            where = "none"
        shares[operation.kind, where] += operation.gain / total
    cells = [
        f"{shares[kind, where]:.0%}"
        for kind in ("join", "take out")
        for where in ("asked", "askable", "none")
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def table_row(name: str, labelled: LabelledSet) -> str:
    started = time.perf_counter()
    questions = ask(labelled.encodings, labelled.labels, labelled.clusterer.threshold_)
    before = labelled.score(labelled.labels)
    after = {n: labelled.answered(questions, n) for n in ANSWERS}
    every = ask(labelled.encodings, labelled.labels, labelled.clusterer.threshold_, limit=10**9)
    perfect = labelled.answered(sorted(every, key=lambda q: (not labelled.changes(q), -q.pairs)), 50)
    labelled.oracle_operations = []
    best = oracle(labelled, 100, labelled.oracle_operations)
    oracle_50, oracle_100 = best[49], best[99]
    gain = oracle_50[0] - before[0]
    share = f"{(after[50][0] - before[0]) / gain:.0%}" if gain > 1e-9 else "- (nothing to gain)"
    cells = [
        f"{pair:.3f} / {bcubed:.3f}"
        for pair, bcubed in (before, *after.values(), perfect, oracle_50, oracle_100)
    ]
    line = f"| {name} | {len(labelled.faces):,} | {len(questions)} | " + " | ".join(cells) + f" | {share} |"
    print(line, f"({time.perf_counter() - started:.0f} s)", flush=True)
    return line


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    settings = EncodeSettings()
    large_root = args.datasets / "lfw_large"
    half_a, half_b = split_by_person(encoded(large_root, settings), large_root)
    sets = {"lfw_large A (fitted on)": LabelledSet("lfw_large A", half_a, large_root)}
    print("fitting the chance models on lfw_large A", flush=True)
    fitted = fit_models(sets["lfw_large A (fitted on)"])
    CHANCE_MODELS.update(fitted)
    sets["lfw_large B (held out)"] = LabelledSet("lfw_large B", half_b, large_root)
    for name in SMALL_SETS:
        sets[f"{name} (held out)"] = LabelledSet(
            name, encoded(args.datasets / name, settings), args.datasets / name
        )
    lines = [
        "Pair F1 / BCubed F1 of the default clustering, then after a simulated person answered the first N "
        "questions, after the first 50 had every question the clustering could ask been ranked perfectly "
        "(each whose answer changes the groups first, most pairs first), and after the oracle's best N operations. Chance models "
        "fitted on lfw_large A, as intercept, per closeness (distance / cut x ratio squared), per neighbour "
        "share: "
        + ", ".join(f"{family} {i:.2f}, {c:.2f}, {s:.2f}" for family, (i, c, s) in fitted.items())
        + "; the last row swaps the halves (fitted on B).",
        "",
        "| set | faces | questions | before | "
        + " | ".join(f"{n} answers" for n in ANSWERS)
        + " | 50, ranked perfectly | oracle, 50 | oracle, 100 | 50 answers: share of the oracle's 50 gain "
        "(pair F1) |",
        "|---" * (8 + len(ANSWERS)) + "|",
    ]
    for name, labelled in sets.items():
        lines.append(table_row(name, labelled))
    print("fitting the chance models on lfw_large B, to score A held out", flush=True)
    CHANCE_MODELS.update(fit_models(sets["lfw_large B (held out)"]))
    lines.append(table_row("lfw_large A (held out, fitted on B)", sets["lfw_large A (fitted on)"]))
    CHANCE_MODELS.update(fitted)
    lines += [
        "",
        "The oracle's 50 best operations' pair F1 gain, by kind: answered by one of the first 50 questions "
        "asked, by one of every question the clustering could ask, or by none.",
        "",
        "| set | joins: asked | joins: askable | joins: by no question | take-outs: asked | take-outs: askable "
        "| take-outs: by no question |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("lfw_large A (fitted on)", "lfw_large B (held out)", "lfw_dev (held out)"):
        labelled = sets[name]
        lines.append(coverage_row(name, labelled, labelled.oracle_operations[:50]))
        print(lines[-1], flush=True)
    lines += ["", "| faces (synthetic, grouped by their person) | groups | seconds to ask |", "|---|---|---|"]
    for count in COST_FACES:
        encodings, identities = synthetic_embeddings(count, 0)
        # Each person a group, but people seen once left unknown, as the clustering leaves them.
        sizes = np.bincount(identities)
        labels = np.where(sizes[identities] > 1, identities, -1)
        started = time.perf_counter()
        ask(encodings, labels, 0.55)
        seconds = time.perf_counter() - started
        lines.append(f"| {count:,} | {len(np.unique(labels[labels >= 0])):,} | {seconds:.1f} |")
        print(lines[-1], flush=True)
    publish("\n".join(lines) + "\n", "questions", "questions", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
