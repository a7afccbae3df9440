"""The numpy embedding network against dlib's own forward pass, and its model-file reader."""

import numpy as np
import pytest

from faceclust.errors import ModelError
from faceclust.faces import embedding_net as resnet
from faceclust.faces.dlib_format import Reader
from faceclust.faces.embedding_net import FaceEmbeddingNet
from faceclust.faces.models import CHIP_PADDING, CHIP_SIZE, MODEL_FILES, model_folder
from faceclust.photos.images import load_rgb

from .conftest import person_images


@pytest.fixture(scope="module")
def chips(models):
    """Aligned chips of real faces: two people, a mirrored chip and a randomly jittered one."""
    import dlib

    found = []
    for path in person_images("ben_afflek", 1) + person_images("jerry_seinfeld", 1):
        rgb = load_rgb(path)
        ((top, right, bottom, left),) = models.detect(rgb, "hog")[:1]
        shape = models.landmark_predictor(rgb, dlib.rectangle(left, top, right, bottom))
        found.append(dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING))
    found.append(np.ascontiguousarray(found[0][:, ::-1]))
    found += dlib.jitter_image(found[1], 1)
    return np.stack(found)


def test_embeddings_equal_dlibs_own_forward_pass(models, chips, monkeypatch):
    import dlib

    reference_net = dlib.face_recognition_model_v1(str(model_folder() / MODEL_FILES["embedding"]))
    expected = np.array([np.array(v) for v in reference_net.compute_face_descriptor(list(chips))])
    # Batches of 3 and 1 chips: results must not depend on what shares a batch.
    monkeypatch.setattr(resnet, "BATCH_SIZE", 3)
    vectors = models.embedding_net(chips)
    assert vectors.shape == (len(chips), 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected, atol=1e-6, rtol=0)
    # The two people are far apart and the mirrored face stays close to its original.
    assert np.linalg.norm(vectors[0] - vectors[1]) > 0.6
    assert np.linalg.norm(vectors[0] - vectors[2]) < 0.35


def test_chips_of_another_size_are_refused(models):
    with pytest.raises(ValueError, match="150, 150, 3"):
        models.embedding_net(np.zeros((1, 100, 100, 3), np.uint8))
    assert models.embedding_net(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_other_model_files_are_refused_with_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not dlib's face embedding model"):
        FaceEmbeddingNet.from_file(model_folder() / MODEL_FILES["landmarks"])
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes((model_folder() / MODEL_FILES["embedding"]).read_bytes()[:5_000_000])
    with pytest.raises(ModelError, match="not dlib's face embedding model"):
        FaceEmbeddingNet.from_file(truncated)


def test_reader_decodes_dlib_integers_floats_and_strings():
    # 300 = 0x012c in two bytes; -5 in one byte with the sign bit; "con_4"; and dlib's
    # input-layer mean 122.782 as mantissa 16093282 times 2 to the -17.
    data = b"\x02\x2c\x01" + b"\x81\x05" + b"\x01\x05con_4" + b"\x03\x62\x90\xf5\x81\x11"
    reader = Reader(data)
    assert reader.integer() == 300
    assert reader.integer() == -5
    assert reader.string() == "con_4"
    assert reader.real() == pytest.approx(122.782, abs=1e-4)
    assert reader.position == len(data)
    with pytest.raises(ValueError, match="bad integer"):
        Reader(b"\x7f\x00").integer()


def test_model_file_reads_the_layers_dlib_documents():
    net = FaceEmbeddingNet.from_file(model_folder() / MODEL_FILES["embedding"])
    assert len(net.convolutions) == 1 + 2 * len(resnet.BLOCKS) == 29
    np.testing.assert_allclose(net.channel_means, [122.782, 117.001, 104.298], atol=1e-3)
    assert net.projection.shape == (256, 128)
