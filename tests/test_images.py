import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceclust.errors import DatasetError, ImageLoadError
from faceclust.photos.images import BACKGROUND, decode_image, find_images, load_rgb

from .conftest import jpeg_bytes, noise_image

# ------------------------------------------------------------------ find_images


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_find_images_walks_recursively_sorted_and_skips_hidden_and_non_images(tmp_path):
    touch(tmp_path / "b" / "2.jpg")
    touch(tmp_path / "b" / "1.PNG")
    touch(tmp_path / "a.jpeg")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "encodings.pickle")
    touch(tmp_path / ".hidden.jpg")
    touch(tmp_path / "._a.jpeg")
    touch(tmp_path / ".thumbnails" / "t.jpg")
    found = find_images(tmp_path)
    assert found == [str(tmp_path / "a.jpeg"), str(tmp_path / "b" / "1.PNG"), str(tmp_path / "b" / "2.jpg")]


def test_find_images_keeps_the_given_root_as_prefix(tmp_path, monkeypatch):
    touch(tmp_path / "photos" / "x.jpg")
    monkeypatch.chdir(tmp_path)
    assert find_images("photos") == [os.path.join("photos", "x.jpg")]


def test_find_images_follows_folder_links_once_and_survives_a_link_loop(tmp_path):
    touch(tmp_path / "real" / "face.jpg")
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    found = find_images(tmp_path)
    # The folder is reached twice (alias, real) but listed once; the loop is not entered.
    assert len(found) == 1
    assert found[0].endswith("face.jpg")


def test_find_images_lists_a_folder_named_like_an_image_as_nothing(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    assert find_images(tmp_path) == []


def test_find_images_rejects_a_missing_folder_and_a_file(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        find_images(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not a folder"):
        find_images(touch(tmp_path / "file.jpg"))


# ------------------------------------------------------------------ load_rgb


def test_load_rgb_returns_contiguous_uint8_rgb(portrait_path, portrait):
    rgb = load_rgb(portrait_path)
    assert rgb.dtype == np.uint8
    assert rgb.shape == (portrait.height, portrait.width, 3)
    assert rgb.flags["C_CONTIGUOUS"]
    assert np.array_equal(rgb, np.asarray(portrait))


@pytest.mark.parametrize(
    ("orientation", "transpose"),
    [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)],
)
def test_load_rgb_applies_exif_orientation(tmp_path, portrait, orientation, transpose):
    # A camera stores the sensor's pixels and says in EXIF how to turn them upright: store
    # the portrait turned the other way, so that applying the tag restores it.
    stored = portrait.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = touch(tmp_path / "rotated.jpg", jpeg_bytes(stored, exif=exif, quality=95))
    rgb = load_rgb(path)
    assert rgb.shape == (portrait.height, portrait.width, 3)
    difference = np.abs(rgb.astype(int) - np.asarray(portrait, dtype=int)).mean()
    assert difference < 6  # JPEG noise only; a wrongly turned image differs by tens


def test_load_rgb_skips_a_truncated_jpeg(tmp_path, portrait_path):
    data = portrait_path.read_bytes()
    path = touch(tmp_path / "cut.jpg", data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated") as caught:
        load_rgb(path)
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"hello, I am text\n" * 10, "not an image"),
    ],
)
def test_load_rgb_rejects_non_images(tmp_path, name, data, reason):
    with pytest.raises(ImageLoadError, match=reason):
        load_rgb(touch(tmp_path / name, data))


def test_load_rgb_reports_missing_files_and_folders(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_rgb(tmp_path / "gone.jpg")
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_rgb(tmp_path / "dir.jpg")


def test_load_rgb_reports_unreadable_files(tmp_path, monkeypatch):
    path = touch(tmp_path / "secret.jpg", jpeg_bytes(noise_image(8, 8)))
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything, so make the open itself fail as it would for a user

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("PIL.Image.open", refuse)
    with pytest.raises(ImageLoadError, match="permission denied"):
        load_rgb(path)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (its data is one row)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_load_rgb_refuses_a_decompression_bomb_without_decoding_it(tmp_path):
    path = touch(tmp_path / "bomb.png", png_declaring(40000, 40000))
    assert path.stat().st_size < 1000
    with pytest.raises(ImageLoadError, match="too large"):
        load_rgb(path)


def test_load_rgb_applies_a_lower_pixel_limit(tmp_path):
    path = touch(tmp_path / "big.jpg", jpeg_bytes(noise_image(100, 100)))
    with pytest.raises(ImageLoadError, match="too large"):
        load_rgb(path, max_pixels=100 * 99)
    assert load_rgb(path, max_pixels=100 * 100).shape == (100, 100, 3)


def test_load_rgb_converts_grayscale_to_three_equal_channels(tmp_path):
    gray = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4, "L")
    gray.save(tmp_path / "gray.png")
    rgb = load_rgb(tmp_path / "gray.png")
    assert rgb.shape == (8, 8, 3)
    assert np.array_equal(rgb[:, :, 0], np.asarray(gray))
    assert np.array_equal(rgb[:, :, 0], rgb[:, :, 2])


def test_load_rgb_scales_16_bit_images_instead_of_clipping(tmp_path):
    samples = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(samples).save(tmp_path / "deep.png")
    rgb = load_rgb(tmp_path / "deep.png")
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255]


def test_load_rgb_composites_transparency_on_the_fixed_background(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[:, :, 0] = 200  # red, stored even under the transparent pixels
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    rgb = load_rgb(tmp_path / "alpha.png")
    assert rgb[0, 0].tolist() == [200, 0, 0]
    assert rgb[3, 0].tolist() == list(BACKGROUND)


def test_load_rgb_composites_a_palette_image_with_a_transparent_colour(tmp_path):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0, 0, 0] * 254)
    palette.paste(0, (0, 0, 2, 4))
    palette.save(tmp_path / "palette.png", transparency=0)
    rgb = load_rgb(tmp_path / "palette.png")
    assert rgb[0, 0].tolist() == list(BACKGROUND)
    assert rgb[0, 3].tolist() == [10, 20, 30]


def test_load_rgb_converts_cmyk_jpegs(tmp_path, portrait):
    path = touch(tmp_path / "cmyk.jpg", jpeg_bytes(portrait.convert("CMYK"), quality=95))
    rgb = load_rgb(path)
    assert rgb.shape == (portrait.height, portrait.width, 3)
    assert np.abs(rgb.astype(int) - np.asarray(portrait, dtype=int)).mean() < 8


def test_load_rgb_decides_by_content_not_by_extension(tmp_path, portrait):
    portrait.save(tmp_path / "really_a_png.jpg", format="PNG")
    assert np.array_equal(load_rgb(tmp_path / "really_a_png.jpg"), np.asarray(portrait))


def test_load_rgb_reads_names_with_spaces_and_non_ascii(tmp_path, portrait):
    path = touch(tmp_path / "fête à Zürich 1.jpg", jpeg_bytes(portrait))
    assert load_rgb(path).shape == (portrait.height, portrait.width, 3)


def test_linked_files_load_and_broken_links_are_reported(tmp_path, portrait_path):
    (tmp_path / "link.jpg").symlink_to(portrait_path)
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "deleted.jpg")
    assert find_images(tmp_path) == [str(tmp_path / "dangling.jpg"), str(tmp_path / "link.jpg")]
    assert load_rgb(tmp_path / "link.jpg").shape[2] == 3
    with pytest.raises(ImageLoadError, match="file not found"):
        load_rgb(tmp_path / "dangling.jpg")


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None, None]
    return Image.fromarray(np.broadcast_to(x // 2 + y // 2, (height, width, 3)).copy(), "RGB")


def test_decode_image_reduces_a_large_jpeg_but_not_below_min_side(tmp_path):
    path = touch(tmp_path / "big.jpg", jpeg_bytes(gradient(4000, 3000)))
    decoded = decode_image(path, min_side=1920)
    assert decoded.rgb.shape == (1500, 2000, 3)
    assert decoded.scale == 0.5 and decoded.full_size == (3000, 4000)
    assert decode_image(path, min_side=2100).rgb.shape == (3000, 4000, 3)  # 1/2 would go below
    full = decode_image(path)
    assert full.scale == 1.0 and full.rgb.shape == (3000, 4000, 3)


def test_decode_image_reports_the_upright_full_size_of_a_turned_photo(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = touch(tmp_path / "turned.jpg", jpeg_bytes(gradient(4000, 3000), exif=exif))
    decoded = decode_image(path, min_side=1920)
    assert decoded.rgb.shape == (2000, 1500, 3)
    assert decoded.full_size == (4000, 3000)


def test_decode_image_leaves_other_formats_at_full_size(tmp_path):
    gradient(4000, 3000).save(tmp_path / "big.png")
    decoded = decode_image(tmp_path / "big.png", min_side=1920)
    assert decoded.scale == 1.0 and decoded.rgb.shape == (3000, 4000, 3)
