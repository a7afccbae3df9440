"""HOG's doubtful detections judged by the CNN: real faces stay, what is not a face goes."""

import numpy as np
import pytest

from faceclust.cli import encode_main
from faceclust.encode.batch import encode_image
from faceclust.encode.settings import EncodeSettings
from faceclust.faces import face_check
from faceclust.photos.images import load_rgb

from .conftest import noise_image, person_images, same_face_box


@pytest.fixture(scope="module")
def portraits(models):
    """(rgb, its one HOG box, HOG's score) for a few bundled portraits."""
    found = []
    for path in person_images("madonna", 2) + person_images("jerry_seinfeld", 2):
        rgb = load_rgb(path)
        ((box, score),) = models.detect_hog_scored(rgb, 1)
        found.append((rgb, box, score))
    return found


def test_hog_on_its_own_search_copy_finds_the_faces_dlibs_upsampling_finds(models, portraits):
    for rgb, box, score in portraits:
        (dlibs_box,) = models.detect(rgb, "hog", 1)
        assert same_face_box(box, dlibs_box)
        assert score > 0


def test_the_cnn_confirms_real_faces_in_their_hog_boxes(models, portraits):
    for rgb, box, _ in portraits:
        assert face_check.cnn_confidence(models.cnn_net, rgb, box, floor=-4.0) > 0.5
        # Doubted or not, a real face is kept.
        assert face_check.likely_faces(models.cnn_net, rgb, [(box, 0.01)]) == ([box], 0)


def test_boxes_on_what_is_not_a_face_are_dropped_only_when_doubted(models, portraits):
    rgb, box, _ = portraits[0]
    top, right, bottom, left = box
    side = right - left
    # The same photo with the face covered by noise; and a box the size of the face on its clothes.
    covered = rgb.copy()
    covered[top:bottom, left:right] = np.asarray(noise_image(right - left, bottom - top))
    below = (
        min(bottom + side // 2, rgb.shape[0] - side),
        right,
        min(bottom + side // 2, rgb.shape[0] - side) + side,
        left,
    )
    for image, junk in ((covered, box), (rgb, below)):
        assert face_check.cnn_confidence(models.cnn_net, image, junk, floor=-4.0) < face_check.CNN_CUT
        assert face_check.likely_faces(models.cnn_net, image, [(junk, 0.2)]) == ([], 1)
        # HOG sure of itself: not doubted, kept.
        assert face_check.likely_faces(models.cnn_net, image, [(junk, 0.8)]) == ([junk], 0)


def test_a_box_at_the_photo_edge_is_judged_on_a_black_border(models, portraits):
    rgb, box, _ = portraits[2]
    top, right, bottom, left = box
    crop = face_check.box_crop(rgb, (top, right, bottom, left))
    assert crop.shape == (face_check.CROP_SIDE, face_check.CROP_SIDE, 3)
    cut = np.ascontiguousarray(rgb[:, left + (right - left) // 3 :])
    edge_box = (top, right - left - (right - left) // 3, bottom, 0)
    edge_crop = face_check.box_crop(cut, edge_box)
    assert edge_crop[:, :40].max() == 0  # left of the photo
    assert face_check.cnn_confidence(models.cnn_net, cut, edge_box, floor=-4.0) > -4.0


def test_encoding_drops_counts_and_can_keep_what_the_check_rejects(models, portrait_path, monkeypatch):
    kept = encode_image(str(portrait_path), EncodeSettings(), models)
    assert len(kept.faces) == 1 and kept.rejected == 0
    # Make every detection doubted and no CNN score good enough: the face is dropped and counted.
    monkeypatch.setattr(face_check, "DOUBTFUL_BELOW", 100.0)
    monkeypatch.setattr(face_check, "YUNET_DOUBTFUL_BELOW", 100.0)
    monkeypatch.setattr(face_check, "CNN_CUT", 10.0)
    rejected = encode_image(str(portrait_path), EncodeSettings(), models)
    assert rejected.faces == [] and rejected.rejected == 1
    unchecked = encode_image(str(portrait_path), EncodeSettings(check_faces=False), models)
    assert [face.box for face in unchecked.faces] == [face.box for face in kept.faces]
    assert unchecked.rejected == 0
    # --profile shows the check as a stage of its own.
    assert "check" in rejected.seconds and "check" not in unchecked.seconds


def test_checking_changes_the_cache_key_and_the_cli_flag_turns_it_off(
    small_dataset, tmp_path, capsys, monkeypatch
):
    assert EncodeSettings().cache_key() != EncodeSettings(check_faces=False).cache_key()
    assert EncodeSettings("cnn").cache_key() == EncodeSettings("cnn", check_faces=False).cache_key()
    monkeypatch.setattr(face_check, "DOUBTFUL_BELOW", 100.0)
    monkeypatch.setattr(face_check, "YUNET_DOUBTFUL_BELOW", 100.0)
    monkeypatch.setattr(face_check, "CNN_CUT", 10.0)
    out = tmp_path / "checked.pickle"
    assert encode_main(["-i", str(small_dataset), "-e", str(out), "-j", "1", "-q"]) == 3  # no faces left
    assert "detections were dropped as not faces; --keep-unlikely-faces keeps them" in capsys.readouterr().err
    kept = tmp_path / "kept.pickle"
    assert (
        encode_main(["-i", str(small_dataset), "-e", str(kept), "-j", "1", "-q", "--keep-unlikely-faces"])
        == 0
    )
    assert "not faces" not in capsys.readouterr().err


def test_the_closing_summary_counts_the_dropped_detections(capsys):
    from faceclust.cli.encode import _print_encode_summary
    from faceclust.encode.run import EncodeSummary

    summary = EncodeSummary(images=10, images_with_faces=4, faces=5, rejected=3, photos_with_rejected=2)
    _print_encode_summary(summary, "encodings.pickle", False, EncodeSettings())
    err = capsys.readouterr().err
    assert "dropped 3 detections in 2 photos that the CNN detector does not take for faces" in err
    _print_encode_summary(EncodeSummary(images=1, faces=1), "encodings.pickle", False, EncodeSettings())
    assert "dropped" not in capsys.readouterr().err
