"""How faces are found and embedded: the settings every encoded face depends on."""

from __future__ import annotations

from dataclasses import dataclass

from ..faces.models import (
    DETECTION_METHODS,
    FRAMINGS,
    check_framings,
)

# The detector a run uses by default. YuNet (--detection-method yunet) is faster on camera photos
# but not the default: its extra faces (turned, blurred, in the background) cost the web photos
# of five_celebrities 0.012 of BCubed F1 (docs/benchmarks.md, "YuNet").
DEFAULT_DETECTION_METHOD = "hog"
# The smallest face, in pixels of the photo, that a run looks for by default with each detector.
# HOG's, 55 px: chosen on generated camera photos of a family of 12 with strangers in the
# background (bench/background_faces.py seed 0: BCubed F1 of every pasted face 0.939 at 55 px,
# 0.938 at 50, 0.932 at 60, 0.926 at 40, 0.916 at 70, the default before) and held on seed 1
# (0.958 at 55, 0.936 at 70; 50 scored 0.963 there), at 0.86-0.92 of 70 px's speed; smaller
# sizes find more strangers, whom the embedding groups (docs/benchmarks.md, "Strangers in the
# background"). YuNet's, 40 px, finds every face of 40 px at less than HOG's cost at 70, and at
# 70 px misses faces of 60-80 px that HOG finds ("YuNet"). The CNN's stays at HOG's old 70 px:
# not measured on camera photos, where it is too slow to be the default.
DEFAULT_MIN_FACE_SIZE = {"hog": 55, "cnn": 70, "yunet": 40}
# HOG's default before 55 px: what an index made by an earlier version was encoded at.
EARLIER_HOG_MIN_FACE_SIZE = 70
# The smallest face dlib's detectors look for with no upsampling, in pixels of the image they
# scan: their 80 px window (each upsample halves it). Faces a little smaller are often found
# too (HOG found 38 of 40 LFW faces of 70 px, 26 of 60 px), but not reliably: a 45 px face
# searched at 7/8 size was missed where 40 and 50 px ones were found.
DETECTABLE_FACE = 80
# YuNet (--detection-method yunet) finds 99.0% of lfw_dev's faces shrunk to 20 px (dlib's box,
# in the image it searches), 96.8% at 16 px, 70.0% at 12 (bench/yunet_fit.py); it searches no
# copy smaller than YUNET_FLOOR px on its longer side: below it the network is cheap (0.08 s for
# 640x480) and its boxes coarser. (Searched where 3/4 of the size asked is 20 px, as HOG's reach,
# it found 99.5% / 98.2% of the tutorial's faces at 40 px, from 95.5% / 96.4%, at 6.3x the
# tutorial's speed, from 8.7x: docs/benchmarks.md, "YuNet".)
YUNET_SMALLEST = 20
YUNET_FLOOR = 640
# Photos are never searched in a copy smaller than this on its longer side: below it detection
# is cheap (40 ms for a 250 px photo) and small photos keep faces down to 40 px.
DETECT_FLOOR = 1024
# In a photo larger than DETECT_FLOOR, HOG searches only where YuNet sees a face
# (faces/hog_cascade.py): HOG's faces at a quarter of its scan's cost. YuNet is searched for
# faces of PROPOSED_SHARE of the size asked, at most PROPOSED_FACE px: HOG's scan reaches faces
# a little smaller than asked (to 29-30 px at 40), and YuNet at 70 px misses faces of 60-80 px
# that HOG keeps. Chosen on the camera photos of seed 0 (bench/hog_cascade.py; at 40 px,
# proposals of 30 px found 201 pasted faces, HOG's scan 200, proposals of 40 px 192) and held
# on seed 1 (164 against 167 and 160); docs/benchmarks.md, "HOG searched where YuNet sees a face".
PROPOSED_FACE = 40
PROPOSED_SHARE = 0.75
# dlib's aligned face chip: a face larger than this gains nothing from more pixels.
CHIP_SIZE = 150
# A video is searched about every this many seconds (keyframes where it has them that often),
# and keeps at most this many faces of each person it shows: bench/videos.py.
VIDEO_EVERY = 2.0
VIDEO_FACES = 8


@dataclass(frozen=True)
class EncodeSettings:
    """How faces are found and embedded; every field changes the faces an image gives.

    ``min_face_size`` (pixels of the full-size upright photo) sets the scale each photo is
    searched at. ``detect_size``, if given, replaces it with the older rule: search a copy at
    most that many pixels on its longer side (0: full size). ``check_faces`` drops the HOG or
    YuNet detections the CNN detector does not take for faces (:mod:`faceclust.faces.face_check`).
    ``framings`` 3 embeds each face framed as dlib frames it, tighter and looser, and averages
    the vectors (:data:`faceclust.faces.models.FRAMING_PADDINGS`); 1 is dlib's framing alone.
    ``exact`` computes what the tutorial computes with face_recognition (:meth:`tutorial`).
    A video is searched in a frame about every ``video_every`` seconds, and the faces of one
    person in it are collapsed to the ``video_faces`` clearest (encode/video.py). HOG searches
    a large photo only where YuNet sees a face, unless ``full_scan``.
    """

    detection_method: str = DEFAULT_DETECTION_METHOD
    upsample: int = 1
    jitters: int = 1
    detect_size: int | None = None
    flip: bool = True
    # None: the detector's default, DEFAULT_MIN_FACE_SIZE.
    min_face_size: int | None = None
    # HOG's or YuNet's doubtful detections are shown to the CNN, dropped unless it sees a face.
    check_faces: bool = True
    framings: int = FRAMINGS[-1]
    exact: bool = False
    video_every: float = VIDEO_EVERY
    video_faces: int = VIDEO_FACES
    # HOG scans the whole of every photo, as it did before it searched large photos only where
    # YuNet sees a face (:meth:`searches_proposals`).
    full_scan: bool = False

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
        if self.min_face_size is None:  # frozen: set once, here, so that equal settings compare equal
            object.__setattr__(self, "min_face_size", DEFAULT_MIN_FACE_SIZE[self.detection_method])
        if not 0 <= self.upsample <= 4:
            raise ValueError(f"upsample must be between 0 and 4, not {self.upsample}")
        if not 1 <= self.jitters <= 100:
            raise ValueError(f"jitters must be between 1 and 100, not {self.jitters}")
        if self.detect_size is not None and self.detect_size != 0 and self.detect_size < 64:
            raise ValueError(
                f"detect_size must be 0 (full resolution) or at least 64, not {self.detect_size}"
            )
        check_framings(self.framings)
        if not 0.1 <= self.video_every <= 600:
            raise ValueError(f"video_every must be between 0.1 and 600 seconds, not {self.video_every}")
        if not 1 <= self.video_faces <= 1000:
            raise ValueError(f"video_faces must be between 1 and 1000, not {self.video_faces}")
        if not 10 <= self.min_face_size <= 10_000:
            raise ValueError(f"min_face_size must be between 10 and 10000 pixels, not {self.min_face_size}")
        if self.full_scan and (self.detection_method != "hog" or self.exact):
            raise ValueError("full_scan is HOG's own scan of a whole large photo: with hog, not exact")
        if self.exact and self.detection_method == "yunet":
            raise ValueError("exact computes face_recognition's boxes, with dlib's detectors: hog or cnn")
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
        checked = "/checked" if self.check_faces and self.detection_method in ("hog", "yunet") else ""
        # HOG searches a copy resized once, where dlib's own upsampling gave slightly different
        # boxes: faces cached the older way are found again.
        one_copy = "/onecopy" if self.detection_method == "hog" else ""
        # The key HOG's full scan always had: indexes made with it stay valid under --full-scan.
        proposed = f"/proposed{self.proposal_settings().min_face_size}" if self.uses_proposals else ""
        base = f"{self.detection_method}{checked}{one_copy}{proposed}/up{self.upsample}/jit{self.jitters}"
        if self.detect_size is not None:
            # The older rule's key, unchanged: caches written under it stay valid.
            return f"{base}/size{self.detect_size}{copies}/v1"
        return f"{base}/min{self.min_face_size}{copies}/v2"

    def video_cache_key(self) -> str:
        """Names these settings for a video: the photo's settings and how it was sampled."""
        return f"{self.cache_key()}/video{self.video_every:g}s/keep{self.video_faces}/v1"

    @property
    def detectable_face(self) -> float:
        """The smallest face the detector finds, in pixels of the image it scans (upsampling
        included)."""
        if self.detection_method == "yunet":
            return YUNET_SMALLEST / 2 ** (self.upsample - 1)
        return DETECTABLE_FACE / 2**self.upsample

    def detection_scale(self, longer_side: int) -> float:
        """The scale, relative to the full-size photo, of the copy a photo whose longer side is
        ``longer_side`` pixels is searched in (1: full size; dlib then upsamples it)."""
        if self.exact:
            return 1.0
        if self.detect_size is not None:
            return 1.0 if self.detect_size <= 0 else min(1.0, self.detect_size / longer_side)
        wanted = self.detectable_face / self.min_face_size
        return min(1.0, max(wanted, self.detect_floor / longer_side))

    @property
    def uses_proposals(self) -> bool:
        """Whether HOG searches large photos only where YuNet sees a face (faces/hog_cascade.py)."""
        return (
            self.detection_method == "hog"
            and not self.exact
            and not self.full_scan
            and self.detect_size is None
        )

    def searches_proposals(self, longer_side: int) -> bool:
        """Whether a photo of ``longer_side`` pixels is searched only where YuNet sees a face:
        a large one, where HOG's scan is costly; smaller ones are scanned whole, which is cheap
        (0.21 s of one core for a 1024 x 731 photo) and keeps web photos' faces what they were."""
        return self.uses_proposals and longer_side > DETECT_FLOOR

    def proposal_settings(self) -> EncodeSettings:
        """How YuNet searches for the faces it proposes to HOG."""
        wanted = min(PROPOSED_FACE, round(PROPOSED_SHARE * self.min_face_size))
        return EncodeSettings("yunet", min_face_size=max(10, wanted))

    @property
    def detect_floor(self) -> int:
        """Photos up to this many pixels on their longer side are searched at full size."""
        return YUNET_FLOOR if self.detection_method == "yunet" else DETECT_FLOOR

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


def embed_side(detect_size: int) -> int:
    """Pixels on the longer side a large JPEG is decoded at (0: full size) for ``detect_size``.

    The smallest face HOG finds with one upsample is 40 px in the detection copy; at 1.875
    times that copy's size it is 75 px where it is embedded, three quarters of the 100 px
    face in dlib's 150 px chip, so reduced decoding costs the embedding little detail.
    """
    return 0 if detect_size <= 0 else round(detect_size * 1.875)
