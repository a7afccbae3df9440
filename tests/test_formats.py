"""Phone and camera formats: HEIC/HEIF, AVIF, camera raw (DNG written here), RAW+JPEG pairs, and
the count of files passed over. Every input is made in code from a bundled photo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from faceclust.cli import cluster_main, encode_main
from faceclust.encode.batch import encode_image
from faceclust.encode.settings import EncodeSettings
from faceclust.errors import ImageLoadError
from faceclust.photos.images import decode_image, load_rgb, scan_folder

from .conftest import DATASET, PORTRAITS

ORIENTATION = 0x0112
# A portrait-format photo with one face, so that a quarter turn shows in the shape.
FACE_PHOTO = DATASET / "mindy_kaling" / PORTRAITS["mindy_kaling"]


def upright() -> Image.Image:
    with Image.open(FACE_PHOTO) as image:
        return image.convert("RGB")


def stored_turned(path: Path, **save_args) -> None:
    """Save the photo as a phone does when held upright: pixels stored a quarter turn off, and
    EXIF orientation 6 saying how to turn them back."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    upright().transpose(Image.Transpose.ROTATE_90).save(path, exif=exif.tobytes(), **save_args)


def write_dng(path: Path, rgb: np.ndarray, flip_to_upright: bool = True, preview: bool = False) -> None:
    """A minimal DNG: the photo as an RGGB colour-filter mosaic (16 bits), stored a quarter
    turn off with orientation 6 when ``flip_to_upright``, optionally with a half-size RGB preview
    in IFD0."""
    if flip_to_upright:
        rgb = np.rot90(rgb, 1)  # turned counter-clockwise; orientation 6 turns it back
    rgb = np.ascontiguousarray(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2])
    mosaic = np.empty(rgb.shape[:2], dtype=np.uint16)
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
    mosaic *= 257
    identity = (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1)
    cfa_tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
        (50717, "I", 1, 65535, True),  # WhiteLevel
    ]
    main_tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "faceclust test camera", True),  # UniqueCameraModel
        (50721, "2i", 9, identity, True),  # ColorMatrix1
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (ORIENTATION, "H", 1, 6 if flip_to_upright else 1, True),
    ]
    with tifffile.TiffWriter(path) as tif:
        if preview:
            small = np.asarray(Image.fromarray(rgb).resize((rgb.shape[1] // 2, rgb.shape[0] // 2)))
            tif.write(small, photometric="rgb", subfiletype=1, subifds=1, extratags=main_tags)
            tif.write(mosaic, photometric=32803, subfiletype=0, extratags=cfa_tags)
        else:
            tif.write(mosaic, photometric=32803, subfiletype=0, extratags=main_tags + cfa_tags)


@pytest.fixture(scope="module")
def reference():
    """The JPEG's own result: one face."""
    result = encode_image(str(FACE_PHOTO), EncodeSettings())
    assert len(result.faces) == 1
    return result.faces[0]


def test_a_heic_stored_turned_gives_the_face_of_the_jpeg_it_was_made_from(tmp_path, reference):
    path = tmp_path / "IMG_0001.HEIC"  # upper case, as an iPhone names it
    stored_turned(path, quality=-1, chroma=444)  # lossless
    assert load_rgb(path).shape == np.asarray(upright()).shape
    result = encode_image(str(path), EncodeSettings())
    assert result.skip_reason is None and len(result.faces) == 1
    assert result.faces[0].box == reference.box
    assert np.abs(result.faces[0].encoding - reference.encoding).max() < 1e-3


def test_an_avif_stored_turned_gives_the_face_of_the_jpeg_it_was_made_from(tmp_path, reference):
    path = tmp_path / "photo.avif"
    stored_turned(path, quality=100, subsampling="4:4:4")
    assert load_rgb(path).shape == np.asarray(upright()).shape
    # Pillow writes AVIF lossy even at quality 100 (pixels differ by a few levels), so the box
    # and vector move a little; against a PNG of its own decoded pixels they are exact.
    result = encode_image(str(path), EncodeSettings())
    assert result.skip_reason is None and len(result.faces) == 1
    assert np.abs(np.subtract(result.faces[0].box, reference.box)).max() <= 8
    assert np.linalg.norm(result.faces[0].encoding - reference.encoding) < 0.1
    Image.fromarray(load_rgb(path)).save(tmp_path / "same_pixels.png")
    exact = encode_image(str(tmp_path / "same_pixels.png"), EncodeSettings())
    assert exact.faces[0].box == result.faces[0].box
    assert np.abs(exact.faces[0].encoding - result.faces[0].encoding).max() < 1e-6


def test_names_lie_and_broken_phone_files_are_skipped_with_a_reason(tmp_path):
    jpeg_named_heic = tmp_path / "really_a_jpeg.heic"
    shutil.copy(FACE_PHOTO, jpeg_named_heic)
    assert load_rgb(jpeg_named_heic).shape == np.asarray(upright()).shape
    heic = tmp_path / "whole.heic"
    stored_turned(heic, quality=90)
    heic_named_jpg = tmp_path / "really_a_heic.jpg"  # some phones export so
    shutil.copy(heic, heic_named_jpg)
    assert load_rgb(heic_named_jpg).shape == load_rgb(heic).shape
    truncated = tmp_path / "truncated.heic"
    truncated.write_bytes(heic.read_bytes()[: heic.stat().st_size // 2])
    # Half a file: skipped with a reason in our words, whichever libheif's own are (its
    # versions word it differently: "not an image" when it cannot identify the file, "corrupt
    # or truncated (... Unexpected end of file)" when it can).
    with pytest.raises(ImageLoadError) as caught:
        load_rgb(truncated)
    assert caught.value.reason.split(" (")[0] in ("not an image", "corrupt or truncated")
    empty = tmp_path / "empty.avif"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty file"):
        load_rgb(empty)
    with pytest.raises(ImageLoadError, match="empty file"):
        load_rgb(empty.rename(tmp_path / "empty.nef"))  # a raw's name: LibRaw refuses it first
    text_dng = tmp_path / "notes.dng"
    text_dng.write_text("not a raw file")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_rgb(text_dng)


def test_a_dng_is_demosaiced_upright_and_its_face_found(tmp_path, reference):
    path = tmp_path / "IMG_0002.DNG"
    write_dng(path, np.asarray(upright()))
    full = decode_image(path)
    height, width = np.asarray(upright()).shape[:2]
    assert full.rgb.shape == (height // 2 * 2, width // 2 * 2, 3)  # upright, at full size
    assert full.scale == 1.0 and full.full_size == full.rgb.shape[:2]
    half = decode_image(path, min_side=10)  # no preview: half-size demosaic
    assert half.rgb.shape[:2] == (full.rgb.shape[0] // 2, full.rgb.shape[1] // 2)
    assert half.scale == 0.5 and half.full_size == full.full_size
    result = encode_image(str(path), EncodeSettings())
    assert result.skip_reason is None and len(result.faces) == 1
    # Demosaiced, not the same pixels: the box lands within a few pixels of the JPEG's.
    assert np.abs(np.subtract(result.faces[0].box, reference.box)).max() <= 8


def test_a_dng_preview_large_enough_is_used_instead_of_demosaicing(tmp_path):
    path = tmp_path / "with_preview.dng"
    photo = np.asarray(upright())
    write_dng(path, photo, preview=True)  # the preview: the photo at half size
    full = decode_image(path)  # the montages' decode: the full demosaic
    assert full.scale == 1.0
    decoded = decode_image(path, min_side=100)
    assert decoded.scale == pytest.approx(0.5, abs=0.01) and decoded.full_size == full.full_size
    # The preview, turned upright by the raw's orientation (the photo itself, halved).
    half = np.asarray(Image.fromarray(photo).resize((decoded.rgb.shape[1], decoded.rgb.shape[0])))
    assert np.abs(decoded.rgb.astype(int) - half).mean() < 8
    # More pixels asked for than the preview has: the raw data is demosaiced instead.
    assert decode_image(path, min_side=max(full.full_size) - 10).scale == 1.0


def test_raw_and_jpeg_and_live_photos_of_one_name_are_one_photo_and_other_files_are_counted(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(FACE_PHOTO, photos / "IMG_0003.JPG")
    write_dng(photos / "IMG_0003.dng", np.asarray(upright()))
    write_dng(photos / "IMG_0004.dng", np.asarray(upright()))  # raw alone: encoded
    # Live Photos: the movie beside its still, a JPEG or a HEIC, is part of that photo.
    (photos / "IMG_0003.MOV").write_bytes(b"x")
    stored_turned(photos / "IMG_0006.HEIC", quality=90)
    (photos / "IMG_0006.mov").write_bytes(b"x")
    for name in ("notes.txt", "README", "clip.avi"):
        (photos / name).write_bytes(b"x")
    (photos / ".hidden.mov").write_bytes(b"x")  # hidden files are not counted
    scan = scan_folder(photos)
    # A movie of a name of its own is a video: encoded (this one is broken, so skipped).
    assert [Path(p).name for p in scan.images] == [
        "IMG_0003.JPG",
        "IMG_0004.dng",
        "IMG_0006.HEIC",
        "clip.avi",
    ]
    assert [Path(p).name for p in scan.raw_with_jpeg] == ["IMG_0003.dng"]
    assert [Path(p).name for p in scan.live_photos] == ["IMG_0003.MOV", "IMG_0006.mov"]
    assert dict(scan.passed_over) == {".txt": 1, "(none)": 1}

    argv = ["-i", str(photos), "-e", str(tmp_path / "e.pickle"), "-q", "-j", "1"]
    assert encode_main(argv) == 0
    err = capsys.readouterr().err
    assert "1 raw file encoded once, as the JPEG of the same name beside them" in err
    assert "2 Live Photo movies left to the photo of the same name beside them" in err
    assert "passed over 2 files not of an image type this tool reads ((none): 1, .txt: 1)" in err
    assert "4 images read" in err and "3 faces found" in err
    assert "clip.avi: not a readable video" in err
    assert encode_main([*argv, "--strict"]) == 1
    assert "--strict: 3 files were skipped or passed over" in capsys.readouterr().err


def test_phone_formats_reach_the_montages_and_the_gallery(tmp_path):
    photos = tmp_path / "photos"
    (photos / "mindy").mkdir(parents=True)
    stored_turned(photos / "mindy" / "a.heic", quality=-1, chroma=444)
    stored_turned(photos / "mindy" / "b.avif", quality=100, subsampling="4:4:4")
    write_dng(photos / "mindy" / "c.dng", np.asarray(upright()))
    encodings = tmp_path / "e.pickle"
    assert encode_main(["-i", str(photos), "-e", str(encodings), "-q", "-j", "1", "--strict"]) == 0
    out = tmp_path / "out"
    assert cluster_main(["-e", str(encodings), "-o", str(out), "--evaluate", str(photos)]) == 0
    document = json.loads((out / "clusters.json").read_text())
    assert document["counts"]["clusters"] == 1 and document["clusters"][0]["size"] == 3
    thumbs = sorted((out / "thumbs").iterdir())
    assert len(thumbs) == 3
    for thumb in thumbs:
        with Image.open(thumb) as image:
            # A crop of the face, not of a wrongly turned photo: not flat.
            assert np.asarray(image.convert("L")).std() > 20
    with Image.open(out / "face_id_0.jpg") as montage:
        assert montage.size[0] > 0
