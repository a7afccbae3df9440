"""Encoding on a Dask cluster: the same batches as the local pool, on the cluster's workers.

Imported only when ``encode_faces.py --scheduler`` is given, so a local run never loads Dask.
Workers must have this package installed (the same version) and see the photos at the same
paths: the photos are sent as absolute paths, read by the workers from shared storage, and
only faces come back (with their small thumbnails), never the photos. Each worker process
loads the models once (the per-process cache of :func:`faceclust.models.shared_models`) and
is set up as a local worker is (one BLAS and one OpenCV thread, glibc's thresholds:
:mod:`.malloc_tuning`), so the vectors and the speed are the same.

Work goes out a bounded number of batches at a time, and results stream back as they
finish. A batch whose worker dies is run again by Dask on another worker (the scheduler's
``allowed-failures``); a batch that kills workers that often is skipped with its reason.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence

from .encoding import EncodeSettings, encode_batch, prepare_worker_process
from .errors import FaceclustError
from .records import Face, ImageResult

# Photos per task: large enough that the scheduler sees thousands of tasks for a million
# photos, not millions; small enough that a lost worker costs a few seconds of work.
CLUSTER_BATCH = 16
# Batches in flight per worker thread: enough to keep every worker busy while results travel.
IN_FLIGHT_PER_THREAD = 4
CONNECT_SECONDS = 30

# dlib's models are not thread-safe: a worker started with several threads runs one batch at
# a time per process (start workers with --nthreads 1 and --nworkers N to use N cores).
_MODELS_LOCK = threading.Lock()


class SchedulerError(FaceclustError):
    """The Dask scheduler cannot be reached or has no workers."""


def encode_batch_on_worker(paths: list[str], settings: EncodeSettings) -> list[ImageResult]:
    """Run on a worker: one batch, with the worker's models, one batch per process at a time."""
    with _MODELS_LOCK:
        _prepare_worker()
        return encode_batch(paths, settings)


def _prepare_worker() -> None:
    """Once per worker process, also in one that replaced a lost worker."""
    global _prepared
    if not _prepared:
        prepare_worker_process()
        _prepared = True


_prepared = False


def encode_images_on_cluster(
    paths: Sequence[str], settings: EncodeSettings, scheduler: str, batch_size: int = CLUSTER_BATCH
) -> Iterator[ImageResult]:
    """Yield one :class:`ImageResult` per path, in the order they finish, encoded by the
    workers of the Dask scheduler at ``scheduler`` (for example ``tcp://10.0.0.5:8786``)."""
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    try:
        try:
            # Workers started a moment ago may still be connecting.
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            raise SchedulerError(
                f"the Dask scheduler at {scheduler} has no workers (waited {CONNECT_SECONDS} s); start "
                f"some with: dask worker {scheduler} --nworkers N --nthreads 1"
            ) from None
        threads = sum(client.nthreads().values())
        # The workers read absolute paths; the results name each photo as this run does.
        batches = [list(paths[start : start + batch_size]) for start in range(0, len(paths), batch_size)]
        pending = iter(enumerate(batches))
        named: dict[str, list[str]] = {}

        def submit(number: int, batch: list[str]):
            key = f"faceclust-encode-{number}-{os.getpid()}-{id(batches)}"
            named[key] = batch
            return client.submit(
                encode_batch_on_worker,
                [os.path.abspath(path) for path in batch],
                settings,
                key=key,
                pure=False,
            )

        flight = [
            submit(*item) for _, item in zip(range(threads * IN_FLIGHT_PER_THREAD), pending, strict=False)
        ]
        running = as_completed(flight, loop=client.loop)
        for future in running:
            batch = named.pop(future.key)
            try:
                # Waits again if the result was lost with its worker and is being recomputed.
                results = future.result()
            except Exception as error:  # the task's own error, or KilledWorker after retries
                reason = f"failed on the cluster ({type(error).__name__}: {error})"
                results = [ImageResult(path, skip_reason=reason) for path in batch]
            for path, result in zip(batch, results, strict=True):
                yield _named_as(result, path)
            future.release()
            following = next(pending, None)
            if following is not None:
                running.add(submit(*following))
    finally:
        client.close()


def _named_as(result: ImageResult, path: str) -> ImageResult:
    if result.image_path == path:
        return result
    faces = [Face(path, face.box, face.encoding) for face in result.faces]
    return ImageResult(path, faces, result.skip_reason, result.seconds, result.rejected, result.longer_side)
