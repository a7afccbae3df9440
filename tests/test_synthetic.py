"""The benchmark's synthetic faces: distances as the dev sets measured, sizes as described."""

import numpy as np
from synthetic import (
    DEV_SET_DIFFERENT,
    DEV_SET_SAME,
    distance_percentiles,
    identity_sizes,
    synthetic_embeddings,
)


def test_distances_match_the_dev_sets_percentiles():
    encodings, identities = synthetic_embeddings(20_000, seed=3)
    same, different = distance_percentiles(encodings, identities)
    assert np.abs(same - DEV_SET_SAME).max() < 0.02
    assert np.abs(different - DEV_SET_DIFFERENT).max() < 0.02


def test_embeddings_look_like_dlibs():
    encodings, identities = synthetic_embeddings(5_000, seed=4)
    assert encodings.shape == (5_000, 128) and encodings.dtype == np.float32
    assert len(identities) == 5_000
    norms = np.linalg.norm(encodings, axis=1)
    assert np.percentile(norms, 1) > 1.2 and np.percentile(norms, 99) < 1.7


def test_sizes_are_skewed_and_add_up():
    rng = np.random.default_rng(0)
    sizes = identity_sizes(100_000, rng)
    assert sizes.sum() == 100_000
    assert sizes.max() <= 5_000
    assert 0.5 < np.mean(sizes == 1) < 0.7
    assert np.sort(sizes)[-10:].sum() > 20_000
    with_one_large = identity_sizes(1_000, rng, largest_share=0.5)
    assert with_one_large[0] == 500 and with_one_large.sum() == 1_000
