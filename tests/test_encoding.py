from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceclust.encode import local, run
from faceclust.encode.batch import encode_batch, encode_image, working_image
from faceclust.encode.local import encode_images
from faceclust.encode.run import encode_dataset
from faceclust.encode.settings import EncodeSettings
from faceclust.faces import face_check
from faceclust.faces.models import boxes_to_original
from faceclust.photos.images import find_images, load_rgb

from .conftest import DATASET, PORTRAITS, jpeg_bytes, noise_image, person_images, same_face_box


def test_encode_image_returns_faces_with_path_box_and_encoding(models, portrait_path):
    result = encode_image(str(portrait_path), EncodeSettings(), models)
    assert result.skip_reason is None
    (face,) = result.faces
    assert face.image_path == str(portrait_path)
    top, right, bottom, left = face.box
    assert 0 <= top < bottom and 0 <= left < right
    assert face.encoding.shape == (128,)


def test_a_photo_without_faces_gives_no_faces_and_no_skip(tmp_path, models):
    path = tmp_path / "noise.jpg"
    path.write_bytes(jpeg_bytes(noise_image(160, 120)))
    result = encode_image(str(path), EncodeSettings(), models)
    assert result.faces == [] and result.skip_reason is None


def test_a_broken_file_is_skipped_with_its_reason_and_the_batch_goes_on(tmp_path, models, portrait_path):
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    results = encode_batch([str(broken), str(portrait_path)], EncodeSettings(), models)
    assert results[0].skip_reason == "not an image" and results[0].faces == []
    assert len(results[1].faces) == 1


def test_a_photo_that_makes_dlib_fail_costs_only_itself_not_its_batch(models, monkeypatch):
    paths = [str(path) for path in person_images("madonna", 3)]
    real_face_chips = models.face_chips

    def failing_on_the_second(rgb, boxes, *args):
        if rgb.shape == load_rgb(paths[1]).shape and np.array_equal(rgb, load_rgb(paths[1])):
            raise RuntimeError("cudaMalloc failed")
        return real_face_chips(rgb, boxes, *args)

    monkeypatch.setattr(models, "face_chips", failing_on_the_second)
    results = encode_batch(paths, EncodeSettings(), models)
    assert [r.image_path for r in results] == paths
    assert results[1].skip_reason == "detection failed (cudaMalloc failed)"
    assert results[0].skip_reason is None and len(results[0].faces) == 1
    assert results[2].skip_reason is None and len(results[2].faces) == 1


def test_cnn_batches_mixed_sizes_and_keeps_the_order(tmp_path, models):
    photo = (
        DATASET / "jerry_seinfeld" / "httpgraphicsnytimescomimagessectionmoviesfilmographyWireImagejpg.jpg"
    )
    with Image.open(photo) as image:
        smaller = image.resize((image.width * 7 // 10, image.height * 7 // 10))
    small = tmp_path / "small.jpg"
    small.write_bytes(jpeg_bytes(smaller))
    paths = [str(photo), str(small), str(photo)]
    results = encode_batch(paths, EncodeSettings("cnn", upsample=1), models)
    assert [r.image_path for r in results] == paths
    assert [len(r.faces) for r in results] == [1, 1, 1]
    assert np.array_equal(results[0].faces[0].encoding, results[2].faces[0].encoding)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detection_method": "haar"}, "detection_method"),
        ({"upsample": 5}, "upsample"),
        ({"jitters": 0}, "jitters"),
        ({"framings": 2}, "framings"),
    ],
)
def test_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EncodeSettings(**kwargs)


@pytest.mark.parametrize(
    "settings", [EncodeSettings(flip=False, framings=1), EncodeSettings()], ids=["plain", "default"]
)
def test_parallel_results_equal_serial_ones_in_the_same_order(settings):
    paths = [str(DATASET / person / name) for person, name in PORTRAITS.items()]
    paths += find_images(DATASET / "madonna")[:3]
    serial = list(encode_images(paths, settings, jobs=1))
    parallel = list(encode_images(paths, settings, jobs=2))
    assert [r.image_path for r in parallel] == paths
    assert [[f.box for f in r.faces] for r in parallel] == [[f.box for f in r.faces] for r in serial]
    for got, want in zip(parallel, serial, strict=True):
        for a, b in zip(got.faces, want.faces, strict=True):
            assert np.array_equal(a.encoding, b.encoding)


def test_encode_dataset_summarises_the_run(small_dataset):
    paths = find_images(small_dataset)
    seen = []
    faces, summary = encode_dataset(paths, EncodeSettings(), jobs=1, on_result=seen.append)
    assert [r.image_path for r in seen] == paths
    assert summary.images == len(paths) == 14
    assert sorted(reason.split(" (")[0] for _, reason in summary.skipped) == [
        "corrupt or truncated",
        "not an image",
    ]
    assert summary.faces == len(faces) == sum(len(r.faces) for r in seen) >= 10
    assert summary.images_with_faces == sum(1 for r in seen if r.faces)
    assert summary.seconds > 0


def iou(a, b) -> float:
    top, right = max(a[0], b[0]), min(a[1], b[1])
    bottom, left = min(a[2], b[2]), max(a[3], b[3])
    inter = max(0, bottom - top) * max(0, right - left)
    area = lambda box: (box[2] - box[0]) * (box[1] - box[3])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_working_image_shrinks_and_never_enlarges():
    large = np.zeros((1500, 3000, 3), np.uint8)
    small, scale = working_image(large, 1024 / 3000)
    assert small.shape == (512, 1024, 3) and scale == 1024 / 3000
    full, scale = working_image(large, 1.5)
    assert full is large and scale == 1.0


def test_the_smallest_face_sets_the_scale_photos_are_searched_at():
    settings = EncodeSettings("hog", min_face_size=60)
    # dlib looks for faces from 80 px, 40 px with one upsample: a 60 px face shrinks no further.
    assert settings.detection_scale(4000) == pytest.approx(40 / 60)
    assert settings.smallest_face(4000) == pytest.approx(60)
    # Small photos are never searched below 1024 px: faces down to 40 px there.
    assert settings.detection_scale(800) == 1.0 and settings.smallest_face(800) == 40
    assert settings.detection_scale(1500) == pytest.approx(1024 / 1500)
    # Faces smaller than the detector's own smallest need --upsample: full size, no further.
    assert EncodeSettings("hog", min_face_size=20).detection_scale(4000) == 1.0
    assert EncodeSettings("hog", min_face_size=20, upsample=2).smallest_face(4000) == pytest.approx(20)
    # --detect-size keeps its old meaning: a copy of at most that many pixels, 0 for full size.
    assert EncodeSettings(detect_size=1024).detection_scale(4000) == 1024 / 4000
    assert EncodeSettings(detect_size=0).detection_scale(4000) == 1.0
    # Faces are embedded from pixels at least the chip's size or their own.
    assert EncodeSettings("hog", min_face_size=60).decode_limits() == (1024, 1.0)
    assert EncodeSettings("hog", min_face_size=300).decode_limits() == (1024, 0.5)


def test_yunet_searches_where_the_smallest_face_is_20_px():
    settings = EncodeSettings("yunet")
    assert settings.min_face_size == 40
    assert settings.detection_scale(4000) == pytest.approx(20 / 40)
    assert settings.smallest_face(4000) == pytest.approx(40)
    # It searches no copy under 640 px: a 900 px photo is searched at 640, a 600 px one whole.
    assert settings.detection_scale(900) == pytest.approx(640 / 900)
    assert settings.detection_scale(600) == 1.0 and settings.detect_floor == 640
    assert EncodeSettings("yunet", min_face_size=80).detection_scale(4000) == pytest.approx(20 / 80)


def test_each_detector_has_its_own_default_smallest_face():
    assert EncodeSettings() == EncodeSettings("hog", min_face_size=55)
    assert EncodeSettings("cnn").min_face_size == 70 and EncodeSettings("yunet").min_face_size == 40
    # The keys indexes were written under before the defaults became the detector's, when HOG
    # looked for faces from 70 px and scanned every whole photo.
    earlier = {"full_scan": True, "min_face_size": 70}
    assert EncodeSettings(framings=1, **earlier).cache_key() == "hog/checked/onecopy/up1/jit1/min70/flip/v2"
    assert EncodeSettings(**earlier).cache_key() == "hog/checked/onecopy/up1/jit1/min70/flip/framed3/v2"
    assert EncodeSettings(detect_size=1024, framings=1).cache_key().endswith("size1024/flip/v1")
    assert EncodeSettings("yunet").cache_key() == "yunet/checked/up1/jit1/min40/flip/framed3/v2"


def test_boxes_to_original_scales_back_and_clips():
    assert boxes_to_original([(10, 60, 50, 20)], 0.5, 1000, 1000) == [(20, 120, 100, 40)]
    assert boxes_to_original([(10, 60, 50, 20)], 0.25, 150, 200) == [(40, 200, 150, 80)]
    assert boxes_to_original([(10, 60, 50, 20)], 1.0, 5, 5) == [(10, 60, 50, 20)]


def test_a_large_photo_is_detected_shrunk_and_embedded_at_full_resolution(tmp_path, models, portrait):
    # The portrait blown up five times: 1500 px wide, its face about 215 px.
    large = portrait.resize((portrait.width * 5, portrait.height * 5), Image.Resampling.LANCZOS)
    path = tmp_path / "large.jpg"
    path.write_bytes(jpeg_bytes(large, quality=95))
    shrunk = encode_image(str(path), EncodeSettings(detect_size=1024), models)
    full = encode_image(str(path), EncodeSettings(detect_size=0), models)
    assert len(shrunk.faces) == len(full.faces) == 1
    box, reference = shrunk.faces[0].box, full.faces[0].box
    # In pixels of the large original: boxes of the shrunk copy would be 0.68 times as large.
    assert same_face_box(box, reference)
    # Far below the 0.6 that dlib documents as the same-person threshold.
    assert np.linalg.norm(shrunk.faces[0].encoding - full.faces[0].encoding) < 0.2
    assert set(shrunk.seconds) == {"decode", "detect", "check", "embed", "thumbs"}


def test_tiny_images_give_no_faces_and_no_error(tmp_path, models):
    path = tmp_path / "tiny.png"
    noise_image(10, 10).save(path)
    for method in ("hog", "cnn"):
        result = encode_image(str(path), EncodeSettings(method), models)
        assert result.faces == [] and result.skip_reason is None


def test_an_exif_rotated_photo_gives_an_upright_box_and_the_same_face(
    tmp_path, models, portrait, portrait_path
):
    stored = portrait.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    path.write_bytes(jpeg_bytes(stored, exif=exif, quality=95))
    rotated = encode_image(str(path), EncodeSettings(), models)
    upright = encode_image(str(portrait_path), EncodeSettings(), models)
    assert len(rotated.faces) == 1
    assert same_face_box(rotated.faces[0].box, upright.faces[0].box)
    assert np.linalg.norm(rotated.faces[0].encoding - upright.faces[0].encoding) < 0.15


def test_a_camera_sized_photo_is_decoded_reduced_and_boxes_are_in_full_size_pixels(
    tmp_path, models, portrait
):
    # The portrait at 13x: 3900 px wide. Looking for faces of 300 px and more, the chip's 150 px
    # are kept at half size, so JPEG decodes it at half size.
    large = portrait.resize((portrait.width * 13, portrait.height * 13), Image.Resampling.BICUBIC)
    path = tmp_path / "camera.jpg"
    path.write_bytes(jpeg_bytes(large, quality=90))
    ours = encode_image(str(path), EncodeSettings(min_face_size=300), models)
    full = encode_image(str(path), EncodeSettings(detect_size=0), models)
    assert len(ours.faces) == len(full.faces) == 1
    assert iou(ours.faces[0].box, full.faces[0].box) > 0.8
    assert ours.faces[0].box[2] > 1000  # full-size pixels: in the half-size decode it is about 580
    assert np.linalg.norm(ours.faces[0].encoding - full.faces[0].encoding) < 0.2


def group_photo_with_a_face_of(size: int, portrait, models, width: int = 3000, height: int = 2000):
    """A camera-size photo (textured background, JPEG) holding the portrait scaled so that its
    face is ``size`` px, and where that face's box should come out."""
    top, right, bottom, left = models.detect(np.asarray(portrait), "hog", 1)[0]
    factor = size / (bottom - top)
    small = portrait.resize((round(portrait.width * factor), round(portrait.height * factor)), Image.LANCZOS)
    rng = np.random.default_rng(size)
    texture = rng.integers(60, 200, (height // 8, width // 8, 3), dtype=np.uint8)
    canvas = Image.fromarray(texture).resize((width, height), Image.Resampling.BICUBIC)
    x, y = 1700, 900
    canvas.paste(small, (x, y))
    expected = tuple(
        round(v) for v in (y + top * factor, x + right * factor, y + bottom * factor, x + left * factor)
    )
    return canvas, expected


@pytest.mark.parametrize(
    ("detection_method", "face", "min_face_size"),
    [("hog", 60, None), ("hog", 45, 40), ("yunet", 42, None)],
    ids=["60px-default", "45px-at-40", "42px-yunet-default"],
)
def test_a_small_face_in_a_camera_photo_is_found_where_it_is(
    tmp_path, models, portrait, detection_method, face, min_face_size
):
    canvas, expected = group_photo_with_a_face_of(face, portrait, models)
    path = tmp_path / "group.jpg"
    path.write_bytes(jpeg_bytes(canvas, quality=92))
    settings = EncodeSettings(detection_method, min_face_size=min_face_size)
    found = encode_image(str(path), settings, models).faces
    assert len(found) == 1
    # In pixels of the full-size photo, wherever it was searched.
    assert iou(found[0].box, expected) > 0.6
    # The older default searched this photo at 1024 px with HOG: the face was too small to be found.
    assert encode_image(str(path), EncodeSettings("hog", detect_size=1024), models).faces == []


@pytest.fixture(scope="module")
def photo_and_full_size_box(models, portrait, tmp_path_factory):
    """A 3000x2000 photo with a 200 px face every setting finds, and its box, for each
    detector, when the photo is searched at full size, as the tutorial does."""
    canvas, _ = group_photo_with_a_face_of(200, portrait, models)
    path = tmp_path_factory.mktemp("setting") / "group.jpg"
    path.write_bytes(jpeg_bytes(canvas, quality=92))
    boxes = {}
    for method in ("hog", "yunet"):
        (face,) = encode_image(str(path), EncodeSettings(method, detect_size=0), models).faces
        boxes[method] = face.box
    return path, np.asarray(canvas), boxes


@pytest.mark.parametrize(
    "settings",
    [
        EncodeSettings(),
        EncodeSettings(min_face_size=40),
        EncodeSettings(min_face_size=150),
        EncodeSettings(min_face_size=40, upsample=0),
        EncodeSettings(min_face_size=20, upsample=2),
        EncodeSettings(detect_size=1024),
        EncodeSettings(detect_size=1024, upsample=0),
        EncodeSettings("yunet"),
        EncodeSettings("yunet", min_face_size=20),
        EncodeSettings("yunet", min_face_size=150),
    ],
    ids=[
        "default",
        "min40",
        "min150",
        "min40-up0",
        "min20-up2",
        "detect1024",
        "detect1024-up0",
        "yunet",
        "yunet-min20",
        "yunet-min150",
    ],
)
def test_boxes_line_up_with_the_full_size_photo_at_every_setting(models, photo_and_full_size_box, settings):
    # Searched at scales from a fifth to four times the photo's size, the face's box, in full-size
    # pixels, is where the full-size search put it (up to two steps of HOG's pyramid apart in
    # size: its levels fall differently at each scale), and the crop a montage tile is cut
    # from shows the face to the CNN detector.
    path, rgb, full_size_boxes = photo_and_full_size_box
    (face,) = encode_image(str(path), settings, models).faces
    assert same_face_box(face.box, full_size_boxes[settings.detection_method], pyramid_steps=2)
    assert face_check.cnn_confidence(models.cnn_net, rgb, face.box, floor=-4.0) > 0.5


def test_small_files_go_to_a_worker_together_and_a_large_photo_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "SMALL_BATCH", 3)
    monkeypatch.setattr(local, "SMALL_BATCH_BYTES", 1000)
    sizes = {"a": 10, "b": 10, "c": 10, "d": 10, "big": 5000, "e": 10, "f": 600, "g": 600}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    paths = [str(tmp_path / name) for name in sizes] + [str(tmp_path / "missing")]
    batches = [[Path(path).name for path in batch] for batch in local._batches(paths, EncodeSettings())]
    # In order, every path once; at most three, or 1000 bytes unless alone.
    assert batches == [["a", "b", "c"], ["d"], ["big"], ["e", "f"], ["g", "missing"]]


def test_each_face_gets_a_thumbnail_cut_from_the_photo_as_the_outputs_would(portrait_path):
    import cv2

    from faceclust.outputs.thumbnails import THUMBNAIL_SIZE, face_tile

    result = encode_image(str(portrait_path), EncodeSettings())
    assert len(result.faces) == 1 and len(result.thumbnails) == 1
    stored = cv2.imdecode(np.frombuffer(result.thumbnails[0], np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert stored.shape == (THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
    # What the outputs cut from the full photo for the same face: the same picture, up to the
    # JPEG's loss.
    expected = face_tile(load_rgb(str(portrait_path)), result.faces[0].box).astype(int)
    assert np.abs(stored.astype(int) - expected).mean() < 6
    other = face_tile(load_rgb(str(portrait_path)), (0, 40, 40, 0)).astype(int)
    assert np.abs(stored.astype(int) - other).mean() > 20


def test_a_failure_of_the_machine_or_cluster_is_not_kept_and_is_tried_again(tmp_path, monkeypatch):
    from faceclust.library.index import EncodingCache
    from faceclust.records import ImageResult

    photo = tmp_path / "a.jpg"
    photo.write_bytes(jpeg_bytes(noise_image(64, 64)))
    cache = EncodingCache(tmp_path / "index", EncodeSettings().cache_key())
    failed = ImageResult(str(photo), skip_reason="failed on the cluster (KilledWorker: ...)", retry=True)
    monkeypatch.setattr(run, "encode_images", lambda paths, settings, jobs, *_: iter([failed]))
    _, summary = run.encode_dataset([str(photo)], EncodeSettings(), cache=cache)
    assert summary.skipped == [(str(photo), failed.skip_reason)]
    # Not in the index: the next run encodes the photo instead of reusing the failure.
    monkeypatch.undo()
    _, summary = run.encode_dataset([str(photo)], EncodeSettings(), cache=cache)
    assert summary.reused == 0 and summary.skipped == [] and summary.images == 1
    cache.close()
