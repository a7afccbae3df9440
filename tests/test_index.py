"""The encoding index: SQLite beside the encodings file, one transaction per photo."""

import base64
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from faceclust.errors import OutputError
from faceclust.library.index import (
    SCHEMA_VERSION,
    EncodingCache,
    FileStamp,
    StoredThumbnails,
    cache_path,
    legacy_cache_path,
    remove_cache,
)
from faceclust.records import Face, ImageResult


def result(path: str, faces: int = 1, skip: str | None = None) -> ImageResult:
    rng = np.random.default_rng(len(path))
    return ImageResult(path, [Face(path, (1, 9, 8, 2 + i), rng.normal(size=128)) for i in range(faces)], skip)


def test_the_index_sits_beside_the_encodings_file(tmp_path):
    assert cache_path(tmp_path / "enc.pickle") == tmp_path / "enc.pickle.index"


def test_results_come_back_for_the_same_file_version_and_settings(tmp_path):
    stamp = FileStamp(100, 123456789)
    cache = EncodingCache(tmp_path / "c.index", "hog/v1")
    original = result("a.jpg", faces=2)
    cache.append(original, stamp)
    cache.append(result("b.jpg", faces=0, skip="not an image"), stamp)
    cache.close()

    again = EncodingCache(tmp_path / "c.index", "hog/v1")
    found = again.lookup("a.jpg", stamp)
    assert [face.box for face in found.faces] == [face.box for face in original.faces]
    for got, want in zip(found.faces, original.faces, strict=True):
        # Stored as float32: 7 significant digits, far finer than any distance used.
        np.testing.assert_allclose(got.encoding, want.encoding, rtol=1e-7, atol=1e-7)
        assert got.encoding.dtype == np.float64
    assert again.lookup("b.jpg", stamp).skip_reason == "not an image"
    assert again.lookup("a.jpg", FileStamp(100, 999)) is None  # modified since
    assert again.lookup("a.jpg", FileStamp(101, 123456789)) is None
    assert again.lookup("a.jpg", None) is None  # gone
    assert EncodingCache(tmp_path / "c.index", "cnn/v1").lookup("a.jpg", stamp) is None  # other settings


def test_a_newer_result_replaces_the_older_one(tmp_path):
    cache = EncodingCache(tmp_path / "c.index", "k")
    cache.append(result("a.jpg", faces=3), FileStamp(1, 2))
    cache.append(result("a.jpg", faces=1), FileStamp(1, 3))
    assert len(cache.lookup("a.jpg", FileStamp(1, 3)).faces) == 1
    assert cache.lookup("a.jpg", FileStamp(1, 2)) is None
    rows = sqlite3.connect(tmp_path / "c.index").execute("SELECT count(*) FROM faces").fetchone()[0]
    assert rows == 1


def test_rewrite_keeps_only_the_listed_photos_under_these_settings(tmp_path):
    stamp = FileStamp(1, 2)
    cache = EncodingCache(tmp_path / "c.index", "k")
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        cache.append(result(name), stamp)
    cache.rewrite(["c.jpg", "a.jpg"])
    assert cache.photos() == 2 and cache.lookup("b.jpg", stamp) is None
    cache.close()
    other = EncodingCache(tmp_path / "c.index", "other")
    other.rewrite(["a.jpg"])
    assert other.photos() == 0
    faces = sqlite3.connect(tmp_path / "c.index").execute("SELECT count(*) FROM faces").fetchone()[0]
    assert faces == 0  # a photo's faces go with it


def test_file_stamp_of_a_missing_file_is_none(tmp_path):
    assert FileStamp.of(str(tmp_path / "gone.jpg")) is None
    (tmp_path / "x").write_bytes(b"abc")
    assert FileStamp.of(str(tmp_path / "x")).size == 3


KILLED_WRITER = """
import sys, numpy as np
from faceclust.library.index import EncodingCache, FileStamp
from faceclust.records import Face, ImageResult
cache = EncodingCache(sys.argv[1], "k")
for n in range(1_000_000):
    path = f"p{n}.jpg"
    faces = [Face(path, (1, 9, 8, 2), np.full(128, n / 1e6))]
    cache.append(ImageResult(path, faces), FileStamp(n, n))
    if n == 200:
        print("ready", flush=True)
"""


def test_a_writer_killed_at_any_moment_keeps_every_photo_committed_before(tmp_path):
    index = tmp_path / "c.index"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(index)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    child.kill()
    child.wait()
    cache = EncodingCache(index, "k")
    stored = cache.photos()
    assert stored > 200
    # Every photo up to the last committed one is whole: its row and its face.
    for n in range(stored):
        found = cache.lookup(f"p{n}.jpg", FileStamp(n, n))
        assert found is not None and len(found.faces) == 1, n
        assert found.faces[0].encoding[0] == pytest.approx(n / 1e6, abs=1e-7)
    assert cache.lookup(f"p{stored}.jpg", FileStamp(stored, stored)) is None


def legacy_line(path: str, key: str, faces: int = 1) -> str:
    vector = base64.b64encode(np.arange(128, dtype="<f8").tobytes()).decode()
    return json.dumps(
        {
            "format": 2,
            "path": path,
            "key": key,
            "size": 1,
            "mtime_ns": 2,
            "settings": "k",
            "skip": None,
            "faces": [[[1, 9, 8, 2], vector]] * faces,
        }
    )


def test_an_old_json_lines_cache_is_carried_over_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    encodings = tmp_path / "enc.pickle"
    legacy = legacy_cache_path(encodings)
    good = legacy_line("photos/a.jpg", str(tmp_path / "photos" / "a.jpg"), faces=2)
    damaged = legacy_line("photos/b.jpg", str(tmp_path / "photos" / "b.jpg")).replace(
        '"faces": [[[', '"faces": [[[['
    )
    legacy.write_text(good + "\n" + damaged + "\n" + good[:30])  # and a torn last line
    cache = EncodingCache(cache_path(encodings), "k")
    assert not legacy.exists()
    found = cache.lookup("photos/a.jpg", FileStamp(1, 2))
    assert len(found.faces) == 2 and found.faces[0].encoding[5] == 5.0
    assert cache.lookup("photos/b.jpg", FileStamp(1, 2)) is None  # damaged: encoded again
    assert cache.photos() == 1


def test_a_damaged_index_is_a_clear_error_and_fresh_removes_it(tmp_path):
    encodings = tmp_path / "enc.pickle"
    cache_path(encodings).write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutputError, match=r"cannot use the encoding index .* run with --fresh"):
        EncodingCache(cache_path(encodings), "k")
    remove_cache(encodings)
    assert EncodingCache(cache_path(encodings), "k").photos() == 0


def test_an_index_of_version_1_gains_the_thumbnail_and_tag_columns_and_keeps_its_photos(tmp_path):
    path = tmp_path / "enc.pickle.index"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE photos (key TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL, settings TEXT NOT NULL, skip TEXT,
            rejected INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
        CREATE TABLE faces (photo TEXT NOT NULL REFERENCES photos(key) ON DELETE CASCADE,
            position INTEGER NOT NULL, top INTEGER NOT NULL, "right" INTEGER NOT NULL,
            bottom INTEGER NOT NULL, "left" INTEGER NOT NULL, vector BLOB NOT NULL,
            PRIMARY KEY (photo, position)) WITHOUT ROWID;
        PRAGMA user_version=1;
        """
    )
    key = str(tmp_path / "a.jpg")
    db.execute("INSERT INTO photos VALUES (?, 'a.jpg', 1, 2, 'k', NULL, 0)", (key,))
    db.execute("INSERT INTO faces VALUES (?, 0, 1, 9, 8, 2, ?)", (key, np.ones(128, "<f4").tobytes()))
    db.commit()
    db.close()
    assert StoredThumbnails.of(tmp_path / "enc.pickle") is None  # written before thumbnails were kept

    cache = EncodingCache(path, "k")
    kept = cache.lookup(key, FileStamp(1, 2))
    assert kept is not None and kept.faces[0].box == (1, 9, 8, 2)
    assert kept.sidecar_stamp == -1 and kept.tags == []  # its face tags never read: the next run does
    assert cache.faces_without_thumbnails([key]) == {key: {0: (1, 9, 8, 2)}}  # for the next run to cut
    b = str(tmp_path / "b.jpg")
    cache.append(ImageResult(b, result(b).faces, thumbnails=[b"jpeg of b"]), FileStamp(3, 4))
    cache.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # Compared as a set: the order of the keys depends on where the test runs.
    assert set(db.execute("SELECT photo, thumbnail FROM faces").fetchall()) == {
        (key, None),
        (b, b"jpeg of b"),
    }
    assert kept.faces[0].sharpness is None  # encoded before sharpness was measured: counts as sharp


def test_an_index_of_version_4_gains_sharpness_and_keeps_its_faces_and_video_parts(tmp_path):
    path = tmp_path / "enc.pickle.index"
    cache = EncodingCache(path, "k")
    cache.close()
    # Made as version 4 made it: today's tables without the sharpness columns.
    db = sqlite3.connect(path)
    for table in ("faces", "part_faces"):
        db.execute(f"ALTER TABLE {table} DROP COLUMN sharpness")
    db.execute("PRAGMA user_version=4")
    key = str(tmp_path / "a.jpg")
    db.execute(
        "INSERT INTO photos (key, path, size, mtime_ns, settings) VALUES (?, 'a.jpg', 1, 2, 'k')", (key,)
    )
    db.execute(
        'INSERT INTO faces (photo, position, top, "right", bottom, "left", vector) VALUES (?, 0, 1, 9, 8, 2, ?)',
        (key, np.ones(128, "<f4").tobytes()),
    )
    db.commit()
    db.close()

    cache = EncodingCache(path, "k")
    kept = cache.lookup(key, FileStamp(1, 2))
    assert kept is not None and kept.faces[0].box == (1, 9, 8, 2) and kept.faces[0].sharpness is None
    video = str(tmp_path / "v.mp4")
    face = Face(video, (1, 9, 8, 2), np.ones(128), 2.5, 0.61)
    cache.store_part(ImageResult(video, [face], part=(0.0, 30.0), clarity=[3.0]), FileStamp(5, 6))
    assert cache.stored_parts(video, FileStamp(5, 6))[0].faces[0].sharpness == pytest.approx(0.61)
    b = str(tmp_path / "b.jpg")
    cache.append(ImageResult(b, [Face(b, (1, 9, 8, 2), np.ones(128), sharpness=0.12)]), FileStamp(3, 4))
    assert cache.lookup(b, FileStamp(3, 4)).faces[0].sharpness == pytest.approx(0.12)
    cache.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_stored_thumbnails_are_found_by_the_path_the_encodings_name_and_the_box(tmp_path):
    encodings = tmp_path / "enc.pickle"
    cache = EncodingCache(cache_path(encodings), "k")
    two = result("photos/a.jpg", faces=2)
    cache.append(ImageResult(two.image_path, two.faces, thumbnails=[b"first", b"second"]), FileStamp(1, 2))
    cache.append(result("photos/b.jpg"), FileStamp(1, 2))  # encoded without thumbnails
    cache.close()
    stored = StoredThumbnails.of(encodings)
    assert stored.of_photo("photos/a.jpg") == {
        (two.faces[0].box, None): b"first",
        (two.faces[1].box, None): b"second",
    }
    assert stored.of_photo("photos/b.jpg") == {}
    assert stored.of_photo("elsewhere/a.jpg") == {}
    stored.close()
    assert StoredThumbnails.of(tmp_path / "other.pickle") is None  # no index


def test_faces_without_thumbnails_are_listed_for_the_run_s_photos_and_settings_and_filled_per_photo(tmp_path):
    a, b, c = (str(tmp_path / name) for name in ("a.jpg", "b.jpg", "c.jpg"))
    other = EncodingCache(tmp_path / "c.index", "other settings")
    other.append(result(c), FileStamp(1, 2))  # another settings key: not this run's to fill
    other.close()
    cache = EncodingCache(tmp_path / "c.index", "k")
    cache.append(result(a, faces=2), FileStamp(1, 2))  # encoded without thumbnails
    kept = result(b)
    cache.append(ImageResult(b, kept.faces, thumbnails=[b"jpeg of b"]), FileStamp(1, 2))
    cache.append(result(str(tmp_path / "gone.jpg")), FileStamp(1, 2))  # not among this run's photos
    assert cache.faces_without_thumbnails([a, b, c]) == {a: {0: (1, 9, 8, 2), 1: (1, 9, 8, 3)}}

    cache.store_thumbnails(a, {0: b"first", 1: b"second"})
    assert cache.faces_without_thumbnails([a, b, c]) == {}
    cache.close()
    stored = StoredThumbnails.of(tmp_path / "c")
    assert stored.of_photo(a) == {((1, 9, 8, 2), None): b"first", ((1, 9, 8, 3), None): b"second"}
    stored.close()
