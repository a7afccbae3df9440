"""Camera raw files (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF), decoded with LibRaw (rawpy).

Most cameras embed a preview JPEG as large as the photo; when it holds enough pixels for
detection and embedding it is used as it is, many times faster than demosaicing. Otherwise the
raw data is demosaiced at half size (LibRaw's half-size mode: one pixel per 2x2 colour cell, no
interpolation) when that still holds the pixels asked for, else at full size. The photo is
turned upright by the raw file's own orientation (LibRaw's flip), which LibRaw applies to what
it demosaics and this module applies to the preview, whose own EXIF tag is often missing or
wrong.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image

from ..errors import ImageLoadError

RAW_SUFFIXES = frozenset({".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"})

# LibRaw's flip values and the turn that makes the stored image upright, and the EXIF
# orientation that says the same.
_TURN = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}
_ORIENTATION = {3: 3, 5: 8, 6: 6}


class NotRaw(Exception):
    """The file is not a raw LibRaw reads: let the ordinary decoders judge it."""


def decode_raw(
    name: str, max_pixels: int, smallest_ratio: Callable[[int], float] | None
) -> tuple[np.ndarray, float, tuple[int, int], int]:
    """``(rgb, scale, full_size, orientation)`` of a camera raw file, as images.decode_image returns
    them (``orientation``: the EXIF orientation its stored image would have).

    ``full_size`` is (height, width) of the full-size upright photo (LibRaw's demosaiced
    output). ``smallest_ratio(longer side)`` says how small, relative to that, the result may
    be: the preview is used if it is at least that large, else a half-size demosaic if that is,
    else a full one. None asks for the full demosaic itself (the montages crop from it).
    """
    import rawpy  # deferred: only folders with raw files need LibRaw

    try:
        raw = rawpy.imread(name)
    except (rawpy.LibRawFileUnsupportedError, rawpy.LibRawIOError) as error:
        raise NotRaw(str(error)) from None
    except rawpy.LibRawError as error:
        raise ImageLoadError(name, f"corrupt or truncated raw file ({error})") from None
    with raw:
        try:
            sizes = raw.sizes
            width, height = sizes.width, sizes.height
            if width * height > max_pixels:
                raise ImageLoadError(name, f"too large ({width}x{height} pixels, limit {max_pixels:,})")
            full_size = (width, height) if sizes.flip in (5, 6) else (height, width)
            orientation = _ORIENTATION.get(sizes.flip, 1)
            ratio = 1.0 if smallest_ratio is None else smallest_ratio(max(width, height))
            if smallest_ratio is not None:
                preview = _preview(raw, sizes.flip)
                # A little slack: a "full-size" preview is often cropped a few pixels smaller.
                if preview is not None and preview.shape[1] / full_size[1] >= 0.95 * ratio:
                    return preview, preview.shape[1] / full_size[1], full_size, orientation
            # Half size only where it still holds the pixels asked for.
            rgb = raw.postprocess(half_size=ratio <= 0.5, use_camera_wb=True, output_bps=8)
        except rawpy.LibRawError as error:
            raise ImageLoadError(name, f"corrupt or truncated raw file ({error})") from None
    rgb = np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
    return rgb, rgb.shape[1] / full_size[1], full_size, orientation


def _preview(raw, flip: int) -> np.ndarray | None:
    """The embedded preview turned upright, or None if the file has none that decodes."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with Image.open(io.BytesIO(thumb.data)) as image:
                image = image.convert("RGB")
        elif thumb.format == rawpy.ThumbFormat.BITMAP:
            image = Image.fromarray(np.asarray(thumb.data, dtype=np.uint8)).convert("RGB")
        else:
            return None
    except (OSError, ValueError, SyntaxError):
        return None
    if flip in _TURN:
        image = image.transpose(_TURN[flip])
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def raw_header(name: str) -> tuple[int, tuple[int, int], None]:
    """``(orientation, full_size, None)`` of a camera raw file, without demosaicing it (a raw
    file keeps its XMP in a sidecar, not inside)."""
    import rawpy

    try:
        with rawpy.imread(name) as raw:
            sizes = raw.sizes
    except (rawpy.LibRawFileUnsupportedError, rawpy.LibRawIOError) as error:
        raise NotRaw(str(error)) from None
    except rawpy.LibRawError as error:
        raise ImageLoadError(name, f"corrupt or truncated raw file ({error})") from None
    full_size = (sizes.width, sizes.height) if sizes.flip in (5, 6) else (sizes.height, sizes.width)
    return _ORIENTATION.get(sizes.flip, 1), full_size, None
