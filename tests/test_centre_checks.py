import numpy as np
import pytest

from faceclust.clustering import NOISE, FaceClusterer
from faceclust.clustering import agglomerative as agglomerative_module
from faceclust.clustering.centre_checks import (
    APART_MIN_FACES,
    APART_SHARE,
    JOIN_SHARE,
    join_lone_faces,
    parted_tree,
)
from faceclust.clustering.constraints import photo_codes
from faceclust.clustering.neighbors import nearest_neighbors
from faceclust.evaluation import identity_of
from faceclust.library.store import load_faces

from .conftest import REPO

CUT = 0.5


def around(centre: np.ndarray, radius: float, count: int, directions: np.ndarray) -> np.ndarray:
    """``count`` faces exactly ``radius`` from ``centre`` along orthonormal ``directions``, centred
    on it: their mean is ``centre``."""
    offsets = directions[:count] - directions[:count].mean(axis=0)
    offsets *= radius / np.linalg.norm(offsets, axis=1, keepdims=True)
    return centre + offsets


def mean_distance(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.linalg.norm(first[:, None] - second[None], axis=2).mean())


def directions(count: int, seed: int = 0) -> np.ndarray:
    basis, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(128, 128)))
    return basis.T[:count]


def two_varied_groups(size: int) -> np.ndarray:
    """Two groups of ``size`` faces whose faces lie within the cut on average, while their
    centres lie farther apart than the kept-apart check allows."""
    axes = directions(2 * size + 1)
    gap = 0.4 * axes[-1]
    faces = np.vstack([around(np.zeros(128), 0.2, size, axes[:size]), around(gap, 0.2, size, axes[size:-1])])
    assert mean_distance(faces[:size], faces[size:]) < CUT
    assert np.linalg.norm(gap) > APART_SHARE * CUT
    return faces


@pytest.mark.parametrize("exact_limit", [10_000, 0], ids=["exact", "graph"])
def test_two_groups_whose_centres_lie_far_apart_stay_apart(exact_limit, monkeypatch):
    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", exact_limit)
    size = APART_MIN_FACES + 2
    faces = two_varied_groups(size)
    assert FaceClusterer(threshold=CUT, centre_checks=False).fit_predict(faces).tolist() == [0] * (2 * size)
    assert sorted(FaceClusterer(threshold=CUT).fit_predict(faces).tolist()) == [0] * size + [1] * size


def test_groups_smaller_than_the_check_join_as_average_linkage_joins_them():
    # A pair of faces has no centre to speak of: it is left to the average.
    size = APART_MIN_FACES - 1
    faces = two_varied_groups(size)
    assert FaceClusterer(threshold=CUT).fit_predict(faces).tolist() == [0] * (2 * size)


def test_a_refused_merge_and_every_merge_above_it_are_out_of_reach():
    faces = two_varied_groups(APART_MIN_FACES)  # faces 0-3 and 4-7
    faces = np.vstack([faces, faces[:4].mean(axis=0)])  # face 8, at the first group's centre
    # A tree in scipy's form (rows: the two nodes merged, height, size; node 9 + row is a row's
    # result): each group built pairwise, the groups joined (row 6), face 8 added (row 7).
    tree = np.array(
        [
            [0, 1, 0.10, 2],
            [2, 3, 0.10, 2],
            [4, 5, 0.10, 2],
            [6, 7, 0.10, 2],
            [9, 10, 0.20, 4],
            [11, 12, 0.20, 4],
            [13, 14, 0.45, 8],
            [8, 15, 0.48, 9],
        ]
    )
    parted = parted_tree(tree, faces, CUT)
    assert np.isinf(parted[6:, 2]).all()
    assert np.array_equal(parted[:6], tree[:6])
    assert np.array_equal(parted[:, [0, 1, 3]], tree[:, [0, 1, 3]])
    # beyond the cut nothing is looked at: the same tree cut lower is left as it is
    assert np.array_equal(parted_tree(tree, faces, 0.3), tree)


def varied_group_and_lone_face(gap: float) -> np.ndarray:
    """A group of 10 varied faces and, last, a face ``gap`` from its centre: too far from its
    faces on average for average linkage at the cut."""
    axes = directions(12)
    group = around(np.zeros(128), 0.32, 10, axes[:10])
    lone = gap * axes[-1]
    assert mean_distance(group[:5], group[5:]) < CUT
    assert mean_distance(lone[None], group) > CUT
    return np.vstack([group, lone])


@pytest.mark.parametrize("exact_limit", [10_000, 0], ids=["exact", "graph"])
def test_a_lone_face_near_a_groups_centre_joins_it(exact_limit, monkeypatch):
    monkeypatch.setattr(agglomerative_module, "EXACT_AGGLOMERATIVE_FACES", exact_limit)
    near = varied_group_and_lone_face(0.95 * JOIN_SHARE * CUT)
    assert FaceClusterer(threshold=CUT, centre_checks=False).fit_predict(near).tolist() == [0] * 10 + [NOISE]
    assert FaceClusterer(threshold=CUT).fit_predict(near).tolist() == [0] * 11
    far = varied_group_and_lone_face(1.05 * JOIN_SHARE * CUT)
    assert FaceClusterer(threshold=CUT).fit_predict(far).tolist() == [0] * 10 + [NOISE]


def test_a_lone_face_does_not_join_a_group_holding_a_face_of_its_photo():
    near = varied_group_and_lone_face(0.95 * JOIN_SHARE * CUT)
    photos = [f"photo{index}.jpg" for index in range(10)] + ["photo3.jpg"]
    assert FaceClusterer(threshold=CUT).fit_predict(near, photos).tolist() == [0] * 10 + [NOISE]
    # without the cannot-link rule, nothing stops it
    assert FaceClusterer(threshold=CUT, cannot_link=False).fit_predict(near, photos).tolist() == [0] * 11


def test_a_lone_face_joins_the_nearest_of_two_near_centres():
    axes = directions(30)
    first = around(np.zeros(128), 0.3, 10, axes[:10])
    second = around(0.8 * axes[-1], 0.3, 10, axes[10:20])
    lone = 0.38 * axes[-1] + 0.1 * axes[-2]  # 0.39 from the first centre, 0.43 from the second
    faces = np.vstack([first, second, lone])
    labels = np.r_[np.zeros(10, int), np.ones(10, int), 2]
    graph = nearest_neighbors(faces, 20)  # both groups among its neighbours
    joined = join_lone_faces(faces, labels, CUT, graph)
    assert joined[-1] == 0
    assert np.array_equal(joined[:-1], labels[:-1])


def test_photos_may_come_as_numbers_or_names_alike():
    near = varied_group_and_lone_face(0.95 * JOIN_SHARE * CUT)
    labels = np.r_[np.zeros(10, int), 1]
    graph = nearest_neighbors(near, 10)
    names = [f"photo{index}.jpg" for index in range(10)] + ["photo3.jpg"]
    numbers = np.array([*range(10), 3])
    assert photo_codes(names).tolist() == numbers.tolist()
    for photos in (names, numbers):
        assert join_lone_faces(near, labels, CUT, graph, photos).tolist() == [0] * 10 + [1]
    assert join_lone_faces(near, labels, CUT, graph, np.arange(11)).tolist() == [0] * 11


def test_on_real_faces_the_lone_faces_that_join_go_to_their_own_person(monkeypatch):
    # The bundled photos' embeddings (test_bundled.py ties them to the real models), cut
    # strictly so that many of a person's faces are left alone: every one the join moves lands
    # in the group of its own person.
    monkeypatch.chdir(REPO)
    faces = load_faces("encodings.pickle")
    encodings, photos = np.stack([f.encoding for f in faces]), [f.image_path for f in faces]
    people = np.array([identity_of(f.image_path, "dataset") for f in faces])
    before = FaceClusterer(threshold=0.45, min_cluster_size=1, centre_checks=False).fit_predict(
        encodings, photos
    )
    after = FaceClusterer(threshold=0.45, min_cluster_size=1).fit_predict(encodings, photos)
    lone = np.flatnonzero(np.bincount(before)[before] == 1)
    joined = [face for face in lone if np.count_nonzero(after == after[face]) > 1]
    assert len(joined) >= 5
    for face in joined:
        group = np.flatnonzero((after == after[face]) & (np.arange(len(faces)) != face))
        assert set(people[group]) == {people[face]}
