"""The encoding index: what each photo gave, so re-runs and interrupted runs skip finished work.

A SQLite database beside the encodings file (``encodings.pickle.index``), in WAL mode: one
row per photo (path, size, modification time, the encoding settings, why it was skipped) and
one per face (its box, and its embedding as a float32 blob). Each finished photo is one
transaction, so a run killed at any moment keeps every photo committed before it, and a
re-run reads only the rows of the photos it asks about. A photo is encoded again when its
size or modification time or the settings change. Nothing in it is pickled: reading it cannot
run code. An index of the earlier format (``encodings.pickle.cache``, JSON lines) is carried
over once, then removed.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..photos.video import is_video
from ..records import EMBEDDING_SIZE, Box, Face, ImageResult

INDEX_SUFFIX = ".index"
LEGACY_SUFFIX = ".cache"  # the JSON-lines journal of earlier versions
# 2: faces gained their thumbnails (an index of version 1 gets the column, empty, when opened).
# 3: photos gained the face tags of their metadata (an older index's photos get theirs read on
# the next run, from the photo's header and sidecars, without encoding them again).
# 4: faces gained the second of the video frame they were seen in (NULL for a photo's).
# 5: faces gained their sharpness (faces/sharpness.py; NULL for those encoded before).
SCHEMA_VERSION = 5
LEGACY_FORMAT = 2
# Photos per transaction when carrying an old journal over or dropping rows.
BATCH = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    key TEXT PRIMARY KEY,          -- the absolute path: a run from another folder finds it too
    path TEXT NOT NULL,            -- the path as the run that encoded it named it
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    settings TEXT NOT NULL,        -- EncodeSettings.cache_key()
    skip TEXT,                     -- why the photo gave no faces, or NULL
    rejected INTEGER NOT NULL DEFAULT 0,
    sidecar_stamp INTEGER NOT NULL DEFAULT -1,  -- its sidecars' newest mtime_ns when read; -1: never
    tags_refused TEXT              -- why a metadata packet was not read, or NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (  -- named faces in a photo's metadata (photos/xmp.py)
    photo TEXT NOT NULL REFERENCES photos(key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    top INTEGER NOT NULL, "right" INTEGER NOT NULL, bottom INTEGER NOT NULL, "left" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tags_by_photo ON tags(photo);
CREATE TABLE IF NOT EXISTS faces (
    photo TEXT NOT NULL REFERENCES photos(key) ON DELETE CASCADE,
    position INTEGER NOT NULL,     -- the face's place in the photo's detection order
    top INTEGER NOT NULL, "right" INTEGER NOT NULL, bottom INTEGER NOT NULL, "left" INTEGER NOT NULL,
    vector BLOB NOT NULL,          -- 128 little-endian float32
    thumbnail BLOB,                -- a JPEG of the face (outputs/thumbnails.py), or NULL
    time REAL,                     -- in a video, the second of the frame it was seen in; else NULL
    sharpness REAL,                -- faces/sharpness.py; NULL: encoded before it was measured
    PRIMARY KEY (photo, position)
) WITHOUT ROWID;
"""
# The finished parts of a long video whose encoding was interrupted (encode/video.py), so that
# the next run encodes only the rest; dropped once the whole video is kept.
PARTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS parts (
    photo TEXT NOT NULL,           -- the video's absolute path
    start REAL NOT NULL,           -- the part's seconds: start to before "end" (NULL: the end)
    "end" REAL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    settings TEXT NOT NULL,
    skip TEXT,
    rejected INTEGER NOT NULL,
    longer_side INTEGER NOT NULL,
    duration REAL NOT NULL,
    frames INTEGER NOT NULL,
    PRIMARY KEY (photo, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS part_faces (
    photo TEXT NOT NULL,
    start REAL NOT NULL,
    position INTEGER NOT NULL,
    top INTEGER NOT NULL, "right" INTEGER NOT NULL, bottom INTEGER NOT NULL, "left" INTEGER NOT NULL,
    vector BLOB NOT NULL,
    time REAL,
    clarity REAL NOT NULL,
    thumbnail BLOB,
    sharpness REAL,
    PRIMARY KEY (photo, start, position)
) WITHOUT ROWID;
"""
# Made after an index of version 1 gained its thumbnail column.
INDEXES = """
-- The outputs look thumbnails up by the path the encodings file names, which stays the same
-- when the photos move or the command runs from another folder.
CREATE INDEX IF NOT EXISTS photos_by_path ON photos(path);
-- The faces still without a thumbnail (encoded before they were kept), which each run looks
-- for: without it, a scan of every face and its thumbnail (1.4-2.8 s per 100,000 faces).
CREATE INDEX IF NOT EXISTS faces_without_thumbnail ON faces(photo) WHERE thumbnail IS NULL;
"""
# Version 1 had no thumbnails: its faces keep theirs NULL, and the outputs decode those photos.
UPGRADE_FROM_1 = "ALTER TABLE faces ADD COLUMN thumbnail BLOB"
# Versions 1 to 3 knew no videos.
UPGRADE_FROM_3 = "ALTER TABLE faces ADD COLUMN time REAL"
# Versions 1 to 4 measured no sharpness: their faces keep NULL, which counts as sharp. Version 4
# had the parts table too (the older ones get it made whole).
UPGRADE_FROM_4 = "ALTER TABLE faces ADD COLUMN sharpness REAL"
UPGRADE_PARTS_FROM_4 = "ALTER TABLE part_faces ADD COLUMN sharpness REAL"
# Versions 1 and 2 read no face tags: their photos are marked never read (-1).
UPGRADE_FROM_2 = (
    "ALTER TABLE photos ADD COLUMN sidecar_stamp INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE photos ADD COLUMN tags_refused TEXT;"
)


def cache_path(encodings_path: str | os.PathLike[str]) -> Path:
    """The index database of an encodings file."""
    return Path(f"{os.fspath(encodings_path)}{INDEX_SUFFIX}")


def legacy_cache_path(encodings_path: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(encodings_path)}{LEGACY_SUFFIX}")


def remove_cache(encodings_path: str | os.PathLike[str]) -> None:
    """Forget everything encoded before: the index with its WAL files, and an old journal."""
    index = cache_path(encodings_path)
    for path in (index, Path(f"{index}-wal"), Path(f"{index}-shm"), legacy_cache_path(encodings_path)):
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class FileStamp:
    """What identifies one version of a file: its size and modification time in nanoseconds."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> FileStamp | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return cls(stat.st_size, stat.st_mtime_ns)


def _key(path: str) -> str:
    return os.path.abspath(path)


def _vector_blob(encoding: np.ndarray) -> bytes:
    return np.asarray(encoding, dtype="<f4").tobytes()


class EncodingCache:
    """The index of one encodings file, opened for a run under one settings key."""

    def __init__(self, path: str | os.PathLike[str], settings_key: str, video_key: str | None = None):
        self.path = Path(path)
        self.settings_key = settings_key
        # Videos are encoded under settings of their own too (how often frames are sampled):
        # changing those redoes the videos, not the photos.
        self.video_key = video_key or settings_key
        try:
            # Autocommit: each photo's rows go in one explicit transaction.
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode a commit survives the process being killed; NORMAL skips the fsync
            # per photo that only a power cut would need.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, 2, 3, 4, SCHEMA_VERSION):
                raise OutputError(f"{self.path} is an encoding index of a newer version ({version})")
            if version in (1, 2):
                # The older photos table first: the schema's script makes only what is missing.
                self._db.executescript(UPGRADE_FROM_2)
            self._db.executescript(SCHEMA)
            self._db.executescript(PARTS_SCHEMA)
            if version == 1:
                self._db.execute(UPGRADE_FROM_1)
            if version in (1, 2, 3):
                self._db.execute(UPGRADE_FROM_3)
            if version in (1, 2, 3, 4):
                self._db.execute(UPGRADE_FROM_4)
            if version == 4:
                self._db.execute(UPGRADE_PARTS_FROM_4)
            self._db.executescript(INDEXES)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            raise OutputError(
                f"cannot use the encoding index {self.path} ({error}); remove it, or run with --fresh"
            ) from None
        legacy = Path(str(self.path).removesuffix(INDEX_SUFFIX) + LEGACY_SUFFIX)
        if str(self.path).endswith(INDEX_SUFFIX) and legacy.exists():
            self._carry_over(legacy)

    def lookup(self, path: str, stamp: FileStamp | None) -> ImageResult | None:
        """The stored result for this version of ``path`` under the current settings, if any.

        Photos are matched by absolute path, so a run from another folder (``-i ../photos``
        instead of ``-i photos``) still reuses them; the result names the photo as ``path``.
        """
        if stamp is None:
            return None
        key = _key(path)
        row = self._db.execute(
            "SELECT size, mtime_ns, settings, skip, rejected, sidecar_stamp, tags_refused FROM photos "
            "WHERE key = ?",
            (key,),
        ).fetchone()
        if (
            row is None
            or (row[0], row[1]) != (stamp.size, stamp.mtime_ns)
            or row[2] != self._settings_of(path)
        ):
            return None
        faces = []
        for top, right, bottom, left, blob, time, sharpness in self._db.execute(
            'SELECT top, "right", bottom, "left", vector, time, sharpness FROM faces WHERE photo = ? '
            "ORDER BY position",
            (key,),
        ):
            vector = np.frombuffer(blob, dtype="<f4")
            if vector.shape != (EMBEDDING_SIZE,):
                return None  # damaged: encode the photo again
            faces.append(Face(path, (top, right, bottom, left), vector.astype(np.float64), time, sharpness))
        tags = [
            (name, (top, right, bottom, left))
            for name, top, right, bottom, left in self._db.execute(
                'SELECT name, top, "right", bottom, "left" FROM tags WHERE photo = ? ORDER BY rowid', (key,)
            )
        ]
        return ImageResult(
            path, faces, row[3], rejected=row[4], tags=tags, sidecar_stamp=row[5], tags_refused=row[6]
        )

    def store_tags(
        self, path: str, tags: list[tuple[str, Box]], sidecar_stamp: int, refused: str | None
    ) -> None:
        """Replace the face tags kept for ``path``, read again from its metadata."""
        key = _key(path)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE photos SET sidecar_stamp = ?, tags_refused = ? WHERE key = ?",
                (sidecar_stamp, refused, key),
            )
            self._db.execute("DELETE FROM tags WHERE photo = ?", (key,))
            self._insert_tags(key, tags)
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise OutputError(f"cannot write the encoding index {self.path}: {error}") from None

    def _insert_tags(self, key: str, tags: list[tuple[str, Box]]) -> None:
        self._db.executemany(
            'INSERT INTO tags (photo, name, top, "right", bottom, "left") VALUES (?, ?, ?, ?, ?, ?)',
            [(key, name, *map(int, box)) for name, box in tags],
        )

    def append(self, result: ImageResult, stamp: FileStamp | None) -> None:
        """Store ``result`` at once, in one transaction, so a killed run keeps it."""
        if stamp is None:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._store(result, stamp, self._settings_of(result.image_path))
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise OutputError(f"cannot write the encoding index {self.path}: {error}") from None

    def _store(
        self, result: ImageResult, stamp: FileStamp, settings_key: str, key: str | None = None
    ) -> None:
        key = key or _key(result.image_path)
        self._db.execute("DELETE FROM faces WHERE photo = ?", (key,))
        # A video's parts are kept only until the video itself is.
        self._db.execute("DELETE FROM parts WHERE photo = ?", (key,))
        self._db.execute("DELETE FROM part_faces WHERE photo = ?", (key,))
        self._db.execute("DELETE FROM tags WHERE photo = ?", (key,))
        self._db.execute(
            "INSERT OR REPLACE INTO photos "
            "(key, path, size, mtime_ns, settings, skip, rejected, sidecar_stamp, tags_refused) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                result.image_path,
                stamp.size,
                stamp.mtime_ns,
                settings_key,
                result.skip_reason,
                result.rejected,
                result.sidecar_stamp,
                result.tags_refused,
            ),
        )
        self._insert_tags(key, result.tags)
        thumbnails = result.thumbnails or [None] * len(result.faces)
        self._db.executemany(
            'INSERT INTO faces (photo, position, top, "right", bottom, "left", vector, thumbnail, time, '
            "sharpness) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    key,
                    position,
                    *map(int, face.box),
                    _vector_blob(face.encoding),
                    thumbnail,
                    face.time,
                    face.sharpness,
                )
                for position, (face, thumbnail) in enumerate(zip(result.faces, thumbnails, strict=True))
            ],
        )

    def store_part(self, part: ImageResult, stamp: FileStamp | None) -> None:
        """Keep one finished part of a long video (``part.part`` its seconds) until the whole
        video is kept, in one transaction: a run killed later encodes only the other parts."""
        if stamp is None or part.part is None:
            return
        key, (start, end) = _key(part.image_path), part.part
        clarity = part.clarity or [0.0] * len(part.faces)
        thumbnails = part.thumbnails or [None] * len(part.faces)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM part_faces WHERE photo = ? AND start = ?", (key, start))
            self._db.execute(
                'INSERT OR REPLACE INTO parts (photo, start, "end", size, mtime_ns, settings, skip, rejected, '
                "longer_side, duration, frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    start,
                    None if end == float("inf") else end,
                    stamp.size,
                    stamp.mtime_ns,
                    self._settings_of(part.image_path),
                    part.skip_reason,
                    part.rejected,
                    part.longer_side,
                    part.video_seconds,
                    part.frames_searched,
                ),
            )
            self._db.executemany(
                'INSERT INTO part_faces (photo, start, position, top, "right", bottom, "left", vector, time, '
                "clarity, thumbnail, sharpness) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        key,
                        start,
                        position,
                        *map(int, face.box),
                        _vector_blob(face.encoding),
                        face.time,
                        score,
                        jpeg,
                        face.sharpness,
                    )
                    for position, (face, score, jpeg) in enumerate(
                        zip(part.faces, clarity, thumbnails, strict=True)
                    )
                ],
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise OutputError(f"cannot write the encoding index {self.path}: {error}") from None

    def other_settings(self, paths: list[str]) -> dict[str, int]:
        """Of ``paths``, how many the index holds under settings other than the current ones,
        by those settings' key: a run with changed settings encodes them again."""
        wanted = {_key(path): self._settings_of(path) for path in paths}
        counts: dict[str, int] = {}
        for key, settings in self._db.execute("SELECT key, settings FROM photos"):
            if key in wanted and settings != wanted[key]:
                counts[settings] = counts.get(settings, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    def stored_parts(self, path: str, stamp: FileStamp | None) -> list[ImageResult]:
        """The parts of this version of the video ``path`` an interrupted run finished, under the
        current settings (none if the video changed since)."""
        if stamp is None:
            return []
        key = _key(path)
        parts = []
        rows = self._db.execute(
            'SELECT start, "end", skip, rejected, longer_side, duration, frames FROM parts '
            "WHERE photo = ? AND size = ? AND mtime_ns = ? AND settings = ? ORDER BY start",
            (key, stamp.size, stamp.mtime_ns, self._settings_of(path)),
        ).fetchall()
        for start, end, skip, rejected, longer_side, duration, frames in rows:
            faces, clarity, thumbnails = [], [], []
            for top, right, bottom, left, blob, time, score, jpeg, sharpness in self._db.execute(
                'SELECT top, "right", bottom, "left", vector, time, clarity, thumbnail, sharpness '
                "FROM part_faces WHERE photo = ? AND start = ? ORDER BY position",
                (key, start),
            ):
                vector = np.frombuffer(blob, dtype="<f4")
                if vector.shape != (EMBEDDING_SIZE,):
                    return []  # damaged: encode the whole video again
                faces.append(
                    Face(path, (top, right, bottom, left), vector.astype(np.float64), time, sharpness)
                )
                clarity.append(score)
                thumbnails.append(jpeg or b"")
            parts.append(
                ImageResult(
                    path,
                    faces,
                    skip,
                    rejected=rejected,
                    longer_side=longer_side,
                    video_seconds=duration,
                    frames_searched=frames,
                    part=(start, float("inf") if end is None else end),
                    clarity=clarity,
                    thumbnails=thumbnails if all(thumbnails) else [],
                )
            )
        return parts

    def _settings_of(self, path: str) -> str:
        return self.video_key if is_video(path) else self.settings_key

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def rewrite(self, paths: list[str]) -> None:
        """Keep only the rows of ``paths`` under the current settings: deleted photos, and
        results under other settings, are dropped."""
        keep = {_key(path) for path in paths}
        try:
            stale = [
                key
                for key, settings in self._db.execute("SELECT key, settings FROM photos")
                if key not in keep or settings != self._settings_of(key)
            ]
            for start in range(0, len(stale), BATCH):
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "DELETE FROM photos WHERE key = ?", [(key,) for key in stale[start : start + BATCH]]
                )
                self._db.execute("COMMIT")
            # Parts of videos no longer there (those of a video to be tried again stay).
            gone = [
                (key,) for (key,) in self._db.execute("SELECT DISTINCT photo FROM parts") if key not in keep
            ]
            if gone:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM parts WHERE photo = ?", gone)
                self._db.executemany("DELETE FROM part_faces WHERE photo = ?", gone)
                self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise OutputError(f"cannot write the encoding index {self.path}: {error}") from None

    def faces_without_thumbnails(self, paths: list[str]) -> dict[str, dict[int, Box]]:
        """The photos among ``paths`` (under the current settings) with faces the index keeps no
        thumbnail for, encoded by a version before thumbnails were kept: by absolute path, each
        such face's box by its position."""
        wanted = {_key(path) for path in paths}
        missing: dict[str, dict[int, Box]] = {}
        rows = self._db.execute(
            'SELECT f.photo, f.position, f.top, f."right", f.bottom, f."left" FROM faces f '
            "INDEXED BY faces_without_thumbnail JOIN photos p ON p.key = f.photo "
            "WHERE f.thumbnail IS NULL AND p.settings = ?",
            (self.settings_key,),
        )
        for key, position, *box in rows:
            if key in wanted:
                missing.setdefault(key, {})[position] = tuple(box)
        return missing

    def store_thumbnails(self, key: str, thumbnails: dict[int, bytes]) -> None:
        """Keep the thumbnails of one photo's faces (its absolute path, each face by its
        position), in one transaction: a killed run keeps every photo finished before."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE faces SET thumbnail = ? WHERE photo = ? AND position = ?",
                [(thumbnail, key, position) for position, thumbnail in thumbnails.items()],
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise OutputError(f"cannot write the encoding index {self.path}: {error}") from None

    def photos(self) -> int:
        """How many photos the index holds."""
        return self._db.execute("SELECT count(*) FROM photos").fetchone()[0]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _carry_over(self, legacy: Path) -> None:
        """Read an old JSON-lines journal into the index, once, then remove it. Damaged or torn
        lines are left behind: those photos are encoded again."""
        rows: list[tuple[ImageResult, FileStamp, str, str]] = []
        try:
            with open(legacy, "rb") as stream:
                for line in stream:
                    entry = _legacy_entry(line)
                    if entry is not None:
                        rows.append(entry)
        except OSError as error:
            raise OutputError(f"cannot read the old encoding cache {legacy}: {error.strerror}") from None
        try:
            for start in range(0, len(rows), BATCH):
                self._db.execute("BEGIN IMMEDIATE")
                for result, stamp, settings, key in rows[start : start + BATCH]:
                    self._store(result, stamp, settings, key)
                self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise OutputError(f"cannot write the encoding index {self.path}: {error}") from None
        legacy.unlink(missing_ok=True)


def _legacy_entry(line: bytes) -> tuple[ImageResult, FileStamp, str, str] | None:
    """One line of the old JSON-lines journal, or None if it is torn or damaged."""
    try:
        record = json.loads(line)
        if record.get("format") != LEGACY_FORMAT:
            return None
        path, skip = record["path"], record["skip"]
        if not isinstance(path, str) or not (skip is None or isinstance(skip, str)):
            return None
        faces = []
        for box, encoded in record["faces"]:
            vector = np.frombuffer(base64.b64decode(encoded, validate=True), dtype="<f8").astype(np.float64)
            if vector.shape != (EMBEDDING_SIZE,) or len(box) != 4:
                return None
            faces.append(Face(path, tuple(int(v) for v in box), vector))
        stamp = FileStamp(int(record["size"]), int(record["mtime_ns"]))
        # -1: its face tags were never read; the next run reads them.
        result = ImageResult(path, faces, skip, rejected=int(record.get("rejected", 0)), sidecar_stamp=-1)
        # The key was made absolute when written: relative paths meant the folder of that run.
        return result, stamp, str(record["settings"]), str(record["key"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def stored_face_tags(encodings_path: str | os.PathLike[str]) -> dict[str, list[tuple[str, Box]]]:
    """The face tags the index beside ``encodings_path`` keeps, by the photo's path as the
    encodings file names it; empty when there is no index or it keeps none."""
    path = cache_path(encodings_path)
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute(
                'SELECT p.path, t.name, t.top, t."right", t.bottom, t."left" FROM tags t '
                "JOIN photos p ON p.key = t.photo ORDER BY t.rowid"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error:  # an index of an older version (no tags table), or damaged
        return {}
    tags: dict[str, list[tuple[str, Box]]] = {}
    for photo, name, *box in rows:
        tags.setdefault(photo, []).append((name, tuple(box)))
    return tags


class StoredThumbnails:
    """The face thumbnails an index holds, read-only, for the outputs (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str]):
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )

    @classmethod
    def of(cls, encodings_path: str | os.PathLike[str]) -> StoredThumbnails | None:
        """The thumbnails of the index beside ``encodings_path``; None when there is no index,
        it holds no thumbnails (written before they were kept), or it cannot be read."""
        path = cache_path(encodings_path)
        if not path.is_file():
            return None
        try:
            stored = cls(path)
        except sqlite3.Error:
            return None
        try:
            usable = stored._query(
                "SELECT 1 FROM sqlite_master WHERE name = 'photos_by_path'", ()
            ) and stored._query("SELECT 1 FROM faces WHERE thumbnail IS NOT NULL LIMIT 1", ())
        except sqlite3.Error:
            usable = False
        if not usable:
            stored.close()
            return None
        return stored

    def _query(self, sql: str, parameters: tuple) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def of_photo(self, image_path: str) -> dict[tuple[Box, float | None], bytes]:
        """The stored thumbnails of the faces of ``image_path`` (as the encodings file names
        it), by box and time (None for a photo's faces); empty when it has none or the index
        cannot be read."""
        try:
            rows = self._query(
                'SELECT f.top, f."right", f.bottom, f."left", f.time, f.thumbnail FROM photos p '
                "JOIN faces f ON f.photo = p.key WHERE p.path = ? AND f.thumbnail IS NOT NULL",
                (image_path,),
            )
        except sqlite3.Error:
            return {}
        return {
            ((top, right, bottom, left), time): thumbnail
            for top, right, bottom, left, time, thumbnail in rows
        }

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
