import numpy as np
import pytest

from faceclust.clustering import (
    METHODS,
    NOISE,
    FaceClusterer,
    cluster_means,
    relabel_by_size,
    split_same_photo_faces,
    tuning_grid,
)


def blobs(sizes: list[int], spread: float = 0.05, seed: int = 0) -> np.ndarray:
    """Points around well separated centres in 128-d, like embeddings of distinct people."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), 128))
    centres *= 2.0 / np.linalg.norm(centres, axis=1, keepdims=True)
    return np.vstack(
        [
            centres[person] + rng.normal(scale=spread, size=(size, 128)) / np.sqrt(128)
            for person, size in enumerate(sizes)
        ]
    )


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finds_separated_people_numbered_largest_first(method):
    encodings = blobs([3, 8, 5])
    labels = FaceClusterer(method, min_samples=2).fit_predict(encodings)
    assert labels.tolist() == [2] * 3 + [0] * 8 + [1] * 5


@pytest.mark.parametrize("method", METHODS)
def test_a_face_far_from_everyone_is_unknown(method):
    encodings = np.vstack([blobs([6, 5]), np.full((1, 128), 3.0)])
    labels = FaceClusterer(method, min_samples=3).fit_predict(encodings)
    assert labels.tolist() == [0] * 6 + [1] * 5 + [NOISE]


def test_hdbscan_finds_no_group_when_everyone_is_one_person():
    # A known limit of HDBSCAN (it never keeps the root of its tree), and one reason it is
    # not the default: a folder of one person's photos would come out all unknown.
    encodings = np.vstack([blobs([6]), np.full((1, 128), 3.0)])
    assert FaceClusterer("hdbscan", min_samples=3).fit_predict(encodings).tolist() == [NOISE] * 7
    assert FaceClusterer().fit_predict(encodings).tolist() == [0] * 6 + [NOISE]


@pytest.mark.parametrize("method", METHODS)
def test_empty_and_single_face_inputs(method):
    assert FaceClusterer(method).fit_predict(np.empty((0, 128))).shape == (0,)
    assert FaceClusterer(method).fit_predict(np.zeros((1, 128))).tolist() == [NOISE]


def test_dbscan_with_fewer_faces_than_min_samples_leaves_all_unknown():
    assert FaceClusterer("dbscan", 0.5, min_samples=5).fit_predict(blobs([4])).tolist() == [NOISE] * 4


def test_the_tutorial_settings_are_plain_dbscan():
    from sklearn.cluster import DBSCAN

    encodings = np.vstack([blobs([7, 5, 2], spread=0.3, seed=1), blobs([6], spread=0.3, seed=2)])
    ours = FaceClusterer("dbscan", 0.5, min_samples=5, min_cluster_size=1, cannot_link=False).fit_predict(
        encodings
    )
    theirs = DBSCAN(eps=0.5, min_samples=5).fit_predict(encodings)
    assert (ours == NOISE).tolist() == (theirs == NOISE).tolist()
    assert len(set(ours.tolist())) == len(set(theirs.tolist()))


def test_min_cluster_size_turns_small_groups_into_unknown_faces():
    encodings = blobs([5, 2])
    assert (
        FaceClusterer("agglomerative", min_cluster_size=3).fit_predict(encodings).tolist()
        == [0] * 5 + [NOISE] * 2
    )


def test_cannot_link_keeps_one_face_per_photo_in_a_cluster():
    encodings = blobs([4])
    encodings[3] = encodings[:3].mean(axis=0)  # the face nearest the centre
    photos = ["a.jpg", "b.jpg", "c.jpg", "a.jpg"]
    with_rule = FaceClusterer("agglomerative", min_cluster_size=1).fit_predict(encodings, photos)
    assert with_rule.tolist() == [NOISE, 0, 0, 0]
    without = FaceClusterer("agglomerative", cannot_link=False).fit_predict(encodings, photos)
    assert without.tolist() == [0, 0, 0, 0]


def test_split_same_photo_faces_leaves_other_clusters_and_noise_alone():
    encodings = np.array([[0.0], [0.1], [5.0], [5.2], [9.0]])
    labels = np.array([0, 0, 1, 1, NOISE])
    photos = ["p", "p", "q", "r", "p"]
    assert split_same_photo_faces(encodings, labels, photos).tolist() == [0, NOISE, 1, 1, NOISE]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "kmeans"}, "method"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": -1}, "threshold"),
        ({"method": "hdbscan", "threshold": 0.5}, "threshold does not apply"),
        ({"min_samples": 0}, "min_samples"),
        ({"min_cluster_size": 0}, "min_cluster_size"),
    ],
)
def test_invalid_parameters_are_value_errors_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FaceClusterer(**kwargs).fit(np.zeros((2, 128)))


def test_photos_must_match_the_faces():
    with pytest.raises(ValueError, match="photos"):
        FaceClusterer().fit(np.zeros((2, 128)), ["a.jpg"])


def test_init_only_stores_parameters():
    clusterer = FaceClusterer("dbscan", 0.4, min_samples=3)
    assert (clusterer.method, clusterer.threshold, clusterer.min_samples) == ("dbscan", 0.4, 3)
    assert not hasattr(clusterer, "labels_")


def test_relabel_by_size_orders_by_size_then_first_appearance_and_keeps_noise():
    labels = np.array([5, 9, 9, -1, 5, 7, 9, 7])
    assert relabel_by_size(labels).tolist() == [1, 0, 0, -1, 1, 2, 0, 2]
    assert relabel_by_size(labels, min_cluster_size=3).tolist() == [-1, 0, 0, -1, -1, -1, 0, -1]


def test_tuning_grid_names_each_methods_main_parameter():
    assert tuning_grid("hdbscan")[0] == "min_cluster_size"
    name, values = tuning_grid("agglomerative")
    assert name == "threshold" and values[0] == 0.4 and values[-1] == 0.7


def test_agglomerative_beyond_its_memory_limit_still_finds_the_people(monkeypatch):
    from faceclust.clustering import agglomerative as agglomerative_module

    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", 10)
    assert FaceClusterer().fit_predict(blobs([5, 6, 1])).tolist() == [1] * 5 + [0] * 6 + [NOISE]


@pytest.mark.parametrize("exact_limit", [10_000, 10], ids=["exact", "graph"])
@pytest.mark.parametrize("method", METHODS)
def test_float32_encodings_give_the_groups_float64_ones_do(method, exact_limit, monkeypatch):
    from faceclust.clustering import agglomerative as agglomerative_module

    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", exact_limit)
    encodings = np.vstack([blobs([7, 9, 6], spread=0.3), np.full((1, 128), 3.0)])
    photos = ["a"] * 2 + [str(i) for i in range(len(encodings) - 2)]  # two faces share a photo
    clusterer = FaceClusterer(method, min_samples=3)
    wide = clusterer.fit_predict(encodings, photos)
    narrow = clusterer.fit_predict(encodings.astype(np.float32), photos)
    assert narrow.tolist() == wide.tolist()
    assert wide[0] != wide[1] or wide[0] == NOISE
    assert len(set(wide.tolist()) - {NOISE}) == 3
    with pytest.raises(ValueError, match="2-d"):
        clusterer.fit(np.zeros(128, dtype=np.int64))


def test_cluster_means_leave_noise_out_and_handle_no_clusters():
    encodings = np.arange(12, dtype=np.float32).reshape(4, 3)
    ids, means = cluster_means(encodings, np.array([2, -1, 2, 0]))
    assert ids.tolist() == [0, 2]
    assert means.tolist() == [[9.0, 10.0, 11.0], [3.0, 4.0, 5.0]]
    ids, means = cluster_means(encodings, np.full(4, -1))
    assert ids.shape == (0,) and means.shape == (0, 3)
