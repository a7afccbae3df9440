"""output/people/: a folder per person holding links to (or copies of) their photos.

Originals are never moved or changed. A photo with two people is in both folders; a photo
whose faces were all left unknown goes to ``people/unknown``. Two photos of one name from
different folders both keep their name, the later one (by path) with a short tag of its path.
The folder is rebuilt on every run, and only if an earlier run made it (it holds a marker).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from ..clustering import NOISE
from ..errors import OutputError
from .run import ClusteringRun

PEOPLE_DIR = "people"
MARKER = ".made-by-cluster_faces"
ORGANIZE_MODES = ("link", "copy")


def folder_name(label: int, names: dict[int, str]) -> str:
    """The folder of a cluster: its name made safe for a file system, or face_id_<N>."""
    if label == NOISE:
        return "unknown"
    name = names.get(label)
    if name:
        safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", name).strip(" .")
        if safe and safe.lower() != "unknown":
            return safe
    return f"face_id_{label}"


def organize_people(run: ClusteringRun, folder: Path, mode: str = "link") -> Path:
    """Fill ``folder/people`` with a folder per person of ``run`` and return it."""
    faces, labels, names, locate = run.faces, run.labels, run.names, run.photos
    if mode not in ORGANIZE_MODES:
        raise ValueError(f"mode must be one of {ORGANIZE_MODES}, not {mode!r}")
    people = folder / PEOPLE_DIR
    _clear(people)

    folders_of: dict[str, set[str]] = {}
    for face, label in zip(faces, labels.tolist(), strict=True):
        folders = folders_of.setdefault(face.image_path, set())
        if label != NOISE:
            folders.add(folder_name(label, names))
    taken: dict[str, set[str]] = {}
    try:
        for image_path in sorted(folders_of):
            source = os.path.abspath(locate(image_path))
            if not os.path.exists(source):
                continue
            for folder in sorted(folders_of[image_path] or {"unknown"}):
                target_dir = people / folder
                target_dir.mkdir(parents=True, exist_ok=True)
                target = target_dir / _free_name(image_path, taken.setdefault(folder, set()))
                if mode == "link":
                    os.symlink(source, target)
                else:
                    shutil.copy2(source, target)
    except OSError as error:
        raise OutputError(f"cannot fill {people}: {error.strerror or error}") from None
    return people


def _free_name(image_path: str, taken: set[str]) -> str:
    name = os.path.basename(image_path)
    if name in taken:
        stem, suffix = os.path.splitext(name)
        tag = hashlib.sha1(image_path.encode("utf-8")).hexdigest()[:8]
        name = f"{stem}-{tag}{suffix}"
    taken.add(name)
    return name


def _clear(people: Path) -> None:
    if people.exists() or people.is_symlink():
        if not (people / MARKER).exists():
            raise OutputError(f"{people} exists and was not made by cluster_faces.py; move it away first")
        try:
            shutil.rmtree(people)
        except OSError as error:
            raise OutputError(f"cannot clear {people}: {error.strerror or error}") from None
    try:
        people.mkdir(parents=True)
        (people / MARKER).write_text("Made by cluster_faces.py --organize; rebuilt on every run.\n")
    except OSError as error:
        raise OutputError(f"cannot create {people}: {error.strerror or error}") from None
