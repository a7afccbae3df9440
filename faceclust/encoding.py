"""Turning image files into faces: load, detect, embed, over worker processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .cache import EncodingCache, FileStamp
from .errors import ImageLoadError
from .face_check import likely_faces
from .images import DecodedImage, decode_image, resized
from .malloc_tuning import keep_large_blocks_on_the_heap
from .models import (
    DETECTION_METHODS,
    FRAMINGS,
    FaceModels,
    boxes_to_original,
    check_framings,
    shared_models,
)
from .records import Box, Face, ImageResult
from .threads import map_ahead
from .thumbnails import cut_from_photo, encode_jpeg, face_tile

# The smallest face, in pixels of the photo, that a run looks for by default: chosen on camera
# photos by bench/camera_photos.py (README, "Small faces").
DEFAULT_MIN_FACE_SIZE = 70
# The smallest face dlib's detectors look for with no upsampling, in pixels of the image they
# scan: their 80 px window (each upsample halves it). Faces a little smaller are often found
# too (HOG found 38 of 40 LFW faces of 70 px, 26 of 60 px), but not reliably: a 45 px face
# searched at 7/8 size was missed where 40 and 50 px ones were found.
DETECTABLE_FACE = 80
# Photos are never searched in a copy smaller than this on its longer side: below it detection
# is cheap (40 ms for a 250 px photo) and small photos keep faces down to 40 px.
DETECT_FLOOR = 1024
# dlib's aligned face chip: a face larger than this gains nothing from more pixels.
CHIP_SIZE = 150


@dataclass(frozen=True)
class EncodeSettings:
    """How faces are found and embedded; every field changes the faces an image gives.

    ``min_face_size`` (pixels of the full-size upright photo) sets the scale each photo is
    searched at. ``detect_size``, if given, replaces it with the older rule: search a copy at
    most that many pixels on its longer side (0: full size). ``check_faces`` drops the HOG
    detections the CNN detector does not take for faces (:mod:`.face_check`). ``framings`` 3
    embeds each face framed as dlib frames it, tighter and looser, and averages the vectors
    (:data:`.models.FRAMING_PADDINGS`); 1 is dlib's framing alone. ``exact`` computes what the
    tutorial computes with face_recognition (:meth:`tutorial`).
    """

    detection_method: str = "hog"
    upsample: int = 1
    jitters: int = 1
    detect_size: int | None = None
    flip: bool = True
    min_face_size: int = DEFAULT_MIN_FACE_SIZE
    # HOG's doubtful detections are shown to the CNN and dropped unless it sees a face there.
    check_faces: bool = True
    framings: int = FRAMINGS[-1]
    exact: bool = False

    @classmethod
    def tutorial(cls, detection_method: str = "hog", upsample: int = 1) -> EncodeSettings:
        """face_recognition's ``face_locations`` and ``face_encodings`` as the tutorial calls
        them: the photo searched at full size with dlib's own upsampling, every detection kept,
        each face embedded once in dlib's framing, unmirrored."""
        return cls(detection_method, upsample, flip=False, check_faces=False, framings=1, exact=True)

    def __post_init__(self) -> None:
        if self.detection_method not in DETECTION_METHODS:
            raise ValueError(
                f"detection_method must be one of {DETECTION_METHODS}, not {self.detection_method!r}"
            )
        if not 0 <= self.upsample <= 4:
            raise ValueError(f"upsample must be between 0 and 4, not {self.upsample}")
        if not 1 <= self.jitters <= 100:
            raise ValueError(f"jitters must be between 1 and 100, not {self.jitters}")
        if self.detect_size is not None and self.detect_size != 0 and self.detect_size < 64:
            raise ValueError(
                f"detect_size must be 0 (full resolution) or at least 64, not {self.detect_size}"
            )
        check_framings(self.framings)
        if not 10 <= self.min_face_size <= 10_000:
            raise ValueError(f"min_face_size must be between 10 and 10000 pixels, not {self.min_face_size}")
        if self.exact and (
            self.flip or self.framings != 1 or self.jitters != 1 or self.check_faces or self.detect_size
        ):
            raise ValueError(
                "exact computes face_recognition's vectors: one jitter, one framing, no flip, no face "
                "check and no detect_size (EncodeSettings.tutorial makes such settings)"
            )

    def cache_key(self) -> str:
        """Names these settings in the encoding cache: results under other settings are redone."""
        # The copies of each face embedded. One framing keeps the key it always had: indexes
        # made with it stay valid under it.
        if self.exact:
            return f"exact/{self.detection_method}/up{self.upsample}"
        copies = ("/flip" if self.flip else "") + (f"/framed{self.framings}" if self.framings > 1 else "")
        checked = "/checked" if self.check_faces and self.detection_method == "hog" else ""
        # HOG searches a copy resized once, where dlib's own upsampling gave slightly different
        # boxes: faces cached the older way are found again.
        one_copy = "/onecopy" if self.detection_method == "hog" else ""
        base = f"{self.detection_method}{checked}{one_copy}/up{self.upsample}/jit{self.jitters}"
        if self.detect_size is not None:
            # The older rule's key, unchanged: caches written under it stay valid.
            return f"{base}/size{self.detect_size}{copies}/v1"
        return f"{base}/min{self.min_face_size}{copies}/v2"

    @property
    def detectable_face(self) -> float:
        """The smallest face the detector finds, in pixels of the image it scans (upsampling
        included)."""
        return DETECTABLE_FACE / 2**self.upsample

    def detection_scale(self, longer_side: int) -> float:
        """The scale, relative to the full-size photo, of the copy a photo whose longer side is
        ``longer_side`` pixels is searched in (1: full size; dlib then upsamples it)."""
        if self.exact:
            return 1.0
        if self.detect_size is not None:
            return 1.0 if self.detect_size <= 0 else min(1.0, self.detect_size / longer_side)
        wanted = self.detectable_face / self.min_face_size
        return min(1.0, max(wanted, DETECT_FLOOR / longer_side))

    def smallest_face(self, longer_side: int) -> float:
        """The smallest face looked for, in pixels of a full-size photo of ``longer_side``."""
        return self.detectable_face / self.detection_scale(longer_side)

    def decode_limits(self) -> tuple[int, float]:
        """``(min_side, min_scale)`` for images.decode_image: how far a photo may be decoded
        reduced. The faces are embedded from the decoded pixels, so a face of the smallest size
        looked for keeps at least its own pixels or the chip's, whichever is fewer, and the
        detection copy is never larger than what was decoded."""
        if self.exact:
            return 0, 0.0
        if self.detect_size is not None:
            return embed_side(self.detect_size), 0.0
        chip = min(1.0, CHIP_SIZE / self.min_face_size)
        return DETECT_FLOOR, max(chip, self.detectable_face / self.min_face_size)


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


def embed_side(detect_size: int) -> int:
    """Pixels on the longer side a large JPEG is decoded at (0: full size) for ``detect_size``.

    The smallest face HOG finds with one upsample is 40 px in the detection copy; at 1.875
    times that copy's size it is 75 px where it is embedded, three quarters of the 100 px
    face in dlib's 150 px chip, so reduced decoding costs the embedding little detail.
    """
    return 0 if detect_size <= 0 else round(detect_size * 1.875)


def working_image(rgb: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk by ``scale`` (at most 1: never enlarged) for detection, and the scale used."""
    scale = min(1.0, scale)
    return resized(rgb, scale), scale


def encode_image(path: str, settings: EncodeSettings, models: FaceModels | None = None) -> ImageResult:
    """Find and embed every face in one image file; a file that fails is skipped with a reason."""
    return encode_batch([path], settings, models)[0]


def encode_batch(
    paths: list[str], settings: EncodeSettings, models: FaceModels | None = None
) -> list[ImageResult]:
    """Encode several image files, in order.

    Each image is decoded once, reduced as far as ``settings.decode_limits`` allow. Faces are
    detected in a copy at the scale ``settings.detection_scale`` gives, embedded from the
    decoded pixels, and their boxes given in pixels of the full-size upright image. With CNN,
    the batch's images share one detector call.
    """
    models = models or shared_models()
    results: dict[str, ImageResult] = {}
    loaded: dict[str, DecodedImage] = {}
    # The scale, relative to the decoded pixels, each photo is searched at.
    search_scale: dict[str, float] = {}
    timings: dict[str, dict[str, float]] = {path: {} for path in paths}
    for path in paths:
        started = time.perf_counter()
        try:
            min_side, min_scale = settings.decode_limits()
            loaded[path] = decode_image(path, min_side=min_side, min_scale=min_scale)
        except ImageLoadError as error:
            results[path] = ImageResult(path, skip_reason=error.reason)
            continue
        decoded = loaded[path]
        wanted = settings.detection_scale(max(decoded.full_size) or max(decoded.rgb.shape[:2]))
        search_scale[path] = min(1.0, wanted / decoded.scale)
        timings[path]["decode"] = time.perf_counter() - started

    try:
        # Boxes in pixels of the decoded image, and how many detections were judged not faces.
        found: dict[str, list[Box]] = {}
        rejected: dict[str, int] = {}
        if settings.detection_method == "cnn" and loaded:
            started = time.perf_counter()
            working = {path: working_image(loaded[path].rgb, scale) for path, scale in search_scale.items()}
            images = [image for image, _ in working.values()]
            batch = models.detect_cnn_batch(images, settings.upsample)
            for (path, (_, scale)), boxes in zip(working.items(), batch, strict=True):
                found[path] = boxes_to_original(boxes, scale, *loaded[path].rgb.shape[:2])
                timings[path]["detect"] = (time.perf_counter() - started) / len(working)
        else:
            for path, scale in search_scale.items():
                started = time.perf_counter()
                rgb = loaded[path].rgb
                if settings.exact:  # dlib upsamples the photo itself, as face_recognition lets it
                    found[path] = models.detect(rgb, "hog", settings.upsample)
                    timings[path]["detect"] = time.perf_counter() - started
                    continue
                scored = models.detect_hog_scored(rgb, settings.upsample, scale)
                timings[path]["detect"] = time.perf_counter() - started
                found[path] = [box for box, _ in scored]
                if settings.check_faces:
                    # Judged on the decoded pixels: the detection copy may be too coarse.
                    started = time.perf_counter()
                    found[path], rejected[path] = likely_faces(models.cnn_net, rgb, scored)
                    timings[path]["check"] = time.perf_counter() - started
        # Every photo's chips first, then the network over all of them at once: it runs faster
        # on the faces of several small photos than on one or two at a time.
        chips: dict[str, np.ndarray] = {}
        for path, decoded in loaded.items():
            started = time.perf_counter()
            chips[path] = models.face_chips(
                decoded.rgb, found[path], settings.jitters, settings.flip, settings.framings
            )
            timings[path]["embed"] = time.perf_counter() - started
        started = time.perf_counter()
        with_faces = [path for path in loaded if len(chips[path])]
        vectors = (
            models.embed_chips(np.concatenate([chips[path] for path in with_faces]), settings.framings)
            if with_faces
            else None
        )
        network_seconds = time.perf_counter() - started
        face_count = sum(len(chips[path]) for path in with_faces)
        start = 0
        for path, decoded in loaded.items():
            count = len(chips[path])
            encodings = vectors[start : start + count] if count else []
            start += count
            timings[path]["embed"] += network_seconds * count / max(1, face_count)
            boxes = boxes_to_original(found[path], decoded.scale, *decoded.full_size)
            faces = [Face(path, box, vector) for box, vector in zip(boxes, encodings, strict=True)]
            # Cut while the photo is decoded, so that the outputs need not decode it again.
            started = time.perf_counter()
            thumbnails = [encode_jpeg(face_tile(decoded.rgb, box)) for box in found[path]]
            timings[path]["thumbs"] = time.perf_counter() - started
            results[path] = ImageResult(
                path,
                faces,
                rejected=rejected.get(path, 0),
                longer_side=max(decoded.full_size),
                thumbnails=thumbnails,
            )
    except (RuntimeError, MemoryError) as error:
        # dlib signals out-of-memory and CUDA failures as RuntimeError; the run goes on
        # without these images rather than losing everything encoded so far. In a batch of
        # several, each image is tried again alone, so that only the one that fails is lost.
        if len(loaded) > 1:
            return [result for path in paths for result in encode_batch([path], settings, models)]
        for path in loaded:
            results.setdefault(path, ImageResult(path, skip_reason=f"detection failed ({error})", retry=True))
    for path, result in results.items():
        result.seconds = timings[path]
    return [results[path] for path in paths]


def prepare_worker_process() -> None:
    """Set up a process that encodes beside others, a local worker or a Dask one.

    One thread each: the workers already fill the cores, and more threads per worker (OpenCV's,
    or the BLAS the embedding network runs on) would only contend for them. And glibc's
    thresholds for the network's arrays, which Dask's own setting would otherwise freeze.
    """
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)
    keep_large_blocks_on_the_heap()


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


@dataclass
class EncodeSummary:
    """Counts for the closing summary of an encoding run."""

    images: int = 0
    reused: int = 0  # images whose result came from the cache of an earlier run
    images_with_faces: int = 0
    faces: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # Files not encoded because their type is not an image the tool reads, by suffix, and raw
    # files left to the JPEG of the same name beside them (filled in by pipeline.encode_folder).
    passed_over: dict[str, int] = field(default_factory=dict)
    raw_with_jpeg: int = 0
    # The longest side of the photos decoded in this run (0: none was).
    largest_side: int = 0
    # Detections dropped as not faces, and the photos they were in.
    rejected: int = 0
    photos_with_rejected: int = 0
    # Photos reused from an index written before thumbnails were kept whose faces' thumbnails
    # this run cut, and those it could not read (with why).
    thumbnails_added: int = 0
    thumbnails_failed: list[tuple[str, str]] = field(default_factory=list)

    def add(self, result: ImageResult) -> None:
        self.images += 1
        self.largest_side = max(self.largest_side, result.longer_side)
        self.rejected += result.rejected
        self.photos_with_rejected += bool(result.rejected)
        for stage, seconds in result.seconds.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
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
    on_start: Callable[[int, int], None] | None = None,
    scheduler: str | None = None,
) -> tuple[list[Face], EncodeSummary]:
    """Encode ``paths`` and return all faces in path order with a summary of the run.

    With a ``cache``, images it already holds (same size, modification time and settings) are
    reused, and every new result is added to it the moment it arrives. ``on_result`` sees only
    the images encoded in this run. With ``scheduler`` (a Dask scheduler's address) the
    images are encoded by that cluster's workers instead of ``jobs`` local processes.
    """
    started = time.perf_counter()
    stamps = {path: FileStamp.of(path) for path in paths}
    reused: dict[str, ImageResult] = {}
    if cache is not None:
        for path in paths:
            result = cache.lookup(path, stamps[path])
            if result is not None:
                reused[path] = result
    fresh: dict[str, ImageResult] = {}
    todo = [path for path in paths if path not in reused]
    if on_start is not None:
        on_start(len(todo), len(reused))
    if scheduler is not None:
        from .cluster_encoding import encode_images_on_cluster

        results = encode_images_on_cluster(todo, settings, scheduler)
    else:
        results = encode_images(todo, settings, jobs)
    for result in results:
        if cache is not None and not result.retry:
            cache.append(result, stamps[result.image_path])
        fresh[result.image_path] = result
        if on_result is not None:
            on_result(result)

    summary = EncodeSummary(reused=len(reused))
    faces: list[Face] = []
    for path in paths:
        result = reused.get(path) or fresh[path]
        summary.add(result)
        faces.extend(result.faces)
    summary.seconds = time.perf_counter() - started
    return faces, summary


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
