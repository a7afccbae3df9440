"""YuNet in numpy against libfacedetection's C++ (outputs computed once, data/yunet_reference.json),
its tiles, and the detector in the encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceclust.encode.batch import encode_image
from faceclust.encode.settings import EncodeSettings
from faceclust.faces import yunet
from faceclust.faces.yunet import YuNet, detect_tiled
from faceclust.photos.images import load_rgb

from .cnn_photos import REPO, bundled_photos, composite_photos
from .conftest import DATASET, PORTRAITS

REFERENCE = Path(__file__).parent / "data" / "yunet_reference.json"


@pytest.fixture(scope="module")
def net() -> YuNet:
    return YuNet()


def test_the_numpy_network_finds_what_the_c_plus_plus_finds(net):
    reference = json.loads(REFERENCE.read_text())
    photos = {path.relative_to(REPO).as_posix(): load_rgb(path) for path in bundled_photos()}
    photos.update(composite_photos())
    assert set(photos) == set(reference)
    faces = 0
    for name, rgb in photos.items():
        found = net.detect(rgb)
        expected = reference[name]
        assert len(found) == len(expected), name
        for detection, (score, x, y, w, h, *landmarks) in zip(found, expected, strict=True):
            assert detection.score == pytest.approx(score, abs=1e-4), name
            # The C++ truncates to integers: within a pixel of ours truncated.
            bx, by, bw, bh = detection.box
            assert abs(int(bx) - x) <= 1 and abs(int(by) - y) <= 1, name
            assert abs(int(bx + bw) - int(bx) - w) <= 1 and abs(int(by + bh) - int(by) - h) <= 1, name
            ours = [int(value) for point in detection.landmarks for value in point]
            assert max(abs(a - b) for a, b in zip(ours, landmarks, strict=True)) <= 1, name
        faces += len(found)
    assert faces >= 120  # every bundled portrait and the composites' faces, and the C++'s doubts


def test_tiles_find_the_faces_the_whole_image_gives(net, monkeypatch):
    rgb = composite_photos()["group"]
    whole = net.detect(rgb)
    assert len([d for d in whole if d.score > 0.6]) >= 4
    # Tiles of 256 px overlapping by 192: the group photo is searched in pieces, and at a
    # quarter of its size.
    monkeypatch.setattr(yunet, "MAX_PASS_PIXELS", 200 * 200)
    monkeypatch.setattr(yunet, "TILE", 256)
    monkeypatch.setattr(yunet, "OVERLAP", 192)
    tiled = detect_tiled(net, rgb)
    for face in (d for d in whole if d.score > 0.6):
        match = max(tiled, key=lambda d: _iou(d.box, face.box))
        assert _iou(match.box, face.box) > 0.8
        assert match.score == pytest.approx(face.score, abs=0.15)
    # Joined across tiles: no face twice.
    strong = [d for d in tiled if d.score > 0.6]
    assert len(strong) == len([d for d in whole if d.score > 0.6])


def _iou(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    w = min(ax0 + aw, bx0 + bw) - max(ax0, bx0)
    h = min(ay0 + ah, by0 + bh) - max(ay0, by0)
    inside = max(0.0, w) * max(0.0, h)
    return inside / (aw * ah + bw * bh - inside)


def test_yunet_in_the_encoder_finds_the_face_hog_finds_and_embeds_it_alike(models):
    path = str(DATASET / "elton_john" / PORTRAITS["elton_john"])
    hog = encode_image(path, EncodeSettings(), models)
    found = encode_image(path, EncodeSettings(detection_method="yunet"), models)
    assert len(found.faces) == len(hog.faces) == 1
    box, reference = found.faces[0].box, hog.faces[0].box
    # The box mapped to dlib's: close to HOG's own, so the landmarks and vector agree.
    assert abs(box[0] - reference[0]) < 12 and abs(box[3] - reference[3]) < 12
    assert np.linalg.norm(found.faces[0].encoding - hog.faces[0].encoding) < 0.15


def test_a_face_as_large_as_the_tiles_overlap_is_found_once(net, monkeypatch):
    # Tiles keep the faces up to the overlap, the quarter-size pass the larger ones; a face near
    # that size, whose box differs a little between the two scales (here 245 px in a tile and
    # 235 px at quarter size), must be kept by one of them, and only once.
    from PIL import Image

    portrait = Image.open(DATASET / "ben_afflek" / PORTRAITS["ben_afflek"]).convert("RGB")
    monkeypatch.setattr(yunet, "MAX_PASS_PIXELS", 200 * 200)
    monkeypatch.setattr(yunet, "TILE", 512)
    monkeypatch.setattr(yunet, "OVERLAP", 240)
    for width in range(130, 170, 3):  # the portrait's face grows from about 220 to 280 px
        canvas = Image.new("RGB", (640, 640), (120, 130, 140))
        canvas.paste(portrait.resize((width * 2, width * 2 * portrait.height // portrait.width)), (200, 150))
        rgb = np.asarray(canvas)
        whole = [d for d in net.detect(rgb) if d.score > 0.6]
        assert len(whole) == 1, width
        tiled = [d for d in detect_tiled(net, rgb) if d.score > 0.6]
        assert len(tiled) == 1, (width, whole[0].box, [d.box for d in tiled])
        assert _iou(tiled[0].box, whole[0].box) > 0.6, width
