"""Encoding on a Dask cluster: the same batches as the local pool, on the cluster's workers.

Imported only when ``encode_faces.py --scheduler`` is given, so a local run never loads Dask.
Workers must have this package installed (the same version) and see the photos at the same
paths: the photos are sent as absolute paths, read by the workers from shared storage, and
only faces come back (with their small thumbnails), never the photos. Each worker process
loads the models once (the per-process cache of :func:`faceclust.faces.models.shared_models`) and
is set up as a local worker is (one BLAS and one OpenCV thread, glibc's thresholds:
:mod:`faceclust.runtime.malloc_tuning`), so the vectors and the speed are the same.

Before any work goes out, every worker and the scheduler are asked what they run
(:func:`check_cluster`): one that cannot import this package, or runs another version of it, of
dlib or of numpy, stops the run with an error naming it and the fix, instead of failing every
batch it is given. A worker
that joins during the run is asked too, before the next batch goes out.

Work goes out a bounded number of batches at a time, and results stream back as they
finish. A batch whose worker dies is run again by Dask on another worker (the scheduler's
``allowed-failures``); a batch that kills workers that often is skipped with its reason.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator, Sequence

from ..errors import FaceclustError
from ..records import ImageResult
from .batch import encode_batch, prepare_worker_process
from .settings import EncodeSettings
from .video import PartJoiner, VideoPart, encode_video, parts_to_plan

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
    """The Dask scheduler cannot be reached, has no workers, or has workers that cannot encode."""


# What the scheduler and each worker are asked. An expression for the builtin eval, which any
# of them can run: a function of ours could not even be unpickled where this package is missing,
# and Dask would say only "Error during deserialization of the task graph".
PROBE = "{name: getattr(__import__(name), '__version__', None) for name in ('faceclust', 'dlib', 'numpy')}"


def check_cluster(client, joined: list[str] | None = None) -> list[str]:
    """The addresses of the workers asked, once each has shown it runs the versions of faceclust,
    dlib and numpy this process runs (the vectors depend on all three). The scheduler and every
    worker are asked, or only the workers ``joined`` since. The scheduler needs the package too:
    it unpickles the tasks. Raises :class:`SchedulerError` naming each that does not, and the fix."""
    expected = eval(PROBE, {})
    answers: dict[str, object] = {}
    if joined is None:
        scheduler = f"the scheduler {client.scheduler.address}"
        try:
            answers[scheduler] = client.run_on_scheduler(eval, PROBE, {})
        except Exception as error:  # raised there, by the import
            answers[scheduler] = error
    workers = client.run(eval, PROBE, {}, workers=joined, on_error="return")
    answers.update((f"worker {address}", answer) for address, answer in sorted(workers.items()))
    problems = []
    for name, answer in answers.items():
        if isinstance(answer, BaseException):
            problems.append(f"{name}: cannot import faceclust ({type(answer).__name__}: {answer})")
        elif answer != expected:
            differ = ", ".join(
                f"{package} {answer[package]} where this machine has {expected[package]}"
                for package in expected
                if answer[package] != expected[package]
            )
            problems.append(f"{name}: {differ}")
    if problems:
        raise SchedulerError(
            f"{len(problems)} of the Dask cluster's {len(answers)} processes asked cannot encode for this "
            "run:\n  " + "\n  ".join(problems) + "\nInstall this faceclust (pip install . from the same "
            "checkout, with the same requirements-lock.txt) in the environment each of them starts "
            "from, then restart it"
        )
    return list(workers)


def encode_batch_on_worker(paths: list[str], settings: EncodeSettings) -> list[ImageResult]:
    """Run on a worker: one batch, with the worker's models, one batch per process at a time."""
    with _MODELS_LOCK:
        _prepare_worker()
        return encode_batch(paths, settings)


def encode_part_on_worker(part: VideoPart, settings: EncodeSettings) -> list[ImageResult]:
    """Run on a worker: one part of a long video (encode/video.py), as a batch is run."""
    with _MODELS_LOCK:
        _prepare_worker()
        return [encode_video(part.path, settings, start=part.start, end=part.end)]


def _prepare_worker() -> None:
    """Once per worker process, also in one that replaced a lost worker."""
    global _prepared
    if not _prepared:
        prepare_worker_process()
        _prepared = True


_prepared = False


def encode_images_on_cluster(
    paths: Sequence[str],
    settings: EncodeSettings,
    scheduler: str,
    batch_size: int = CLUSTER_BATCH,
    durations: dict[str, float] | None = None,
    on_part: Callable[[ImageResult], None] | None = None,
    done_parts: dict[str, list[ImageResult]] | None = None,
) -> Iterator[ImageResult]:
    """Yield one :class:`ImageResult` per path, in the order they finish, encoded by the
    workers of the Dask scheduler at ``scheduler`` (for example ``tcp://10.0.0.5:8786``).

    A video whose length ``durations`` gives is sent in parts, as the local pool does, which
    several workers share (but for ``done_parts``, finished before); its result comes when its
    last part is in (``on_part`` sees each)."""
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
        checked = set(check_cluster(client))
        threads = sum(client.nthreads().values())
        # The workers read absolute paths; the results name each photo as this run does.
        joiner = PartJoiner(
            parts_to_plan(list(paths), durations or {}), done_parts or {}, settings.video_faces
        )
        yield from joiner.finished()
        whole = [path for path in paths if path not in joiner.planned]
        batches: list[list[str] | VideoPart] = [
            whole[start : start + batch_size] for start in range(0, len(whole), batch_size)
        ]
        batches += [part for path in joiner.arrived for part in joiner.to_encode(path)]
        pending = iter(enumerate(batches))
        named: dict[str, list[str] | VideoPart] = {}

        def submit(number: int, batch: list[str] | VideoPart):
            key = f"faceclust-encode-{number}-{os.getpid()}-{id(batches)}"
            named[key] = batch
            if isinstance(batch, VideoPart):
                task = dataclasses.replace(batch, path=os.path.abspath(batch.path))
                return client.submit(encode_part_on_worker, task, settings, key=key, pure=False)
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
                if isinstance(batch, VideoPart):
                    results = [
                        ImageResult(batch.path, skip_reason=reason, retry=True, part=(batch.start, batch.end))
                    ]
                else:
                    results = [ImageResult(path, skip_reason=reason, retry=True) for path in batch]
            if isinstance(batch, VideoPart):
                part = _named_as(results[0], batch.path)
                if on_part is not None:
                    on_part(part)
                joined = joiner.add(part)
                if joined is not None:
                    yield joined
            else:
                for path, result in zip(batch, results, strict=True):
                    yield _named_as(result, path)
            future.release()
            # A worker that joined since is asked before it can take the next batch.
            joined = [address for address in client.nthreads() if address not in checked]
            if joined:
                checked.update(check_cluster(client, joined))
            following = next(pending, None)
            if following is not None:
                running.add(submit(*following))
    finally:
        client.close()


def _named_as(result: ImageResult, path: str) -> ImageResult:
    if result.image_path == path:
        return result
    faces = [dataclasses.replace(face, image_path=path) for face in result.faces]
    return dataclasses.replace(result, image_path=path, faces=faces)
