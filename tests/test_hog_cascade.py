"""HOG searching a large photo only where YuNet sees a face (faces/hog_cascade.py), against its
own scan of the whole photo (--full-scan)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceclust.cli import encode_main
from faceclust.encode.batch import encode_image
from faceclust.encode.settings import EncodeSettings
from faceclust.faces.hog_cascade import detect_hog_where_yunet_sees
from faceclust.faces.models import iou

from .conftest import DATASET, PORTRAITS, jpeg_bytes, same_face_box

# Each bundled portrait pasted twice, its face at these sizes: from the default smallest face up.
FACE_SIZES = ((75, 240), (110, 320), (160, 90))


def not_scanned(*args, **kwargs):
    raise AssertionError("HOG scanned the whole photo")


def not_proposed(*args, **kwargs):
    raise AssertionError("YuNet was asked for proposals")


@pytest.fixture(scope="module")
def group_photo(models, tmp_path_factory):
    """A 4000x3000 JPEG (a 12 MP camera photo's size): three people's portraits, each pasted
    twice with faces of 75-320 px on a textured background, and where each face is."""
    width, height = 4000, 3000
    rng = np.random.default_rng(7)
    texture = rng.integers(60, 200, (height // 8, width // 8, 3), dtype=np.uint8)
    canvas = Image.fromarray(texture).resize((width, height), Image.Resampling.BICUBIC)
    faces = []
    for column, (person, name) in enumerate(PORTRAITS.items()):
        with Image.open(DATASET / person / name) as image:
            portrait = image.convert("RGB")
        top, right, bottom, left = models.detect(np.asarray(portrait), "hog", 1)[0]
        for row, size in enumerate(FACE_SIZES[column]):
            factor = size / (bottom - top)
            scaled = portrait.resize(
                (round(portrait.width * factor), round(portrait.height * factor)), Image.Resampling.LANCZOS
            )
            x, y = 150 + 1300 * column, 150 + 1450 * row
            canvas.paste(scaled, (x, y))
            faces.append(
                tuple(
                    round(v)
                    for v in (y + top * factor, x + right * factor, y + bottom * factor, x + left * factor)
                )
            )
    path = tmp_path_factory.mktemp("cascade") / "group.jpg"
    path.write_bytes(jpeg_bytes(canvas, quality=92))
    return path, faces


def test_a_camera_photo_is_searched_where_yunet_sees_a_face_and_gives_the_faces_of_hogs_scan(
    models, group_photo, monkeypatch
):
    path, pasted = group_photo
    scanned = encode_image(str(path), EncodeSettings(full_scan=True), models).faces
    # The default never scans the whole photo with HOG (fails before: it did).
    monkeypatch.setattr(models, "detect_hog_scored", not_scanned)
    proposed = encode_image(str(path), EncodeSettings(), models).faces
    # Every face pasted, and every face of HOG's scan (which here misses one of 240 px).
    assert len(proposed) == len(pasted) and len(scanned) >= len(pasted) - 1
    assert all(max(iou(face.box, box) for face in proposed) > 0.5 for box in pasted)
    for theirs in scanned:
        ours = max(proposed, key=lambda face: iou(face.box, theirs.box))
        # HOG's own box, up to a step of its pyramid (the crop's levels fall a little apart
        # from the whole photo's), and so the same person's vector.
        assert same_face_box(ours.box, theirs.box)
        assert np.linalg.norm(ours.encoding - theirs.encoding) < 0.25


def test_a_photo_up_to_1024_px_is_scanned_whole_as_before(models, portrait_path, monkeypatch):
    scanned = encode_image(str(portrait_path), EncodeSettings(full_scan=True), models)
    monkeypatch.setattr(models, "detect_yunet_scored", not_proposed)
    default = encode_image(str(portrait_path), EncodeSettings(), models)
    assert [face.box for face in default.faces] == [face.box for face in scanned.faces]
    np.testing.assert_array_equal(default.faces[0].encoding, scanned.faces[0].encoding)


def test_hog_keeps_a_proposed_face_once_with_its_own_box_and_drops_what_it_does_not_see(
    models, group_photo, monkeypatch
):
    path, pasted = group_photo
    rgb = np.asarray(Image.open(path).convert("RGB"))
    face = pasted[2]  # 110 px
    side = face[2] - face[0]
    shifted = tuple(value + round(0.06 * side) for value in face)
    background = (2500, 3900, 2700, 3700)  # texture only
    proposals = [(face, 0.9), (shifted, 0.8), (background, 0.5)]
    monkeypatch.setattr(models, "detect_yunet_scored", lambda rgb, scale: proposals)
    settings = EncodeSettings()
    found = detect_hog_where_yunet_sees(models, rgb, settings.detection_scale(4000), settings.upsample, 0.5)
    assert len(found) == 1
    (box, score), *_ = found
    assert score > 0 and iou(box, face) > 0.5
    (own,) = [
        b
        for b, _ in models.detect_hog_scored(rgb, settings.upsample, settings.detection_scale(4000))
        if iou(b, face) > 0.5
    ]
    assert same_face_box(box, own)


def test_the_full_scan_keeps_the_key_indexes_were_made_under_and_is_hogs_alone():
    assert (
        EncodeSettings(full_scan=True, min_face_size=70).cache_key()
        == "hog/checked/onecopy/up1/jit1/min70/flip/framed3/v2"
    )
    assert EncodeSettings().cache_key() == "hog/checked/onecopy/proposed40/up1/jit1/min55/flip/framed3/v2"
    # YuNet proposes faces a quarter smaller than asked, as HOG's scan reaches them.
    assert "proposed30" in EncodeSettings(min_face_size=40).cache_key()
    # The older --detect-size rule searches as it did, under its key.
    assert (
        EncodeSettings(detect_size=1024).cache_key()
        == "hog/checked/onecopy/up1/jit1/size1024/flip/framed3/v1"
    )
    assert not EncodeSettings().searches_proposals(1024) and EncodeSettings().searches_proposals(1025)
    for wrong in ({"detection_method": "yunet"}, {"detection_method": "cnn"}):
        with pytest.raises(ValueError, match="full_scan"):
            EncodeSettings(full_scan=True, **wrong)
    with pytest.raises(SystemExit) as exit_info:
        encode_main(["-i", str(DATASET), "-d", "yunet", "--full-scan"])
    assert exit_info.value.code == 2
