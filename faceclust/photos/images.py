"""Finding image files in a folder and decoding them the one way the whole tool uses.

Encoding and the montages both load through :func:`load_rgb`, so a box found in an image
(after its EXIF rotation) points at the same pixels when the montage crops it.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UNOPENABLE, DatasetError, ImageLoadError
from .camera_raw import RAW_SUFFIXES, NotRaw, decode_raw, raw_header
from .video import VIDEO_SUFFIXES

JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
# HEIC/HEIF (iPhones since 2017, many Android phones) through pillow-heif; AVIF by Pillow itself.
HEIF_SUFFIXES = frozenset({".heic", ".heif", ".hif"})
# Candidates are chosen by name; whether a candidate really is an image is then decided by
# decoding it. Every other file is counted by its suffix (scan_folder), so that the summary of
# a run says what was passed over.
IMAGE_SUFFIXES = (
    JPEG_SUFFIXES
    | HEIF_SUFFIXES
    | RAW_SUFFIXES
    | frozenset({".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".avif"})
)

# Larger than any camera's photo (a 100-megapixel sensor), small enough that decoding one
# cannot exhaust memory: an image declaring more is refused before its pixels are read.
MAX_PIXELS = 120_000_000
# Sidecars other photo programs keep beside a photo (PHOTO.EXT.xmp, PHOTO.xmp): part of the photo.
SIDECAR_SUFFIX = ".xmp"
# A Live Photo's movie, beside its still of the same name.
LIVE_PHOTO_SUFFIX = ".mov"

EXIF_ORIENTATION = 0x0112

# Transparent pixels are composited on white, so the result does not depend on whatever
# colour happened to be stored under a zero alpha.
BACKGROUND = (255, 255, 255)


@dataclass
class FolderScan:
    """What a dataset folder holds: the images (photos and videos) to encode, and what is not.

    ``passed_over`` counts the files whose suffix is not an image this tool reads, by suffix
    (``"(none)"`` for no suffix); ``raw_with_jpeg`` lists the camera raw files left out because a
    JPEG of the same name lies beside them (RAW+JPEG shooting: one photo, shown as the JPEG);
    ``live_photos`` the movies of Live Photos, a ``.mov`` beside a HEIC or JPEG of the same name
    (the iPhone's few seconds around a photo: one photo, shown as the still).
    Hidden files and folders and macOS ``._*`` resource forks are neither, and not counted.
    """

    images: list[str] = field(default_factory=list)
    passed_over: Counter = field(default_factory=Counter)
    raw_with_jpeg: list[str] = field(default_factory=list)
    live_photos: list[str] = field(default_factory=list)


def find_images(root: str | os.PathLike[str]) -> list[str]:
    """The image files below ``root``, sorted, as paths that start with ``root`` (see scan_folder)."""
    return scan_folder(root).images


def scan_folder(root: str | os.PathLike[str]) -> FolderScan:
    """Walk ``root`` for images, sorted, as paths that start with ``root``.

    Hidden files and folders and macOS ``._*`` resource forks are skipped. Symbolic links to
    folders are followed once each, so a link loop ends instead of recursing forever.
    """
    root_path = Path(root)
    if not root_path.exists():
        raise DatasetError(f"dataset folder not found: {root}")
    if not root_path.is_dir():
        raise DatasetError(f"dataset is not a folder: {root}")

    scan = FolderScan()
    seen_dirs: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root_path, followlinks=True):
        stat = os.stat(dirpath)
        key = (stat.st_dev, stat.st_ino)
        if key in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        visible = [name for name in filenames if not name.startswith(".")]
        jpeg_stems = {
            Path(name).stem.lower() for name in visible if Path(name).suffix.lower() in JPEG_SUFFIXES
        }
        still_stems = jpeg_stems | {
            Path(name).stem.lower() for name in visible if Path(name).suffix.lower() in HEIF_SUFFIXES
        }
        for name in visible:
            suffix = Path(name).suffix.lower()
            if suffix == SIDECAR_SUFFIX:
                continue  # a photo's XMP sidecar: read with the photo (photos/xmp.py)
            if suffix == LIVE_PHOTO_SUFFIX and Path(name).stem.lower() in still_stems:
                scan.live_photos.append(os.path.join(dirpath, name))
            elif suffix not in IMAGE_SUFFIXES and suffix not in VIDEO_SUFFIXES:
                scan.passed_over[suffix or "(none)"] += 1
            elif suffix in RAW_SUFFIXES and Path(name).stem.lower() in jpeg_stems:
                scan.raw_with_jpeg.append(os.path.join(dirpath, name))
            else:
                scan.images.append(os.path.join(dirpath, name))
    scan.images.sort()
    scan.raw_with_jpeg.sort()
    scan.live_photos.sort()
    return scan


def count_by_suffix(counts: dict[str, int]) -> str:
    """``".mov: 12, .txt: 2"``: files passed over, by suffix, in suffix order."""
    return ", ".join(f"{suffix}: {count}" for suffix, count in sorted(counts.items()))


@functools.cache
def _register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF: once per process, the first time a photo is decoded (not
    on import: registering changes Pillow for the whole process)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class DecodedImage:
    """Pixels of an image turned upright, and their scale relative to the full-size image."""

    rgb: np.ndarray
    scale: float = 1.0
    full_size: tuple[int, int] = (0, 0)  # (height, width) of the full-size upright image
    # The stored image's EXIF orientation (1: stored upright), and its embedded XMP packet.
    orientation: int = 1
    xmp: bytes | None = None


def load_rgb(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file as an EXIF-oriented, C-contiguous ``(height, width, 3)`` uint8 RGB array.

    Raises :class:`ImageLoadError` with a short reason for anything that is not a complete,
    decodable image of at most ``max_pixels`` pixels.
    """
    return decode_image(path, max_pixels).rgb


def resized(rgb: np.ndarray, factor: float) -> np.ndarray:
    """``rgb`` scaled by ``factor`` in one resize: averaged over areas to shrink, bicubic to
    enlarge; ``rgb`` itself at 1.

    Bicubic, not bilinear: HOG's boxes on every other lfw_dev photo enlarged twice matched
    those of dlib's own upsampling better (364 of 364 at IoU 0.5, against 362), and a
    borderline 45 px face kept the same box when its photo was re-encoded."""
    if factor == 1.0:
        return rgb
    import cv2

    height, width = rgb.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=interpolation))


def smallest_ratio(longer_side: int, min_side: int, min_scale: float) -> float:
    """The smallest size, relative to the full image, a photo may be decoded at: its longer side
    at least ``min_side`` pixels and the ratio at least ``min_scale``; 1 (full size) when both
    are 0."""
    if not min_side and not min_scale:
        return 1.0
    return min(1.0, max(min_side / longer_side, min_scale))


def decode_image(
    path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS, min_side: int = 0, min_scale: float = 0.0
) -> DecodedImage:
    """Like :func:`load_rgb`, but a large photo may be decoded reduced.

    With ``min_side`` or ``min_scale``, JPEG's reduced decoding (by 2, 4 or 8) is used as far as
    :func:`smallest_ratio` allows: several times faster than a full decode, and a fraction of
    the memory; a camera raw file gives its embedded preview or a half-size demosaic
    (camera_raw.py). ``scale`` tells the size of the result relative to the full image.
    """
    name = os.fspath(path)
    suffix = Path(name).suffix.lower()
    if suffix in RAW_SUFFIXES:
        try:
            # Neither limit: the full demosaic itself, as the montages crop from it.
            limit = (
                functools.partial(smallest_ratio, min_side=min_side, min_scale=min_scale)
                if min_side or min_scale
                else None
            )
            rgb, scale, full_size, orientation = decode_raw(name, max_pixels, limit)
            return DecodedImage(rgb, scale, full_size, orientation)
        except NotRaw:
            pass  # not a raw LibRaw reads: perhaps a JPEG or TIFF by another name
        except FileNotFoundError:
            raise ImageLoadError(name, "file not found") from None
    # Whatever the name says: phones also write HEIC files named .jpg.
    _register_heif()
    try:
        with warnings.catch_warnings():
            # Pillow warns about large images; our own limit below decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(name) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageLoadError(name, f"too large ({width}x{height} pixels, limit {max_pixels:,})")
                ratio = smallest_ratio(max(width, height), min_side, min_scale)
                if ratio <= 0.5:
                    image.draft(None, (math.ceil(width * ratio), math.ceil(height * ratio)))
                scale = image.size[0] / width
                image.load()
                orientation = image.getexif().get(EXIF_ORIENTATION, 1)
                # Orientations 5 to 8 turn the image a quarter: width and height swap.
                quarter_turn = orientation in (5, 6, 7, 8)
                rgb = _to_rgb_array(ImageOps.exif_transpose(image))
                full_size = (width, height) if quarter_turn else (height, width)
                return DecodedImage(rgb, scale, full_size, orientation, embedded_xmp(image))
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError.unreadable(name, "not an image") from None
    except Image.DecompressionBombError:
        raise ImageLoadError(name, "too large (decompression bomb)") from None
    except UNOPENABLE as error:
        raise ImageLoadError.unopenable(name, error) from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated"),
        # some plugins as SyntaxError or ValueError.
        raise ImageLoadError(name, f"corrupt or truncated ({error})") from None


def read_header(path: str | os.PathLike[str]) -> tuple[int, tuple[int, int], bytes | None]:
    """``(orientation, full_size, xmp)`` of a photo, as :func:`decode_image` gives them, from
    its header alone (no pixels decoded). Raises :class:`ImageLoadError` as it does."""
    name = os.fspath(path)
    if Path(name).suffix.lower() in RAW_SUFFIXES:
        try:
            return raw_header(name)
        except NotRaw:
            pass
    _register_heif()
    try:
        with Image.open(name) as image:
            width, height = image.size
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            full_size = (width, height) if orientation in (5, 6, 7, 8) else (height, width)
            return orientation, full_size, embedded_xmp(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageLoadError(name, f"not read ({type(error).__name__})") from None


def embedded_xmp(image: Image.Image) -> bytes | None:
    """The XMP packet a photo carries, as Pillow and pillow-heif find it (JPEG's APP1, PNG's
    iTXt, TIFF's tag 700, WebP's and HEIF's XMP), or None."""
    packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    return packet or None


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit samples: scale to 8 bits rather than clip, or a bright photo turns white.
        samples = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if samples.max(initial=0) > 255 or image.mode != "I" else 255.0
        gray = np.clip(np.rint(samples * (255.0 / peak)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
