"""Finding the faces of one decoded picture (a photo, or a video's frame) at the scale asked."""

from __future__ import annotations

import time

import numpy as np

from ..faces.face_check import likely_faces
from ..faces.hog_cascade import detect_hog_where_yunet_sees
from ..faces.models import FaceModels, boxes_to_original
from ..photos.images import resized
from ..records import Box
from .settings import EncodeSettings


def working_image(rgb: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk by ``scale`` (at most 1: never enlarged) for detection, and the scale used."""
    scale = min(1.0, scale)
    return resized(rgb, scale), scale


def search_scale(settings: EncodeSettings, longer_side: int, decoded_scale: float = 1.0) -> float:
    """The scale, relative to its decoded pixels, a photo of ``longer_side`` pixels at full size,
    decoded at ``decoded_scale`` of it, is searched at for ``settings``."""
    return min(1.0, settings.detection_scale(longer_side) / decoded_scale)


def find_faces(
    rgb: np.ndarray,
    longer_side: int,
    settings: EncodeSettings,
    models: FaceModels,
    timings: dict[str, float],
    decoded_scale: float = 1.0,
) -> tuple[list[Box], int]:
    """The faces in one decoded image (``decoded_scale`` of a picture of ``longer_side``
    pixels), as boxes in its pixels, and how many detections were dropped as not faces; the
    seconds spent are added to ``timings``."""
    scale = search_scale(settings, longer_side, decoded_scale)
    started = time.perf_counter()
    if settings.detection_method == "cnn":
        image, scale = working_image(rgb, scale)
        boxes = models.detect_cnn_batch([image], settings.upsample)[0]
        timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - started
        return boxes_to_original(boxes, scale, *rgb.shape[:2]), 0
    if settings.exact:  # dlib upsamples the photo itself, as face_recognition lets it
        boxes = models.detect(rgb, "hog", settings.upsample)
        timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - started
        return boxes, 0
    if settings.detection_method == "yunet":
        scored = models.detect_yunet_scored(rgb, scale)
    elif settings.searches_proposals(longer_side):
        proposal_scale = search_scale(settings.proposal_settings(), longer_side, decoded_scale)
        scored = detect_hog_where_yunet_sees(models, rgb, scale, settings.upsample, proposal_scale)
    else:
        scored = models.detect_hog_scored(rgb, settings.upsample, scale)
    timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - started
    if not settings.check_faces:
        return [box for box, _ in scored], 0
    # Judged on the decoded pixels: the detection copy may be too coarse.
    started = time.perf_counter()
    boxes, rejected = likely_faces(models.cnn_net, rgb, scored, settings.detection_method)
    timings["check"] = timings.get("check", 0.0) + time.perf_counter() - started
    return boxes, rejected
