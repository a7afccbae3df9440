"""encode_faces.py: its arguments, its progress and its closing summary."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from collections.abc import Sequence

from ..encode.local import default_jobs
from ..encode.run import EncodeSummary
from ..encode.settings import (
    DEFAULT_DETECTION_METHOD,
    DEFAULT_MIN_FACE_SIZE,
    EARLIER_HOG_MIN_FACE_SIZE,
    VIDEO_EVERY,
    VIDEO_FACES,
    EncodeSettings,
)
from ..errors import NoFacesError
from ..faces.models import DETECTION_METHODS, FRAMINGS
from ..library.index import cache_path
from ..photos.images import count_by_suffix
from .common import (
    EXIT_ERROR,
    EXIT_OK,
    UNREADABLE_LISTED,
    CountedBar,
    bounded_int,
    counted,
    detect_size_value,
    guarded,
    positive_float,
    program_name,
    say,
)

TAGS_SAID = 100  # photos whose face tags are read again before the run says why it waits


def encode_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name("encode_faces.py"),
        description="Find every face in a folder of images and save its 128-d embedding.",
    )
    parser.add_argument("-i", "--dataset", required=True, help="folder of images, searched recursively")
    parser.add_argument(
        "-e", "--encodings", default="encodings.pickle", help="file to write (default: %(default)s)"
    )
    parser.add_argument(
        "-d",
        "--detection-method",
        choices=DETECTION_METHODS,
        default=DEFAULT_DETECTION_METHOD,
        help="face detector: hog (dlib's, fast), cnn (dlib's, finds turned faces, slow without a GPU) or "
        "yunet (libfacedetection's small CNN: finds small faces fast, for camera photos) (default: %(default)s)",
    )
    parser.add_argument(
        "--min-face-size",
        type=bounded_int(10, 10_000),
        default=None,
        metavar="PX",
        help="the smallest face to look for, in pixels of the photo: sets the scale each photo is "
        "searched at; smaller is slower (default: "
        + ", ".join(f"{size} with {method}" for method, size in DEFAULT_MIN_FACE_SIZE.items())
        + ")",
    )
    parser.add_argument(
        "--upsample",
        type=bounded_int(0, 4),
        default=1,
        help="times dlib doubles the image it searches: with --min-face-size the photo is first "
        "shrunk so that faces of that size reach the detector's smallest, 80 px halved once per "
        "upsample (default: %(default)s)",
    )
    parser.add_argument(
        "--jitters",
        type=bounded_int(1, 100),
        default=1,
        help="re-sample each face this many times and average; steadier, N times slower (default: %(default)s)",
    )
    parser.add_argument(
        "-j", "--jobs", type=bounded_int(1), default=None, help="worker processes (default: all cores)"
    )
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="embed each face also mirrored and average the two, which groups web photos much "
        "better; --no-flip embeds each face once, in half the embedding time (default: flip)",
    )
    parser.add_argument(
        "--framings",
        type=int,
        choices=FRAMINGS,
        default=None,
        help="3 embeds each face framed as dlib frames it, tighter and looser, and averages the "
        "vectors: fewer wrong groups, three times the embedding time; 1 is dlib's framing alone, "
        f"the default before (default: {FRAMINGS[-1]})",
    )
    parser.add_argument(
        "--video-every",
        type=positive_float,
        default=VIDEO_EVERY,
        metavar="SECONDS",
        help="search a video for faces about this often, in its keyframes where it has them that often "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--video-faces",
        type=bounded_int(1),
        default=VIDEO_FACES,
        metavar="N",
        help="keep at most this many faces of each person of a video, the clearest (default: %(default)s)",
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="compute exactly what the tutorial computes with face_recognition 1.3.0 (its boxes, "
        "its vectors to 1e-6: the photo searched at full size, every detection kept, one framing, "
        "no flip), to check a move from it; slower and groups less well than the default",
    )
    parser.add_argument(
        "--detect-size",
        type=detect_size_value,
        default=None,
        help="the older way to set the scale, instead of --min-face-size: detect faces in a copy of "
        "each photo shrunk to this many pixels on its longer side; 0 detects at full resolution",
    )
    parser.add_argument(
        "--full-scan",
        action="store_true",
        help="HOG scans the whole of every photo, as it did before 2026-12, instead of searching a "
        "photo larger than 1024 px only where YuNet sees a face: about twice the encoding time on "
        "camera photos, the rare face YuNet does not point to found too; reuses indexes made then",
    )
    parser.add_argument(
        "--keep-unlikely-faces",
        dest="check_faces",
        action="store_false",
        default=None,
        help="keep every HOG detection: by default one that HOG itself doubts (score under 0.4) is "
        "shown to the CNN detector and dropped unless it sees a face there (lamps, crowds, hands)",
    )
    parser.add_argument("--profile", action="store_true", help="print where the time went, per stage")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="encode every image again instead of reusing the results kept in ENCODINGS.index",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="encode on the workers of this Dask scheduler (for example tcp://10.0.0.5:8786) instead of "
        "--jobs local processes; the workers need faceclust installed and the photos at the same path",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 if any file was skipped or passed over (not an image type it reads)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _print_encode_summary(
    summary: EncodeSummary, encodings: str, profile: bool, settings: EncodeSettings
) -> None:
    reused = f" ({summary.reused} reused from the last run)" if summary.reused else ""
    say(
        f"{summary.images} images read{reused}, {summary.images_with_faces} with faces, "
        f"{summary.faces} faces found in {summary.seconds:.1f} s; wrote {encodings}"
    )
    if summary.videos:
        searched = (
            f": {summary.video_seconds / 60:.1f} minutes searched in {counted(summary.frames_searched, 'frame')}"
            if summary.frames_searched
            else ""
        )
        say(
            f"{counted(summary.videos, 'video')} among them{searched} (one about every "
            f"{settings.video_every:g} s; each person's {settings.video_faces} clearest faces of a video kept)"
        )
    if summary.largest_side:
        # Photos up to this size are searched whole (--detect-size 0: every photo).
        whole = settings.detect_floor if settings.detect_size is None else settings.detect_size
        smaller = (
            f", down to {settings.detectable_face:.0f} px in photos up to {whole} px"
            if whole and summary.largest_side > whole
            else ""
        )
        say(
            f"looked for faces down to {settings.smallest_face(summary.largest_side):.0f} px in the "
            f"largest photo ({summary.largest_side} px on its longer side){smaller}"
        )
    if profile:
        busy = sum(summary.stage_seconds.values()) or 1.0
        say("worker time per stage (summed over workers):")
        for stage, seconds in summary.stage_seconds.items():
            per = (
                f", {seconds / summary.faces * 1000:.0f} ms per face"
                if stage == "embed" and summary.faces
                else ""
            )
            say(f"  {stage:<7} {seconds:8.2f} s  {100 * seconds / busy:5.1f}%{per}")
    if summary.rejected:
        say(
            f"dropped {counted(summary.rejected, 'detection')} in "
            f"{counted(summary.photos_with_rejected, 'photo')} that the CNN "
            "detector does not take for faces (--keep-unlikely-faces keeps them)"
        )
    if summary.raw_with_jpeg:
        say(
            f"{counted(summary.raw_with_jpeg, 'raw file')} encoded once, as the JPEG of the same name "
            "beside them"
        )
    if summary.live_photos:
        say(
            f"{counted(summary.live_photos, 'Live Photo movie')} left to the photo of the same name "
            "beside them (one photo: the still is encoded)"
        )
    if summary.thumbnails_added:
        say(
            f"cut the face thumbnails of {counted(summary.thumbnails_added, 'photo')} encoded before "
            "they were kept"
        )
    if summary.thumbnails_failed:
        first = "; ".join(f"{path}: {reason}" for path, reason in summary.thumbnails_failed[:3])
        say(
            f"could not cut the face thumbnails of {counted(len(summary.thumbnails_failed), 'photo')} "
            f"({first}{', ...' if len(summary.thumbnails_failed) > 3 else ''}); cluster_faces.py will try "
            "them again"
        )
    if summary.tags:
        reread = f"; read again in {counted(summary.tags_reread, 'photo')}" if summary.tags_reread else ""
        say(
            f"found {counted(summary.tags, 'named face')} in the metadata of "
            f"{counted(summary.tagged_photos, 'photo')}{reread} (cluster_faces.py names them so)"
        )
    if summary.tags_refused:
        say(f"face tags not read from {counted(len(summary.tags_refused), 'photo')}:")
        for path, reason in summary.tags_refused[:UNREADABLE_LISTED]:
            say(f"  {path}: {reason}")
        if len(summary.tags_refused) > UNREADABLE_LISTED:
            say(f"  and {len(summary.tags_refused) - UNREADABLE_LISTED} more")
    _print_files_not_encoded(summary)


def _print_files_not_encoded(summary: EncodeSummary) -> None:
    """The files passed over by type, and each file skipped with its reason: also when no face
    was found at all, where they are often the reason."""
    if summary.passed_over:
        say(
            f"passed over {counted(sum(summary.passed_over.values()), 'file')} not of an image type this "
            f"tool reads ({count_by_suffix(summary.passed_over)})"
        )
    if summary.skipped:
        reasons = Counter(reason.split(" (")[0] for _, reason in summary.skipped)
        counts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
        say(f"skipped {counted(len(summary.skipped), 'file')} ({counts}):")
        for path, reason in summary.skipped:
            say(f"  {path}: {reason}")


def _other_settings_note(other_settings: dict[str, int], settings: EncodeSettings) -> str:
    """Says, before a run starts, that photos the index holds under other settings are encoded
    again (a changed flag can cost a library a day), and under which settings they were made."""
    count = sum(other_settings.values())
    made_with = ", ".join(other_settings)
    how = "run with that run's flags to reuse them"
    if settings.uses_proposals:
        # Earlier versions' default runs: HOG at 70 px where YuNet sees a face, and before that
        # HOG scanning each whole photo; their faces have no sharpness measured.
        earlier = {
            "--full-scan": dataclasses.replace(settings, full_scan=True),
            f"--min-face-size {EARLIER_HOG_MIN_FACE_SIZE}": dataclasses.replace(
                settings, min_face_size=EARLIER_HOG_MIN_FACE_SIZE
            ),
            f"--full-scan --min-face-size {EARLIER_HOG_MIN_FACE_SIZE}": dataclasses.replace(
                settings, full_scan=True, min_face_size=EARLIER_HOG_MIN_FACE_SIZE
            ),
        }
        for flags, made in earlier.items():
            if made != settings and any(key.startswith(made.cache_key()) for key in other_settings):
                how = (
                    f"add {flags} to reuse them (faces encoded by a version before this one lack "
                    "the sharpness that keeps blurred strangers from making groups)"
                )
                break
    return (
        f"{counted(count, 'image')} in the index were encoded with other settings ({made_with}) "
        f"and are encoded again with these ({settings.cache_key()}); {how}"
    )


def encode_main(argv: Sequence[str] | None = None) -> int:
    parser = encode_parser()
    args = parser.parse_args(argv)
    if args.detect_size is not None and args.min_face_size is not None:
        parser.error("--min-face-size and --detect-size both set the scale photos are searched at; give one")
    if args.scheduler is not None and args.jobs is not None:
        parser.error("--jobs sets local processes; with --scheduler the cluster's workers do the work")
    if args.exact:
        fixed = {
            "--min-face-size": args.min_face_size is not None,
            "--detect-size": args.detect_size is not None,
            "--flip/--no-flip": args.flip is not None,
            "--framings": args.framings is not None,
            "--jitters": args.jitters != 1,
            "--keep-unlikely-faces": args.check_faces is not None,
            "--full-scan": args.full_scan,
        }
        given = [flag for flag, is_given in fixed.items() if is_given]
        if args.detection_method == "yunet":
            parser.error("--exact computes face_recognition's boxes, with dlib's detectors: hog or cnn")
        if given:
            parser.error(f"--exact fixes how faces are found and embedded; leave out {', '.join(given)}")

    if args.full_scan and args.detection_method != "hog":
        parser.error("--full-scan is HOG's scan of the whole photo: with --detection-method hog")
    if not 0.1 <= args.video_every <= 600:
        parser.error(f"--video-every must be between 0.1 and 600 seconds, not {args.video_every:g}")

    def run() -> int:
        from tqdm import tqdm

        from ..pipeline import encode_folder

        settings = (
            EncodeSettings.tutorial(args.detection_method, args.upsample)
            if args.exact
            else EncodeSettings(
                args.detection_method,
                args.upsample,
                args.jitters,
                args.detect_size,
                args.flip is not False,
                args.min_face_size,
                args.check_faces is not False,
                args.framings or FRAMINGS[-1],
                video_every=args.video_every,
                video_faces=args.video_faces,
                full_scan=args.full_scan,
            )
        )
        bar: list[tqdm] = []
        faces_found = 0

        weight: dict[str, int] = {}

        def start(total: int, reused: int, frames: dict[str, int], other_settings: dict[str, int]) -> None:
            if reused:
                say(f"{reused} images unchanged since the last run are reused; {total} to encode")
            if other_settings:
                say(_other_settings_note(other_settings, settings))
            # A video counts as the frames it is searched at, each about a photo's work, so
            # that the time left stays honest with minutes of video among the photos.
            weight.update(frames)
            units = total - len(frames) + sum(frames.values())
            if frames and not args.quiet:
                say(
                    f"{counted(len(frames), 'video')} among them, searched every {settings.video_every:g} s: "
                    f"{counted(sum(frames.values()), 'frame')}, each counted as an image"
                )
            bar.append(tqdm(total=units, unit="img", disable=args.quiet or units == 0, file=sys.stderr))

        frames_done: dict[str, int] = {}

        def advance_part(part) -> None:
            # A part of a long video: its frames now, the rest of the video's count with it.
            frames_done[part.image_path] = frames_done.get(part.image_path, 0) + part.frames_searched
            bar[0].update(part.frames_searched)

        def advance(result) -> None:
            nonlocal faces_found
            faces_found += len(result.faces)
            bar[0].set_postfix(faces=faces_found, refresh=False)
            bar[0].update(max(0, weight.get(result.image_path, 1) - frames_done.pop(result.image_path, 0)))

        thumbnails_bar = CountedBar(unit="img", disable=args.quiet)
        tags_bar = CountedBar(unit="img", disable=args.quiet)

        def reading_tags(done: int, total: int) -> None:
            if done == 0 and total >= TAGS_SAID:
                say(
                    f"reading the face tags of {total} photos again (sidecars changed, or an index from "
                    "before tags were read): headers and sidecars only, no encoding"
                )
            tags_bar(done, total)

        def cutting_thumbnails(done: int, total: int) -> None:
            if done == 0:
                bar[0].close()
                say(
                    f"{total} photos were encoded by a version that kept no face thumbnails: cutting "
                    "them now, once (no detection), so that cluster_faces.py need not decode the photos"
                )
            thumbnails_bar(done, total)

        try:
            summary = encode_folder(
                args.dataset,
                args.encodings,
                settings,
                args.jobs or default_jobs(),
                start,
                advance,
                args.fresh,
                args.scheduler,
                cutting_thumbnails,
                reading_tags,
                advance_part,
            )
        except NoFacesError as error:
            if error.summary is not None:
                _print_files_not_encoded(error.summary)
            raise
        finally:
            if bar:
                bar[0].close()
            thumbnails_bar.close()
            tags_bar.close()
        _print_encode_summary(summary, args.encodings, args.profile, settings)
        passed_over = sum(summary.passed_over.values())
        if args.strict and (summary.skipped or passed_over):
            say(f"error: --strict: {len(summary.skipped) + passed_over} files were skipped or passed over")
            return EXIT_ERROR
        return EXIT_OK

    resume = (
        f"interrupted: {args.encodings} is unchanged; the images done so far are kept in "
        f"{cache_path(args.encodings)}, and running the same command again resumes from there"
    )
    return guarded(run, resume)
