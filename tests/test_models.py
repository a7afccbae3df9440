import json
from pathlib import Path

import numpy as np
import pytest

from faceclust.faces import models as models_module
from faceclust.faces.embedding_net import FaceEmbeddingNet
from faceclust.faces.models import (
    FRAMING_PADDINGS,
    FRAMINGS_SCALE,
    MODEL_FILES,
    DlibEmbeddingNet,
    FaceModels,
    model_folder,
)
from faceclust.photos.images import load_rgb

from .conftest import DATASET, REPO, noise_image, person_images

REFERENCES = json.loads((Path(__file__).parent / "data" / "reference_encodings.json").read_text())


def test_model_folder_holds_every_model_file():
    folder = model_folder()
    for name in MODEL_FILES.values():
        assert (folder / name).stat().st_size > 100_000


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda r: f"{r['detection_method']}-{r['image_path']}")
def test_boxes_and_embeddings_equal_face_recognition_1_3_0(models, reference):
    rgb = load_rgb(REPO / reference["image_path"])
    boxes = models.detect(rgb, reference["detection_method"], upsample=1)
    assert boxes == [tuple(box) for box in reference["boxes"]]
    encodings = models.embed(rgb, boxes)
    assert encodings.shape == (len(boxes), 128)
    assert encodings.dtype == np.float64
    np.testing.assert_allclose(encodings, np.array(reference["encodings"]), atol=1e-6, rtol=0)


def test_cnn_batch_gives_the_same_boxes_as_one_image_at_a_time(models):
    cnn_reference = next(r for r in REFERENCES if r["detection_method"] == "cnn")
    rgb = load_rgb(REPO / cnn_reference["image_path"])
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    batch = models.detect_cnn_batch([rgb, flipped], upsample=1)
    assert batch == [models.detect(rgb, "cnn", 1), models.detect(flipped, "cnn", 1)]
    assert len(batch[0]) == 1


@pytest.mark.parametrize("networks", ["numpy", "dlib"])
def test_cnn_batch_takes_images_of_any_shape(networks):
    # dlib's batched call needs one shape (padding would move the boxes), so shapes go in
    # calls of their own; the numpy one takes images one by one. Either way each image gets
    # the boxes it gets alone.
    models = FaceModels(networks=networks)
    rgb = load_rgb(person_images("ben_afflek", 1)[0])  # a face of 115 px: found without upsampling
    cropped = np.ascontiguousarray(rgb[10:, 20:])
    batch = models.detect_cnn_batch([rgb, cropped, rgb[:, ::-1]], upsample=0)
    alone = [models.detect(image, "cnn", 0) for image in (rgb, cropped, np.ascontiguousarray(rgb[:, ::-1]))]
    assert batch == alone
    assert [len(boxes) for boxes in batch] == [1, 1, 1]
    assert models.detect_cnn_batch([]) == []


def test_no_face_gives_no_boxes_and_an_empty_embedding_matrix(models):
    rgb = np.asarray(noise_image(200, 150))
    assert models.detect(rgb, "hog") == []
    assert models.embed(rgb, []).shape == (0, 128)


def test_boxes_are_clipped_to_the_image(models, portrait_path):
    # Crop the photo through the face: the detector's box then reaches past the edge.
    rgb = load_rgb(portrait_path)
    ((_, right, _, left),) = models.detect(rgb, "hog")
    cropped = np.ascontiguousarray(rgb[:, left + (right - left) // 4 :])
    boxes = models.detect(cropped, "hog")
    height, width = cropped.shape[:2]
    for box_top, box_right, box_bottom, box_left in boxes:
        assert 0 <= box_top < box_bottom <= height
        assert 0 <= box_left < box_right <= width


def test_unknown_detection_method_is_an_error(models):
    with pytest.raises(ValueError, match="method must be one of"):
        models.detect(np.zeros((10, 10, 3), np.uint8), "haar")


def test_jitters_change_the_embedding_slightly(models, portrait_path):
    rgb = load_rgb(portrait_path)
    boxes = models.detect(rgb, "hog")
    plain = models.embed(rgb, boxes, jitters=1)
    jittered = models.embed(rgb, boxes, jitters=3)
    distance = np.linalg.norm(plain - jittered)
    assert 0 < distance < 0.2


def test_flip_averages_the_face_and_its_mirror_deterministically(models, portrait_path):
    rgb = load_rgb(portrait_path)
    boxes = models.detect(rgb, "hog")
    plain = models.embed(rgb, boxes)
    flipped = models.embed(rgb, boxes, flip=True)
    assert flipped.shape == (1, 128)
    assert np.array_equal(flipped, models.embed(rgb, boxes, flip=True))
    assert 0 < np.linalg.norm(flipped - plain) < 0.3
    # Averaging a face with its mirror makes the vector the same for the mirrored photo.
    mirror = np.ascontiguousarray(rgb[:, ::-1])
    assert np.linalg.norm(models.embed(mirror, models.detect(mirror, "hog"), flip=True) - flipped) < 0.02


def test_three_framings_average_the_face_framed_three_ways_on_dlibs_scale(models, portrait_path, monkeypatch):
    rgb = load_rgb(portrait_path)
    boxes = models.detect(rgb, "hog")
    framed = models.embed(rgb, boxes, flip=True, framings=3)
    assert framed.shape == (1, 128)
    assert np.array_equal(framed, models.embed(rgb, boxes, flip=True, framings=3))
    each = []
    for padding in FRAMING_PADDINGS:
        monkeypatch.setattr(models_module, "FRAMING_PADDINGS", (padding,))
        each.append(models.embed(rgb, boxes, flip=True))
    monkeypatch.undo()
    # The first framing is dlib's own; the others frame the face tighter and looser.
    assert np.array_equal(each[0], models.embed(rgb, boxes, flip=True))
    assert all(0.05 < np.linalg.norm(other - each[0]) < 0.4 for other in each[1:])
    # The network runs the six chips as one batch, the others two at a time: float32 rounding.
    np.testing.assert_allclose(framed, FRAMINGS_SCALE * np.mean(each, axis=0), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="framings"):
        models.embed(rgb, boxes, framings=2)


def test_three_framings_bring_one_persons_faces_closer_than_strangers(models):
    """On the bundled photos of five people: one person's faces lie closer together, against
    the distances between strangers, than with dlib's framing alone (lfw_dev and
    five_celebrities as well: docs/quality.md, "Three framings")."""
    people, one, three = [], [], []
    for person in sorted(p.name for p in DATASET.iterdir() if p.is_dir()):
        for path in person_images(person, 6):
            rgb = load_rgb(path)
            boxes = models.detect(rgb, "hog")
            if not boxes:
                continue
            largest = [max(boxes, key=lambda box: (box[2] - box[0]) * (box[1] - box[3]))]
            people.append(person)
            one.append(models.embed(rgb, largest, flip=True)[0])
            three.append(models.embed(rgb, largest, flip=True, framings=3)[0])
    people = np.array(people)
    assert len(set(people)) == 5 and len(people) >= 25
    same = people[:, None] == people[None]
    pairs = np.triu_indices(len(people), 1)

    def closeness(vectors):
        vectors = np.array(vectors)
        distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)[pairs]
        return np.median(distances[same[pairs]]) / np.median(distances[~same[pairs]])

    assert closeness(three) < closeness(one)


def test_dlibs_own_network_used_on_cuda_builds_gives_the_same_embeddings(models, portrait_path):
    # A dlib built with CUDA embeds with its own network, on the GPU; on the CPU it is forced.
    assert isinstance(models.embedding_net, FaceEmbeddingNet)  # dlib-bin has no CUDA
    rgb = load_rgb(portrait_path)
    boxes = models.detect(rgb, "hog")
    dlib_models = FaceModels(networks="dlib")
    assert isinstance(dlib_models.embedding_net, DlibEmbeddingNet)
    for flip in (False, True):
        np.testing.assert_allclose(
            dlib_models.embed(rgb, boxes, flip=flip), models.embed(rgb, boxes, flip=flip), atol=1e-6, rtol=0
        )
    assert dlib_models.embedding_net(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(ValueError, match="networks"):
        FaceModels(networks="gpu")
