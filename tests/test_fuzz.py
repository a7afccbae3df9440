"""Random input never crashes the loader or the store outside their documented errors."""

import contextlib
import io
import pickle

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from faceclust.errors import EncodingsFileError, ImageLoadError
from faceclust.library.store import faces_to_records, load_faces, save_faces
from faceclust.photos.images import load_rgb
from faceclust.records import Face

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_either_load_as_rgb_or_raise_image_load_error(tmp_path, data):
    path = tmp_path / "random.jpg"
    path.write_bytes(data)
    try:
        rgb = load_rgb(path)
    except ImageLoadError as error:
        assert error.reason
    else:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


@st.composite
def small_images(draw):
    mode = draw(st.sampled_from(["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"]))
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if mode in ("I;16", "I", "F"):
        pixels = rng.integers(0, 65536, (height, width)).astype(
            {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        )
        image = Image.fromarray(pixels, mode if mode != "I;16" else None)
    else:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB").convert(mode)
    formats = {
        "1": ["PNG", "BMP", "TIFF"],
        "L": ["PNG", "JPEG", "BMP", "GIF", "TIFF"],
        "P": ["PNG", "GIF", "BMP"],
        "RGB": ["PNG", "JPEG", "BMP", "TIFF", "WEBP"],
        "RGBA": ["PNG", "TIFF", "WEBP"],
        "LA": ["PNG"],
        "CMYK": ["JPEG", "TIFF"],
        "I;16": ["PNG", "TIFF"],
        "I": ["TIFF"],
        "F": ["TIFF"],
    }[mode]
    return image, draw(st.sampled_from(formats))


@FUZZ
@given(case=small_images())
def test_random_small_images_of_every_mode_load_as_rgb(tmp_path, case):
    image, image_format = case
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    path = tmp_path / "image.jpg"  # the extension lies on purpose for all but JPEG
    path.write_bytes(buffer.getvalue())
    rgb = load_rgb(path)
    assert rgb.shape == (image.height, image.width, 3)
    assert rgb.dtype == np.uint8 and rgb.flags["C_CONTIGUOUS"]


face_records = st.builds(
    lambda path, top, height, left, width, seed: Face(
        path, (top, left + width, top + height, left), np.random.default_rng(seed).normal(size=128)
    ),
    st.text(min_size=1, max_size=40).filter(lambda text: "\x00" not in text),
    st.integers(0, 10_000),
    st.integers(1, 5_000),
    st.integers(0, 10_000),
    st.integers(1, 5_000),
    st.integers(0, 2**32 - 1),
)


@FUZZ
@given(faces=st.lists(face_records, max_size=20))
def test_store_round_trips_random_records(tmp_path, faces):
    save_faces(tmp_path / "enc.pickle", faces)
    loaded = load_faces(tmp_path / "enc.pickle")
    assert [(f.image_path, f.box) for f in loaded] == [(f.image_path, f.box) for f in faces]
    assert all(np.array_equal(a.encoding, b.encoding) for a, b in zip(loaded, faces, strict=True))


@FUZZ
@given(
    faces=st.lists(face_records, min_size=1, max_size=5),
    cut=st.integers(0, 10_000),
    flip=st.integers(0, 10_000),
)
def test_damaged_encodings_files_load_or_raise_encodings_file_error(tmp_path, faces, cut, flip):
    raw = bytearray(pickle.dumps(faces_to_records(faces), protocol=4))
    raw[flip % len(raw)] ^= 0xFF
    path = tmp_path / "enc.pickle"
    path.write_bytes(bytes(raw[: max(1, cut % (len(raw) + 1))]))
    try:
        loaded = load_faces(path)
    except EncodingsFileError:
        return
    assert all(face.encoding.shape == (128,) for face in loaded)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_as_an_encodings_file_raise_only_encodings_file_error(tmp_path, data):
    path = tmp_path / "enc.pickle"
    path.write_bytes(data)
    with contextlib.suppress(EncodingsFileError):
        load_faces(path)
