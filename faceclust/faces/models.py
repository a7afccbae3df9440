"""Face detection and embedding with dlib's models, the same steps face_recognition 1.3.0 takes.

dlib detects faces with HOG, finds their landmarks and cuts the aligned chips; its two
networks, the CNN face detector (:mod:`.cnn_detector`) and the embedding (:mod:`.embedding_net`), run in
numpy, about eight times faster than dlib-bin's own forward passes (a dlib built with CUDA
keeps its own, on the GPU).
The models load on first use and are kept for the life of the process (dlib models are not
thread-safe, so parallel work uses processes, each with its own :class:`FaceModels`).
"""

from __future__ import annotations

import importlib.util
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..photos.images import resized
from ..records import EMBEDDING_SIZE, Box
from .cnn_detector import FaceDetectorNet
from .embedding_net import INPUT_SIZE, FaceEmbeddingNet
from .yunet import YuNet, detect_tiled

DETECTION_METHODS = ("hog", "cnn", "yunet")
# YuNet's box (x, y, w, h: brow to chin) as the square box dlib's HOG gives the same face, which
# its landmark predictor expects: the centre moved by these shares of w and h, the side this
# multiple of (w + h) / 2. Fitted by bench/yunet_fit.py on lfw_dev's even photos (see
# docs/benchmarks.md, "YuNet").
YUNET_TO_DLIB = (-0.026, 0.035, 0.961)
# YuNet's detections scoring under this are not faces to us (libfacedetection reports from 0.2):
# on the camera photos of seed 0, 0.2 kept 3 more labelled faces, all of 27-32 px, and 86 more
# detections that were not faces, each a CNN check to drop (bench/camera_photos.py --ways
# detectors; docs/benchmarks.md, "YuNet").
YUNET_CONFIDENCE = 0.3
# Which forward passes run the CNN detector and the embedding: "auto" is dlib's own on a dlib
# built with CUDA (the GPU beats numpy on the CPU), else the numpy ones; both give the same
# boxes, and vectors to 1e-6.
NETWORKS = ("auto", "numpy", "dlib")
# The chip dlib's compute_face_descriptor cuts: the network's input size, with 25% padding
# around the landmarks.
CHIP_SIZE = INPUT_SIZE
CHIP_PADDING = 0.25
# With three framings each face is also embedded framed tighter and looser around the same
# landmarks (a deterministic scale jitter), and the vectors averaged. Chosen against six
# other sets of copies (more paddings, rotations by 0.08 rad, shifts by 4%) on the dev sets
# (docs/quality.md, "Three framings"): it gained as much as any and costs least.
FRAMING_PADDINGS = (CHIP_PADDING, 0.15, 0.35)
# A mean of more copies lies closer to every other face's mean, strangers' included: scaled by
# this, the median same-person distance on lfw_large half A is what one framing gives, so
# every distance the clustering uses (dlib's 0.6, the adapted cut) keeps its meaning.
FRAMINGS_SCALE = 1.075
# How many framings a face may be embedded in: dlib's alone, or all of them.
FRAMINGS = (1, len(FRAMING_PADDINGS))


def check_framings(framings: int) -> None:
    """ValueError unless ``framings`` is one of :data:`FRAMINGS`."""
    if framings not in FRAMINGS:
        raise ValueError(f"framings must be one of {FRAMINGS}, not {framings}")


MODEL_FILES = {
    "cnn": "mmod_human_face_detector.dat",
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "embedding": "dlib_face_recognition_resnet_model_v1.dat",
}


def model_folder() -> Path:
    """The folder of dlib model files installed by the ``face_recognition_models`` package.

    Found without importing the package: its ``__init__`` needs ``pkg_resources``, which
    recent setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the face_recognition_models package is not installed (pip install -r requirements.txt)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [name for name in MODEL_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise ModelError(
            f"model files missing from {folder}: {', '.join(missing)} "
            "(face_recognition_models 0.3.0 or newer is needed)"
        )
    return folder


def clip_boxes(boxes: list[Box], height: int, width: int) -> list[Box]:
    """Boxes clipped to a ``height`` x ``width`` image, as face_recognition's _trim_css_to_bounds
    (right and bottom may equal the size); a box left empty held no face and is dropped."""
    clipped = [
        (max(top, 0), min(right, width), min(bottom, height), max(left, 0))
        for top, right, bottom, left in boxes
    ]
    return [box for box in clipped if box[0] < box[2] and box[3] < box[1]]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(top, right, bottom, left)`` boxes."""
    top, right, bottom, left = max(a[0], b[0]), min(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])
    inter = max(0, bottom - top) * max(0, right - left)
    area_a = (a[2] - a[0]) * (a[1] - a[3])
    area_b = (b[2] - b[0]) * (b[1] - b[3])
    return inter / (area_a + area_b - inter) if inter else 0.0


def boxes_to_original(boxes: list[Box], scale: float, height: int, width: int) -> list[Box]:
    """Boxes found in an image resized by ``scale``, in pixels of the ``height`` x ``width``
    original (as given, unclipped, at 1)."""
    if scale == 1.0:
        return boxes
    scaled = [tuple(round(value / scale) for value in box) for box in boxes]
    return clip_boxes(scaled, height, width)


def _boxes(rects, height: int, width: int) -> list[Box]:
    return clip_boxes(
        [(rect.top(), rect.right(), rect.bottom(), rect.left()) for rect in rects], height, width
    )


class DlibEmbeddingNet:
    """dlib's own forward pass of the embedding network, over aligned chips."""

    def __init__(self, model):
        self._model = model

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        if not len(chips):
            return np.empty((0, EMBEDDING_SIZE), np.float32)
        vectors = self._model.compute_face_descriptor([np.ascontiguousarray(chip) for chip in chips])
        return np.array([np.array(vector) for vector in vectors], dtype=np.float32)


class DlibCnnDetector:
    """dlib's own forward pass of the CNN face detector: one batched call on a CUDA build."""

    def __init__(self, model):
        self._model = model

    def __call__(self, images: list[np.ndarray], upsample: int) -> list[list[Box]]:
        # dlib's batched call wants one shape. Padding smaller images to it would change their
        # pyramid and so their boxes, so each shape goes in a call of its own (a camera's
        # photos mostly share one).
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(index)
        boxes: list[list[Box]] = [[] for _ in images]
        for shape, indices in by_shape.items():
            batch = [np.ascontiguousarray(images[index]) for index in indices]
            found = self._model(batch, upsample, batch_size=len(batch))
            for index, detections in zip(indices, found, strict=True):
                boxes[index] = _boxes([detection.rect for detection in detections], *shape[:2])
        return boxes


class NumpyCnnDetector:
    """The CNN face detector in numpy (:mod:`.cnn_detector`), one image at a time: a single image's
    matrix products are already large enough for the BLAS, so batching gains nothing."""

    def __init__(self, net: FaceDetectorNet):
        self._net = net

    def __call__(self, images: list[np.ndarray], upsample: int) -> list[list[Box]]:
        return [
            clip_boxes(
                [(d.rect.top, d.rect.right, d.rect.bottom, d.rect.left) for d in self._net(image, upsample)],
                *image.shape[:2],
            )
            for image in images
        ]


class FaceModels:
    """dlib's HOG and CNN face detectors, 5-point landmarks and ResNet face embedding."""

    def __init__(self, folder: Path | None = None, networks: str = "auto"):
        if networks not in NETWORKS:
            raise ValueError(f"networks must be one of {NETWORKS}, not {networks!r}")
        self._folder = folder
        self._networks = networks

    @cached_property
    def _dlib(self):
        import dlib  # deferred: importing dlib costs time the command line does not need

        return dlib

    def _path(self, key: str) -> str:
        if self._folder is None:
            self._folder = model_folder()
        return str(self._folder / MODEL_FILES[key])

    @cached_property
    def hog_detector(self):
        return self._dlib.get_frontal_face_detector()

    def _use_dlib_networks(self) -> bool:
        return self._networks == "dlib" or (self._networks == "auto" and self._dlib.DLIB_USE_CUDA)

    @property
    def cnn_batches(self) -> bool:
        """Whether the CNN detector gains from several images in one call (dlib's, on a GPU)."""
        return self._use_dlib_networks()

    @cached_property
    def cnn_net(self) -> FaceDetectorNet:
        """The CNN detector in numpy, which also gives scores under its threshold (face_check)."""
        return FaceDetectorNet.from_file(self._path("cnn"))

    @cached_property
    def cnn_detector(self) -> NumpyCnnDetector | DlibCnnDetector:
        """Maps a list of ``(h, w, 3)`` uint8 images and an upsample count to their boxes."""
        if self._use_dlib_networks():
            return DlibCnnDetector(self._dlib.cnn_face_detection_model_v1(self._path("cnn")))
        return NumpyCnnDetector(self.cnn_net)

    @cached_property
    def yunet(self) -> YuNet:
        """libfacedetection's YuNet detector, run by OpenCV's DNN module (faces/yunet.py)."""
        return YuNet()

    @cached_property
    def landmark_predictor(self):
        return self._dlib.shape_predictor(self._path("landmarks"))

    @cached_property
    def embedding_net(self) -> FaceEmbeddingNet | DlibEmbeddingNet:
        """Maps ``(n, 150, 150, 3)`` uint8 chips to ``(n, 128)`` float32 embeddings."""
        if self._use_dlib_networks():
            return DlibEmbeddingNet(self._dlib.face_recognition_model_v1(self._path("embedding")))
        return FaceEmbeddingNet.from_file(self._path("embedding"))

    def detect(self, rgb: np.ndarray, method: str = "hog", upsample: int = 1) -> list[Box]:
        """Boxes of the faces in one ``(h, w, 3)`` uint8 RGB image, exactly as
        face_recognition's ``face_locations`` gives them (dlib upsamples the image itself).
        The encoder searches its own copy instead: :meth:`detect_hog_scored`."""
        if method == "hog":
            return _boxes(self.hog_detector(rgb, upsample), *rgb.shape[:2])
        if method == "cnn":
            return self.cnn_detector([rgb], upsample)[0]
        raise ValueError(f"method must be one of {DETECTION_METHODS}, not {method!r}")

    def detect_hog_scored(
        self, rgb: np.ndarray, upsample: int = 1, scale: float = 1.0
    ) -> list[tuple[Box, float]]:
        """HOG's boxes in ``rgb``'s pixels, each with its detection score, searched in a copy of
        ``rgb`` shrunk by ``scale`` (at most 1) and enlarged ``upsample`` times by two.

        The copy is made in one resize from ``rgb``, not left to dlib's own upsampling of a
        shrunk copy: on the camera photos HOG took 1.93 s a photo that way against 2.10 s, and
        found 6 more of 49 faces of 40-60 px, since a copy shrunk and then enlarged is blurrier
        than one resized once (bench/hog_variants.py; docs/benchmarks.md, "Small faces").
        """
        factor = min(1.0, scale) * 2**upsample
        rects, scores, _ = self.hog_detector.run(resized(rgb, factor), 0, 0.0)
        height, width = rgb.shape[:2]
        found = []
        for rect, score in zip(rects, scores, strict=True):
            in_copy = [(rect.top(), rect.right(), rect.bottom(), rect.left())]
            # Clipped at every factor: at 1 boxes_to_original leaves them as dlib gave them.
            for box in clip_boxes(boxes_to_original(in_copy, factor, height, width), height, width):
                found.append((box, float(score)))
        return found

    def detect_yunet_scored(self, rgb: np.ndarray, scale: float = 1.0) -> list[tuple[Box, float]]:
        """YuNet's faces in ``rgb`` (searched in a copy shrunk by ``scale``, at most 1), each as
        the box dlib's HOG would give it (the box its landmark predictor was trained on:
        :data:`YUNET_TO_DLIB`, fitted by bench/yunet_fit.py) in ``rgb``'s pixels, with
        YuNet's score."""
        factor = min(1.0, scale)
        height, width = rgb.shape[:2]
        found = []
        for detection in detect_tiled(self.yunet, resized(rgb, factor), YUNET_CONFIDENCE):
            x, y, w, h = (value / factor for value in detection.box)
            shift_x, shift_y, side = YUNET_TO_DLIB
            centre_x, centre_y = x + w / 2 + shift_x * w, y + h / 2 + shift_y * h
            half = side * (w + h) / 4
            box = (
                round(centre_y - half),
                round(centre_x + half),
                round(centre_y + half),
                round(centre_x - half),
            )
            for clipped in clip_boxes([box], height, width):
                found.append((clipped, detection.score))
        return found

    def detect_cnn_batch(self, images: list[np.ndarray], upsample: int = 1) -> list[list[Box]]:
        """CNN boxes for several images, of any shapes (one GPU batch on a CUDA dlib)."""
        return self.cnn_detector(images, upsample) if images else []

    def embed(
        self, rgb: np.ndarray, boxes: list[Box], jitters: int = 1, flip: bool = False, framings: int = 1
    ) -> np.ndarray:
        """``(len(boxes), 128)`` float64 embeddings of the faces at ``boxes`` in ``rgb``.

        With ``jitters`` > 1, each vector is the mean over that many randomly shifted, scaled
        and mirrored copies of the face, as dlib's ``num_jitters`` does. With ``flip``, each
        face (or copy) is also embedded mirrored left to right and the vectors averaged:
        steadier and deterministic, at twice the cost. With ``framings`` 3, each face is also
        embedded framed tighter and looser (:data:`FRAMING_PADDINGS`), at three times the cost.
        """
        return self.embed_chips(self.face_chips(rgb, boxes, jitters, flip, framings), framings)

    def face_chips(
        self, rgb: np.ndarray, boxes: list[Box], jitters: int = 1, flip: bool = False, framings: int = 1
    ) -> np.ndarray:
        """``(len(boxes), copies, 150, 150, 3)`` uint8: the aligned chips :meth:`embed` embeds,
        every copy of each face (its framings, their jitters, and the mirror images of all
        with ``flip``)."""
        check_framings(framings)
        if not boxes:
            return np.empty((0, 1, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        dlib = self._dlib
        shapes = dlib.full_object_detections()
        for top, right, bottom, left in boxes:
            shapes.append(self.landmark_predictor(rgb, dlib.rectangle(left, top, right, bottom)))
        copies = []
        # The first: the 150 px chips, aligned on the landmarks with 25% padding, that dlib's
        # compute_face_descriptor cuts and embeds.
        for padding in FRAMING_PADDINGS[:framings]:
            chips = np.stack(dlib.get_face_chips(rgb, shapes, CHIP_SIZE, padding))[:, None]
            if jitters > 1:
                chips = np.stack([np.stack(dlib.jitter_image(chip, jitters)) for chip in chips[:, 0]])
            copies.append(chips)
        chips = np.concatenate(copies, axis=1)
        if flip:
            chips = np.concatenate([chips, chips[:, :, :, ::-1]], axis=1)
        return chips

    def embed_chips(self, chips: np.ndarray, framings: int = 1) -> np.ndarray:
        """``(faces, 128)`` float64: each face's copies from :meth:`face_chips` (of one photo or
        of several, stacked) embedded and averaged. The network takes them in batches, so
        embedding the faces of several small photos at once is faster than one photo at a
        time (11 against 15 ms per chip on one core). ``framings``: how many framings the chips
        hold (their mean is scaled by :data:`FRAMINGS_SCALE` if more than one)."""
        faces, copies = chips.shape[:2]
        if not faces:
            return np.empty((0, EMBEDDING_SIZE), dtype=np.float64)
        vectors = self.embedding_net(chips.reshape(faces * copies, *chips.shape[2:]))
        mean = vectors.reshape(faces, copies, EMBEDDING_SIZE).astype(np.float64).mean(axis=1)
        mean = mean * FRAMINGS_SCALE if framings > 1 else mean
        # Kept at float32's precision, as the index stores them: a run that reuses the index
        # writes the very encodings file a fresh run writes (they differed by 3e-8).
        return mean.astype(np.float32).astype(np.float64)


_models: FaceModels | None = None


def shared_models() -> FaceModels:
    """The process's one :class:`FaceModels`, created on first call."""
    global _models
    if _models is None:
        _models = FaceModels()
    return _models
