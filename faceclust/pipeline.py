"""The two jobs the scripts run, end to end: encode a folder, cluster an encodings file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .clustering import NOISE, cluster_dbscan
from .encoding import EncodeSettings, EncodeSummary, encode_dataset
from .errors import NoFacesError
from .fileio import ensure_folder
from .images import find_images
from .outputs import CSV_NAME, image_locator, write_clusters_csv, write_montages
from .records import ImageResult
from .store import load_faces, save_faces


def encode_folder(
    dataset: str | os.PathLike[str],
    encodings_path: str | os.PathLike[str],
    settings: EncodeSettings,
    jobs: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[ImageResult], None] | None = None,
) -> EncodeSummary:
    """Encode every image below ``dataset`` and write the faces to ``encodings_path``.

    The encodings file is replaced only when the run finds at least one face, so pointing the
    tool at the wrong folder never wipes a good file.
    """
    paths = find_images(dataset)
    if not paths:
        raise NoFacesError(f"no images found in {dataset}")
    if on_start is not None:
        on_start(len(paths))
    faces, summary = encode_dataset(paths, settings, jobs, on_result)
    if not faces:
        raise NoFacesError(
            f"no faces found in the {summary.images} images of {dataset}; {encodings_path} was not written"
        )
    save_faces(encodings_path, faces)
    return summary


@dataclass
class ClusterSummary:
    faces: int
    clusters: int
    unknown: int
    written: list[Path] = field(default_factory=list)
    unreadable_images: dict[str, str] = field(default_factory=dict)


def cluster_file(
    encodings_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    eps: float,
    min_samples: int,
    seed: int = 0,
    jobs: int | None = None,
) -> ClusterSummary:
    """Cluster the faces of an encodings file and write montages and clusters.csv."""
    faces = load_faces(encodings_path)
    if not faces:
        raise NoFacesError(f"{encodings_path} holds no faces")
    folder = ensure_folder(output_dir)
    encodings = np.stack([face.encoding for face in faces])
    labels = cluster_dbscan(encodings, eps=eps, min_samples=min_samples, jobs=jobs)
    report = write_montages(faces, labels, folder, seed, image_locator(encodings_path))
    csv_path = folder / CSV_NAME
    write_clusters_csv(faces, labels, csv_path)
    return ClusterSummary(
        faces=len(faces),
        clusters=len(set(labels.tolist()) - {NOISE}),
        unknown=int(np.count_nonzero(labels == NOISE)),
        written=[*report.written, csv_path],
        unreadable_images=report.unreadable_images,
    )
