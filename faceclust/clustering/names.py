"""Names for face IDs: given in a CSV, or inherited from a previous run's clusters.json.

Face IDs are renumbered whenever the photo set changes, so a name is tied to the faces of a
cluster rather than to its number: a new cluster takes the name of the previous run's named
cluster that holds most of its faces (more than half of them), or, failing that, of the one
whose centre lies nearest its own (within ``max_distance``; the centres of two different
people's clusters came no closer than 0.44 on the dev sets, one person's across runs far closer).
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from ..errors import FaceclustError
from ..records import Face
from . import NOISE, centroids


class NamesError(FaceclustError):
    """A names CSV or a previous clusters.json cannot be used."""


def read_names_csv(path: str | os.PathLike[str]) -> dict[int, str]:
    """``face_id,name`` rows (a header row is optional) as ``{face_id: name}``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except OSError as error:
        raise NamesError(f"cannot read names file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise NamesError(f"names file {path} is not UTF-8 text") from None
    names: dict[int, str] = {}
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        if number == 1 and row[0].strip().lower() in ("face_id", "id", "cluster_id"):
            continue
        if len(row) < 2 or not row[0].strip().lstrip("-").isdigit() or not row[1].strip():
            raise NamesError(f"{path}, line {number}: expected 'face_id,name', found {','.join(row)!r}")
        names[int(row[0])] = row[1].strip()
    return names


def inherit_names(
    faces: list[Face],
    labels: np.ndarray,
    previous_json: str | os.PathLike[str],
    max_distance: float = 0.4,
    encodings: np.ndarray | None = None,
) -> dict[int, str]:
    """Names for this run's clusters from the named clusters of a previous run's clusters.json."""
    previous = _named_clusters(previous_json)
    if not previous:
        return {}
    members: dict[int, set[tuple]] = {}
    for face, label in zip(faces, labels.tolist(), strict=True):
        if label != NOISE:
            members.setdefault(label, set()).add(face.key)

    names: dict[int, str] = {}
    taken: set[int] = set()
    # By shared faces first, best overlaps first, each old name given once.
    overlaps = sorted(
        (
            (len(faces_now & old["faces"]), label, index)
            for label, faces_now in members.items()
            for index, old in enumerate(previous)
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    for shared, label, index in overlaps:
        if shared * 2 <= len(members[label]) or label in names or index in taken:
            continue
        names[label] = previous[index]["name"]
        taken.add(index)
    # Then by centre distance, for clusters made mostly of new photos.
    centres = centroids(faces, labels, encodings)
    pairs = sorted(
        (float(np.linalg.norm(centres[label] - old["centroid"])), label, index)
        for label in members
        if label not in names
        for index, old in enumerate(previous)
        if index not in taken and old["centroid"] is not None
    )
    for distance, label, index in pairs:
        if distance > max_distance or label in names or index in taken:
            continue
        names[label] = previous[index]["name"]
        taken.add(index)
    return names


def _named_clusters(path: str | os.PathLike[str]) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as stream:
            document = json.load(stream)
    except OSError as error:
        raise NamesError(f"cannot read previous run {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise NamesError(f"{path} is not a clusters.json file ({error})") from None
    try:
        clusters = []
        for cluster in document["clusters"]:
            if not cluster.get("name"):
                continue
            centroid = cluster.get("centroid")
            clusters.append(
                {
                    "name": str(cluster["name"]),
                    "faces": {
                        (face["image_path"], tuple(face["box"]), face.get("time"))
                        for face in cluster["faces"]
                    },
                    "centroid": None if centroid is None else np.asarray(centroid, dtype=np.float64),
                }
            )
        return clusters
    except (KeyError, TypeError, ValueError) as error:
        raise NamesError(f"{path} is not a clusters.json file (missing or bad {error})") from None
