"""A trial for issue #36, not kept: can a weighting of dlib's 128 dimensions, learned from
labelled pairs, tell the same person from another better than the plain distance does?

    .venv/bin/python bench/metric_trial.py [--datasets ../shared/datasets]

The questions' chance models (clustering/questions.py) read how far apart two sets of faces lie;
a distance that told people apart better would rank the questions better. Here a logistic
regression over the 128 squared differences of a pair (a learned diagonal metric) is fitted on
lfw_large's half A (every same-person pair, and each face's ten nearest faces of other people),
and the same pairs of half B are told apart by it and by the plain distance (ROC AUC); then the
halves swap. Takes about a minute after bench/quality.py has encoded lfw_large.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from cut_fit import split_by_person  # noqa: E402
from harness import bench_parser  # noqa: E402
from quality import encoded  # noqa: E402

from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.evaluation import scored_faces  # noqa: E402

# Each face's nearest faces of other people, as the negative pairs: the pairs a question is about
# lie near each other; far-apart strangers would make any metric look good.
OTHER_PEOPLE = 10


def labelled_pairs(faces: list, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The squared per-dimension differences of every same-person pair and of each face's
    nearest other-person pairs, and whether each pair is one person."""
    identity = scored_faces(faces, root)
    indices = sorted(identity)
    rows = np.stack([faces[i].encoding for i in indices]).astype(np.float64)
    people = np.array([identity[i] for i in indices])
    distances = np.sum((rows[:, None, :] - rows[None, :, :]) ** 2, axis=2)
    np.fill_diagonal(distances, np.inf)
    firsts, seconds, same = [], [], []
    for i in range(len(indices)):
        mates = np.flatnonzero(people == people[i])
        mates = mates[mates > i]
        others = [j for j in np.argsort(distances[i]) if people[j] != people[i]][:OTHER_PEOPLE]
        firsts += [i] * (len(mates) + len(others))
        seconds += [*mates.tolist(), *others]
        same += [True] * len(mates) + [False] * len(others)
    first, second = np.array(firsts), np.array(seconds)
    return (rows[first] - rows[second]) ** 2, np.array(same)


def main() -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    parser = bench_parser(__doc__, publishes=False)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    root = args.datasets / "lfw_large"
    halves = dict(zip("AB", split_by_person(encoded(root, EncodeSettings()), root), strict=True))
    pairs = {name: labelled_pairs(faces, root) for name, faces in halves.items()}
    print(
        "| fitted on | scored on | same-person pairs | other-person pairs | AUC, plain distance | AUC, learned weights |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for fitted_on, scored_on in (("A", "B"), ("B", "A")):
        model = LogisticRegression(C=1.0, max_iter=5000).fit(*pairs[fitted_on])
        differences, same = pairs[scored_on]
        plain = roc_auc_score(same, -differences.sum(axis=1))
        learned = roc_auc_score(same, model.decision_function(differences))
        print(
            f"| {fitted_on} | {scored_on} | {int(same.sum()):,} | {int((~same).sum()):,} "
            f"| {plain:.4f} | {learned:.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
