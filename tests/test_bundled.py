"""The bundled encodings.pickle is what encode_faces.py produces from dataset/ today."""

import numpy as np
import pytest

from faceclust.clustering import FaceClusterer
from faceclust.clustering.blurred import sharpness_of
from faceclust.encode.run import encode_dataset
from faceclust.encode.settings import EncodeSettings
from faceclust.evaluation import score_against_folders
from faceclust.library.store import load_faces
from faceclust.photos.images import find_images

from .conftest import REPO


@pytest.mark.slow
def test_bundled_encodings_match_a_fresh_encoding_of_the_bundled_dataset(monkeypatch):
    monkeypatch.chdir(REPO)
    bundled = load_faces("encodings.pickle")
    fresh, summary = encode_dataset(find_images("dataset"), EncodeSettings(), jobs=2)
    assert summary.skipped == []
    assert [(f.image_path, f.box) for f in fresh] == [(f.image_path, f.box) for f in bundled]
    np.testing.assert_allclose(
        np.stack([f.encoding for f in fresh]), np.stack([f.encoding for f in bundled]), atol=1e-6, rtol=0
    )
    assert None not in [f.sharpness for f in bundled]
    assert [f.sharpness for f in bundled] == pytest.approx([f.sharpness for f in fresh], abs=1e-9)


def test_bundled_dataset_is_small_and_labelled_one_folder_per_person():
    people = sorted(p.name for p in (REPO / "dataset").iterdir() if p.is_dir())
    assert people == ["ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling"]
    size = sum(p.stat().st_size for p in (REPO / "dataset").rglob("*") if p.is_file())
    assert size < 10_000_000


def test_default_clustering_of_the_bundled_encodings_meets_the_quality_target(monkeypatch):
    # The bundled photos are five_celebrities, the web photos of the quality issue (#4); the
    # test above ties encodings.pickle to what the default settings compute from them today.
    monkeypatch.chdir(REPO)
    faces = load_faces("encodings.pickle")
    labels = FaceClusterer().fit_predict(
        np.stack([f.encoding for f in faces]), [f.image_path for f in faces], sharpness=sharpness_of(faces)
    )
    scores = score_against_folders(faces, labels, "dataset")
    assert scores.bcubed_precision == 1.0  # no two people share a group
    assert scores.bcubed_f1 >= 0.98 and scores.pairwise_f1 >= 0.98
