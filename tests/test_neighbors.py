import numpy as np
import pytest
from synthetic import synthetic_embeddings

from faceclust.clustering import (
    FaceClusterer,
    chinese_whispers,
    merge_by_average_linkage,
    neighbors,
    split_same_photo_faces,
)
from faceclust.clustering import agglomerative as clustering_module
from faceclust.clustering.neighbors import nearest_neighbors
from faceclust.evaluation import score
from tests.test_clustering import blobs


def brute_force(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial.distance import cdist

    distances = cdist(points, points)
    np.fill_diagonal(distances, np.inf)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, axis=1), order


def test_small_inputs_get_the_exact_neighbours_nearest_first_without_themselves():
    points = np.random.default_rng(0).normal(size=(300, 128))
    graph = nearest_neighbors(points, 7)
    expected_distances, expected_indices = brute_force(points, 7)
    assert graph.indices.shape == (300, 7) and graph.indices.dtype == np.int64
    assert (graph.indices == expected_indices).all()
    assert np.allclose(graph.distances, expected_distances, atol=1e-4)


def test_duplicate_faces_are_each_others_neighbours_and_never_their_own():
    points = np.repeat(np.random.default_rng(1).normal(size=(4, 128)), 3, axis=0)
    graph = nearest_neighbors(points, 2)
    rows = np.arange(len(points))[:, None]
    assert not (graph.indices == rows).any()
    assert (graph.indices // 3 == rows // 3).all()
    assert np.allclose(graph.distances, 0, atol=1e-3)


def test_fewer_faces_than_k_pads_with_minus_one_and_infinity():
    graph = nearest_neighbors(np.eye(3, 128), 5)
    assert (graph.indices[:, 2:] == -1).all() and np.isinf(graph.distances[:, 2:]).all()
    assert sorted(graph.indices[0, :2].tolist()) == [1, 2]
    assert nearest_neighbors(np.eye(1, 128), 3).indices.tolist() == [[-1, -1, -1]]


def test_edges_keep_only_pairs_within_the_threshold():
    points = np.array([[0.0], [0.3], [1.0]])
    sources, targets = nearest_neighbors(points, 2).edges(0.5)
    assert sorted(zip(sources.tolist(), targets.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_the_cell_search_for_many_faces_finds_nearly_all_true_neighbours(monkeypatch):
    # The approximate path, made to run on 3,000 faces by shrinking its cells.
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", 100)
    monkeypatch.setattr(neighbors, "CELL_SIZE", 100)
    import faiss

    points = blobs([60] * 50, spread=0.4, seed=2).astype(np.float32)
    blas_threshold = faiss.cvar.distance_compute_blas_threshold
    graph = nearest_neighbors(points, 5)
    # The search lowers faiss's process-wide setting for its cells, and puts it back.
    assert faiss.cvar.distance_compute_blas_threshold == blas_threshold
    _, exact = brute_force(points.astype(np.float64), 5)
    assert not (graph.indices == np.arange(len(points))[:, None]).any()
    assert np.allclose(
        np.linalg.norm(points[:, None] - points[graph.indices], axis=2), graph.distances, atol=1e-4
    )
    recall = np.mean(
        [len(set(a) & set(b)) / 5 for a, b in zip(graph.indices.tolist(), exact.tolist(), strict=True)]
    )
    assert recall > 0.9
    same_person = graph.indices // 60 == np.arange(len(points))[:, None] // 60
    assert same_person.all()


def test_partitions_with_other_borders_find_the_neighbours_one_partition_misses(monkeypatch):
    # Faces like real ones (synthetic.py), many of people seen a few times, whose nearest
    # faces are strangers spread over many cells: a face near its cell's border misses them.
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", 100)
    monkeypatch.setattr(neighbors, "CELL_SIZE", 100)
    points, _ = synthetic_embeddings(3000, seed=4)
    _, exact = brute_force(points.astype(np.float64), 10)

    def recall(graph) -> float:
        return float(np.mean((graph.indices[:, :, None] == exact[:, None, :]).any(axis=2)))

    monkeypatch.setattr(neighbors, "PARTITIONS", 1)
    one = nearest_neighbors(points, 10)
    monkeypatch.setattr(neighbors, "PARTITIONS", 3)
    three = nearest_neighbors(points, 10)
    assert recall(three) > recall(one) + 0.05
    # Still each face's nearest first, each once, never itself, at its true distance.
    assert (np.diff(three.distances, axis=1) >= 0).all()
    assert all(len(set(row)) == 10 for row in three.indices.tolist())
    assert not (three.indices == np.arange(len(points))[:, None]).any()
    assert np.allclose(
        np.linalg.norm(points[:, None] - points[three.indices], axis=2), three.distances, atol=1e-4
    )


def test_two_searches_keep_the_nearest_distinct_faces_of_both():
    squared = np.array([[0.1, 0.3, np.inf], [0.2, np.inf, np.inf]], dtype=np.float32)
    indices = np.array([[4, 7, -1], [1, -1, -1]])
    # Face 7 found again at a distance a rounding away, face 9 nearer than face 7.
    more_squared = np.array([[0.2, 0.3000001, 0.5], [0.2, np.inf, np.inf]], dtype=np.float32)
    more_indices = np.array([[9, 7, 8], [1, -1, -1]])
    merged_squared, merged = neighbors._nearest_of_both(squared, indices, more_squared, more_indices, 3)
    assert merged.tolist() == [[4, 9, 7], [1, -1, -1]]
    assert np.allclose(merged_squared[0], [0.1, 0.2, 0.3])
    assert np.isinf(merged_squared[1, 1:]).all()


def test_cells_of_identical_faces_are_split_anyway(monkeypatch):
    monkeypatch.setattr(neighbors, "CELL_SIZE", 10)
    points = np.ones((95, 8), dtype=np.float32)
    cells = neighbors._balanced_cells(points, np.arange(95), seed=0)
    assert sorted(np.concatenate(cells).tolist()) == list(range(95))
    assert max(len(cell) for cell in cells) <= 20


def test_chinese_whispers_separates_unconnected_groups_and_joins_connected_ones():
    # Two triangles and a path 6-7-8, and a node with no edge.
    sources = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    targets = np.array([1, 2, 0, 4, 5, 3, 7, 8])
    labels = chinese_whispers(10, sources, targets)
    assert len(set(labels[[0, 1, 2]].tolist())) == 1
    assert len(set(labels[[3, 4, 5]].tolist())) == 1
    assert len(set(labels[[6, 7, 8]].tolist())) == 1
    assert len({labels[0], labels[3], labels[6], labels[9]}) == 4


def test_chinese_whispers_cuts_a_single_bridge_between_two_cliques():
    clique = [(a, b) for a in range(6) for b in range(a + 1, 6)]
    edges = clique + [(a + 6, b + 6) for a, b in clique] + [(5, 6)]
    sources, targets = (np.array(column) for column in zip(*edges, strict=True))
    labels = chinese_whispers(12, sources, targets, seed=3)
    assert labels[:6].tolist() == [labels[0]] * 6 and labels[6:].tolist() == [labels[6]] * 6
    assert labels[0] != labels[6]


def test_graph_chinese_whispers_matches_dlibs_on_all_pairs():
    import dlib

    encodings = blobs([12, 7, 5, 3, 1], spread=0.3, seed=4)
    ours = FaceClusterer("chinese_whispers", 0.5, min_cluster_size=1).fit_predict(encodings)
    theirs = dlib.chinese_whispers_clustering([dlib.vector(row.tolist()) for row in encodings], 0.5)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(theirs, ours) == 1.0


def test_chinese_whispers_on_real_faces_matches_the_folders(encoded):
    from faceclust.library.store import load_faces

    faces = load_faces(encoded[1])
    labels = FaceClusterer("chinese_whispers").fit_predict(
        np.stack([face.encoding for face in faces]), [face.image_path for face in faces]
    )
    people = [face.image_path.split("/")[-2] for face in faces]
    groups = {}
    for person, label in zip(people, labels.tolist(), strict=True):
        if not person.startswith("_") and label != -1:
            groups.setdefault(label, set()).add(person)
    assert all(len(group) == 1 for group in groups.values())
    assert len(groups) == len({person for person in people if not person.startswith("_")})


@pytest.mark.parametrize("seed", range(5))
def test_split_same_photo_faces_keeps_the_face_nearest_each_clusters_mean(seed):
    rng = np.random.default_rng(seed)
    encodings = rng.normal(size=(60, 4))
    labels = rng.integers(-1, 5, size=60)
    photos = rng.integers(0, 12, size=60).tolist()
    result = split_same_photo_faces(encodings, labels, photos)
    for cluster in set(labels.tolist()) - {-1}:
        members = np.flatnonzero(labels == cluster)
        distance = np.linalg.norm(encodings[members] - encodings[members].mean(axis=0), axis=1)
        for photo in {photos[index] for index in members}:
            same = [index for index in members if photos[index] == photo]
            nearest = min(same, key=lambda index: distance[members.tolist().index(index)])
            assert result[nearest] == cluster
            assert all(result[index] == -1 for index in same if index != nearest)
    assert (result[labels == -1] == -1).all()


def test_merging_single_faces_by_average_linkage_matches_exact_average_linkage():
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    encodings, _ = synthetic_embeddings(1500, seed=5)
    # Up to the cuts the default uses (0.5-0.6) the two agree; at 0.6 a little less, as more
    # strangers lie near the cut and the root-mean-square distance parts a few pairs the mean
    # joins (on lfw_large, where 0.6 joins strangers wholesale either way, 0.89).
    for threshold, agreement in ((0.5, 0.99), (0.55, 0.99), (0.6, 0.95)):
        exact = AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, linkage="average"
        ).fit_predict(encodings)
        merged = merge_by_average_linkage(encodings, np.arange(len(encodings)), threshold)
        assert adjusted_rand_score(exact, merged) > agreement


def test_merge_keeps_groups_farther_apart_than_the_threshold():
    encodings = blobs([5, 4, 3], spread=0.2, seed=6)
    start = np.arange(len(encodings))
    assert len(set(merge_by_average_linkage(encodings, start, 0.6).tolist())) == 3
    assert len(set(merge_by_average_linkage(encodings, start, 0.05).tolist())) == len(encodings)
    # Identical faces (spread and distance zero) merge.
    assert len(set(merge_by_average_linkage(np.zeros((4, 8)), np.arange(4), 0.1).tolist())) == 1


def test_average_linkage_on_the_graph_matches_exact_average_linkage(monkeypatch):
    from sklearn.metrics import adjusted_rand_score

    # Past the limit, the default method runs on the graph; with the limit lowered it does so
    # on a size the exact one can check, through the approximate cell search too.
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", 500)
    monkeypatch.setattr(neighbors, "CELL_SIZE", 200)
    encodings, identities = synthetic_embeddings(3000, seed=7)
    # At fixed cuts: the adapted one is compared in test_adaptive_cut.py. At 0.6 the two agree
    # less: the graph merges by root-mean-square distance, above the mean.
    for threshold, agreement in ((0.5, 0.99), (0.6, 0.95)):
        clusterer = FaceClusterer(threshold=threshold, min_cluster_size=1, cannot_link=False)
        monkeypatch.setattr(clustering_module, "EXACT_AGGLOMERATIVE_FACES", 100)
        on_graph = clusterer.fit_predict(encodings)
        monkeypatch.setattr(clustering_module, "EXACT_AGGLOMERATIVE_FACES", 10_000)
        exact = clusterer.fit_predict(encodings)
        assert adjusted_rand_score(exact, on_graph) > agreement
        assert abs(score(identities, on_graph).bcubed_f1 - score(identities, exact).bcubed_f1) < 0.02


def crowded_people(people: int = 60, faces: int = 6, step: float = 0.42, seed: int = 0) -> np.ndarray:
    """Faces of ``people`` people whose centres follow a random walk of ``step`` in 128-d, so that
    each person's nearest strangers come about as close as their own faces do (0.2 apart): the
    crowding of a set with thousands of people, where a chain of short edges runs through them all."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(people, 128))
    steps *= step / np.linalg.norm(steps, axis=1, keepdims=True)
    centres = np.cumsum(steps, axis=0)
    return np.repeat(centres, faces, axis=0) + rng.normal(size=(people * faces, 128)) * 0.2 / np.sqrt(128)


def _on_graph_and_exact(
    monkeypatch, encodings: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    clusterer = FaceClusterer(threshold=threshold, min_cluster_size=1, cannot_link=False)
    monkeypatch.setattr(clustering_module, "EXACT_AGGLOMERATIVE_FACES", 10)
    on_graph = clusterer.fit_predict(encodings)
    monkeypatch.setattr(clustering_module, "EXACT_AGGLOMERATIVE_FACES", 10_000)
    return on_graph, clusterer.fit_predict(encodings)


def test_the_graph_keeps_strangers_apart_where_faces_crowd(monkeypatch):
    from sklearn.metrics import adjusted_rand_score

    # Chinese Whispers along edges up to the cut chained these people into a few groups
    # (adjusted Rand index 0.71 against the exact tree); fragments from shorter edges do not.
    on_graph, exact = _on_graph_and_exact(monkeypatch, crowded_people(), 0.5)
    assert adjusted_rand_score(exact, on_graph) > 0.95
    assert len(set(on_graph.tolist())) >= 0.95 * len(set(exact.tolist()))


def test_small_clusters_joining_a_merging_neighbour_in_the_same_round_change_almost_nothing(monkeypatch):
    from faceclust.clustering import graph as graph_module

    encodings = np.vstack([synthetic_embeddings(2000, seed=3)[0], crowded_people(seed=1)])
    start = np.arange(len(encodings))
    joined = []
    join_satellites = graph_module._join_satellites

    def counting(target, *args):
        before = (target != np.arange(len(target))).sum()
        join_satellites(target, *args)
        joined.append((target != np.arange(len(target))).sum() - before)

    for threshold in (0.5, 0.6):
        monkeypatch.setattr(graph_module, "_join_satellites", counting)
        with_satellites = merge_by_average_linkage(encodings, start, threshold)
        monkeypatch.setattr(graph_module, "SATELLITE_RATIO", np.inf)
        one_pair_at_a_time = merge_by_average_linkage(encodings, start, threshold)
        monkeypatch.undo()
        assert_nearly_the_same_groups(with_satellites, one_pair_at_a_time)
    assert sum(joined) > 100  # satellites did join early


def assert_nearly_the_same_groups(first: np.ndarray, second: np.ndarray) -> None:
    """A satellite joins as if it came last to what its hub gathers in the round; where the
    order of merges matters (a face nearly as close to two groups), a few faces end elsewhere
    (adjusted Rand index 0.989-0.992 here, 0.994-0.998 on lfw_large)."""
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(first, second) > 0.98
    assert len(np.unique(first)) == pytest.approx(len(np.unique(second)), rel=0.02)


def test_the_graph_is_monotone_in_its_threshold(monkeypatch):
    encodings = crowded_people(seed=2)
    monkeypatch.setattr(clustering_module, "EXACT_AGGLOMERATIVE_FACES", 10)
    previous = None
    for threshold in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65):
        labels = FaceClusterer(threshold=threshold, min_cluster_size=1, cannot_link=False).fit_predict(
            encodings
        )
        if previous is not None:
            # Every group at the lower cut lies inside one group at the higher cut.
            assert len(np.unique(np.c_[previous, labels], axis=0)) == len(np.unique(previous))
        previous = labels


def test_a_face_settled_in_the_first_partition_is_not_searched_again(monkeypatch):
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", 100)
    monkeypatch.setattr(neighbors, "CELL_SIZE", 100)
    points, _ = synthetic_embeddings(3000, seed=4)
    monkeypatch.setattr(neighbors, "PARTITIONS", 1)
    first = nearest_neighbors(points, 10)
    monkeypatch.setattr(neighbors, "PARTITIONS", 3)
    every = nearest_neighbors(points, 10)
    settled_at = float(np.median(first.distances[:, -1]))
    graph = nearest_neighbors(points, 10, settled=settled_at)
    settled = first.distances[:, -1] <= settled_at
    assert 0.3 < settled.mean() < 0.7
    # The settled faces keep what the first partition found; the others what every partition
    # finds, as without ``settled`` (the later partitions still hold the settled faces as
    # neighbours of the others).
    assert (graph.indices[settled] == first.indices[settled]).all()
    assert (graph.indices[~settled] == every.indices[~settled]).all()
    assert (graph.indices[~settled] != first.indices[~settled]).any()
    # Nothing settled: the search of every partition for every face.
    assert (nearest_neighbors(points, 10, settled=0.0).indices == every.indices).all()
    # The partitions' neighbours merged a few faces at a time come out the same.
    monkeypatch.setattr(neighbors, "MERGE_CHUNK", 257)
    assert (nearest_neighbors(points, 10).indices == every.indices).all()
    assert (nearest_neighbors(points, 10, settled=settled_at).indices == graph.indices).all()
