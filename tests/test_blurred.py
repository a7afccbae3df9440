"""Blurred faces: how sharp a face is for its size (faces/sharpness.py), and the rule that lets
blurred faces join groups but not make one (clustering/blurred.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from faceclust.cli import cluster_main
from faceclust.clustering import FaceClusterer, LinkConstraints
from faceclust.clustering.blurred import BLURRED, without_blurred_groups
from faceclust.encode.batch import encode_image
from faceclust.encode.settings import EncodeSettings
from faceclust.faces.sharpness import sharpness
from faceclust.library.store import save_faces
from faceclust.records import Face

from .conftest import DATASET, PORTRAITS, jpeg_bytes


@pytest.mark.parametrize("person", sorted(PORTRAITS))
def test_a_real_face_measures_sharp_at_any_size_and_blurred_when_out_of_focus(person, models, tmp_path):
    with Image.open(DATASET / person / PORTRAITS[person]) as image:
        portrait = image.convert("RGB")
    path = tmp_path / "portrait.jpg"
    path.write_bytes(jpeg_bytes(portrait, quality=92))
    [face] = encode_image(str(path), EncodeSettings(), models).faces
    # The pipeline measures each face it encodes.
    assert face.sharpness is not None and face.sharpness >= BLURRED
    size = face.box[2] - face.box[0]
    # Out of focus by a thirtieth of the face's size: in the bench, such strangers were grouped
    # with other strangers more often than not.
    blurred = np.asarray(portrait.filter(ImageFilter.GaussianBlur(size / 30)))
    assert sharpness(blurred, face.box) < BLURRED < face.sharpness
    # The same face shrunk to about 50 px is small, not blurred: sharp for its size.
    factor = 50 / size
    small = portrait.resize(
        (round(portrait.width * factor), round(portrait.height * factor)), Image.Resampling.LANCZOS
    )
    small_box = tuple(round(value * factor) for value in face.box)
    assert sharpness(np.asarray(small), small_box) >= BLURRED


def test_a_flat_patch_or_a_box_outside_the_image_measures_zero():
    grey = np.full((100, 100, 3), 128, dtype=np.uint8)
    assert sharpness(grey, (10, 60, 60, 10)) == 0.0
    assert sharpness(grey, (200, 300, 300, 200)) == 0.0


def people_and_strangers(seed: int = 0):
    """Two people of four faces each and three strangers whose faces lie near one another (as
    blurred faces do), as vectors; which face is whose; and each face's photo."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 128))
    centres *= 1.2 / np.linalg.norm(centres, axis=1, keepdims=True)
    owners = np.repeat([0, 1, 2], [4, 4, 3])
    vectors = centres[owners] + rng.normal(scale=0.01, size=(len(owners), 128))
    return vectors, owners, [f"photo{i}.jpg" for i in range(len(owners))]


def test_blurred_faces_that_would_make_a_group_alone_are_left_unknown():
    vectors, owners, photos = people_and_strangers()
    sharp = np.where(owners == 2, 0.1, 0.9)
    clusterer = FaceClusterer()
    plain = clusterer.fit_predict(vectors, photos)
    assert len(set(plain[owners == 2].tolist())) == 1 and plain[owners == 2][0] != -1  # a group of strangers
    labels = clusterer.fit_predict(vectors, photos, sharpness=sharp)
    assert (labels[owners == 2] == -1).all() and clusterer.blurred_faces_ == 3
    assert (labels[owners < 2] == plain[owners < 2]).all()  # the people's groups as they were


def test_a_blurred_face_joins_the_group_its_sharp_faces_made():
    vectors, owners, photos = people_and_strangers()
    sharp = np.full(len(owners), 0.9)
    sharp[[0, 1, 2]] = 0.1  # three of person 0's four faces blurred: one sharp face is too few
    sharp[4] = 0.1  # one of person 1's blurred: three sharp faces are enough
    labels = FaceClusterer().fit_predict(vectors, photos, sharpness=sharp)
    assert (labels[owners == 0] == -1).all()
    assert len(set(labels[owners == 1].tolist())) == 1 and labels[4] != -1


def test_unmeasured_faces_count_as_sharp_and_a_users_group_stays():
    vectors, owners, photos = people_and_strangers()
    unmeasured = np.where(owners == 2, np.nan, 0.9)  # encoded before sharpness was measured
    labels = FaceClusterer().fit_predict(vectors, photos, sharpness=unmeasured)
    assert labels[owners == 2][0] != -1
    # The user put the three blurred faces together: their word wins.
    links = LinkConstraints(groups=[np.flatnonzero(owners == 2)], kept=(True,))
    blurred = np.where(owners == 2, 0.1, 0.9)
    labels = FaceClusterer().fit_predict(vectors, photos, links, blurred)
    assert len(set(labels[owners == 2].tolist())) == 1 and labels[owners == 2][0] != -1
    with pytest.raises(ValueError, match="sharpness has 2 entries for 11 faces"):
        without_blurred_groups(np.zeros(11, dtype=np.int64), np.ones(2))


def test_cluster_faces_says_how_many_blurred_faces_it_left_unknown(tmp_path, capsys):
    vectors, owners, photos = people_and_strangers()
    faces = [
        Face(photo, (10, 60, 60, 10), vector, sharpness=0.1 if owner == 2 else 0.9)
        for photo, vector, owner in zip(photos, vectors, owners, strict=True)
    ]
    save_faces(tmp_path / "e.pickle", faces)
    assert cluster_main(["-e", str(tmp_path / "e.pickle"), "-o", str(tmp_path / "out")]) == 0
    assert "3 blurred faces" in capsys.readouterr().err
    clusters = json.loads((tmp_path / "out" / "clusters.json").read_text())
    unknown = {face["image_path"] for face in clusters["unknown"]["faces"]}
    assert unknown == {photos[i] for i in np.flatnonzero(owners == 2)}


def test_blurred_faces_too_few_to_make_a_group_anyway_are_not_counted_as_the_rules():
    vectors, owners, photos = people_and_strangers()
    two = np.flatnonzero(owners < 2).tolist() + np.flatnonzero(owners == 2).tolist()[:2]
    sharp = np.where(owners[two] == 2, 0.1, 0.9)
    clusterer = FaceClusterer(min_cluster_size=3)
    labels = clusterer.fit_predict(vectors[two], [photos[i] for i in two], sharpness=sharp)
    # Two strangers are too few for a group of three: unknown without the rule, and not counted.
    assert (labels[-2:] == -1).all() and clusterer.blurred_faces_ == 0
