"""Encoding batches on this machine's cores, in worker processes that load the models once."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from functools import partial

from ..faces.models import (
    shared_models,
)
from ..records import ImageResult
from .batch import encode_batch, prepare_worker_process
from .settings import EncodeSettings

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


def encode_images(paths: Iterable[str], settings: EncodeSettings, jobs: int = 1) -> Iterator[ImageResult]:
    """Yield one :class:`ImageResult` per path, in the order of ``paths``.

    With ``jobs > 1`` the work runs in that many processes, each loading the models once.
    """
    batches = list(_batches(list(paths), settings))
    jobs = max(1, min(jobs, len(batches)))
    if jobs == 1:
        from threadpoolctl import threadpool_limits

        for batch in batches:
            # One BLAS thread, as in each worker: two threads split the network's matrix
            # products differently and change the last bits of the vectors, which then would
            # depend on --jobs. Limited per batch, so the caller's own work between is not.
            with threadpool_limits(1):
                results = encode_batch(batch, settings)
            yield from results
        return
    # spawn, not fork: the parent may hold threads (progress bar, BLAS) that fork would copy
    # mid-lock, and each worker loads its own models anyway.
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_start_worker) as pool:
        work = partial(encode_batch, settings=settings)
        for results in pool.imap(work, batches):
            yield from results
