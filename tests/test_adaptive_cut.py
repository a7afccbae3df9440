import itertools

import numpy as np
import pytest
from synthetic import synthetic_embeddings

from faceclust.clustering import FaceClusterer, adaptive_cut, neighbors
from faceclust.clustering import agglomerative as agglomerative_module
from faceclust.clustering.adaptive_cut import CEILING, FLOOR


def test_the_cut_falls_from_the_ceiling_to_the_floor_as_distinct_faces_grow():
    counts = [1, 10, 39, 100, 251, 400, 1_585, 10_000, 1_000_000]
    cuts = [adaptive_cut(count) for count in counts]
    assert cuts[0] == cuts[2] == CEILING == 0.6
    assert cuts[4] == pytest.approx(0.55, abs=1e-3)
    assert cuts[6] == pytest.approx(FLOOR, abs=1e-3) and cuts[-1] == FLOOR == 0.5
    assert all(later <= earlier for earlier, later in itertools.pairwise(cuts))
    with pytest.raises(ValueError, match="distinct_faces"):
        adaptive_cut(0)


def two_photos_among_strangers(strangers: int, gap: float = 0.55, seed: int = 0) -> np.ndarray:
    """Two faces ``gap`` apart (one person's two photos), then ``strangers`` faces about 1.4
    from everything (people seen once)."""
    rng = np.random.default_rng(seed)
    step = rng.normal(size=128)
    pair = np.stack([np.zeros(128), step * gap / np.linalg.norm(step)])
    return np.vstack([pair, rng.normal(size=(strangers, 128)) / np.sqrt(128)])


def test_a_pair_joined_among_few_faces_is_kept_apart_among_thousands():
    # The pair is farther apart than the reference cut, so it counts as two distinct faces.
    few = FaceClusterer().fit(two_photos_among_strangers(10))
    assert few.threshold_ == 0.6 and few.distinct_faces_ == 12
    assert few.labels_[0] == few.labels_[1] != -1
    many = FaceClusterer().fit(two_photos_among_strangers(2_500))
    assert many.threshold_ == 0.5 and many.distinct_faces_ == 2_502
    assert many.labels_[0] == many.labels_[1] == -1
    # A cut given is used as it is, whatever the set.
    fixed = FaceClusterer(threshold=0.6).fit(two_photos_among_strangers(2_500))
    assert fixed.threshold_ == 0.6 and fixed.distinct_faces_ is None
    assert fixed.labels_[0] == fixed.labels_[1] != -1


def test_the_graph_counts_the_distinct_faces_as_the_exact_tree_does(monkeypatch):
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", 500)
    monkeypatch.setattr(neighbors, "CELL_SIZE", 200)
    encodings, _ = synthetic_embeddings(3000, seed=7)
    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", 100)
    on_graph = FaceClusterer(cannot_link=False).fit(encodings)
    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", 10_000)
    exact = FaceClusterer(cannot_link=False).fit(encodings)
    # It counts a little fewer (Chinese Whispers chains), which moves the cut very little.
    assert on_graph.distinct_faces_ == pytest.approx(exact.distinct_faces_, rel=0.3)
    assert on_graph.threshold_ == pytest.approx(exact.threshold_, abs=0.01)
