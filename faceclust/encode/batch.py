"""One batch of image files to faces: decode, detect, embed, cut thumbnails (in any worker).

A video in the batch is encoded on its own by encode/video.py."""

from __future__ import annotations

import time

import numpy as np

from ..errors import ImageLoadError
from ..faces.models import (
    FaceModels,
    boxes_to_original,
    shared_models,
)
from ..faces.sharpness import sharpness
from ..outputs.thumbnails import encode_jpeg, face_tile
from ..photos.images import DecodedImage, decode_image
from ..photos.video import is_video
from ..photos.xmp import read_face_tags
from ..records import Box, Face, ImageResult
from ..runtime.malloc_tuning import keep_large_blocks_on_the_heap
from .detection import find_faces, search_scale, working_image
from .settings import EncodeSettings
from .video import encode_video


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
    # Each photo's longer side at full size.
    longer_sides: dict[str, int] = {}
    timings: dict[str, dict[str, float]] = {path: {} for path in paths}
    for path in paths:
        if is_video(path):
            results[path] = encode_video(path, settings, models)
            timings[path] = results[path].seconds
            continue
        started = time.perf_counter()
        try:
            min_side, min_scale = settings.decode_limits()
            loaded[path] = decode_image(path, min_side=min_side, min_scale=min_scale)
        except ImageLoadError as error:
            results[path] = ImageResult(path, skip_reason=error.reason)
            continue
        decoded = loaded[path]
        longer_sides[path] = max(decoded.full_size) or max(decoded.rgb.shape[:2])
        timings[path]["decode"] = time.perf_counter() - started

    try:
        # Boxes in pixels of the decoded image, and how many detections were judged not faces.
        found: dict[str, list[Box]] = {}
        rejected: dict[str, int] = {}
        if settings.detection_method == "cnn" and loaded:
            started = time.perf_counter()
            working = {
                path: working_image(loaded[path].rgb, search_scale(settings, longer, loaded[path].scale))
                for path, longer in longer_sides.items()
            }
            images = [image for image, _ in working.values()]
            batch = models.detect_cnn_batch(images, settings.upsample)
            for (path, (_, scale)), boxes in zip(working.items(), batch, strict=True):
                found[path] = boxes_to_original(boxes, scale, *loaded[path].rgb.shape[:2])
                timings[path]["detect"] = (time.perf_counter() - started) / len(working)
        else:
            for path, longer in longer_sides.items():
                found[path], rejected[path] = find_faces(
                    loaded[path].rgb, longer, settings, models, timings[path], loaded[path].scale
                )
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
            # Measured on the decoded pixels, where the face has its own detail.
            faces = [
                Face(path, box, vector, sharpness=sharpness(decoded.rgb, found_box))
                for box, found_box, vector in zip(boxes, found[path], encodings, strict=True)
            ]
            # Cut while the photo is decoded, so that the outputs need not decode it again.
            started = time.perf_counter()
            thumbnails = [encode_jpeg(face_tile(decoded.rgb, box)) for box in found[path]]
            timings[path]["thumbs"] = time.perf_counter() - started
            # Faces other programs named, read while the photo's metadata is at hand.
            tagged = read_face_tags(path, decoded.xmp, decoded.orientation, decoded.full_size)
            results[path] = ImageResult(
                path,
                faces,
                rejected=rejected.get(path, 0),
                longer_side=max(decoded.full_size),
                thumbnails=thumbnails,
                tags=tagged.tags,
                sidecar_stamp=tagged.sidecar_stamp,
                tags_refused=tagged.refused,
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
