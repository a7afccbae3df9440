"""Small typed records passed between the modules."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# (top, right, bottom, left) in pixels of the EXIF-oriented image, clipped to it; the same
# convention as face_recognition, so that boxes in old pickles mean what they always meant.
Box = tuple[int, int, int, int]
# What names one face across runs, in corrections and questions: its file, its box, and for a
# face in a video the second of the frame it was seen in (None for a photo).
FaceKey = tuple[str, Box, "float | None"]

EMBEDDING_SIZE = 128


# Slots: no dict per face. A million face records take 64 MB instead of 104, and a forked
# child that reads them (runtime/beside.py) copies fewer pages of them.
@dataclass(frozen=True, slots=True)
class Face:
    """One face: the image it was found in, where, and its 128-d embedding (float64).

    A face in a video names the video as its ``image_path``, and ``time`` is the second of the
    frame it was seen in (the box is in that frame, turned upright); None for a photo.
    ``sharpness`` is how sharp the face is for its size (faces/sharpness.py); None where it was
    not measured (encoded by a version before it was).
    """

    image_path: str
    box: Box
    encoding: np.ndarray = field(repr=False)
    time: float | None = None
    sharpness: float | None = None

    @property
    def key(self) -> FaceKey:
        return (self.image_path, tuple(self.box), self.time)

    def entry(self) -> dict:
        """The face as the JSON files name it: :func:`key_entry` of its key."""
        entry: dict = {"image_path": self.image_path, "box": list(self.box)}
        if self.time is not None:
            entry["time"] = self.time
        return entry

    @property
    def frame(self) -> str:
        """The picture the face was seen in: its photo, or its video's frame. No two faces of
        one frame are the same person (the cannot-link rule); a video's frames may all show one."""
        return self.image_path if self.time is None else f"{self.image_path}#t={self.time:.3f}"

    @property
    def area(self) -> int:
        top, right, bottom, left = self.box
        return (bottom - top) * (right - left)


def key_entry(key: FaceKey) -> dict:
    """A face as the JSON files name it (clusters.json, corrections.json): ``image_path`` and
    ``box``, and ``time`` for a face in a video."""
    path, box, time = key
    entry: dict = {"image_path": path, "box": [int(value) for value in box]}
    if time is not None:
        entry["time"] = time
    return entry


@dataclass
class ImageResult:
    """What encoding one image gave: its faces, or why it was skipped."""

    image_path: str
    faces: list[Face] = field(default_factory=list)
    skip_reason: str | None = None
    # The failure was not the file's but the machine's (out of memory) or the cluster's (a
    # worker that failed the batch): not kept in the encoding index, so the next run tries again.
    retry: bool = False
    # Seconds spent per stage ("decode", "detect", "embed") in the worker, for --profile.
    seconds: dict[str, float] = field(default_factory=dict)
    # Detections dropped as not faces (face_check); their boxes are not kept.
    rejected: int = 0
    # The full-size upright photo's longer side, in pixels; 0 where it was not decoded in this
    # run (skipped, or reused from the cache), for the summary's smallest face looked for.
    longer_side: int = 0
    # Named faces other programs tagged in the photo's metadata or sidecar (photos/xmp.py), as
    # (name, box of the upright photo); the sidecars' newest modification time when they were
    # read (0: none); and why a packet was not read, if one was refused.
    tags: list[tuple[str, Box]] = field(default_factory=list)
    sidecar_stamp: int = 0
    tags_refused: str | None = None
    # A video's length in seconds and the frames searched (0 for a photo, or reused); for a
    # part of a long video encoded apart, the part's (start, end) seconds, and each face's
    # clarity (encode/video.py), by which the parts' faces are chosen from when joined.
    video_seconds: float = 0.0
    frames_searched: int = 0
    part: tuple[float, float] | None = None
    clarity: list[float] = field(default_factory=list, repr=False)
    # Each face's thumbnail as JPEG bytes (outputs/thumbnails.py), in the order of ``faces``; empty
    # where none were cut (reused from the cache, or read from an older index).
    thumbnails: list[bytes] = field(default_factory=list, repr=False)
