"""One video to faces: frames sampled, faces found in each, each person's clearest few kept.

A person seen for a minute is thirty sampled frames' worth of faces, nearly the same thirty
times: kept all, they would crowd every montage and weigh thirty times in the clustering. So
the faces of one video are grouped as they are found (near in embedding, never two of one
frame), and each group keeps its ``video_faces`` clearest: sharpest and most frontal, which
also favours the largest, as a small face's chip is a blurred enlargement. Only those are
embedded fully (every framing, mirrored); the grouping uses one chip per face, a sixth of the
cost. Memory stays bounded however long the video: a group holds its best few chips only.

A video longer than :data:`PART_SECONDS` is encoded in parts, which the workers share (a minute
of video on two cores takes about half the time) and after each of which the progress bar
moves; :func:`join_parts` groups the parts' faces again, on their full vectors, and keeps each
person's clearest.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ImageLoadError
from ..faces.models import FaceModels, shared_models
from ..faces.sharpness import sharpness
from ..outputs.thumbnails import encode_jpeg, face_tile
from ..photos.video import VideoSampling, sample_frames
from ..records import Box, Face, ImageResult
from .detection import find_faces
from .settings import EncodeSettings

# Two faces of one video are taken for one person when their vectors (one chip each, dlib's
# framing) are this near: nearer than the clustering's own cut (about 0.5 on the full vectors),
# since a wrong merge here loses a person for good, while a person split here is joined again
# by the clustering.
SAME_PERSON = 0.4
# A video is encoded in parts of this many seconds when longer than one and a half of them.
PART_SECONDS = 30.0


@dataclass(frozen=True)
class VideoPart:
    """Seconds ``start`` to before ``end`` of a video: one worker's share of it."""

    path: str
    start: float
    end: float


def video_parts(path: str, duration: float) -> list[VideoPart]:
    """The parts a video of ``duration`` seconds is encoded in: one for a short video."""
    if duration <= 1.5 * PART_SECONDS:
        return [VideoPart(path, 0.0, math.inf)]
    count = math.ceil(duration / PART_SECONDS)
    edges = [index * duration / count for index in range(count)] + [math.inf]
    return [VideoPart(path, start, end) for start, end in itertools.pairwise(edges)]


@dataclass
class _Candidate:
    time: float
    box: Box
    chips: np.ndarray  # every copy of the face the settings embed
    quality: float
    thumbnail: np.ndarray
    sharpness: float


@dataclass
class _Person:
    """The faces of one person in the video so far: their vectors' sum, the frames they were
    seen in, and the clearest candidates."""

    total: np.ndarray
    count: int = 1
    times: set[float] = field(default_factory=set)
    best: list[_Candidate] = field(default_factory=list)

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count


def clarity(chip: np.ndarray) -> float:
    """How clear an aligned face chip is: its sharpness (the variance of its Laplacian) times
    its symmetry (a frontal face's chip is nearly its own mirror image; a turned one is not)."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY).astype(np.float32)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    symmetry = max(0.05, 1.0 - float(np.abs(grey - grey[:, ::-1]).mean()) / 64.0)
    return sharpness * symmetry


def encode_video(
    path: str,
    settings: EncodeSettings,
    models: FaceModels | None = None,
    start: float = 0.0,
    end: float = math.inf,
) -> ImageResult:
    """Find the people of one video (or of its seconds ``start`` to ``end``): up to
    ``settings.video_faces`` faces each, with the second of the frame each was seen in; a video
    that cannot be read is skipped with the reason."""
    models = models or shared_models()
    timings: dict[str, float] = {}
    sampling = VideoSampling()
    people: list[_Person] = []
    rejected = 0
    longest = 0
    try:
        started = time.perf_counter()
        for frame in sample_frames(path, settings.video_every, sampling, start, end):
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - started
            rgb = frame.rgb
            longest = max(longest, *rgb.shape[:2])
            boxes, dropped = find_faces(rgb, max(rgb.shape[:2]), settings, models, timings)
            rejected += dropped
            if boxes:
                started = time.perf_counter()
                chips = models.face_chips(rgb, boxes, settings.jitters, settings.flip, settings.framings)
                # One chip per face (dlib's framing, unmirrored) to tell the people apart.
                vectors = models.embedding_net(np.ascontiguousarray(chips[:, 0])).astype(np.float64)
                for box, face_chips, vector in zip(boxes, chips, vectors, strict=True):
                    candidate = _Candidate(
                        frame.time,
                        box,
                        face_chips,
                        clarity(face_chips[0]),
                        face_tile(rgb, box),
                        sharpness(rgb, box),
                    )
                    _assign(people, candidate, vector, settings.video_faces)
                timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - started
            started = time.perf_counter()
    except ImageLoadError as error:
        return ImageResult(path, skip_reason=error.reason, seconds=timings, part=_part(start, end))
    except (RuntimeError, MemoryError) as error:
        # As for a photo (encode/batch.py): the machine's failure, not the file's, so not kept
        # in the index; the next run tries the video again.
        return ImageResult(
            path,
            skip_reason=f"detection failed ({error})",
            retry=True,
            seconds=timings,
            part=_part(start, end),
        )
    kept = sorted(
        (candidate for person in people for candidate in person.best),
        key=lambda candidate: (candidate.time, candidate.box[3], candidate.box[0]),
    )
    started = time.perf_counter()
    vectors = (
        models.embed_chips(np.stack([candidate.chips for candidate in kept]), settings.framings)
        if kept
        else []
    )
    timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    thumbnails = [encode_jpeg(candidate.thumbnail) for candidate in kept]
    timings["thumbs"] = time.perf_counter() - started
    faces = [
        Face(path, candidate.box, vector, candidate.time, candidate.sharpness)
        for candidate, vector in zip(kept, vectors, strict=True)
    ]
    return ImageResult(
        path,
        faces,
        rejected=rejected,
        longer_side=longest,
        thumbnails=thumbnails,
        seconds=timings,
        video_seconds=sampling.duration,
        frames_searched=sampling.sampled,
        part=_part(start, end),
        clarity=[candidate.quality for candidate in kept],
    )


def _part(start: float, end: float) -> tuple[float, float] | None:
    return None if start == 0 and end == math.inf else (start, end)


def join_parts(parts: list[ImageResult], keep: int) -> ImageResult:
    """One video's result from those of its parts, in order: their faces grouped again by
    person on the full vectors (never two of one frame), each person's ``keep`` clearest kept.
    A part that could not be read loses its seconds only; if none could, the video is skipped
    with the first part's reason."""
    path = parts[0].image_path
    read = [part for part in parts if part.skip_reason is None]
    seconds: dict[str, float] = {}
    for part in parts:
        for stage, value in part.seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + value
    if not read:
        first = parts[0]
        return ImageResult(
            path, skip_reason=first.skip_reason, retry=any(p.retry for p in parts), seconds=seconds
        )
    faces = [(face, clarity, thumbnail) for part in read for face, clarity, thumbnail in _with_clarity(part)]
    people: list[list[tuple[Face, float, bytes]]] = []
    means: list[np.ndarray] = []
    # The clearest first: each person's mean is of their clearest faces.
    for entry in sorted(faces, key=lambda entry: -entry[1]):
        face = entry[0]
        seen_in = [{member.time for member, _, _ in members} for members in people]
        best = _nearest_person(means, seen_in, face.encoding, face.time)
        if best is None:
            people.append([entry])
            means.append(np.asarray(face.encoding, dtype=np.float64))
        elif len(people[best]) < keep:
            people[best].append(entry)
            means[best] = np.mean([member.encoding for member, _, _ in people[best]], axis=0)
    kept = sorted(
        (entry for members in people for entry in members),
        key=lambda entry: (entry[0].time, entry[0].box[3], entry[0].box[0]),
    )
    return ImageResult(
        path,
        [face for face, _, _ in kept],
        rejected=sum(part.rejected for part in parts),
        longer_side=max(part.longer_side for part in parts),
        thumbnails=[thumbnail for _, _, thumbnail in kept]
        if all(p.thumbnails or not p.faces for p in read)
        else [],
        seconds=seconds,
        video_seconds=max(part.video_seconds for part in parts),
        frames_searched=sum(part.frames_searched for part in parts),
        clarity=[clarity for _, clarity, _ in kept],
        # A part lost to the machine (not to the file): the video is tried again next run.
        retry=any(part.retry for part in parts),
    )


def parts_to_plan(paths: list[str], durations: dict[str, float]) -> dict[str, list[VideoPart]]:
    """The videos among ``paths`` long enough to be encoded in parts, with their parts."""
    planned = {path: video_parts(path, durations[path]) for path in paths if path in durations}
    return {path: parts for path, parts in planned.items() if len(parts) > 1}


class PartJoiner:
    """Collects the parts of long videos as they arrive, in any order, and joins each video when
    its last one is in. ``planned`` gives each video's parts; ``done`` those finished in an
    earlier run (kept by the index), which are not encoded again."""

    def __init__(self, planned: dict[str, list[VideoPart]], done: dict[str, list[ImageResult]], keep: int):
        self.keep = keep
        self.planned = planned
        self.expected = {path: len(parts) for path, parts in planned.items()}
        self.arrived = {path: list(done.get(path, [])) for path in planned}

    def to_encode(self, path: str) -> list[VideoPart]:
        """The parts of ``path`` still to encode, of those planned."""
        finished = {part.part[0] for part in self.arrived.get(path, [])}
        return [part for part in self.planned[path] if part.start not in finished]

    def finished(self) -> list[ImageResult]:
        """The videos all of whose parts were done before: joined now, nothing to encode."""
        ready = [path for path, parts in self.arrived.items() if len(parts) == self.expected[path]]
        return [self._join(path) for path in ready]

    def add(self, part: ImageResult) -> ImageResult | None:
        """Take one part; the video's joined result if it was the last one missing."""
        path = part.image_path
        self.arrived[path].append(part)
        return self._join(path) if len(self.arrived[path]) == self.expected[path] else None

    def _join(self, path: str) -> ImageResult:
        parts = sorted(self.arrived.pop(path), key=lambda result: result.part[0])
        return join_parts(parts, self.keep)


def _with_clarity(part: ImageResult) -> list[tuple[Face, float, bytes]]:
    clarity = part.clarity or [0.0] * len(part.faces)
    thumbnails = part.thumbnails or [b""] * len(part.faces)
    return list(zip(part.faces, clarity, thumbnails, strict=True))


def _assign(people: list[_Person], candidate: _Candidate, vector: np.ndarray, keep: int) -> None:
    """Put a face with the nearest person seen so far, if near enough and not already seen in
    that frame, or make it a new person; each person keeps its ``keep`` clearest faces."""
    number = _nearest_person(
        [person.mean for person in people], [person.times for person in people], vector, candidate.time
    )
    if number is None:
        people.append(_Person(vector.copy(), 1, {candidate.time}, [candidate]))
        return
    best = people[number]
    best.total += vector
    best.count += 1
    best.times.add(candidate.time)
    best.best.append(candidate)
    if len(best.best) > keep:
        best.best.remove(min(best.best, key=lambda kept: kept.quality))


def _nearest_person(
    means: list[np.ndarray], seen_in: list[set[float]], vector: np.ndarray, time: float
) -> int | None:
    """The number of the person whose mean lies nearest ``vector``, within :data:`SAME_PERSON`,
    among those not already seen in the frame at ``time`` (the cannot-link rule: one frame never
    shows a person twice); None if there is none."""
    best, best_distance = None, SAME_PERSON
    for number, (mean, times) in enumerate(zip(means, seen_in, strict=True)):
        if time in times:
            continue
        distance = float(np.linalg.norm(mean - vector))
        if distance < best_distance:
            best, best_distance = number, distance
    return best
