"""Command-line layer: parse arguments, call the library, turn errors into messages and exit codes.

Exit codes: 0 done, 1 error, 2 usage, 3 nothing to do (no images or no faces), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence

from .clustering import (
    DEFAULT_METHOD,
    DEFAULT_MIN_CLUSTER_SIZE,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_THRESHOLDS,
    METHODS,
    FaceClusterer,
)
from .clustering.adaptive_cut import CEILING, FLOOR
from .encode.local import default_jobs
from .encode.run import EncodeSummary
from .encode.settings import (
    DEFAULT_DETECTION_METHOD,
    DEFAULT_MIN_FACE_SIZE,
    VIDEO_EVERY,
    VIDEO_FACES,
    EncodeSettings,
)
from .errors import FaceclustError, NoFacesError
from .evaluation import Scores
from .faces.models import DETECTION_METHODS, FRAMINGS
from .library.index import cache_path
from .outputs.folders import ORGANIZE_MODES
from .photos.images import count_by_suffix

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_FACES = 3
EXIT_INTERRUPTED = 130


def _bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"expected a number {limit}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text}")
    return value


def _detect_size(text: str) -> int:
    value = _bounded_int(0)(text)
    if 0 < value < 64:
        raise argparse.ArgumentTypeError(f"expected 0 (full resolution) or at least 64, got {value}")
    return value


UNREADABLE_LISTED = 5  # photos named when the montages cannot read some
TAGS_SAID = 100  # photos whose face tags are read again before the run says why it waits


def _program(script: str) -> str:
    """The command's name in messages: the installed command's (faceclust-encode), else the script's."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv else ""
    return invoked if invoked.startswith("faceclust-") else script


def _say(message: str) -> None:
    print(message, file=sys.stderr)


class _CountedBar:
    """A progress bar on stderr driven by ``(done, total)`` calls: made when ``done`` is 0,
    advanced by one on each call after, closed when ``done`` reaches ``total``."""

    def __init__(self, **options):
        self._options = options
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if done == 0:
            self.close()
            self._bar = tqdm(total=total, file=sys.stderr, **self._options)
        else:
            self._bar.update(1)
        if done == total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _guarded(run: Callable[[], int], interrupted: str = "interrupted") -> int:
    """The one error boundary: expected errors become a one-line message and an exit code."""
    try:
        return run()
    except NoFacesError as error:
        _say(f"error: {error}")
        return EXIT_NO_FACES
    except FaceclustError as error:
        _say(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say(interrupted)
        return EXIT_INTERRUPTED


# ---------------------------------------------------------------- encode_faces.py


def encode_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_program("encode_faces.py"),
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
        type=_bounded_int(10, 10_000),
        default=None,
        metavar="PX",
        help="the smallest face to look for, in pixels of the photo: sets the scale each photo is "
        "searched at; smaller is slower (default: "
        + ", ".join(f"{size} with {method}" for method, size in DEFAULT_MIN_FACE_SIZE.items())
        + ")",
    )
    parser.add_argument(
        "--upsample",
        type=_bounded_int(0, 4),
        default=1,
        help="times dlib doubles the image it searches: with --min-face-size the photo is first "
        "shrunk so that faces of that size reach the detector's smallest, 80 px halved once per "
        "upsample (default: %(default)s)",
    )
    parser.add_argument(
        "--jitters",
        type=_bounded_int(1, 100),
        default=1,
        help="re-sample each face this many times and average; steadier, N times slower (default: %(default)s)",
    )
    parser.add_argument(
        "-j", "--jobs", type=_bounded_int(1), default=None, help="worker processes (default: all cores)"
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
        type=_positive_float,
        default=VIDEO_EVERY,
        metavar="SECONDS",
        help="search a video for faces about this often, in its keyframes where it has them that often "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--video-faces",
        type=_bounded_int(1),
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
        type=_detect_size,
        default=None,
        help="the older way to set the scale, instead of --min-face-size: detect faces in a copy of "
        "each photo shrunk to this many pixels on its longer side; 0 detects at full resolution",
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
    _say(
        f"{summary.images} images read{reused}, {summary.images_with_faces} with faces, "
        f"{summary.faces} faces found in {summary.seconds:.1f} s; wrote {encodings}"
    )
    if summary.videos:
        searched = (
            f": {summary.video_seconds / 60:.1f} minutes searched in {_counted(summary.frames_searched, 'frame')}"
            if summary.frames_searched
            else ""
        )
        _say(
            f"{_counted(summary.videos, 'video')} among them{searched} (one about every "
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
        _say(
            f"looked for faces down to {settings.smallest_face(summary.largest_side):.0f} px in the "
            f"largest photo ({summary.largest_side} px on its longer side){smaller}"
        )
    if profile:
        busy = sum(summary.stage_seconds.values()) or 1.0
        _say("worker time per stage (summed over workers):")
        for stage, seconds in summary.stage_seconds.items():
            per = (
                f", {seconds / summary.faces * 1000:.0f} ms per face"
                if stage == "embed" and summary.faces
                else ""
            )
            _say(f"  {stage:<7} {seconds:8.2f} s  {100 * seconds / busy:5.1f}%{per}")
    if summary.rejected:
        _say(
            f"dropped {_counted(summary.rejected, 'detection')} in "
            f"{_counted(summary.photos_with_rejected, 'photo')} that the CNN "
            "detector does not take for faces (--keep-unlikely-faces keeps them)"
        )
    if summary.raw_with_jpeg:
        _say(
            f"{_counted(summary.raw_with_jpeg, 'raw file')} encoded once, as the JPEG of the same name "
            "beside them"
        )
    if summary.live_photos:
        _say(
            f"{_counted(summary.live_photos, 'Live Photo movie')} left to the photo of the same name "
            "beside them (one photo: the still is encoded)"
        )
    if summary.thumbnails_added:
        _say(
            f"cut the face thumbnails of {_counted(summary.thumbnails_added, 'photo')} encoded before "
            "they were kept"
        )
    if summary.thumbnails_failed:
        first = "; ".join(f"{path}: {reason}" for path, reason in summary.thumbnails_failed[:3])
        _say(
            f"could not cut the face thumbnails of {_counted(len(summary.thumbnails_failed), 'photo')} "
            f"({first}{', ...' if len(summary.thumbnails_failed) > 3 else ''}); cluster_faces.py will try "
            "them again"
        )
    if summary.tags:
        reread = f"; read again in {_counted(summary.tags_reread, 'photo')}" if summary.tags_reread else ""
        _say(
            f"found {_counted(summary.tags, 'named face')} in the metadata of "
            f"{_counted(summary.tagged_photos, 'photo')}{reread} (cluster_faces.py names them so)"
        )
    if summary.tags_refused:
        _say(f"face tags not read from {_counted(len(summary.tags_refused), 'photo')}:")
        for path, reason in summary.tags_refused[:UNREADABLE_LISTED]:
            _say(f"  {path}: {reason}")
        if len(summary.tags_refused) > UNREADABLE_LISTED:
            _say(f"  and {len(summary.tags_refused) - UNREADABLE_LISTED} more")
    _print_files_not_encoded(summary)


def _print_files_not_encoded(summary: EncodeSummary) -> None:
    """The files passed over by type, and each file skipped with its reason: also when no face
    was found at all, where they are often the reason."""
    if summary.passed_over:
        _say(
            f"passed over {_counted(sum(summary.passed_over.values()), 'file')} not of an image type this "
            f"tool reads ({count_by_suffix(summary.passed_over)})"
        )
    if summary.skipped:
        reasons = Counter(reason.split(" (")[0] for _, reason in summary.skipped)
        counts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
        _say(f"skipped {_counted(len(summary.skipped), 'file')} ({counts}):")
        for path, reason in summary.skipped:
            _say(f"  {path}: {reason}")


def _counted(count: int, noun: str) -> str:
    """``"1 file"``, ``"2 files"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _other_settings_note(other_settings: dict[str, int], settings: EncodeSettings) -> str:
    """Says, before a run starts, that photos the index holds under other settings are encoded
    again (a changed flag can cost a library a day), and under which settings they were made."""
    count = sum(other_settings.values())
    made_with = ", ".join(other_settings)
    return (
        f"{_counted(count, 'image')} in the index were encoded with other settings ({made_with}) "
        f"and are encoded again with these ({settings.cache_key()}); run with that run's flags to reuse them"
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
        }
        given = [flag for flag, is_given in fixed.items() if is_given]
        if args.detection_method == "yunet":
            parser.error("--exact computes face_recognition's boxes, with dlib's detectors: hog or cnn")
        if given:
            parser.error(f"--exact fixes how faces are found and embedded; leave out {', '.join(given)}")

    if not 0.1 <= args.video_every <= 600:
        parser.error(f"--video-every must be between 0.1 and 600 seconds, not {args.video_every:g}")

    def run() -> int:
        from tqdm import tqdm

        from .pipeline import encode_folder

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
            )
        )
        bar: list[tqdm] = []
        faces_found = 0

        weight: dict[str, int] = {}

        def start(total: int, reused: int, frames: dict[str, int], other_settings: dict[str, int]) -> None:
            if reused:
                _say(f"{reused} images unchanged since the last run are reused; {total} to encode")
            if other_settings:
                _say(_other_settings_note(other_settings, settings))
            # A video counts as the frames it is searched at, each about a photo's work, so
            # that the time left stays honest with minutes of video among the photos.
            weight.update(frames)
            units = total - len(frames) + sum(frames.values())
            if frames and not args.quiet:
                _say(
                    f"{_counted(len(frames), 'video')} among them, searched every {settings.video_every:g} s: "
                    f"{_counted(sum(frames.values()), 'frame')}, each counted as an image"
                )
            bar.append(tqdm(total=units, unit="img", disable=args.quiet or units == 0, file=sys.stderr))

        counted: dict[str, int] = {}

        def advance_part(part) -> None:
            # A part of a long video: its frames now, the rest of the video's count with it.
            counted[part.image_path] = counted.get(part.image_path, 0) + part.frames_searched
            bar[0].update(part.frames_searched)

        def advance(result) -> None:
            nonlocal faces_found
            faces_found += len(result.faces)
            bar[0].set_postfix(faces=faces_found, refresh=False)
            bar[0].update(max(0, weight.get(result.image_path, 1) - counted.pop(result.image_path, 0)))

        thumbnails_bar = _CountedBar(unit="img", disable=args.quiet)
        tags_bar = _CountedBar(unit="img", disable=args.quiet)

        def reading_tags(done: int, total: int) -> None:
            if done == 0 and total >= TAGS_SAID:
                _say(
                    f"reading the face tags of {total} photos again (sidecars changed, or an index from "
                    "before tags were read): headers and sidecars only, no encoding"
                )
            tags_bar(done, total)

        def cutting_thumbnails(done: int, total: int) -> None:
            if done == 0:
                bar[0].close()
                _say(
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
            _say(f"error: --strict: {len(summary.skipped) + passed_over} files were skipped or passed over")
            return EXIT_ERROR
        return EXIT_OK

    resume = (
        f"interrupted: {args.encodings} is unchanged; the images done so far are kept in "
        f"{cache_path(args.encodings)}, and running the same command again resumes from there"
    )
    return _guarded(run, resume)


# ---------------------------------------------------------------- cluster_faces.py


def cluster_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_program("cluster_faces.py"),
        description="Group the faces of an encodings file by person and write a montage per face ID.",
    )
    parser.add_argument(
        "-e",
        "--encodings",
        default="encodings.pickle",
        help="file from encode_faces.py (default: %(default)s)",
    )
    parser.add_argument(
        "-o", "--output", default="output", help="folder for montages and clusters.csv (default: %(default)s)"
    )
    parser.add_argument(
        "-m",
        "--method",
        choices=METHODS,
        default=DEFAULT_METHOD,
        help="clustering method (default: %(default)s)",
    )
    thresholds = ", ".join(f"{method} {value}" for method, value in DEFAULT_THRESHOLDS.items())
    thresholds = f"agglomerative adapted to the set, {CEILING}-{FLOOR}; {thresholds}"
    parser.add_argument(
        "-t",
        "--threshold",
        "--eps",
        dest="threshold",
        type=_positive_float,
        default=None,
        help="largest embedding distance between faces of one person: DBSCAN's eps, the average-linkage "
        f"cut of agglomerative, the edge length of chinese_whispers (default: {thresholds})",
    )
    parser.add_argument(
        "--min-samples",
        type=_bounded_int(1),
        default=DEFAULT_MIN_SAMPLES,
        help="dbscan and hdbscan: faces needed around a face to start a group (default: %(default)s)",
    )
    parser.add_argument(
        "--min-cluster-size",
        type=_bounded_int(1),
        default=DEFAULT_MIN_CLUSTER_SIZE,
        help="smaller groups count as unknown faces (default: %(default)s)",
    )
    parser.add_argument(
        "--local-scale",
        action="store_true",
        help="agglomerative: cluster again on distances scaled by how close strangers come to each "
        "group; better for sets of thousands of people seen a few times each, worse for people "
        "whose photos vary a lot (docs/quality.md: How the cut is chosen)",
    )
    parser.add_argument(
        "--no-cannot-link",
        dest="cannot_link",
        action="store_false",
        help="allow two faces of one photo in the same group",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=_bounded_int(1),
        default=None,
        help="processes for the neighbour search (default: all cores)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for choosing the faces shown in a montage (default: %(default)s)",
    )
    parser.add_argument(
        "--names",
        metavar="CSV",
        help="label face IDs: a CSV of face_id,name rows (names win over --previous)",
    )
    parser.add_argument(
        "--previous",
        metavar="JSON",
        help="a previous run's clusters.json: clusters made mostly of a named cluster's faces, "
        "or lying near its centre, inherit its name",
    )
    parser.add_argument(
        "--corrections",
        metavar="JSON",
        help="apply a corrections.json saved from the gallery (names, merges, faces taken out, not faces, "
        "ignored people); they win over --names and --previous",
    )
    parser.add_argument(
        "--no-face-tags",
        dest="face_tags",
        action="store_false",
        help="ignore the names other programs (digiKam, Lightroom, Picasa, Windows) left on faces in the "
        "photos' XMP metadata and sidecars; by default a face so named is named so here, as in the gallery",
    )
    parser.add_argument(
        "--xmp",
        action="store_true",
        help="write each named person's faces into an XMP sidecar beside the photo (PHOTO.EXT.xmp, MWG "
        "face regions and IPTC PersonInImage), for digiKam, Lightroom, darktable, Immich and PhotoPrism; "
        "an existing sidecar is merged into, the photo never touched",
    )
    parser.add_argument(
        "--organize",
        choices=ORGANIZE_MODES,
        nargs="?",
        const="link",
        help="fill OUTPUT/people/<person>/ with links to (default) or copies of each person's photos",
    )
    parser.add_argument(
        "--no-gallery",
        dest="gallery",
        action="store_false",
        help="do not write index.html and its face thumbnails",
    )
    parser.add_argument(
        "--evaluate",
        metavar="DATASET",
        help="score the groups against DATASET's person folders; writes evaluation.json",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="with --evaluate: print the scores for a range of the method's main parameter, write nothing",
    )
    return parser


SCORE_COLUMNS = (
    ("clusters", "clusters"),
    ("unknown", "unknown"),
    ("pairwise_precision", "pair P"),
    ("pairwise_recall", "pair R"),
    ("pairwise_f1", "pair F1"),
    ("bcubed_precision", "B3 P"),
    ("bcubed_recall", "B3 R"),
    ("bcubed_f1", "B3 F1"),
    ("nmi", "NMI"),
    ("ari", "ARI"),
)


def _print_sidecars(report) -> None:
    _say(
        f"XMP sidecars: {report.written} written, {report.updated} updated, {report.unchanged} already "
        f"up to date, {len(report.left_alone)} left alone"
    )
    for sidecar, reason in report.left_alone[:UNREADABLE_LISTED]:
        _say(f"  {sidecar}: {reason}")
    if len(report.left_alone) > UNREADABLE_LISTED:
        _say(f"  and {len(report.left_alone) - UNREADABLE_LISTED} more")


def _score_row(scores: Scores) -> list[str]:
    values = scores.as_dict()
    return [
        str(values[key]) if isinstance(values[key], int) else f"{values[key]:.3f}" for key, _ in SCORE_COLUMNS
    ]


def _print_table(first_header: str, rows: list[tuple[str, Scores]]) -> None:
    headers = [first_header] + [title for _, title in SCORE_COLUMNS]
    cells = [[label, *_score_row(scores)] for label, scores in rows]
    widths = [max(len(row[i]) for row in [headers, *cells]) for i in range(len(headers))]
    for row in [headers, *cells]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def cluster_main(argv: Sequence[str] | None = None) -> int:
    parser = cluster_parser()
    args = parser.parse_args(argv)
    if args.method == "hdbscan" and args.threshold is not None:
        parser.error("--threshold does not apply to hdbscan; set --min-cluster-size instead")
    if args.local_scale and (args.method != "agglomerative" or args.threshold is not None):
        parser.error("--local-scale works with the agglomerative method's adapted cut: drop --threshold")
    if args.local_scale and args.tune:
        parser.error("--tune sweeps fixed cuts, which --local-scale does not take: use one or the other")
    if args.tune and not args.evaluate:
        parser.error("--tune needs --evaluate DATASET to score against")

    def run() -> int:
        from .pipeline import ClusterOptions, cluster_file, tune_file

        clusterer = FaceClusterer(
            method=args.method,
            threshold=args.threshold,
            min_samples=args.min_samples,
            min_cluster_size=args.min_cluster_size,
            cannot_link=args.cannot_link,
            n_jobs=args.jobs or default_jobs(),
            local_scale=args.local_scale,
        )
        if args.tune:
            name, results = tune_file(args.encodings, args.evaluate, clusterer)
            print(
                f"{args.method} on {args.evaluate} ({results[0][1].faces_scored} faces scored, "
                f"{results[0][1].identities} people):"
            )
            _print_table(name, [(f"{value:g}", scores) for value, scores in results])
            return EXIT_OK

        # On a terminal only: decoding a library's photos for the montages takes minutes when
        # the encoding index holds no thumbnails (the tutorial's own pickle, say).
        photos_read = _CountedBar(unit="photo", desc="photos for the montages", disable=None)

        try:
            options = ClusterOptions(
                seed=args.seed,
                corrections=args.corrections,
                face_tags=args.face_tags,
                previous=args.previous,
                names_csv=args.names,
                gallery=args.gallery,
                organize=args.organize,
                xmp=args.xmp,
                evaluate=args.evaluate,
            )
            summary = cluster_file(
                args.encodings, args.output, clusterer, options, say=_say, on_photos=photos_read
            )
        finally:
            photos_read.close()
        if summary.distinct_faces is not None:
            print(
                f"[INFO] cut at {summary.threshold:.3f}, adapted to {summary.distinct_faces:,} distinct "
                "faces (--threshold fixes it)"
            )
        print(f"[INFO] # unique faces: {summary.clusters}")
        print(f"[INFO] # unknown faces: {summary.unknown} (of {summary.faces})")
        if args.corrections is not None:
            print(f"[INFO] # faces left out by corrections (not faces, ignored people): {summary.left_out}")
        if summary.tag_named:
            print(
                f"[INFO] named {_counted(summary.tag_named, 'group')} from face tags already in the photos "
                "(--no-face-tags ignores them)"
            )
        for label, name in sorted(summary.names.items()):
            print(f"[INFO] face ID #{label}: {name}")
        if summary.sidecars is not None:
            _print_sidecars(summary.sidecars)
        if summary.scores is not None:
            print(
                f"scores against {args.evaluate} ({summary.scores.faces_scored} faces scored, "
                f"{summary.scores.identities} people):"
            )
            _print_table("method", [(args.method, summary.scores)])
        _say(f"wrote {len(summary.written)} files to {args.output}")
        if summary.unreadable_images:
            # A summary, not a line per photo: a library whose photos moved has a million of them.
            unreadable = summary.unreadable_images
            reasons = Counter(unreadable.values())
            _say(
                f"{len(unreadable):,} photos could not be read for the montages and thumbnails "
                f"({', '.join(f'{reason}: {count:,}' for reason, count in reasons.most_common())}); the first:"
            )
            for path, reason in list(unreadable.items())[:UNREADABLE_LISTED]:
                _say(f"  {path}: {reason}")
            if len(unreadable) > UNREADABLE_LISTED:
                _say(f"  and {len(unreadable) - UNREADABLE_LISTED:,} more")
        return EXIT_OK

    return _guarded(run)
