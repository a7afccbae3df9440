"""Turning image files into faces: load, detect, embed, over worker processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .errors import ImageLoadError
from .images import load_rgb
from .models import DETECTION_METHODS, FaceModels, shared_models
from .records import Face, ImageResult


@dataclass(frozen=True)
class EncodeSettings:
    """How faces are found and embedded; every field changes the faces an image gives."""

    detection_method: str = "hog"
    upsample: int = 1
    jitters: int = 1

    def __post_init__(self) -> None:
        if self.detection_method not in DETECTION_METHODS:
            raise ValueError(
                f"detection_method must be one of {DETECTION_METHODS}, not {self.detection_method!r}"
            )
        if not 0 <= self.upsample <= 4:
            raise ValueError(f"upsample must be between 0 and 4, not {self.upsample}")
        if not 1 <= self.jitters <= 100:
            raise ValueError(f"jitters must be between 1 and 100, not {self.jitters}")


# Images handed to a worker at once with the CNN detector: a CUDA build of dlib detects a
# batch of same-sized images in one call. HOG gains nothing from batches, so it takes one
# image at a time and the progress bar moves with every image.
CNN_BATCH_SIZE = 8


def _faces_in(path: str, rgb: np.ndarray, boxes, settings: EncodeSettings, models) -> ImageResult:
    encodings = models.embed(rgb, boxes, settings.jitters)
    return ImageResult(path, [Face(path, box, vector) for box, vector in zip(boxes, encodings, strict=True)])


def encode_image(path: str, settings: EncodeSettings, models: FaceModels | None = None) -> ImageResult:
    """Find and embed every face in one image file; a file that fails is skipped with a reason."""
    return encode_batch([path], settings, models)[0]


def encode_batch(
    paths: list[str], settings: EncodeSettings, models: FaceModels | None = None
) -> list[ImageResult]:
    """Encode several image files, in order; with CNN, same-sized images share one detector call."""
    models = models or shared_models()
    results: dict[str, ImageResult] = {}
    loaded: dict[str, np.ndarray] = {}
    for path in paths:
        try:
            loaded[path] = load_rgb(path)
        except ImageLoadError as error:
            results[path] = ImageResult(path, skip_reason=error.reason)

    try:
        if settings.detection_method == "cnn":
            by_shape: dict[tuple[int, ...], list[str]] = {}
            for path, rgb in loaded.items():
                by_shape.setdefault(rgb.shape, []).append(path)
            for group in by_shape.values():
                found = models.detect_cnn_batch([loaded[p] for p in group], settings.upsample)
                for path, boxes in zip(group, found, strict=True):
                    results[path] = _faces_in(path, loaded[path], boxes, settings, models)
        else:
            for path, rgb in loaded.items():
                boxes = models.detect(rgb, "hog", settings.upsample)
                results[path] = _faces_in(path, rgb, boxes, settings, models)
    except (RuntimeError, MemoryError) as error:
        # dlib signals out-of-memory and CUDA failures as RuntimeError; the run goes on
        # without these images rather than losing everything encoded so far.
        for path in loaded:
            results.setdefault(path, ImageResult(path, skip_reason=f"detection failed ({error})"))
    return [results[path] for path in paths]


def _start_worker() -> None:
    # Ctrl-C reaches the whole process group; only the parent should handle it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - cv2 is a dependency, but workers do not need it
        pass


def default_jobs() -> int:
    """Worker processes to use by default: every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def encode_images(paths: Iterable[str], settings: EncodeSettings, jobs: int = 1) -> Iterator[ImageResult]:
    """Yield one :class:`ImageResult` per path, in the order of ``paths``.

    With ``jobs > 1`` the work runs in that many processes, each loading the models once.
    """
    batch_size = CNN_BATCH_SIZE if settings.detection_method == "cnn" else 1
    path_list = list(paths)
    batches = [path_list[i : i + batch_size] for i in range(0, len(path_list), batch_size)]
    jobs = max(1, min(jobs, len(batches)))
    if jobs == 1:
        for batch in batches:
            yield from encode_batch(batch, settings)
        return
    # spawn, not fork: the parent may hold threads (progress bar, BLAS) that fork would copy
    # mid-lock, and each worker loads its own models anyway.
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_start_worker) as pool:
        work = partial(encode_batch, settings=settings)
        for results in pool.imap(work, batches):
            yield from results


@dataclass
class EncodeSummary:
    """Counts for the closing summary of an encoding run."""

    images: int = 0
    images_with_faces: int = 0
    faces: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, result: ImageResult) -> None:
        self.images += 1
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
) -> tuple[list[Face], EncodeSummary]:
    """Encode ``paths`` and return all faces in path order with a summary of the run."""
    started = time.perf_counter()
    summary = EncodeSummary()
    faces: list[Face] = []
    for result in encode_images(paths, settings, jobs):
        summary.add(result)
        faces.extend(result.faces)
        if on_result is not None:
            on_result(result)
    summary.seconds = time.perf_counter() - started
    return faces, summary
