"""Clustering quality on the labelled dev sets: every method at its default, and the tutorial.

    .venv/bin/python bench/quality.py [--datasets ../shared/datasets] [--encodings flip plain jitters2]

Encodes each dev set once per ``--encodings`` variant (default framed, encode_faces.py's
defaults, and flip, ``--framings 1``; plain: ``--no-flip --framings 1``; jitters2: that with
``--jitters 2``)
(cached under bench/results/encodings/, keyed by the dataset's file list and settings), clusters
it with every method at its default parameters and with the tutorial's settings (DBSCAN, eps
0.5, min_samples 5, no cannot-link), scores each against the person folders, and writes the
table to bench/results/quality.md and into docs/quality.md between the quality markers. Then, with the
default encoding, it scores the same clusterings on 30 random subsets of each small dev set's
people (bench/results/quality_subsets.md, its subset markers), and fits the adaptive cut's
two numbers with each set left out in turn (bench/cut_fit.py; bench/results/quality_heldout.md,
its heldout markers), chooses the centre checks' two shares on each half of lfw_large and
scores them on every set (bench/centre_fit.py; bench/results/quality_centre.md, its centre
markers), and clusters the four sets pooled into one library, scoring each
set's people within it (bench/results/quality_pooled.md, its pooled markers).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from centre_fit import centre_table  # noqa: E402
from cut_fit import held_out_table  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402

from faceclust.clustering import DEFAULT_THRESHOLDS, METHODS, FaceClusterer, agglomerative  # noqa: E402
from faceclust.encode.local import default_jobs  # noqa: E402
from faceclust.encode.run import encode_dataset  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.evaluation import bcubed_per_face, identity_of, score, score_against_folders, scored_faces  # noqa: E402
from faceclust.library.store import load_faces, save_faces  # noqa: E402
from faceclust.photos.images import find_images  # noqa: E402

VARIANTS = {
    "framed": EncodeSettings(),
    # One framing, mirrored: the default before three framings (and the encoding the synthetic
    # faces' model was measured on).
    "flip": EncodeSettings(framings=1),
    "plain": EncodeSettings(flip=False, framings=1),
    "jitters2": EncodeSettings(jitters=2, flip=False, framings=1),
}
DEV_SETS = ("five_celebrities", "face_recognition_examples", "lfw_dev", "lfw_large")
# The random-subset table leaves lfw_large out: 30 subsets of up to 5,600 faces for every
# clustering would take most of an hour, and its own subsets are in the held-out table.
SUBSET_SETS = DEV_SETS[:3]
# Published for all of LFW (13,233 photos, 5,749 people) by Otto, Wang and Jain, "Clustering
# Millions of Faces by Identity" (2018): Approximate Rank-Order clustering, pairwise F1.
ARO_ALL_OF_LFW_PAIR_F1 = 0.87
SUBSETS = 30
DEFAULT_LABEL = "**agglomerative, cut adapted (default)**"
LOCAL_SCALE_LABEL = "agglomerative, cut adapted, --local-scale"


def encoded(dataset: Path, settings: EncodeSettings) -> list:
    """The dataset's faces under ``settings``, encoded once and cached."""
    paths = find_images(dataset)
    # Named by the photos and the settings' cache key, which names the way faces are found and
    # changes when the code does (as the encoder's index is).
    key = hashlib.sha256(
        repr((sorted(os.path.relpath(p, dataset) for p in paths), settings.cache_key())).encode()
    ).hexdigest()[:12]
    cache = RESULTS / "encodings" / f"{dataset.name}-{key}.pickle"
    if cache.exists():
        return load_faces(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    faces, summary = encode_dataset(paths, settings, default_jobs())
    print(
        f"  encoded {dataset.name} ({settings.cache_key()}): {summary.faces} faces in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    save_faces(cache, faces)
    return faces


class OnTheGraph(FaceClusterer):
    """The default clustering run on the nearest-neighbour graph, as it runs beyond
    ``EXACT_AGGLOMERATIVE_FACES`` faces, so that the two can be compared on the dev sets."""

    def fit(self, encodings, photos=None, links=None):
        limit = agglomerative.EXACT_AGGLOMERATIVE_FACES
        agglomerative.EXACT_AGGLOMERATIVE_FACES = 0
        try:
            return super().fit(np.asarray(encodings, dtype=np.float32), photos, links)
        finally:
            agglomerative.EXACT_AGGLOMERATIVE_FACES = limit


def configurations() -> list[tuple[str, FaceClusterer]]:
    configs = [
        ("tutorial: dbscan eps 0.5, min_samples 5", FaceClusterer("dbscan", 0.5, 5, 1, cannot_link=False))
    ]
    for method in METHODS:
        threshold = DEFAULT_THRESHOLDS.get(method)
        if method == "agglomerative":
            label = DEFAULT_LABEL
        elif threshold is not None:
            label = f"{method} {threshold}"
        else:
            label = f"{method} (min_samples 5)"
        configs.append((label, FaceClusterer(method)))
    configs += [
        (
            "agglomerative, cut adapted, no centre checks (the default before)",
            FaceClusterer(centre_checks=False),
        ),
        (
            "agglomerative 0.6, no centre checks (the default before that)",
            FaceClusterer(threshold=0.6, centre_checks=False),
        ),
        ("agglomerative 0.5, no centre checks", FaceClusterer(threshold=0.5, centre_checks=False)),
        ("agglomerative, cut adapted, no cannot-link", FaceClusterer(cannot_link=False)),
        ("agglomerative, cut adapted, on the neighbour graph (as beyond 10,000 faces)", OnTheGraph()),
        (LOCAL_SCALE_LABEL, FaceClusterer(local_scale=True)),
        ("agglomerative, cut adapted, --local-scale, on the neighbour graph", OnTheGraph(local_scale=True)),
    ]
    return configs


def same_photo_conflicts(faces: list, labels: np.ndarray) -> int:
    """Clusters holding two faces of one photo: what the cannot-link rule forbids."""
    seen: dict[int, set[str]] = {}
    conflicts = set()
    for face, label in zip(faces, labels.tolist(), strict=True):
        if label == -1:
            continue
        if face.image_path in seen.setdefault(label, set()):
            conflicts.add(label)
        seen[label].add(face.image_path)
    return len(conflicts)


def random_subsets(faces: list, dataset: Path, count: int, seed: int = 0) -> list[list]:
    """``count`` seeded random subsets of the dataset's people, each of 1 to all of them
    (uniformly), as the faces whose photo lies in one of the chosen people's folders."""
    people_of = [identity_of(face.image_path, dataset) for face in faces]
    people = sorted({person for person in people_of if person is not None})
    rng = np.random.default_rng(seed)
    subsets = []
    for _ in range(count):
        chosen = set(rng.choice(people, size=rng.integers(1, len(people) + 1), replace=False).tolist())
        subsets.append([face for face, person in zip(faces, people_of, strict=True) if person in chosen])
    return subsets


def subset_table(datasets: Path, variant: str) -> str:
    """Mean and worst BCubed F1 of each clustering over random subsets of each small dev set's people:
    how a choice holds up on collections unlike the whole dev set (one person, a few, many)."""
    lines = [
        f"BCubed F1 over {SUBSETS} random subsets of each dev set's people (1 to all, seeded), "
        f"`{variant}` encoding: mean (worst).",
        "",
        "| clustering | " + " | ".join(SUBSET_SETS) + " |",
        "| --- | " + " | ".join("---" for _ in SUBSET_SETS) + " |",
    ]
    subsets = {
        name: random_subsets(encoded(datasets / name, VARIANTS[variant]), datasets / name, SUBSETS)
        for name in SUBSET_SETS
    }
    for label, clusterer in configurations():
        cells = []
        for name in SUBSET_SETS:
            f1 = []
            for faces in subsets[name]:
                labels = clusterer.fit_predict(
                    np.stack([f.encoding for f in faces]), [f.image_path for f in faces]
                )
                f1.append(score_against_folders(faces, labels, datasets / name).bcubed_f1)
            cells.append(f"{np.mean(f1):.3f} ({min(f1):.3f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        print(lines[-1])
    return "\n".join(lines) + "\n"


def pooled_table(faces_by_set: dict[str, list], datasets: Path) -> str:
    """Every dev set as one library: a few people in many varied photos (five_celebrities)
    among thousands of strangers mostly seen once (lfw_large), as a user's photos are, rather
    than each set alone. Each set's people are scored within the clustering of the whole pool
    (BCubed, each face's precision over its whole cluster), so that a person split among the
    strangers, or joined to one, counts against that person's set."""
    faces, truth, source = [], [], []
    for name, set_faces in faces_by_set.items():
        scored = scored_faces(set_faces, datasets / name)
        for index, face in enumerate(set_faces):
            faces.append(face)
            # People are told apart by set too: no name is in two of them.
            truth.append(f"{name}/{scored[index]}" if index in scored else None)
            source.append(name)
    labelled = np.array([i for i, person in enumerate(truth) if person is not None])
    people = [truth[i] for i in labelled]
    encodings = np.stack([face.encoding for face in faces])
    photos = [face.image_path for face in faces]
    lines = [
        "| clustering | cut (distinct faces) | whole pool B3 F1 / pair F1 | "
        + " | ".join(f"{name}: its people B3 F1 (alone)" for name in faces_by_set)
        + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in faces_by_set) + " |",
    ]
    for label, clusterer in configurations():
        labels = clusterer.fit_predict(encodings, photos)
        cut = getattr(clusterer, "threshold_", None)
        distinct = getattr(clusterer, "distinct_faces_", None)
        chosen = f"{cut:.3f}" + (f" ({distinct:,})" if distinct else "") if cut is not None else ""
        whole = score(people, labels[labelled])
        precision, recall = bcubed_per_face(people, labels[labelled])
        cells = []
        for name in faces_by_set:
            mine = np.array([source[i] == name for i in labelled])
            alone = clusterer.fit_predict(
                np.stack([face.encoding for face in faces_by_set[name]]),
                [face.image_path for face in faces_by_set[name]],
            )
            alone_f1 = score_against_folders(faces_by_set[name], alone, datasets / name).bcubed_f1
            p, r = precision[mine].mean(), recall[mine].mean()
            cells.append(f"{2 * p * r / (p + r):.3f} ({alone_f1:.3f})")
        lines.append(
            f"| {label} | {chosen} | {whole.bcubed_f1:.3f} / {whole.pairwise_f1:.3f} | "
            + " | ".join(cells)
            + " |"
        )
        print(lines[-1])
    sizes = ", ".join(f"{name} {len(set_faces):,}" for name, set_faces in faces_by_set.items())
    caption = (
        f"All four dev sets as one library ({len(faces):,} faces: {sizes}), clustered together; each "
        "set's people scored within it, and in brackets the same clustering on that set alone."
    )
    return caption + "\n\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--encodings", nargs="+", choices=list(VARIANTS), default=["framed", "flip"])
    args = parser.parse_args(argv)

    lines = [
        "| clustering | encoding | "
        + " | ".join(f"{name} B3 F1 / pair F1" for name in DEV_SETS)
        + " | clusters with 2 faces of one photo |",
        "| --- | --- | " + " | ".join("---" for _ in DEV_SETS) + " | --- |",
    ]
    # (what, variant, set) -> adjusted Rand index of the graph's clusters to the exact tree's, for
    # the default and for --local-scale.
    agreement = {}
    for variant in args.encodings:
        faces_by_set = {name: encoded(args.datasets / name, VARIANTS[variant]) for name in DEV_SETS}
        exact_labels = {}
        for label, clusterer in configurations():
            cells, conflicts = [], 0
            for name, faces in faces_by_set.items():
                encodings = np.stack([face.encoding for face in faces])
                labels = clusterer.fit_predict(encodings, [face.image_path for face in faces])
                what = "--local-scale" if clusterer.local_scale else "the default"
                if label in (DEFAULT_LABEL, LOCAL_SCALE_LABEL):
                    exact_labels[what, name] = labels
                elif isinstance(clusterer, OnTheGraph):
                    agreement[what, variant, name] = adjusted_rand_score(exact_labels[what, name], labels)
                scores = score_against_folders(faces, labels, args.datasets / name)
                cells.append(f"{scores.bcubed_f1:.3f} / {scores.pairwise_f1:.3f}")
                conflicts += same_photo_conflicts(faces, labels)
            lines.append(f"| {label} | {variant} | " + " | ".join(cells) + f" | {conflicts} |")
            print(lines[-1])

    lines += [
        "",
        "On the neighbour graph against on the exact tree, adjusted Rand index: "
        + "; ".join(
            f"{what}, {name} ({variant}) {value:.3f}" for (what, variant, name), value in agreement.items()
        )
        + ".",
        "",
        f"For comparison, the published figure for all of LFW (13,233 photos, 5,749 people; lfw_large is "
        f"its largest part here) is pairwise F1 {ARO_ALL_OF_LFW_PAIR_F1} (Approximate Rank-Order clustering; "
        "Otto, Wang and Jain, 2018).",
    ]
    table = "\n".join(lines) + "\n"
    publish(table, "quality", "quality", args)
    default_variant = next(name for name, settings in VARIANTS.items() if settings == EncodeSettings())
    faces = {name: encoded(args.datasets / name, VARIANTS[default_variant]) for name in DEV_SETS}
    publish(
        held_out_table({name: faces[name] for name in SUBSET_SETS}, faces["lfw_large"], args.datasets),
        "quality_heldout",
        "heldout",
        args,
    )
    publish(
        centre_table({name: faces[name] for name in SUBSET_SETS}, faces["lfw_large"], args.datasets),
        "quality_centre",
        "centre",
        args,
    )
    publish(subset_table(args.datasets, default_variant), "quality_subsets", "subset", args)
    publish(pooled_table(faces, args.datasets), "quality_pooled", "pooled", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
