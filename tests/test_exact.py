"""``encode_faces.py --exact`` computes what the tutorial computed with face_recognition 1.3.0."""

import json
import pickle

import numpy as np
import pytest

from faceclust.cli import encode_main
from faceclust.encode.settings import EncodeSettings

from .conftest import DATASET, REPO

# tests/data/make_tutorial_reference.py: the tutorial's code, run with face_recognition 1.3.0.
REFERENCE = json.loads((REPO / "tests" / "data" / "tutorial_reference.json").read_text())


@pytest.mark.slow
def test_exact_gives_face_recognitions_boxes_and_vectors_on_the_bundled_dataset(tmp_path, capsys):
    encodings = tmp_path / "encodings.pickle"
    assert encode_main(["-i", str(DATASET), "-e", str(encodings), "--exact", "-q"]) == 0
    got: dict[str, list[dict]] = {}
    for record in pickle.loads(encodings.read_bytes()):
        got.setdefault(record["imagePath"], []).append(record)
    faces = 0
    for image in REFERENCE["images"]:
        records = got.pop(str(DATASET / image["image_path"]), [])
        # Boxes identical, in face_recognition's order.
        assert [tuple(record["loc"]) for record in records] == [tuple(box) for box in image["boxes"]]
        for record, vector in zip(records, image["encodings"], strict=True):
            np.testing.assert_allclose(record["encoding"], vector, rtol=0, atol=1e-6)
        faces += len(records)
    assert got == {} and faces == 113


def test_exact_cannot_be_mixed_with_the_flags_it_fixes(capsys):
    with pytest.raises(SystemExit) as raised:
        encode_main(["-i", str(DATASET), "--exact", "--no-flip", "--framings", "1"])
    assert raised.value.code == 2
    assert "leave out --flip/--no-flip, --framings" in capsys.readouterr().err
    with pytest.raises(ValueError, match="exact computes face_recognition's vectors"):
        EncodeSettings("hog", exact=True)


def test_exact_results_are_kept_apart_from_the_defaults_in_the_index():
    keys = {
        EncodeSettings().cache_key(),
        EncodeSettings(flip=False, framings=1, check_faces=False).cache_key(),
        EncodeSettings.tutorial().cache_key(),
        EncodeSettings.tutorial(upsample=2).cache_key(),
        EncodeSettings.tutorial("cnn").cache_key(),
    }
    assert len(keys) == 5
