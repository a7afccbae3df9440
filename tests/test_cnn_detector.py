"""The numpy CNN face detector against dlib's own: its resizes, its pyramid, its detections."""

import json

import dlib
import numpy as np
import pytest

from faceclust.errors import ModelError
from faceclust.faces.cnn_detector import FaceDetectorNet, Rect, resize_bilinear, tiled_pyramid
from faceclust.faces.models import MODEL_FILES, model_folder
from faceclust.photos.images import load_rgb

from .cnn_photos import REFERENCE, REPO, bundled_photos, composite_photos

# Float rounding (dlib sums its products in another order) moves a confidence by about 4e-6.
CONFIDENCE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def net() -> FaceDetectorNet:
    return FaceDetectorNet.from_file(model_folder() / MODEL_FILES["cnn"])


@pytest.fixture(scope="module")
def dlib_detector():
    return dlib.cnn_face_detection_model_v1(str(model_folder() / MODEL_FILES["cnn"]))


def found(detections) -> list[tuple]:
    return [(d.rect.left, d.rect.top, d.rect.right, d.rect.bottom, d.confidence) for d in detections]


def dlib_found(detections) -> list[tuple]:
    return [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), d.confidence) for d in detections]


def assert_same_detections(ours: list[tuple], theirs: list[tuple]) -> None:
    # Best first in both; equal boxes, confidences within the tolerance.
    assert [box[:4] for box in ours] == [box[:4] for box in theirs]
    np.testing.assert_allclose(
        [box[4] for box in ours], [box[4] for box in theirs], atol=CONFIDENCE_TOLERANCE, rtol=0
    )


@pytest.mark.parametrize("size", [(601, 804), (250, 167), (37, 91), (5, 4)])
def test_resizes_equal_dlibs_resize_image(portrait, size):
    rgb = np.asarray(portrait)
    rows, columns = size
    ours = resize_bilinear(np.ascontiguousarray(rgb.transpose(2, 0, 1)), rows, columns).transpose(1, 2, 0)
    assert np.array_equal(ours, dlib.resize_image(rgb, rows, columns))  # uint8: bit for bit
    plane = np.random.default_rng(0).random(rgb.shape[:2]).astype(np.float32) - 0.5
    np.testing.assert_allclose(
        resize_bilinear(plane[None], rows, columns)[0], dlib.resize_image(plane, rows, columns), atol=1e-7
    )


def test_tiled_pyramid_holds_every_level_once_without_overlap():
    levels, rows, columns = tiled_pyramid(501, 502, padding=10, outer_padding=11)
    assert levels[0] == Rect(11, 11, 512, 511)
    canvas = Rect(0, 0, columns - 1, rows - 1)
    for index, level in enumerate(levels):
        assert canvas.intersect(level) == level
        if index:
            previous = levels[index - 1]
            assert (level.height, level.width) == (int(previous.height * 5 / 6), int(previous.width * 5 / 6))
        for other in levels[index + 1 :]:
            assert level.intersect(other).is_empty()
    assert levels[-1].height >= 5
    assert tiled_pyramid(0, 10, 10, 11) == ([], 0, 0)


@pytest.mark.parametrize("index", [0, 40])
@pytest.mark.parametrize("upsample", [0, 1])
def test_detections_equal_dlibs_own_cnn(net, dlib_detector, index, upsample):
    rgb = load_rgb(bundled_photos()[index])
    ours = found(net(rgb, upsample))
    assert ours or upsample == 0, "with one upsample the CNN finds each bundled portrait's face"
    assert_same_detections(ours, dlib_found(dlib_detector(rgb, upsample)))


def test_group_photo_detections_equal_dlibs_own_cnn(net, dlib_detector):
    rgb = composite_photos()["group"]
    ours = found(net(rgb, 1))
    assert len(ours) >= 2
    assert_same_detections(ours, dlib_found(dlib_detector(rgb, 1)))


# The stored references the suite checks, to keep it quick: every photo at upsample 0, a third
# of the bundled ones at 1 (all of them at 1 take a minute more), upsample 2 on two composites.
def checked_here(reference: dict, position: int) -> bool:
    if reference["upsample"] == 0:
        return True
    if reference["photo"].startswith("dataset/"):
        return reference["upsample"] == 1 and position % 3 == 0
    return reference["upsample"] == 1 or reference["photo"] in ("small faces", "turned 25")


def test_detections_equal_the_stored_dlib_references(net):
    """Bundled photos, and composite photos with several, turned and small faces, against the
    boxes dlib found on them (data/make_cnn_reference.py)."""
    stored = json.loads(REFERENCE.read_text())
    composites = composite_photos()
    checked = 0
    for position, reference in enumerate(stored["references"]):
        if not checked_here(reference, position // 2):
            continue
        name = reference["photo"]
        rgb = composites[name] if name in composites else load_rgb(REPO / name)
        theirs = [(*d["box"], d["confidence"]) for d in reference["found"]]
        assert_same_detections(found(net(rgb, reference["upsample"])), theirs)
        checked += len(theirs)
    assert checked > 100


def test_small_faces_are_found_only_with_upsampling(net):
    rgb = composite_photos()["small faces"]
    assert net(rgb, 0) == []
    assert len(net(rgb, 1)) >= 2


def test_a_lower_threshold_gives_more_windows_best_first(net):
    rgb = load_rgb(bundled_photos()[0])
    windows = net.windows(rgb, 0, threshold=-1.0)
    confidences = [window.confidence for window in windows]
    assert confidences == sorted(confidences, reverse=True)
    assert len(windows) > len(net.windows(rgb, 0)) >= len(net(rgb, 0)) == 1
    assert min(confidences) > -1.0


def test_images_too_small_for_a_window_give_nothing(net):
    assert net(np.zeros((3, 3, 3), np.uint8)) == []
    assert net(np.zeros((40, 30, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="uint8"):
        net(np.zeros((40, 30), np.uint8))


def test_other_model_files_are_refused(tmp_path):
    with pytest.raises(ModelError, match="CNN face detector"):
        FaceDetectorNet.from_file(model_folder() / MODEL_FILES["embedding"])
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes((model_folder() / MODEL_FILES["cnn"]).read_bytes()[:5000])
    with pytest.raises(ModelError, match="CNN face detector"):
        FaceDetectorNet.from_file(truncated)


def test_a_large_canvas_done_in_bands_gives_the_same_windows(net, monkeypatch):
    from faceclust.faces import cnn_detector as mmod

    rgb = composite_photos()["group"]
    whole = found(net.windows(rgb, 1, threshold=-0.5))
    monkeypatch.setattr(mmod, "BAND_PIXELS", 40_000)  # bands of a few rows of the 1400 px canvas
    banded = found(net.windows(rgb, 1, threshold=-0.5))
    assert len(whole) > 3
    # The same windows; the scores only as equal as the BLAS's blocking of other matrix sizes.
    assert_same_detections(banded, whole)
