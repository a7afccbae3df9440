import numpy as np
import pytest
from scipy.spatial.distance import cdist
from synthetic import synthetic_embeddings

from faceclust.clustering import FaceClusterer, merge_by_average_linkage, neighbors
from faceclust.clustering import agglomerative as agglomerative_module
from faceclust.clustering import graph as graph_module
from faceclust.clustering.local_scale import NEIGHBOUR_GROUPS, stranger_weights
from faceclust.clustering.neighbors import nearest_neighbors
from tests.test_neighbors import assert_nearly_the_same_groups, crowded_people


def cloud(rng: np.random.Generator, count: int, spread: float, centre: np.ndarray) -> np.ndarray:
    """``count`` faces about ``spread`` apart around ``centre``: people seen once."""
    return centre + rng.normal(size=(count, 128)) * spread / np.sqrt(2 * 128)


def pair(rng: np.random.Generator, gap: float, centre: np.ndarray) -> np.ndarray:
    """Two faces ``gap`` apart around ``centre``: one person's two photos."""
    step = rng.normal(size=128)
    step *= gap / np.linalg.norm(step) / 2
    return np.stack([centre - step, centre + step])


def crowded_and_sparse(people: int = 40, faces: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``people`` people whose strangers crowd them (centres about 0.45 apart), then as many
    whose strangers keep far away (about 2), with each face's person."""
    rng = np.random.default_rng(seed)
    crowded = np.repeat(cloud(rng, people, 0.45, np.zeros(128)), faces, axis=0)
    sparse = np.repeat(cloud(rng, people, 2.0, np.full(128, 1.0)), faces, axis=0)
    faces_of_people = np.vstack([crowded, sparse])
    return cloud(rng, len(faces_of_people), 0.2, faces_of_people), np.repeat(np.arange(2 * people), faces)


def test_faces_whose_strangers_crowd_them_weigh_more_than_those_whose_strangers_keep_away():
    encodings, people = crowded_and_sparse()
    graph = nearest_neighbors(encodings, 10)
    weights = stranger_weights(graph, people, distinct_faces=5_000)
    crowded, sparse = weights[: len(weights) // 2], weights[len(weights) // 2 :]
    assert crowded.min() > 1.2 and sparse.max() < 0.8
    # One weight per group, the faces of a person share it.
    assert all(len(np.unique(weights[people == person])) == 1 for person in np.unique(people))
    # Among few distinct faces the scale is hardly trusted: the weights stay near 1.
    assert np.allclose(stranger_weights(graph, people, distinct_faces=10), 1, atol=0.02)


def test_a_group_that_meets_too_few_other_groups_keeps_the_median():
    encodings, people = crowded_and_sparse()
    # One more person far from everyone: its faces' neighbours are its own.
    alone = np.full((12, 128), -20.0) + np.random.default_rng(3).normal(size=(12, 128)) * 0.01
    encodings, people = np.vstack([encodings, alone]), np.r_[people, np.full(12, people.max() + 1)]
    weights = stranger_weights(nearest_neighbors(encodings, 10), people, distinct_faces=5_000)
    assert weights[-12:] == pytest.approx(1.0)
    # Fewer other groups than looked for anywhere: no evidence, every weight is 1.
    few = np.repeat(np.arange(NEIGHBOUR_GROUPS), 3)
    points = np.random.default_rng(4).normal(size=(len(few), 128))
    assert (stranger_weights(nearest_neighbors(points, 10), few, 5_000) == 1).all()


def test_weighted_merging_joins_two_clusters_exactly_at_their_weighted_root_mean_square_distance():
    rng = np.random.default_rng(5)
    encodings = np.vstack([rng.normal(size=(7, 128)) * 0.03, rng.normal(size=(5, 128)) * 0.03 + 0.04])
    labels = np.r_[np.zeros(7, dtype=np.int64), np.ones(5, dtype=np.int64)]
    weights = rng.uniform(0.5, 1.5, size=12)
    between = cdist(encodings[:7], encodings[7:]) ** 2 * np.outer(weights[:7], weights[7:])
    distance = float(np.sqrt(between.mean()))
    unweighted = float(np.sqrt((cdist(encodings[:7], encodings[7:]) ** 2).mean()))
    assert abs(distance - unweighted) > 0.01  # the weights matter here
    for threshold, groups in ((distance * 1.0001, 1), (distance * 0.9999, 2)):
        merged = merge_by_average_linkage(encodings, labels, threshold, weights=weights)
        assert len(np.unique(merged)) == groups


def test_weighted_satellites_join_nearly_as_one_pair_at_a_time_would(monkeypatch):
    encodings = np.vstack([synthetic_embeddings(1500, seed=3)[0], crowded_people(seed=1)])
    weights = np.random.default_rng(6).uniform(0.7, 1.4, size=len(encodings))
    start = np.arange(len(encodings))
    with_satellites = merge_by_average_linkage(encodings, start, 0.55, weights=weights)
    monkeypatch.setattr(graph_module, "SATELLITE_RATIO", np.inf)
    one_pair_at_a_time = merge_by_average_linkage(encodings, start, 0.55, weights=weights)
    assert_nearly_the_same_groups(with_satellites, one_pair_at_a_time)
    assert len(np.unique(with_satellites)) < len(encodings) / 2


@pytest.mark.parametrize("path", ["exact", "graph"])
def test_where_strangers_crowd_the_default_parts_a_closer_pair_than_it_joins_where_they_do_not(
    monkeypatch, path
):
    # Most faces are people seen once whose nearest stranger is about 0.7 away; 300 more crowd
    # one place (nearest stranger about 0.47). Two faces 0.46 apart beside the crowd, and two
    # 0.52 apart far from everyone. One pass at the 0.5 cut (the default) joins the first two
    # and not the second; with the local scale it does the reverse.
    rng = np.random.default_rng(8)
    axis = np.eye(128)
    encodings = np.vstack(
        [
            cloud(rng, 2000, 0.85, np.zeros(128)),
            cloud(rng, 300, 0.6, 3 * axis[1]),
            pair(rng, 0.46, 3 * axis[1] + 0.4 * axis[3]),
            pair(rng, 0.52, 3 * axis[2]),
        ]
    )
    if path == "graph":
        monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", 100)
    scaled = FaceClusterer(min_cluster_size=1, cannot_link=False, local_scale=True).fit(encodings)
    one_pass = FaceClusterer(min_cluster_size=1, cannot_link=False).fit(encodings)
    assert scaled.threshold_ == one_pass.threshold_ == 0.5
    assert one_pass.labels_[-4] == one_pass.labels_[-3] and one_pass.labels_[-2] != one_pass.labels_[-1]
    assert scaled.labels_[-4] != scaled.labels_[-3] and scaled.labels_[-2] == scaled.labels_[-1]


def test_on_the_graph_the_local_scale_agrees_with_the_exact_one(monkeypatch):
    from sklearn.metrics import adjusted_rand_score

    monkeypatch.setattr(neighbors, "EXACT_LIMIT", 500)
    monkeypatch.setattr(neighbors, "CELL_SIZE", 200)
    encodings = np.vstack([synthetic_embeddings(2500, seed=7)[0], crowded_people(seed=5) + 0.1])
    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", 100)
    clusterer = FaceClusterer(min_cluster_size=1, cannot_link=False, local_scale=True)
    on_graph = clusterer.fit_predict(encodings)
    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", 10_000)
    exact = clusterer.fit_predict(encodings)
    assert adjusted_rand_score(exact, on_graph) > 0.95
    # And it is not the plain default's partition: the weights changed something.
    assert (
        adjusted_rand_score(
            exact, FaceClusterer(min_cluster_size=1, cannot_link=False).fit_predict(encodings)
        )
        < 0.999
    )


def test_the_local_scale_needs_the_adapted_cut_of_agglomerative():
    encodings = np.random.default_rng(0).normal(size=(20, 128))
    for clusterer in (
        FaceClusterer(threshold=0.5, local_scale=True),
        FaceClusterer("dbscan", local_scale=True),
    ):
        with pytest.raises(ValueError, match="local_scale"):
            clusterer.fit(encodings)
