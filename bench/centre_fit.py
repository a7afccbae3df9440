"""The centre checks' two shares, chosen on one half of lfw_large and scored on everything else.

The checks (faceclust/clustering/centre_checks.py) keep apart two groups of at least
``APART_MIN_FACES`` faces whose centres lie more than ``APART_SHARE`` x the cut apart, and let a
lone face join a group whose centre lies within ``JOIN_SHARE`` x the cut. Here both shares are
chosen on a grid to maximise the mean of pairwise and BCubed F1 on half A of lfw_large alone
(the people split by a hash of the name, as in cut_fit.py), then on half B alone, and each
choice is scored on every set; the default's shares beside, and no checks at all. The cut is
the default rule's (adaptive_cut.py), not refitted.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
from cut_fit import ScoredSet, split_by_person

from faceclust.clustering import adaptive_cut, centre_checks
from faceclust.clustering.agglomerative import checked_cut, cut_tree, distinct_faces

APART_SHARES = np.round(np.arange(0.60, 0.8401, 0.04), 2)
JOIN_SHARES = np.round(np.arange(0.80, 0.9601, 0.02), 2)


@contextmanager
def shares(apart: float, join: float):
    saved = centre_checks.APART_SHARE, centre_checks.JOIN_SHARE
    centre_checks.APART_SHARE, centre_checks.JOIN_SHARE = apart, join
    try:
        yield
    finally:
        centre_checks.APART_SHARE, centre_checks.JOIN_SHARE = saved


class CheckedSet:
    """One labelled set (cut_fit.py's ScoredSet: its exact tree and neighbour graph), scored at
    any pair of shares."""

    def __init__(self, name: str, faces: list, root: Path):
        self.name = name
        self.scored = ScoredSet.build(name, faces, root)
        self._scores: dict = {}

    def scores(self, apart: float | None, join: float | None) -> tuple[float, float]:
        """(pairwise F1, BCubed F1) of the default clustering with these shares (None: no
        centre checks), at the default rule's cut."""
        key = (apart, join)
        if key not in self._scores:
            tree, encodings = self.scored.tree, self.scored.encodings
            if apart is None:
                labels = cut_tree(tree, adaptive_cut(distinct_faces(tree)))
            else:
                with shares(apart, join):
                    cut = adaptive_cut(distinct_faces(tree, encodings))
                    labels = checked_cut(tree, encodings, cut, self.scored.graph, self.scored.photos)
            self._scores[key] = self.scored.score_labels(labels)
        return self._scores[key]


def best_shares(checked: CheckedSet) -> tuple[float, float]:
    """The grid's (apart, join) with the best mean of pairwise and BCubed F1 on ``checked``;
    ties go to the first in the grid."""
    grid = [(float(a), float(j)) for a in APART_SHARES for j in JOIN_SHARES]
    return max(grid, key=lambda pair: round(float(np.mean(checked.scores(*pair))), 6))


def centre_table(small_sets: dict[str, list], lfw_large: list, datasets: Path) -> str:
    """Markdown: every set scored with no checks, with the shares chosen on each half of
    lfw_large, and with the default's shares."""
    root = datasets / "lfw_large"
    half_a, half_b = split_by_person(lfw_large, root)
    sets = [CheckedSet(name, faces, datasets / name) for name, faces in small_sets.items()]
    sets += [
        CheckedSet("lfw_large A", half_a, root),
        CheckedSet("lfw_large B", half_b, root),
        CheckedSet("lfw_large (whole)", lfw_large, root),
    ]
    on_a, on_b = best_shares(sets[-3]), best_shares(sets[-2])
    default = (centre_checks.APART_SHARE, centre_checks.JOIN_SHARE)
    # (title, shares, the set the shares were chosen on)
    columns = [
        ("no centre checks", (None, None), None),
        (f"shares chosen on lfw_large A: {on_a[0]:g}, {on_a[1]:g}", on_a, "lfw_large A"),
        (f"shares chosen on lfw_large B: {on_b[0]:g}, {on_b[1]:g}", on_b, "lfw_large B"),
        (f"the default: {default[0]:g}, {default[1]:g}", default, None),
    ]
    lines = [
        "Pairwise F1 / BCubed F1 of the default clustering, exact, at the default rule's cut; shares "
        f"are (kept apart beyond, lone faces join within) x the cut, groups of {centre_checks.APART_MIN_FACES} "
        "faces or more kept apart. In bold: the sets each choice was made on.",
        "",
        "| set | " + " | ".join(title for title, _, _ in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for checked in sets:
        cells = []
        for _, shares_here, chosen_on in columns:
            pair_f1, bcubed_f1 = checked.scores(*shares_here)
            cell = f"{pair_f1:.3f} / {bcubed_f1:.3f}"
            cells.append(f"**{cell}**" if checked.name == chosen_on else cell)
        lines.append(f"| {checked.name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"
