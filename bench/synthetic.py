"""Synthetic dlib-like face embeddings with known identities, for scale tests and benchmarks.

    .venv/bin/python bench/synthetic.py --faces 100000 --out bench/results/synthetic-100k.npz
    .venv/bin/python bench/synthetic.py --calibrate [--datasets ../shared/datasets]

The model: each person has a centre, each face is its centre plus Gaussian noise. Real dlib
distances are not as tightly concentrated as isotropic Gaussians in 128 dimensions would make
them (a blurred or turned face sits far from its person; some people look like many others), so
a face's noise and a person's distance from the rest are each scaled by a log-normal factor.
The four numbers of :data:`CALIBRATED` were fitted by ``--calibrate``: it minimises the gap
between the 5th, 25th, 50th, 75th and 95th percentiles of same-person and of different-person
distances here and in the real embeddings of the dev sets (the labelled face of each photo in
lfw_dev, five_celebrities and face_recognition_examples, pooled), and prints both.

Real embeddings are not unit vectors: their norms are 1.3-1.6 because they share a common part
of length about 1.3. Distances are all that clustering sees, so the generator adds one fixed
common vector of that length only to make the numbers look like dlib's (and float32 rounding
behave alike).

Sizes are skewed as in a photo library: people's face counts follow a power law (exponent 2,
so about 60% of people are seen once and a few are seen thousands of times), or with
``largest_share`` one person holds that share of all faces (the case that makes the tutorial's
DBSCAN use gigabytes).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EMBEDDING_SIZE = 128
COMMON_NORM = 1.3


@dataclass(frozen=True)
class EmbeddingModel:
    """Per-dimension standard deviations and log-normal spreads of the generator."""

    within: float  # a face around its person's centre
    between: float  # the people's centres around each other
    face_spread: float  # sigma of the log-normal factor on each face's noise
    person_spread: float  # sigma of the log-normal factor on each person's offset


# What ``--calibrate`` measured on the 845 labelled faces of the three dev sets, pooled:
# the 5th, 25th, 50th, 75th and 95th percentiles of same-person and different-person distances.
DEV_SET_SAME = (0.333, 0.399, 0.450, 0.507, 0.596)
DEV_SET_DIFFERENT = (0.683, 0.762, 0.823, 0.892, 0.980)

# Fitted by ``--calibrate`` (see the module docstring); rerun it to refit.
CALIBRATED = EmbeddingModel(within=0.0275, between=0.0424, face_spread=0.2405, person_spread=0.1402)


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
    model: EmbeddingModel = CALIBRATED,
    largest_share: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(encodings, identities)``: an ``(faces, 128)`` float32 matrix in random order and each
    face's person (0 = the first person drawn, not necessarily the largest)."""
    rng = np.random.default_rng(seed)
    sizes = identity_sizes(faces, rng, largest_share=largest_share)
    people = len(sizes)
    common = rng.standard_normal(EMBEDDING_SIZE)
    common *= COMMON_NORM / np.linalg.norm(common)
    person_scale = model.between * rng.lognormal(0.0, model.person_spread, size=(people, 1))
    centres = (common + person_scale * rng.standard_normal((people, EMBEDDING_SIZE))).astype(np.float32)
    identities = rng.permutation(np.repeat(np.arange(people), sizes))
    face_scale = (model.within * rng.lognormal(0.0, model.face_spread, size=(faces, 1))).astype(np.float32)
    encodings = rng.standard_normal((faces, EMBEDDING_SIZE), dtype=np.float32)
    encodings *= face_scale
    encodings += centres[identities]
    return encodings, identities


def distance_percentiles(
    encodings: np.ndarray, identities: np.ndarray, pairs: int = 200_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles (:data:`PERCENTILES`) of same-person and different-person distances, from
    all pairs of a sample."""
    rng = np.random.default_rng(seed)
    count = len(encodings)
    sample = rng.choice(count, size=min(count, int(np.sqrt(2 * pairs)) + 1), replace=False)
    vectors = encodings[sample].astype(np.float64)
    labels = identities[sample]
    upper = np.triu_indices(len(sample), 1)
    distances = np.linalg.norm(vectors[upper[0]] - vectors[upper[1]], axis=1)
    same = labels[upper[0]] == labels[upper[1]]
    return np.percentile(distances[same], PERCENTILES), np.percentile(distances[~same], PERCENTILES)


PERCENTILES = (5, 25, 50, 75, 95)


def real_distances(datasets: Path) -> tuple[np.ndarray, np.ndarray]:
    """Same- and different-person distance percentiles of the dev sets' labelled faces."""
    sys.path.insert(0, str(REPO / "bench"))
    from quality import DEV_SETS, VARIANTS, encoded

    from faceclust.evaluation import scored_faces

    same, different = [], []
    for name in DEV_SETS:
        faces = encoded(datasets / name, VARIANTS["plain"])
        labelled = scored_faces(faces, datasets / name)
        vectors = np.stack([faces[index].encoding for index in labelled])
        names = np.array(list(labelled.values()))
        upper = np.triu_indices(len(vectors), 1)
        distances = np.linalg.norm(vectors[upper[0]] - vectors[upper[1]], axis=1)
        is_same = names[upper[0]] == names[upper[1]]
        same.append(distances[is_same])
        different.append(distances[~is_same])
    return (
        np.percentile(np.concatenate(same), PERCENTILES),
        np.percentile(np.concatenate(different), PERCENTILES),
    )


def calibrate(datasets: Path) -> EmbeddingModel:
    """Fit :class:`EmbeddingModel` to the dev sets' distance percentiles (Nelder-Mead)."""
    from scipy.optimize import minimize

    target_same, target_different = real_distances(datasets)

    def mismatch(parameters: np.ndarray) -> float:
        model = EmbeddingModel(*np.abs(parameters))
        encodings, identities = synthetic_embeddings(20_000, seed=1, model=model)
        same, different = distance_percentiles(encodings, identities)
        return float(np.sum((same - target_same) ** 2) + np.sum((different - target_different) ** 2))

    start = np.array(
        [CALIBRATED.within, CALIBRATED.between, CALIBRATED.face_spread, CALIBRATED.person_spread]
    )
    fitted = minimize(mismatch, start, method="Nelder-Mead", options={"xatol": 1e-4, "maxiter": 200})
    model = EmbeddingModel(*(round(float(value), 4) for value in np.abs(fitted.x)))
    encodings, identities = synthetic_embeddings(20_000, seed=1, model=model)
    same, different = distance_percentiles(encodings, identities)
    print(f"percentiles {PERCENTILES}")
    print(f"same person      real {np.round(target_same, 3)}  synthetic {np.round(same, 3)}")
    print(f"different people real {np.round(target_different, 3)}  synthetic {np.round(different, 3)}")
    print(f"fitted: {model}")
    return model


def save_as_encodings(path: Path, encodings: np.ndarray, identities: np.ndarray) -> None:
    """Write an encodings file whose image paths name each face's person (person_N/face_M.jpg)."""
    from faceclust.records import Face
    from faceclust.store import save_faces

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
