"""Frames of a video, sampled and turned upright, through PyAV (FFmpeg inside its wheels).

Not every frame is decoded: a face is seen for seconds, so a few frames a second tell the same
as thirty. :func:`sample_frames` decodes the keyframes only (FFmpeg skips the frames between,
which is most of the work of decoding), keeps those at least ``every`` seconds apart, and only
for a video whose keyframes leave longer gaps decodes it again in full to fill them. Each frame
is turned as the container's display matrix says: phones store portrait video lying on its
side.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UNOPENABLE, ImageLoadError

# What phones, cameras and screen recorders write; H.264, HEVC, VP9, AV1, MPEG-4 ... inside.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".3gp", ".avi", ".mkv", ".webm", ".mts", ".m2ts"})
# A frame is never decoded larger than this many pixels (8K is 33 million).
MAX_FRAME_PIXELS = 40_000_000
# Hours of footage are searched at most this many times: past it the frames are spread out.
MAX_SAMPLES = 1800


def is_video(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its second in the video, and its pixels turned upright (RGB)."""

    time: float
    rgb: np.ndarray


@dataclass
class VideoSampling:
    """What :func:`sample_frames` did, filled in as it goes: the video's length in seconds (0
    when the container does not say), the frames it decoded to look at and how many of all
    frames it had to decode to reach them (0: keyframes only)."""

    duration: float = 0.0
    sampled: int = 0
    decoded_in_full: int = 0


def _open(path: str):
    """The container and its first video stream; ImageLoadError with the reason otherwise."""
    import av

    try:
        container = av.open(path)
    except UNOPENABLE as error:
        raise ImageLoadError.unopenable(path, error) from None
    except av.FFmpegError as error:
        raise ImageLoadError.unreadable(path, f"not a readable video ({_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise ImageLoadError(path, "no video stream (sound only)")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_FRAME_PIXELS:
        container.close()
        raise ImageLoadError(path, f"frames too large ({width}x{height} pixels)")
    return container, stream


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def duration_of(path: str) -> float:
    """The video's length in seconds from its header (0 if it does not say; no frame decoded)."""
    container, stream = _open(path)
    try:
        return _duration(container, stream)
    finally:
        container.close()


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # av.time_base: microseconds
    return 0.0


def planned_samples(duration: float, every: float) -> int:
    """How many frames a video of ``duration`` seconds is searched at, sampled ``every``
    seconds (at least one; at most :data:`MAX_SAMPLES`)."""
    return max(1, min(MAX_SAMPLES, math.ceil(duration / step_for(duration, every)))) if duration > 0 else 1


def upright(frame) -> np.ndarray:
    """A decoded PyAV frame as an RGB array, turned as its display matrix says (the angle is
    counter-clockwise, as numpy's rot90 turns)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def sample_frames(
    path: str,
    every: float,
    sampling: VideoSampling | None = None,
    start: float = 0.0,
    end: float = math.inf,
) -> Iterator[Frame]:
    """The frames of the video at ``path`` to search for faces, upright, in time order: about
    one every ``every`` seconds (spread further for a video longer than :data:`MAX_SAMPLES`
    such steps), keyframes where the video has them often enough; only those from ``start``
    to before ``end`` seconds (a part of a long video, encode/video.py).

    Raises ImageLoadError when the file is not a video FFmpeg reads, or breaks before any frame
    could be decoded; a video that breaks later gives the frames before the break.
    """
    import av

    sampling = sampling if sampling is not None else VideoSampling()
    container, stream = _open(path)
    try:
        sampling.duration = _duration(container, stream)
        every = step_for(sampling.duration, every)
        # Keyframes only: FFmpeg skips decoding the frames between them.
        stream.codec_context.skip_frame = "NONKEY"
        stream.thread_type = "AUTO"
        _seek(container, stream, start)
        offset = _offset(stream)
        taken: list[float] = []
        try:
            for frame in container.decode(stream):
                time = _time(frame, offset)
                if time is None or time < start or (taken and time < taken[-1] + 0.75 * every):
                    continue
                if time >= end:
                    break
                taken.append(time)
                sampling.sampled += 1
                yield Frame(time, upright(frame))
        except av.FFmpegError as error:
            if not taken:
                raise ImageLoadError(path, f"corrupt or truncated ({_reason(error)})") from None
            return  # the frames before the break are what there is
    finally:
        container.close()
    stop = min(end, max(sampling.duration, taken[-1] if taken else 0.0))
    gaps = _gaps(taken, start, stop, every)
    if gaps:
        yield from _fill(path, gaps, every, sampling, end)
    elif not taken:
        raise ImageLoadError(path, "no frame could be decoded")


def step_for(duration: float, every: float) -> float:
    """The sampling step for a video of ``duration`` seconds: ``every``, or longer for a video
    longer than :data:`MAX_SAMPLES` such steps."""
    return max(every, duration / MAX_SAMPLES)


def _seek(container, stream, start: float) -> None:
    """To the keyframe at or before ``start`` seconds (nothing to do at 0)."""
    if start > 0 and stream.time_base is not None:
        container.seek(int((start + _offset(stream)) / stream.time_base), stream=stream, backward=True)


def _offset(stream) -> float:
    """The stream's first timestamp in seconds: 0 in a phone's MP4 or MOV, but a camcorder's
    MPEG-TS (.mts) may start hours in. Times here count from it, as a player shows them."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _time(frame, offset: float) -> float | None:
    """The frame's second from the video's start, to the millisecond (its key in the outputs)."""
    return None if frame.time is None else round(float(frame.time) - offset, 3)


def _gaps(taken: list[float], start: float, end: float, every: float) -> list[tuple[float, float]]:
    """The stretches between the frames taken (and from ``start`` to the first, from the last
    to ``end``) longer than one and a half steps: where the keyframes were too far apart."""
    edges = [start - every / 2, *taken, end + every / 2]
    return [(start, stop) for start, stop in itertools.pairwise(edges) if stop - start > 1.5 * every]


def _fill(
    path: str, gaps: list[tuple[float, float]], every: float, sampling: VideoSampling, end: float
) -> Iterator[Frame]:
    """Frames inside ``gaps``, one every ``every`` seconds and before ``end``, from a full
    decode of the video."""
    import av

    container, stream = _open(path)
    stream.thread_type = "AUTO"
    _seek(container, stream, gaps[0][0])
    offset = _offset(stream)
    gap = 0
    wanted = gaps[0][0] + every
    try:
        for frame in container.decode(stream):
            sampling.decoded_in_full += 1
            time = _time(frame, offset)
            if time is None:
                continue
            while gap < len(gaps) and time > gaps[gap][1] - every / 2:
                gap += 1
                wanted = gaps[gap][0] + every if gap < len(gaps) else math.inf
            if gap == len(gaps) or time >= end:
                break
            if time >= wanted:
                sampling.sampled += 1
                wanted = time + every
                yield Frame(time, upright(frame))
    except av.FFmpegError:
        pass  # a break inside the video: the frames before it are what there is
    finally:
        container.close()
    if not sampling.sampled:
        raise ImageLoadError(path, "no frame could be decoded")


def frame_at(path: str, time: float) -> np.ndarray:
    """The upright frame shown at ``time`` seconds (the first at or after it), for cutting a
    face's thumbnail again; raises ImageLoadError when it cannot be read."""
    import av

    container, stream = _open(path)
    try:
        stream.thread_type = "AUTO"
        _seek(container, stream, time)  # to the keyframe at or before it, then forward
        offset = _offset(stream)
        last = None
        for frame in container.decode(stream):
            last = frame
            at = _time(frame, offset)
            if at is not None and at >= time:
                return upright(frame)
        if last is not None:
            return upright(last)
    except av.FFmpegError as error:
        raise ImageLoadError(path, f"corrupt or truncated ({_reason(error)})") from None
    finally:
        container.close()
    raise ImageLoadError(path, f"no frame at {time:.3f} s")
