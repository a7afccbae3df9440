"""The encoding cache: what each image gave, so re-runs and interrupted runs skip finished work.

It lives beside the encodings file (``encodings.pickle.cache``) as JSON lines, one per image:
its path, size, modification time, the encoding settings, and its faces or why it was skipped.
A record is appended and flushed as soon as an image is done, so a run killed at any moment
loses only the images in flight; a torn last line is ignored. An image is encoded again when
its size or modification time or the settings change. JSON, not pickle: reading the cache must
not be able to run code either.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import OutputError
from .fileio import atomic_write_bytes
from .records import EMBEDDING_SIZE, Face, ImageResult

CACHE_SUFFIX = ".cache"
FORMAT = 2


def cache_path(encodings_path: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(encodings_path)}{CACHE_SUFFIX}")


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


def _record(result: ImageResult, stamp: FileStamp, settings_key: str) -> dict:
    return {
        "format": FORMAT,
        "path": result.image_path,
        "key": _key(result.image_path),
        "size": stamp.size,
        "mtime_ns": stamp.mtime_ns,
        "settings": settings_key,
        "skip": result.skip_reason,
        "rejected": result.rejected,
        "faces": [
            [list(face.box), base64.b64encode(np.asarray(face.encoding, "<f8").tobytes()).decode("ascii")]
            for face in result.faces
        ],
    }


def _result(record: dict) -> tuple[ImageResult, FileStamp, str]:
    path = record["path"]
    faces = []
    for box, encoded in record["faces"]:
        vector = np.frombuffer(base64.b64decode(encoded, validate=True), dtype="<f8").astype(np.float64)
        if vector.shape != (EMBEDDING_SIZE,) or len(box) != 4:
            raise ValueError("bad face")
        faces.append(Face(path, tuple(int(v) for v in box), vector))
    skip = record["skip"]
    if not isinstance(path, str) or not (skip is None or isinstance(skip, str)):
        raise ValueError("bad record")
    stamp = FileStamp(int(record["size"]), int(record["mtime_ns"]))
    # Records written before face checking have no count of dropped detections.
    rejected = int(record.get("rejected", 0))
    return ImageResult(path, faces, skip, rejected=rejected), stamp, str(record["settings"])


def _key(path: str) -> str:
    return os.path.abspath(path)


class EncodingCache:
    """Results of earlier runs, read once at the start; new results appended as they come."""

    def __init__(self, path: str | os.PathLike[str], settings_key: str):
        self.path = Path(path)
        self.settings_key = settings_key
        self._entries: dict[str, tuple[ImageResult, FileStamp, str]] = {}
        # Lines in the file that no entry stands for (damaged, or replaced by a later line):
        # while there are none, the file needs no rewrite.
        self._dead_lines = 0
        self._stream = None
        self._load()

    def _load(self) -> None:
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 - closed below; read line by line, not whole
        except FileNotFoundError:
            return
        except OSError as error:
            raise OutputError(f"cannot read the encoding cache {self.path}: {error.strerror}") from None
        with stream:
            try:
                for line in stream:
                    self._load_line(line)
            except OSError as error:
                raise OutputError(f"cannot read the encoding cache {self.path}: {error.strerror}") from None

    def _load_line(self, line: bytes) -> None:
        try:
            record = json.loads(line)
            if record.get("format") != FORMAT:
                raise ValueError("another format")
            result, stamp, settings = _result(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            self._dead_lines += 1  # torn by a killed run, or damaged: that image is encoded again
            return
        # The key was made absolute when written: relative paths meant the folder of that run.
        self._add(str(record["key"]), (result, stamp, settings))

    def _add(self, key: str, entry: tuple[ImageResult, FileStamp, str]) -> None:
        self._dead_lines += key in self._entries
        self._entries[key] = entry

    def lookup(self, path: str, stamp: FileStamp | None) -> ImageResult | None:
        """The cached result for this version of ``path`` under the current settings, if any.

        Photos are matched by absolute path, so a run from another folder (``-i ../photos``
        instead of ``-i photos``) still reuses them; the result names the photo as ``path``.
        """
        entry = self._entries.get(_key(path))
        if entry is None or stamp is None:
            return None
        result, cached_stamp, settings = entry
        if cached_stamp != stamp or settings != self.settings_key:
            return None
        if result.image_path == path:
            return result
        faces = [Face(path, face.box, face.encoding) for face in result.faces]
        return ImageResult(path, faces, result.skip_reason, rejected=result.rejected)

    def append(self, result: ImageResult, stamp: FileStamp | None) -> None:
        """Remember ``result`` on disk at once, so a killed run keeps it."""
        if stamp is None:
            return
        if self._stream is None:
            try:
                self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
            except OSError as error:
                raise OutputError(f"cannot write the encoding cache {self.path}: {error.strerror}") from None
        self._stream.write(json.dumps(_record(result, stamp, self.settings_key)) + "\n")
        self._stream.flush()
        self._add(_key(result.image_path), (result, stamp, self.settings_key))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def rewrite(self, paths: list[str]) -> None:
        """Replace the file by the current records of ``paths`` only, dropping deleted images.

        A file that already holds exactly those records (a re-run with nothing deleted or
        changed, or with photos only added) is left as it is.
        """
        self.close()
        kept: dict[str, tuple[str, ImageResult, FileStamp]] = {}
        for path in paths:
            key = _key(path)
            entry = self._entries.get(key)
            if entry is not None and entry[2] == self.settings_key:
                kept[key] = (path, entry[0], entry[1])
        if self._dead_lines == 0 and len(kept) == len(self._entries):
            return
        lines = [
            json.dumps(_record(self.lookup(path, stamp) or result, stamp, self.settings_key))
            for path, result, stamp in kept.values()
        ]
        atomic_write_bytes(self.path, ("\n".join(lines) + "\n" if lines else "").encode("utf-8"))
        self._dead_lines = 0
