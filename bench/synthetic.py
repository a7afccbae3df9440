"""Synthetic dlib-like face embeddings with known identities, for scale tests and benchmarks.

    .venv/bin/python bench/synthetic.py --faces 100000 --out bench/results/synthetic-100k.npz
    .venv/bin/python bench/synthetic.py --calibrate [--datasets ../shared/datasets]

The model is face verification's two-covariance model (the generative model behind PLDA;
Ioffe 2006, Prince and Elder 2007): each person's centre is drawn around the mean face with
the covariance between people, and each face around its person's centre with the covariance
within a person, both measured on real embeddings (``encode_faces.py``'s defaults). So the
space has dlib's shape: the differences between people lie mostly in about 20 directions of
the 128, not evenly in all of them, and strangers come as close as they do in real sets. Two
log-normal factors add what one Gaussian lacks: a face's distance from its person (a blurred
or turned face sits far out) and a person's distance from the mean face (some people look like
many others, so strangers crowd around them).

The model lives in ``bench/embedding_model.npz``, written by ``--calibrate``: the two
covariances are measured on half A of lfw_large (its people split in two by a hash of the name,
as ``bench/cut_fit.py`` splits them), and the two spreads are chosen on a grid so that the same
people drawn again (as many, with as many faces each) match half A's distance statistics
(:func:`distance_summary`). Half B, whose people it never saw, is the check: its statistics
are kept in the file, and a test holds the generator to them.

An earlier generator drew every face and centre from isotropic Gaussians in all 128
directions, fitted to the 5th-95th distance percentiles only. Its strangers almost never came
within 0.5 of each other (2e-7 of stranger pairs, against 4e-4 in lfw_large), so at scale it
hid the wrong merges that decide the quality of a large set.

Sizes are skewed as in a photo library: people's face counts follow a power law (exponent 2,
so about 60% of people are seen once and a few are seen thousands of times), or with
``largest_share`` one person holds that share of all faces (the case that makes the tutorial's
DBSCAN use gigabytes).
"""

from __future__ import annotations

import argparse
import sys
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EMBEDDING_SIZE = 128
MODEL_FILE = Path(__file__).resolve().parent / "embedding_model.npz"
# Faces drawn per block: bounds the float32 noise held at once (50 MB).
BLOCK = 100_000
# The spreads' grid for --calibrate, and the replicas drawn per point (their mismatch averaged).
SPREAD_GRID = np.round(np.arange(0.0, 0.401, 0.05), 2)
CALIBRATION_SEEDS = 2


@dataclass(frozen=True)
class EmbeddingModel:
    """The two-covariance model, its covariances as factors ``L`` (``cov = L @ L.T``)."""

    mean: np.ndarray  # (128,) the mean face
    between: np.ndarray  # (128, 128) factor of the covariance of people's centres
    within: np.ndarray  # (128, 128) factor of the covariance of a person's faces
    person_spread: float  # sigma of the log-normal factor on each person's offset from the mean
    face_spread: float  # sigma of the log-normal factor on each face's offset from its person


@cache
def calibrated_model() -> EmbeddingModel:
    """The model ``--calibrate`` wrote to :data:`MODEL_FILE`."""
    with np.load(MODEL_FILE) as data:
        return EmbeddingModel(
            data["mean"],
            data["between"],
            data["within"],
            float(data["person_spread"]),
            float(data["face_spread"]),
        )


def held_out_check() -> tuple[np.ndarray, np.ndarray]:
    """``(sizes, summary)`` of lfw_large's half B, kept by ``--calibrate``: its people's face
    counts and the :func:`distance_summary` of their real faces."""
    with np.load(MODEL_FILE) as data:
        return data["held_out_sizes"], data["held_out_summary"]


def identity_sizes(
    faces: int, rng: np.random.Generator, exponent: float = 2.0, largest_share: float | None = None
) -> np.ndarray:
    """Face counts per person, summing to ``faces``: a power law capped at 5% of the faces, or
    one person with ``largest_share`` of them and the power law for the rest."""
    sizes: list[int] = []
    remaining = faces
    if largest_share is not None:
        sizes.append(round(faces * largest_share))
        remaining -= sizes[0]
    cap = max(1, faces // 20)
    while remaining > 0:
        batch = np.minimum(rng.zipf(exponent, size=max(16, remaining // 4)), cap)
        for size in batch.tolist():
            size = min(size, remaining)
            sizes.append(size)
            remaining -= size
            if remaining == 0:
                break
    return np.array(sizes, dtype=np.int64)


def synthetic_embeddings(
    faces: int,
    seed: int = 0,
    model: EmbeddingModel | None = None,
    largest_share: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(encodings, identities)``: an ``(faces, 128)`` float32 matrix in random order and each
    face's person (0 = the first person drawn, not necessarily the largest)."""
    rng = np.random.default_rng(seed)
    sizes = identity_sizes(faces, rng, largest_share=largest_share)
    identities = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    return draw_faces(model or calibrated_model(), sizes, identities, rng), identities


def draw_faces(
    model: EmbeddingModel, sizes: np.ndarray, identities: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Faces of people with ``sizes`` faces each, in the order of ``identities`` (float32)."""
    centres = _spread(rng, model.person_spread, len(sizes)) * (
        rng.standard_normal((len(sizes), EMBEDDING_SIZE)) @ model.between.T
    )
    centres = (centres + model.mean).astype(np.float32)
    face_scale = _spread(rng, model.face_spread, len(identities)).astype(np.float32)
    within = model.within.T.astype(np.float32)
    encodings = np.empty((len(identities), EMBEDDING_SIZE), dtype=np.float32)
    for start in range(0, len(identities), BLOCK):
        block = slice(start, start + BLOCK)
        noise = rng.standard_normal((len(encodings[block]), EMBEDDING_SIZE), dtype=np.float32)
        encodings[block] = face_scale[block] * (noise @ within) + centres[identities[block]]
    return encodings


def _spread(rng: np.random.Generator, sigma: float, count: int) -> np.ndarray:
    """``count`` log-normal factors scaled to a mean square of 1, so that the covariance the
    factor multiplies stays the one measured; a column, to broadcast over the 128 numbers."""
    factors = rng.lognormal(0.0, sigma, size=(count, 1))
    return factors / np.sqrt(np.mean(factors**2))


STRANGER_CUTS = (0.45, 0.5, 0.55, 0.6)
PERCENTILES = (5, 25, 50, 75, 95)


def distance_summary(encodings: np.ndarray, identities: np.ndarray) -> np.ndarray:
    """What decides clustering, as 14 numbers: the 5th-95th percentiles of same-person
    distances; log10 of the share of stranger pairs closer than each of :data:`STRANGER_CUTS`
    (the tail where wrong merges happen; 1e-9 added so that none is -inf); and the 5th-95th
    percentiles of each face's distance to its nearest stranger, which grows denser as a set
    holds more people. Every pair is compared: meant for a few thousand faces."""
    vectors = np.asarray(encodings, dtype=np.float64)
    squared = np.einsum("ij,ij->i", vectors, vectors)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * vectors @ vectors.T, 0))
    same = identities[:, None] == identities[None, :]
    upper = np.triu(np.ones_like(same), 1)
    same_pairs = distances[same & upper]
    stranger_pairs = distances[~same & upper]
    np.fill_diagonal(distances, np.inf)
    nearest_stranger = np.where(same, np.inf, distances).min(axis=1)
    shares = [np.mean(stranger_pairs < cut) + 1e-9 for cut in STRANGER_CUTS]
    return np.concatenate(
        [
            np.percentile(same_pairs, PERCENTILES),
            np.log10(shares),
            np.percentile(nearest_stranger, PERCENTILES),
        ]
    )


def _covariances(encodings: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean face and the covariances between and within people, by moments: the within
    covariance from the people seen more than once, the between covariance from the people's
    means less the part of it their own faces' noise makes (clipped to stay a covariance)."""
    names, person, counts = np.unique(people, return_inverse=True, return_counts=True)
    means = np.zeros((len(names), EMBEDDING_SIZE))
    np.add.at(means, person, encodings)
    means /= counts[:, None]
    residuals = (encodings - means[person])[counts[person] >= 2]
    within = residuals.T @ residuals / (counts[counts >= 2] - 1).sum()
    between = np.cov(means.T) - within * np.mean(1 / counts)
    values, vectors = np.linalg.eigh(between)
    between = (vectors * np.clip(values, 0, None)) @ vectors.T
    return means.mean(axis=0), between, within


def _factor(covariance: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(covariance)
    return vectors * np.sqrt(np.clip(values, 0, None))


def _labelled_halves(datasets: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """lfw_large's labelled faces (each photo's scored face) as ``(encodings, names)`` for
    half A and half B (a hash of the person's name, as bench/cut_fit.py splits them)."""
    sys.path.insert(0, str(REPO / "bench"))
    from quality import VARIANTS, encoded

    from faceclust.evaluation import scored_faces

    root = datasets / "lfw_large"
    faces = encoded(root, VARIANTS["flip"])
    labelled = scored_faces(faces, root)
    encodings = np.stack([faces[index].encoding for index in labelled])
    names = np.array(list(labelled.values()))
    in_a = np.array([zlib.crc32(name.encode()) % 2 == 0 for name in names])
    return (encodings[in_a], names[in_a]), (encodings[~in_a], names[~in_a])


def replica(model: EmbeddingModel, sizes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """People with ``sizes`` faces each drawn from ``model``: ``(encodings, identities)``."""
    identities = np.repeat(np.arange(len(sizes)), sizes)
    return draw_faces(model, sizes, identities, np.random.default_rng(seed)), identities


def _sizes(names: np.ndarray) -> np.ndarray:
    return np.unique(names, return_counts=True)[1]


def calibrate(datasets: Path) -> EmbeddingModel:
    """Measure the covariances on lfw_large's half A, choose the spreads on the grid that
    match half A's :func:`distance_summary` best, write :data:`MODEL_FILE`, and print how well
    the model matches half A and half B."""
    (train, train_names), (check, check_names) = _labelled_halves(datasets)
    mean, between, within = _covariances(train, train_names)
    target = distance_summary(train, train_names)
    train_sizes = _sizes(train_names)

    def mismatch(person_spread: float, face_spread: float) -> float:
        model = EmbeddingModel(mean, _factor(between), _factor(within), person_spread, face_spread)
        return float(
            np.mean(
                [
                    np.abs(distance_summary(*replica(model, train_sizes, seed)) - target).sum()
                    for seed in range(CALIBRATION_SEEDS)
                ]
            )
        )

    scores = {(p, f): mismatch(p, f) for p in SPREAD_GRID for f in SPREAD_GRID}
    person_spread, face_spread = min(scores, key=scores.get)
    model = EmbeddingModel(mean, _factor(between), _factor(within), float(person_spread), float(face_spread))
    check_summary = distance_summary(check, check_names)
    np.savez_compressed(
        MODEL_FILE,
        mean=model.mean,
        between=model.between,
        within=model.within,
        person_spread=model.person_spread,
        face_spread=model.face_spread,
        held_out_sizes=_sizes(check_names),
        held_out_summary=check_summary,
    )
    calibrated_model.cache_clear()
    print(
        f"spreads: person {person_spread}, face {face_spread} (mismatch {scores[person_spread, face_spread]:.3f})"
    )
    print(
        "summary: same-person distance percentiles 5-95; log10 share of stranger pairs under "
        f"{STRANGER_CUTS}; nearest-stranger percentiles 5-95"
    )
    for label, real, names in (
        ("half A (fitted)", target, train_names),
        ("half B (held out)", check_summary, check_names),
    ):
        drawn = distance_summary(*replica(model, _sizes(names), seed=10))
        print(f"{label}\n  real      {np.round(real, 3)}\n  synthetic {np.round(drawn, 3)}")
    return model


def save_as_encodings(path: Path, encodings: np.ndarray, identities: np.ndarray) -> None:
    """Write an encodings file whose image paths name each face's person (person_N/face_M.jpg)."""
    from faceclust.library.store import save_faces
    from faceclust.records import Face

    faces = [
        Face(f"person_{person}/face_{index}.jpg", (0, 100, 100, 0), vector)
        for index, (person, vector) in enumerate(zip(identities.tolist(), encodings, strict=True))
    ]
    save_faces(path, faces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--largest-share", type=float, help="one person holds this share of the faces")
    parser.add_argument("--out", type=Path, help="write an encodings file (.npz or .pickle)")
    parser.add_argument("--calibrate", action="store_true", help="refit the model on the dev sets")
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    if args.calibrate:
        calibrate(args.datasets)
        return 0
    encodings, identities = synthetic_embeddings(args.faces, args.seed, largest_share=args.largest_share)
    sizes = np.bincount(identities)
    print(
        f"{len(encodings):,} faces of {len(sizes):,} people; largest {sizes.max():,}, "
        f"seen once {int((sizes == 1).sum()):,}"
    )
    if args.out:
        save_as_encodings(args.out, encodings, identities)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
