"""cluster_faces.py: its arguments and what it prints."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence

from ..clustering import (
    DEFAULT_METHOD,
    DEFAULT_MIN_CLUSTER_SIZE,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_THRESHOLDS,
    METHODS,
    FaceClusterer,
)
from ..clustering.adaptive_cut import CEILING, FLOOR
from ..encode.local import default_jobs
from ..evaluation import Scores
from ..outputs.folders import ORGANIZE_MODES
from .common import (
    EXIT_OK,
    UNREADABLE_LISTED,
    CountedBar,
    bounded_int,
    counted,
    guarded,
    positive_float,
    program_name,
    say,
)


def cluster_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name("cluster_faces.py"),
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
        type=positive_float,
        default=None,
        help="largest embedding distance between faces of one person: DBSCAN's eps, the average-linkage "
        f"cut of agglomerative, the edge length of chinese_whispers (default: {thresholds})",
    )
    parser.add_argument(
        "--min-samples",
        type=bounded_int(1),
        default=DEFAULT_MIN_SAMPLES,
        help="dbscan and hdbscan: faces needed around a face to start a group (default: %(default)s)",
    )
    parser.add_argument(
        "--min-cluster-size",
        type=bounded_int(1),
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
        type=bounded_int(1),
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
    say(
        f"XMP sidecars: {report.written} written, {report.updated} updated, {report.unchanged} already "
        f"up to date, {len(report.left_alone)} left alone"
    )
    for sidecar, reason in report.left_alone[:UNREADABLE_LISTED]:
        say(f"  {sidecar}: {reason}")
    if len(report.left_alone) > UNREADABLE_LISTED:
        say(f"  and {len(report.left_alone) - UNREADABLE_LISTED} more")


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
        from ..pipeline import ClusterOptions, cluster_file, tune_file

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
        photos_read = CountedBar(unit="photo", desc="photos for the montages", disable=None)

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
                args.encodings, args.output, clusterer, options, say=say, on_photos=photos_read
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
                f"[INFO] named {counted(summary.tag_named, 'group')} from face tags already in the photos "
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
        say(f"wrote {len(summary.written)} files to {args.output}")
        if summary.unreadable_images:
            # A summary, not a line per photo: a library whose photos moved has a million of them.
            unreadable = summary.unreadable_images
            reasons = Counter(unreadable.values())
            say(
                f"{len(unreadable):,} photos could not be read for the montages and thumbnails "
                f"({', '.join(f'{reason}: {count:,}' for reason, count in reasons.most_common())}); the first:"
            )
            for path, reason in list(unreadable.items())[:UNREADABLE_LISTED]:
                say(f"  {path}: {reason}")
            if len(unreadable) > UNREADABLE_LISTED:
                say(f"  and {len(unreadable) - UNREADABLE_LISTED:,} more")
        return EXIT_OK

    return guarded(run)
