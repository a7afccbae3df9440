"""Shared fixtures: real photos from the bundled dataset and odd images built in code."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceclust.cli import encode_main
from faceclust.faces.models import FaceModels

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "dataset"
# The benchmark's synthetic-face generator (bench/synthetic.py) serves tests of scale too.
sys.path.insert(0, str(REPO / "bench"))
# One clear, single-face photo per person (HOG finds exactly one face in each).
PORTRAITS = {
    "ben_afflek": "httpcsvkmeuaeccjpg.jpg",
    "elton_john": "httpftqncomymusicLxZeltonjohnjpg.jpg",
    "mindy_kaling": "httpcdnpastemagazinecomwwwarticlesmindykalingndbookjpg.jpg",
}


@pytest.fixture(scope="session")
def models() -> FaceModels:
    return FaceModels()


@pytest.fixture(scope="session")
def portrait_path() -> Path:
    """A real photo with exactly one face that HOG finds at its defaults."""
    return DATASET / "elton_john" / PORTRAITS["elton_john"]


@pytest.fixture(scope="session")
def portrait(portrait_path: Path) -> Image.Image:
    with Image.open(portrait_path) as image:
        return image.convert("RGB")


def person_images(person: str, count: int) -> list[Path]:
    return sorted((DATASET / person).iterdir())[:count]


@pytest.fixture
def small_dataset(tmp_path: Path) -> Path:
    """Three people with four photos each, copied from the bundled dataset, plus broken files."""
    root = tmp_path / "photos"
    for person in ("ben_afflek", "jerry_seinfeld", "mindy_kaling"):
        (root / person).mkdir(parents=True)
        for source in person_images(person, 4):
            shutil.copy(source, root / person / source.name)
    junk = root / "_junk"
    junk.mkdir()
    jpeg = (DATASET / "elton_john" / PORTRAITS["elton_john"]).read_bytes()
    (junk / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (junk / "not_an_image.jpg").write_text("this is plain text, not a JPEG\n")
    return root


def jpeg_bytes(image: Image.Image, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **save_args)
    return buffer.getvalue()


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


@pytest.fixture
def encoded(small_dataset, tmp_path, capsys):
    """The small dataset encoded by encode_faces.py with two workers; also what it printed."""
    encodings = tmp_path / "enc.pickle"
    status = encode_main(["-i", str(small_dataset), "-e", str(encodings), "-j", "2", "-q"])
    assert status == 0
    return small_dataset, encodings, capsys.readouterr().err


def same_face_box(a, b, pyramid_steps: int = 1) -> bool:
    """Whether two boxes frame the same face at the same scale, up to HOG's pyramid steps.

    HOG reports a face at the level of its 5/6 image pyramid that scores best; a borderline
    face can move a level between two copies of a photo, which changes the box's size by a
    fifth (IoU about 0.69) but not its place. A box mapped at the wrong scale or orientation
    is far off in place as well."""
    size_a, size_b = a[2] - a[0], b[2] - b[0]
    centre_a = np.array([a[0] + a[2], a[1] + a[3]]) / 2
    centre_b = np.array([b[0] + b[2], b[1] + b[3]]) / 2
    return (
        max(size_a, size_b) / min(size_a, size_b) < 1.05 * 1.2**pyramid_steps
        and np.abs(centre_a - centre_b).max() < 0.15 * size_b
    )
