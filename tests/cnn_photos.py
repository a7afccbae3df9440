"""Photos for the CNN detector's equality tests, made from the bundled dataset.

The same pixels come out on every run (fixed seed, no randomness in Pillow's operations), so
the boxes dlib found on them once, stored in data/cnn_reference.json by
data/make_cnn_reference.py, can be checked against the numpy detector on every test run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "dataset"
REFERENCE = Path(__file__).parent / "data" / "cnn_reference.json"


def bundled_photos() -> list[Path]:
    return sorted(path for path in DATASET.glob("*/*") if path.is_file())


def _photo(index: int) -> Image.Image:
    return Image.open(bundled_photos()[index]).convert("RGB")


def _background(size: tuple[int, int], index: int) -> Image.Image:
    # A blurred, enlarged photo: real texture without faces the detector would take.
    return _photo(index).resize(size).filter(ImageFilter.GaussianBlur(12))


def composite_photos() -> dict[str, np.ndarray]:
    """Harder cases than the bundled portraits: several faces, turned faces, small faces."""
    rng = np.random.default_rng(7)
    photos: dict[str, np.ndarray] = {}

    group = _background((480, 360), 3)
    for slot, index in enumerate(rng.choice(len(bundled_photos()), 4, replace=False).tolist()):
        face = _photo(index)
        side = int(rng.integers(110, 170))
        face = face.resize((side, round(side * face.height / face.width)))
        group.paste(face, (20 + slot * 115, int(rng.integers(0, 360 - face.height))))
    photos["group"] = np.asarray(group)

    for angle in (25, -40):
        turned = _photo(10).rotate(angle, resample=Image.BICUBIC, expand=True)
        photos[f"turned {angle}"] = np.asarray(turned)

    small = _background((320, 240), 20)
    for slot, index in enumerate((30, 60, 90)):
        face = _photo(index)
        face = face.resize((90, round(90 * face.height / face.width)))
        small.paste(face, (10 + slot * 105, 40 + slot * 20))
    photos["small faces"] = np.asarray(small)
    return photos
