import numpy as np
import pytest

from faceclust.errors import DatasetError
from faceclust.evaluation import identity_of, score, score_against_folders, scored_faces, singletons_for_noise
from faceclust.records import Face


def test_a_hand_computed_example():
    # People a, a, a, b, b put in clusters 0, 0, 1, 1 and one unknown.
    scores = score(["a", "a", "a", "b", "b"], np.array([0, 0, 1, 1, -1]))
    # Pairs: 1 joined correctly (a0-a1) of 2 joined (a0-a1, a2-b0) and of 4 true (3 of a, 1 of b).
    assert scores.pairwise_precision == pytest.approx(1 / 2)
    assert scores.pairwise_recall == pytest.approx(1 / 4)
    assert scores.pairwise_f1 == pytest.approx(1 / 3)
    # BCubed precision per face: 1, 1, 1/2, 1/2, 1; recall: 2/3, 2/3, 1/3, 1/2, 1/2.
    assert scores.bcubed_precision == pytest.approx(4 / 5)
    assert scores.bcubed_recall == pytest.approx(8 / 15)
    assert scores.bcubed_f1 == pytest.approx(2 * (4 / 5) * (8 / 15) / (4 / 5 + 8 / 15))
    assert (scores.faces_scored, scores.identities, scores.clusters, scores.unknown) == (5, 2, 2, 1)


def test_unknown_faces_are_singletons_not_one_cluster():
    scores = score(["a", "a", "b"], np.array([-1, -1, -1]))
    assert scores.pairwise_precision == 1.0  # nothing joined, nothing wrongly joined
    assert scores.pairwise_recall == 0.0
    assert scores.bcubed_precision == 1.0
    assert scores.bcubed_recall == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert scores.clusters == 0 and scores.unknown == 3


def test_a_perfect_clustering_scores_one_whatever_the_ids():
    scores = score(["x", "x", "y", "z"], np.array([5, 5, 7, -1]))
    for name in ("pairwise_f1", "bcubed_f1", "nmi", "ari"):
        assert getattr(scores, name) == pytest.approx(1.0)


def test_everything_in_one_cluster():
    scores = score(["a", "a", "b", "b"], np.array([0, 0, 0, 0]))
    assert scores.pairwise_precision == pytest.approx(2 / 6)
    assert scores.pairwise_recall == 1.0
    assert scores.bcubed_precision == pytest.approx(1 / 2)
    assert scores.ari == pytest.approx(0.0)


def test_score_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="length"):
        score(["a"], np.array([0, 1]))
    with pytest.raises(ValueError, match="no faces"):
        score([], np.array([]))


def test_singletons_for_noise_gives_each_unknown_its_own_id():
    assert singletons_for_noise(np.array([-1, 0, -1, 2])).tolist() == [3, 0, 4, 2]
    assert singletons_for_noise(np.array([-1, -1])).tolist() == [0, 1]


def test_identity_is_the_first_folder_below_the_root_and_underscore_folders_have_none(tmp_path):
    root = tmp_path / "data"
    assert identity_of(str(root / "ann" / "x.jpg"), root) == "ann"
    assert identity_of(str(root / "ann" / "trip" / "x.jpg"), root) == "ann"
    assert identity_of(str(root / "_group_photos" / "x.jpg"), root) is None
    assert identity_of(str(root / "loose.jpg"), root) is None
    assert identity_of(str(tmp_path / "other" / "ann" / "x.jpg"), root) is None


def face(path: str, size: int) -> Face:
    return Face(path, (0, size, size, 0), np.zeros(128))


def test_only_the_largest_face_of_each_labelled_image_is_scored(tmp_path):
    root = tmp_path / "data"
    faces = [
        face(str(root / "ann" / "1.jpg"), 50),
        face(str(root / "ann" / "1.jpg"), 80),  # the labelled person: the largest face
        face(str(root / "bob" / "2.jpg"), 40),
        face(str(root / "_group" / "3.jpg"), 90),
    ]
    assert scored_faces(faces, root) == {1: "ann", 2: "bob"}
    scores = score_against_folders(faces, np.array([1, 0, 1, 0]), root)
    assert scores.faces_scored == 2 and scores.bcubed_f1 == pytest.approx(1.0)


def test_scoring_needs_labelled_faces(tmp_path):
    with pytest.raises(DatasetError, match="one folder per person"):
        score_against_folders([face("/elsewhere/x.jpg", 10)], np.array([0]), tmp_path)


def test_bcubed_per_face_gives_each_face_its_share_and_averages_to_the_score():
    from faceclust.evaluation import bcubed_per_face

    true = ["a", "a", "a", "b", "c"]
    labels = np.array([0, 0, 1, 0, -1])  # two of a's with b; a's third alone; c unknown
    precision, recall = bcubed_per_face(true, labels)
    np.testing.assert_allclose(precision, [2 / 3, 2 / 3, 1, 1 / 3, 1])
    np.testing.assert_allclose(recall, [2 / 3, 2 / 3, 1 / 3, 1, 1])
    scores = score(true, labels)
    assert scores.bcubed_precision == pytest.approx(precision.mean())
    assert scores.bcubed_recall == pytest.approx(recall.mean())
