import json

import numpy as np

from faceclust.cache import EncodingCache, FileStamp, cache_path
from faceclust.records import Face, ImageResult


def result(path: str, faces: int = 1, skip: str | None = None) -> ImageResult:
    rng = np.random.default_rng(len(path))
    return ImageResult(path, [Face(path, (1, 9, 8, 2 + i), rng.normal(size=128)) for i in range(faces)], skip)


def test_cache_path_sits_beside_the_encodings_file(tmp_path):
    assert cache_path(tmp_path / "enc.pickle") == tmp_path / "enc.pickle.cache"


def test_results_come_back_exactly_for_the_same_file_version_and_settings(tmp_path):
    stamp = FileStamp(100, 123456789)
    cache = EncodingCache(tmp_path / "c", "hog/v1")
    original = result("a.jpg", faces=2)
    cache.append(original, stamp)
    cache.append(result("b.jpg", faces=0, skip="not an image"), stamp)
    cache.close()

    again = EncodingCache(tmp_path / "c", "hog/v1")
    found = again.lookup("a.jpg", stamp)
    assert [face.box for face in found.faces] == [face.box for face in original.faces]
    for got, want in zip(found.faces, original.faces, strict=True):
        assert np.array_equal(got.encoding, want.encoding) and got.encoding.dtype == np.float64
    assert again.lookup("b.jpg", stamp).skip_reason == "not an image"
    assert again.lookup("a.jpg", FileStamp(100, 999)) is None  # modified since
    assert again.lookup("a.jpg", FileStamp(101, 123456789)) is None
    assert again.lookup("a.jpg", None) is None  # gone
    assert EncodingCache(tmp_path / "c", "cnn/v1").lookup("a.jpg", stamp) is None  # other settings


def test_a_torn_or_damaged_line_costs_only_that_image(tmp_path):
    stamp = FileStamp(1, 2)
    cache = EncodingCache(tmp_path / "c", "k")
    cache.append(result("a.jpg"), stamp)
    cache.append(result("b.jpg"), stamp)
    cache.close()
    lines = (tmp_path / "c").read_text().splitlines()
    damaged = json.loads(lines[0])
    damaged["faces"][0][1] = "!!!"
    (tmp_path / "c").write_text(json.dumps(damaged) + "\n" + lines[1] + "\n" + lines[1][:40])
    again = EncodingCache(tmp_path / "c", "k")
    assert again.lookup("a.jpg", stamp) is None
    assert again.lookup("b.jpg", stamp) is not None


def test_rewrite_keeps_only_the_listed_images(tmp_path):
    stamp = FileStamp(1, 2)
    cache = EncodingCache(tmp_path / "c", "k")
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        cache.append(result(name), stamp)
    cache.append(result("a.jpg", faces=3), stamp)  # a newer result for a.jpg
    cache.rewrite(["c.jpg", "a.jpg"])
    lines = [json.loads(line) for line in (tmp_path / "c").read_text().splitlines()]
    assert [(line["path"], len(line["faces"])) for line in lines] == [("c.jpg", 1), ("a.jpg", 3)]


def test_file_stamp_of_a_missing_file_is_none(tmp_path):
    assert FileStamp.of(str(tmp_path / "gone.jpg")) is None
    (tmp_path / "x").write_bytes(b"abc")
    assert FileStamp.of(str(tmp_path / "x")).size == 3


def test_rewrite_leaves_a_file_that_holds_exactly_the_listed_images_alone(tmp_path):
    stamp = FileStamp(1, 2)
    cache = EncodingCache(tmp_path / "c", "k")
    for name in ("a.jpg", "b.jpg"):
        cache.append(result(name), stamp)
    cache.close()
    before = (tmp_path / "c").stat()

    again = EncodingCache(tmp_path / "c", "k")
    again.append(result("c.jpg"), stamp)  # a photo added: appended, nothing to drop
    again.rewrite(["a.jpg", "b.jpg", "c.jpg"])
    after = (tmp_path / "c").stat()
    assert (after.st_ino, after.st_size > before.st_size) == (before.st_ino, True)  # not replaced

    # A changed photo leaves its old line behind, so that rewrite does replace the file.
    changed = EncodingCache(tmp_path / "c", "k")
    changed.append(result("b.jpg", faces=2), FileStamp(1, 3))
    changed.rewrite(["a.jpg", "b.jpg", "c.jpg"])
    lines = [json.loads(line) for line in (tmp_path / "c").read_text().splitlines()]
    assert [(line["path"], len(line["faces"])) for line in lines] == [
        ("a.jpg", 1),
        ("b.jpg", 2),
        ("c.jpg", 1),
    ]
    assert (tmp_path / "c").stat().st_ino != before.st_ino

    # So does a damaged line, and an entry under other settings.
    with open(tmp_path / "c", "a") as stream:
        stream.write('{"torn": \n')
    damaged = EncodingCache(tmp_path / "c", "k")
    damaged.rewrite(["a.jpg", "b.jpg", "c.jpg"])
    assert len((tmp_path / "c").read_text().splitlines()) == 3
    EncodingCache(tmp_path / "c", "other").rewrite(["a.jpg"])
    assert (tmp_path / "c").read_text() == ""
