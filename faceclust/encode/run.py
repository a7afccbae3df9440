"""An encoding run: the index's results reused, the rest sent to the local pool or a Dask cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import ImageLoadError
from ..library.index import EncodingCache, FileStamp
from ..outputs.thumbnails import cut_from_photo, encode_jpeg
from ..photos.video import duration_of, is_video, planned_samples
from ..photos.xmp import face_tags_of, sidecar_stamp
from ..records import Face, ImageResult
from ..runtime.threads import map_ahead
from .local import encode_images
from .settings import EncodeSettings


@dataclass
class EncodeSummary:
    """Counts for the closing summary of an encoding run."""

    images: int = 0
    reused: int = 0  # images whose result came from the cache of an earlier run
    # Videos among the images, the seconds of video searched in this run and the frames.
    videos: int = 0
    video_seconds: float = 0.0
    frames_searched: int = 0
    images_with_faces: int = 0
    faces: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # Files not encoded because their type is not an image the tool reads, by suffix, and raw
    # files left to the JPEG of the same name beside them (filled in by pipeline.encode_folder).
    passed_over: dict[str, int] = field(default_factory=dict)
    raw_with_jpeg: int = 0
    live_photos: int = 0
    # The longest side of the photos decoded in this run (0: none was).
    largest_side: int = 0
    # Detections dropped as not faces, and the photos they were in.
    rejected: int = 0
    photos_with_rejected: int = 0
    # Photos reused from an index written before thumbnails were kept whose faces' thumbnails
    # this run cut, and those it could not read (with why).
    thumbnails_added: int = 0
    thumbnails_failed: list[tuple[str, str]] = field(default_factory=list)
    # Named faces found in the photos' metadata and sidecars, the photos holding them, the
    # reused photos whose tags were read again (a sidecar changed, or an older index), and the
    # packets refused (with why).
    tags: int = 0
    tagged_photos: int = 0
    tags_reread: int = 0
    tags_refused: list[tuple[str, str]] = field(default_factory=list)

    def add(self, result: ImageResult) -> None:
        self.images += 1
        self.videos += is_video(result.image_path)
        self.video_seconds += result.video_seconds
        self.frames_searched += result.frames_searched
        self.largest_side = max(self.largest_side, result.longer_side)
        self.rejected += result.rejected
        self.photos_with_rejected += bool(result.rejected)
        for stage, seconds in result.seconds.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        self.tags += len(result.tags)
        self.tagged_photos += bool(result.tags)
        if result.tags_refused is not None:
            self.tags_refused.append((result.image_path, result.tags_refused))
        if result.skip_reason is not None:
            self.skipped.append((result.image_path, result.skip_reason))
        elif result.faces:
            self.images_with_faces += 1
            self.faces += len(result.faces)


def encode_dataset(
    paths: list[str],
    settings: EncodeSettings,
    jobs: int = 1,
    on_result: Callable[[ImageResult], None] | None = None,
    cache: EncodingCache | None = None,
    on_start: Callable[[int, int, dict[str, int], dict[str, int]], None] | None = None,
    scheduler: str | None = None,
    on_tags: Callable[[int, int], None] | None = None,
    on_part: Callable[[ImageResult], None] | None = None,
) -> tuple[list[Face], EncodeSummary]:
    """Encode ``paths`` and return all faces in path order with a summary of the run.

    With a ``cache``, images it already holds (same size, modification time and settings) are
    reused, and every new result is added to it the moment it arrives. ``on_result`` sees only
    the images encoded in this run. With ``scheduler`` (a Dask scheduler's address) the
    images are encoded by that cluster's workers instead of ``jobs`` local processes.
    Reused photos whose face tags are to be read again (their sidecars changed, or an older
    index never read them) are read first; ``on_tags(done, total)`` follows them.
    ``on_start(to_encode, reused, frames, other_settings)`` is told, before the first result,
    how many files are to be encoded, how many were reused, for each video among them the frames
    it will be searched at (from its header): a progress bar counts those, not files, so that
    its time left stays honest with minutes of video among the photos; and how many of those to
    encode the index holds under other settings (:meth:`EncodingCache.other_settings`).
    ``on_part`` sees the result of each part of a long video as it is done (encode/video.py),
    before the video's own.
    """
    started = time.perf_counter()
    stamps = {path: FileStamp.of(path) for path in paths}
    reused: dict[str, ImageResult] = {}
    if cache is not None:
        for path in paths:
            result = cache.lookup(path, stamps[path])
            if result is not None:
                reused[path] = result
    reread = _read_changed_tags(reused, cache, jobs, on_tags) if cache is not None else 0
    fresh: dict[str, ImageResult] = {}
    todo = [path for path in paths if path not in reused]
    durations = _durations(todo, jobs)
    if on_start is not None:
        frames = {
            path: planned_samples(duration, settings.video_every) for path, duration in durations.items()
        }
        on_start(len(todo), len(reused), frames, cache.other_settings(todo) if cache is not None else {})
    # Parts of long videos an interrupted run finished: kept, and each new one kept at once.
    done_parts: dict[str, list[ImageResult]] = {}
    if cache is not None:
        for path in durations:
            stored = cache.stored_parts(path, stamps[path])
            if stored:
                done_parts[path] = stored

    def part_done(part: ImageResult) -> None:
        if cache is not None and not part.retry:
            cache.store_part(part, stamps[part.image_path])
        if on_part is not None:
            on_part(part)

    if scheduler is not None:
        from .cluster import encode_images_on_cluster

        results = encode_images_on_cluster(
            todo, settings, scheduler, durations=durations, on_part=part_done, done_parts=done_parts
        )
    else:
        results = encode_images(todo, settings, jobs, durations, part_done, done_parts)
    for result in results:
        if cache is not None and not result.retry:
            cache.append(result, stamps[result.image_path])
        fresh[result.image_path] = result
        if on_result is not None:
            on_result(result)

    summary = EncodeSummary(reused=len(reused), tags_reread=reread)
    faces: list[Face] = []
    for path in paths:
        result = reused.get(path) or fresh[path]
        summary.add(result)
        faces.extend(result.faces)
    summary.seconds = time.perf_counter() - started
    return faces, summary


def _durations(paths: list[str], jobs: int) -> dict[str, float]:
    """The length in seconds of each video among ``paths``, from their headers (0 for one whose
    header cannot be read or does not say: it is encoded whole, and skipped if unreadable)."""
    videos = [path for path in paths if is_video(path)]

    def duration(path: str) -> float:
        try:
            return duration_of(path)
        except ImageLoadError:
            return 0.0

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return dict(zip(videos, pool.map(duration, videos), strict=True))


def _read_changed_tags(
    reused: dict[str, ImageResult],
    cache: EncodingCache,
    jobs: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Read again the face tags of the reused photos whose sidecars changed since (or that an
    older index never read tags for), from their headers and sidecars, without encoding them;
    keep them in ``cache`` and in the results. How many were read."""
    changed = [path for path, result in reused.items() if result.sidecar_stamp != sidecar_stamp(path)]
    if not changed:
        return 0
    if on_progress is not None:
        on_progress(0, len(changed))
    # Threads: reading headers and small files waits on the disk more than it computes.
    with ThreadPoolExecutor(jobs) as pool:
        for done, (path, tagged) in enumerate(map_ahead(pool, face_tags_of, changed, 4 * jobs), 1):
            cache.store_tags(path, tagged.tags, tagged.sidecar_stamp, tagged.refused)
            result = reused[path]
            result.tags, result.sidecar_stamp, result.tags_refused = (
                tagged.tags,
                tagged.sidecar_stamp,
                tagged.refused,
            )
            if on_progress is not None:
                on_progress(done, len(changed))
    return len(changed)


def add_missing_thumbnails(
    paths: list[str],
    cache: EncodingCache,
    jobs: int,
    summary: EncodeSummary,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Cut the face thumbnails an index written before they were kept lacks, for the photos
    among ``paths``, and keep them in ``cache``: no detection, no network, one reduced decode
    per photo (about what the outputs would pay on every run without them).

    Each photo is committed as it is done, so an interrupted run keeps what it cut and the next
    one goes on. ``on_progress(done, total)`` is called with 0 before the first photo and after
    each; ``summary`` counts the photos done and lists those that could not be read.
    """
    missing = cache.faces_without_thumbnails(paths)
    if not missing:
        return
    total = len(missing)
    if on_progress is not None:
        on_progress(0, total)

    def cut(key: str) -> dict[int, bytes] | str:
        """The photo's thumbnails by face position, or why it could not be read."""
        positions = missing[key]
        try:
            tiles = cut_from_photo(key, list(positions.values()))
        except ImageLoadError as error:
            return error.reason
        return {position: encode_jpeg(tile) for position, tile in zip(positions, tiles, strict=True)}

    # Threads: decoding, resizing and JPEG encoding release the GIL. A few photos in flight,
    # not all, so that an interrupted run stops at once instead of finishing every photo.
    pool = ThreadPoolExecutor(jobs)
    try:
        for key, thumbnails in map_ahead(pool, cut, sorted(missing), 2 * jobs):
            if isinstance(thumbnails, str):
                summary.thumbnails_failed.append((key, thumbnails))
            else:
                cache.store_thumbnails(key, thumbnails)
                summary.thumbnails_added += 1
            if on_progress is not None:
                on_progress(summary.thumbnails_added + len(summary.thumbnails_failed), total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
