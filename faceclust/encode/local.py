"""Encoding batches on this machine's cores, in worker processes that load the models once."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from ..faces.models import (
    shared_models,
)
from ..records import ImageResult
from .batch import encode_batch, prepare_worker_process
from .settings import EncodeSettings
from .video import PartJoiner, VideoPart, encode_video, parts_to_plan

# Images handed to a worker at once with the CNN detector on a CUDA build of dlib, which
# detects a batch in one call.
CNN_BATCH_SIZE = 8
# Otherwise a worker takes consecutive files up to this many, or this many bytes together:
# detection gains nothing from batches, but the faces of a batch are embedded at once, and
# the network runs 11 ms a chip from 8 chips at once against 15 for the 2 of one face and its
# mirror. lfw_dev on 2 workers took 24.5-25.0 s one photo at a time, 22.3-23.2 s four at a
# time, 21.7-22.0 s sixteen. A web or LFW photo is 10-50 kB; a camera photo, 2-8 MB, goes
# alone.
SMALL_BATCH = 8
SMALL_BATCH_BYTES = 1_000_000


def _start_worker() -> None:
    # Ctrl-C reaches the whole process group; only the parent should handle it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepare_worker_process()


def default_jobs() -> int:
    """Worker processes to use by default: every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _batches(paths: list[str], settings: EncodeSettings) -> Iterator[list[str]]:
    """The images a worker takes at once, in order.

    With the CNN on a CUDA dlib, :data:`CNN_BATCH_SIZE` images (one detector call). Otherwise
    consecutive small files, up to :data:`SMALL_BATCH` of them or :data:`SMALL_BATCH_BYTES`
    together, so that the network embeds their faces at once; a large photo goes alone, as
    it needs no company to fill the network and holds memory while it waits.
    """
    if settings.detection_method == "cnn" and shared_models().cnn_batches:
        yield from (paths[i : i + CNN_BATCH_SIZE] for i in range(0, len(paths), CNN_BATCH_SIZE))
        return
    batch: list[str] = []
    batch_bytes = 0
    for path in paths:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0  # encode_batch reports what is wrong with it
        if batch and (len(batch) == SMALL_BATCH or batch_bytes + size > SMALL_BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(path)
        batch_bytes += size
    if batch:
        yield batch


def _work(paths: list[str], settings: EncodeSettings, joiner: PartJoiner) -> list[list[str] | VideoPart]:
    """What the workers take, in order: batches of files, and the parts of each long video
    still to encode."""
    work: list[list[str] | VideoPart] = []
    for batch in _batches(paths, settings):
        if len(batch) == 1 and batch[0] in joiner.planned:
            work.extend(joiner.to_encode(batch[0]))
        else:
            work.append(batch)
    return work


def _encode(item: list[str] | VideoPart, settings: EncodeSettings) -> list[ImageResult]:
    if isinstance(item, VideoPart):
        return [encode_video(item.path, settings, start=item.start, end=item.end)]
    return encode_batch(item, settings)


def encode_images(
    paths: Iterable[str],
    settings: EncodeSettings,
    jobs: int = 1,
    durations: dict[str, float] | None = None,
    on_part: Callable[[ImageResult], None] | None = None,
    done_parts: dict[str, list[ImageResult]] | None = None,
) -> Iterator[ImageResult]:
    """Yield one :class:`ImageResult` per path, in the order of ``paths`` (a video whose parts
    were all done before first).

    With ``jobs > 1`` the work runs in that many processes, each loading the models once. A
    video whose length ``durations`` gives is encoded in parts (encode/video.py) that the
    workers share, but for those ``done_parts`` holds (finished by an interrupted run);
    ``on_part`` sees each part's result as it arrives, before the video's.
    """
    paths = list(paths)
    joiner = PartJoiner(parts_to_plan(paths, durations or {}), done_parts or {}, settings.video_faces)
    yield from joiner.finished()
    work = _work(paths, settings, joiner)
    if not work:
        return
    jobs = max(1, min(jobs, len(work)))
    if jobs == 1:
        from threadpoolctl import threadpool_limits

        def one_by_one() -> Iterator[list[ImageResult]]:
            for item in work:
                # One BLAS thread, as in each worker: two threads split the network's matrix
                # products differently and change the last bits of the vectors, which then
                # would depend on --jobs. Limited per item, so the caller's work between is not.
                with threadpool_limits(1):
                    results = _encode(item, settings)
                yield results

        yield from _joined(one_by_one(), joiner, on_part)
        return
    # spawn, not fork: the parent may hold threads (progress bar, BLAS) that fork would copy
    # mid-lock, and each worker loads its own models anyway.
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_start_worker) as pool:
        yield from _joined(pool.imap(partial(_encode, settings=settings), work), joiner, on_part)


def _joined(
    batches: Iterable[list[ImageResult]],
    joiner: PartJoiner,
    on_part: Callable[[ImageResult], None] | None,
) -> Iterator[ImageResult]:
    """The results, with the parts of each video joined into one when its last is in."""
    for results in batches:
        for result in results:
            if result.part is None:
                yield result
                continue
            if on_part is not None:
                on_part(result)
            joined = joiner.add(result)
            if joined is not None:
                yield joined
