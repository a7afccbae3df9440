"""clusters.csv and clusters.json: every face with its group, and the groups with their names."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..clustering import NOISE, cluster_means
from ..clustering.labels import MEANS_CHUNK
from ..clustering.questions import corrections_for
from ..records import Face
from ..runtime.fileio import atomic_write_bytes
from .montages import UNKNOWN_MONTAGE, montage_name
from .run import ClusteringRun

CSV_NAME = "clusters.csv"
JSON_NAME = "clusters.json"
EVALUATION_NAME = "evaluation.json"
# time: the second of a video's frame the face was seen in; empty for a photo.
CSV_HEADER = ("image_path", "top", "right", "bottom", "left", "cluster_id", "time")
# Why a correction took a face out of every group and montage.
LEFT_OUT_REASONS = ("not_a_face", "ignored")


def write_clusters_csv(faces: list[Face], labels: np.ndarray, path: Path) -> None:
    """One row per face: its image, box and cluster id (``-1`` for unknown)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for face, label in zip(faces, labels.tolist(), strict=True):
        writer.writerow((face.image_path, *face.box, label, "" if face.time is None else face.time))
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def cluster_document(run: ClusteringRun) -> dict:
    """The content of clusters.json: every cluster with its faces, representative and centre,
    the unknown faces, the faces corrections left out, and what the corrections did."""
    faces, labels, names, encodings = run.faces, run.labels, run.names, run.encodings
    left_out = run.left_out_by_reason()

    # One entry per face, made once and shared by its cluster's list and, for the face nearest
    # the centre, its "representative": a million faces made one dict each twice before.
    entries = [face.entry() for face in faces]
    if encodings is None:
        encodings = np.stack([face.encoding for face in faces]) if faces else np.empty((0, 128))
    ids, means = cluster_means(encodings, labels)
    # Each cluster's members from one sort, and every face's distance to its centre in chunks:
    # a norm and an argmin per cluster cost 4 s in a profile of 53,000 clusters.
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, ids, side="left")
    ends = np.searchsorted(sorted_labels, ids, side="right")
    clustered = order[np.count_nonzero(labels == NOISE) :]
    representatives = _nearest_the_centre(encodings, clustered, means, ends - starts)
    # Rounded as one array: Python's round() per value took 6 s for 45,000 clusters.
    rounded = np.round(means, 8).tolist()
    in_order = [entries[i] for i in order.tolist()]
    clusters = [
        {
            "id": label,
            "name": names.get(label),
            "size": end - start,
            "montage": montage_name(label),
            "representative": entries[representative],
            "centroid": centroid,
            "faces": in_order[start:end],
        }
        for label, start, end, representative, centroid in zip(
            ids.tolist(), starts.tolist(), ends.tolist(), representatives.tolist(), rounded, strict=True
        )
    ]
    unknown = np.flatnonzero(labels == NOISE)
    document = {
        "format": 1,
        "encodings": run.encodings_path,
        "settings": run.settings,
        "counts": {
            "faces": len(faces),
            "photos": len({face.image_path for face in faces}),
            "clusters": len(clusters),
            "unknown": len(unknown),
            "left_out": sum(len(left_out.get(why, [])) for why in LEFT_OUT_REASONS),
        },
        "clusters": clusters,
        "unknown": {
            "size": len(unknown),
            "montage": UNKNOWN_MONTAGE if len(unknown) else None,
            "faces": [entries[i] for i in unknown.tolist()],
        },
        "left_out": {why: [face.entry() for face in left_out.get(why, [])] for why in LEFT_OUT_REASONS},
    }
    if run.corrections_report is not None:
        document["corrections"] = run.corrections_report
    document["questions"] = questions_document(run)
    return document


def questions_document(run: ClusteringRun, face_entry: Callable[[int], dict] | None = None) -> list[dict]:
    """The run's questions as clusters.json and the gallery give them: the two sides' faces
    (``face_entry(index)``; by default the face's photo and box), what each answer does to the
    groups, in the corrections.json format, the kind and why it is asked."""
    faces = run.faces
    if face_entry is None:

        def face_entry(index: int) -> dict:
            return faces[index].entry()

    entries = []
    for question in run.questions:
        same, different = corrections_for(question, faces)
        entries.append(
            {
                "kind": question.kind,
                "why": question.why(run.cut or 0.0),
                "a": [face_entry(index) for index in question.a],
                "b": [face_entry(index) for index in question.b],
                "a_size": question.a_size,
                "b_size": question.b_size,
                "if_same": [correction.as_dict() for correction in same],
                "if_different": [correction.as_dict() for correction in different],
            }
        )
    return entries


def write_tables(run: ClusteringRun, folder: Path) -> list[Path]:
    """Write clusters.csv and clusters.json into ``folder``; their paths."""
    csv_path, json_path = folder / CSV_NAME, folder / JSON_NAME
    write_clusters_csv(run.faces, run.labels, csv_path)
    atomic_write_bytes(json_path, document_json(cluster_document(run)))
    return [csv_path, json_path]


def write_evaluation(folder: Path, dataset: str, settings: dict, scores: dict) -> Path:
    """Write evaluation.json: the clustering's ``scores`` against ``dataset``'s person folders."""
    path = folder / EVALUATION_NAME
    evaluation = {"dataset": dataset, "settings": settings, "scores": scores}
    atomic_write_bytes(path, (json.dumps(evaluation, indent=2) + "\n").encode("utf-8"))
    return path


def _nearest_the_centre(
    encodings: np.ndarray, members: np.ndarray, means: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """Per cluster, the face nearest its mean (the first of ties): ``members`` are the faces of
    every cluster one after another, ``sizes`` how many each has, ``means`` their centres."""
    slot = np.repeat(np.arange(len(sizes)), sizes)
    distances = np.empty(len(members))
    for start in range(0, len(members), MEANS_CHUNK):
        rows = np.asarray(encodings[members[start : start + MEANS_CHUNK]], dtype=np.float64)
        rows -= means[slot[start : start + MEANS_CHUNK]]
        distances[start : start + MEANS_CHUNK] = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    if not len(sizes):
        return np.empty(0, dtype=np.int64)
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    nearest = np.minimum.reduceat(distances, firsts)
    # The first face of each cluster at its minimum: positions sorted, one per slot.
    at_minimum = np.flatnonzero(distances == nearest[slot])
    _, first = np.unique(slot[at_minimum], return_index=True)
    return members[at_minimum[first]]


def json_bytes(value: object, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON of ``value``, by orjson: for a million faces, the standard library's
    encoder took 6.7 s where orjson takes 0.4 s. NaN becomes null, as JSON has no NaN."""
    import orjson

    option = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    return orjson.dumps(value, option=option)


def document_json(document: dict) -> bytes:
    """A JSON object's text with each element of its lists of objects on a line of its own:
    readable in an editor line by line."""
    parts = []
    for key, value in document.items():
        name = json_bytes(key)
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            body = b",\n  ".join(json_bytes(item) for item in value)
            parts.append(name + b": [\n  " + body + b"\n ]")
        else:
            parts.append(name + b": " + json_bytes(value))
    return b"{\n " + b",\n ".join(parts) + b"\n}\n"
