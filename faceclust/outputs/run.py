"""One clustering run as the outputs read it: the record every writer takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..clustering.questions import Question
from ..records import Face
from .photo_finder import PhotoFinder


@dataclass
class ClusteringRun:
    """What a clustering run found, for the writers: each output (montages, tables, gallery,
    folders, ...) is written from this record alone, so adding an output is adding a writer.

    ``labels[i]`` is ``faces[i]``'s group, numbered from the largest, ``NOISE`` for unknown;
    ``encodings`` their ``(faces, 128)`` vectors (None: taken from the faces). ``left_out``:
    faces that corrections took out of every group, each with why ("not_a_face", "ignored").
    ``corrections``: the corrections read, as ``corrections.json`` writes them, and
    ``corrections_report`` what applying them did. ``photos`` finds each stored photo now.
    ``questions`` (clustering/questions.py) are in indices of ``faces``.
    """

    faces: list[Face]
    labels: np.ndarray
    encodings: np.ndarray | None = None
    names: dict[int, str] = field(default_factory=dict)
    # The encodings file clustered (its index beside it holds the faces' thumbnails), and the
    # clustering's settings, as clusters.json records them.
    encodings_path: str | None = None
    settings: dict = field(default_factory=dict)
    left_out: list[tuple[Face, str]] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)
    corrections_report: dict | None = None
    photos: PhotoFinder = field(default_factory=PhotoFinder)
    # "Same person?" questions about these groups, best first, and the cut they were asked at.
    questions: list[Question] = field(default_factory=list)
    cut: float | None = None

    def members(self) -> dict[int, list[int]]:
        """Each label's face indices, in the faces' order."""
        members: dict[int, list[int]] = {}
        for index, label in enumerate(self.labels.tolist()):
            members.setdefault(label, []).append(index)
        return members

    def left_out_by_reason(self) -> dict[str, list[Face]]:
        by_reason: dict[str, list[Face]] = {}
        for face, why in self.left_out:
            by_reason.setdefault(why, []).append(face)
        return by_reason
