"""One video to faces: frames sampled, faces found in each, each person's clearest few kept.

A person seen for a minute is thirty sampled frames' worth of faces, nearly the same thirty
times: kept all, they would crowd every montage and weigh thirty times in the clustering. So
the faces of one video are grouped as they are found (near in embedding, never two of one
frame), and each group keeps its ``video_faces`` clearest: sharpest and most frontal, which
also favours the largest, as a small face's chip is a blurred enlargement. Only those are
embedded fully (every framing, mirrored); the grouping uses one chip per face, a sixth of the
cost. Memory stays bounded however long the video: a group holds its best few chips only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ImageLoadError
from ..faces.models import FaceModels, shared_models
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


@dataclass
class _Candidate:
    time: float
    box: Box
    chips: np.ndarray  # every copy of the face the settings embed
    quality: float
    thumbnail: np.ndarray


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
    on_frame=None,
) -> ImageResult:
    """Find the people of one video: up to ``settings.video_faces`` faces each, with the second
    of the frame each was seen in; a video that cannot be read is skipped with the reason.
    ``on_frame(sampled)`` is called after each frame searched."""
    models = models or shared_models()
    timings: dict[str, float] = {}
    sampling = VideoSampling()
    people: list[_Person] = []
    rejected = 0
    longest = 0
    try:
        started = time.perf_counter()
        for frame in sample_frames(path, settings.video_every, sampling):
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - started
            rgb = frame.rgb
            longest = max(longest, *rgb.shape[:2])
            scale = settings.detection_scale(max(rgb.shape[:2]))
            boxes, dropped = find_faces(rgb, scale, settings, models, timings)
            rejected += dropped
            if boxes:
                started = time.perf_counter()
                chips = models.face_chips(rgb, boxes, settings.jitters, settings.flip, settings.framings)
                # One chip per face (dlib's framing, unmirrored) to tell the people apart.
                vectors = models.embedding_net(np.ascontiguousarray(chips[:, 0])).astype(np.float64)
                for box, face_chips, vector in zip(boxes, chips, vectors, strict=True):
                    candidate = _Candidate(
                        frame.time, box, face_chips, clarity(face_chips[0]), face_tile(rgb, box)
                    )
                    _assign(people, candidate, vector, settings.video_faces)
                timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - started
            if on_frame is not None:
                on_frame(sampling.sampled)
            started = time.perf_counter()
    except ImageLoadError as error:
        return ImageResult(path, skip_reason=error.reason, seconds=timings)
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
        Face(path, candidate.box, vector, candidate.time)
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
    )


def _assign(people: list[_Person], candidate: _Candidate, vector: np.ndarray, keep: int) -> None:
    """Put a face with the nearest person seen so far, if near enough and not already seen in
    that frame, or make it a new person; each person keeps its ``keep`` clearest faces."""
    best, best_distance = None, SAME_PERSON
    for person in people:
        if candidate.time in person.times:
            continue  # the cannot-link rule: one frame never shows a person twice
        distance = float(np.linalg.norm(person.mean - vector))
        if distance < best_distance:
            best, best_distance = person, distance
    if best is None:
        people.append(_Person(vector.copy(), 1, {candidate.time}, [candidate]))
        return
    best.total += vector
    best.count += 1
    best.times.add(candidate.time)
    best.best.append(candidate)
    if len(best.best) > keep:
        best.best.remove(min(best.best, key=lambda kept: kept.quality))
