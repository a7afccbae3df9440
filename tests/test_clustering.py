import numpy as np
import pytest

from faceclust.clustering import NOISE, cluster_dbscan, relabel_by_size


def blobs(sizes: list[int], spread: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points around well separated centres in 128-d, like embeddings of distinct people."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), 128))
    centres *= 2.0 / np.linalg.norm(centres, axis=1, keepdims=True)
    points, truth = [], []
    for person, size in enumerate(sizes):
        points.append(centres[person] + rng.normal(scale=spread, size=(size, 128)) / np.sqrt(128))
        truth += [person] * size
    return np.vstack(points), np.array(truth)


def test_dbscan_finds_separated_people_and_numbers_them_largest_first():
    encodings, _ = blobs([3, 8, 5])
    labels = cluster_dbscan(encodings, eps=0.5, min_samples=2)
    assert labels.tolist() == [2] * 3 + [0] * 8 + [1] * 5


def test_points_far_from_everyone_are_noise():
    encodings, _ = blobs([6])
    lonely = np.full((1, 128), 3.0)
    labels = cluster_dbscan(np.vstack([encodings, lonely]), eps=0.5, min_samples=3)
    assert labels.tolist() == [0] * 6 + [NOISE]


def test_fewer_faces_than_min_samples_are_all_noise():
    encodings, _ = blobs([4])
    assert cluster_dbscan(encodings, eps=0.5, min_samples=5).tolist() == [NOISE] * 4


def test_empty_input_gives_empty_labels():
    assert cluster_dbscan(np.empty((0, 128))).shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"eps": 0}, "eps"), ({"eps": -1}, "eps"), ({"min_samples": 0}, "min_samples")],
)
def test_invalid_parameters_are_value_errors_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cluster_dbscan(np.zeros((2, 128)), **kwargs)


def test_relabel_by_size_orders_by_size_then_first_appearance_and_keeps_noise():
    labels = np.array([5, 9, 9, -1, 5, 7, 9, 7])
    assert relabel_by_size(labels).tolist() == [1, 0, 0, -1, 1, 2, 0, 2]
