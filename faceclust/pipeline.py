"""The two jobs the scripts run, end to end: encode a folder, cluster an encodings file."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .clustering import (
    EXACT_AGGLOMERATIVE_FACES,
    NOISE,
    REFERENCE_CUT,
    FaceClusterer,
    relabel_by_size,
    tuning_grid,
)
from .clustering.blurred import SHARP_FACES, sharpness_of
from .clustering.corrections import (
    Correction,
    CorrectionPlan,
    corrections_from_tags,
    plan_corrections,
    read_corrections,
)
from .clustering.names import inherit_names, read_names_csv
from .clustering.questions import ask
from .encode.run import EncodeSummary, add_missing_thumbnails, encode_dataset
from .encode.settings import EncodeSettings
from .errors import NoFacesError
from .evaluation import Scores, score_against_folders
from .library.index import EncodingCache, StoredThumbnails, cache_path, remove_cache, stored_face_tags
from .library.store import load_faces_and_matrix, save_faces
from .outputs.folders import organize_people
from .outputs.gallery import GALLERY_NAME, write_gallery
from .outputs.montages import MontageReport, write_montages
from .outputs.photo_finder import PhotoFinder
from .outputs.run import ClusteringRun
from .outputs.sidecars import SidecarReport, write_sidecars
from .outputs.tables import CSV_NAME, JSON_NAME, write_evaluation, write_tables
from .photos.images import count_by_suffix, scan_folder
from .records import Face, ImageResult
from .runtime.beside import running_beside
from .runtime.collector import cycle_collector_paused
from .runtime.fileio import ensure_folder, held_alone


def encode_folder(
    dataset: str | os.PathLike[str],
    encodings_path: str | os.PathLike[str],
    settings: EncodeSettings,
    jobs: int = 1,
    on_start: Callable[[int, int, dict[str, int], dict[str, int]], None] | None = None,
    on_result: Callable[[ImageResult], None] | None = None,
    fresh: bool = False,
    scheduler: str | None = None,
    on_thumbnails: Callable[[int, int], None] | None = None,
    on_tags: Callable[[int, int], None] | None = None,
    on_part: Callable[[ImageResult], None] | None = None,
) -> EncodeSummary:
    """Encode every image below ``dataset`` and write the faces to ``encodings_path``.

    Images encoded by an earlier (finished or interrupted) run with the same settings and
    unchanged since are taken from the encoding cache beside the encodings file, unless
    ``fresh``. ``on_start`` gets the number of images to encode, the number reused, the frames each
    video to encode will be searched at and how many of those to encode the index holds under
    other settings, by their key (:func:`faceclust.encode.run.encode_dataset`). With
    ``scheduler`` (a Dask scheduler's address), the cluster's workers do the encoding.
    Photos reused from an index written before face thumbnails were kept get theirs cut here,
    on ``jobs`` local threads (``on_thumbnails(done, total)`` follows), and reused photos whose
    face tags must be read again get them read (``on_tags(done, total)``). The encodings file is
    replaced only when the run finds at least one face, so pointing the tool at the wrong
    folder never wipes a good file. One run at a time writes an encodings file: another that
    holds its lock (:func:`lock_path`) makes this one raise :class:`OutputError` at once.
    """
    scan = scan_folder(dataset)
    paths = scan.images
    if not paths:
        passed = f" (passed over: {count_by_suffix(scan.passed_over)})" if scan.passed_over else ""
        raise NoFacesError(f"no images found in {dataset}{passed}")
    # The encodings file's folder, made now: its index is written there from the first photo.
    ensure_folder(Path(encodings_path).absolute().parent)
    # One run at a time per encodings file: two would each encode every photo, the later to
    # finish would drop from the index what the other encoded of another folder or under other
    # settings (cache.rewrite), and --fresh would delete the index under a run writing it.
    with held_alone(
        lock_path(encodings_path), os.fspath(encodings_path), "give this run an encodings file of its own"
    ):
        if fresh:
            remove_cache(encodings_path)
        cache = EncodingCache(cache_path(encodings_path), settings.cache_key(), settings.video_cache_key())
        try:
            faces, summary = encode_dataset(
                paths, settings, jobs, on_result, cache, on_start, scheduler, on_tags, on_part
            )
            summary.passed_over = dict(sorted(scan.passed_over.items()))
            summary.raw_with_jpeg = len(scan.raw_with_jpeg)
            summary.live_photos = len(scan.live_photos)
            if not faces:
                dropped = (
                    f" ({summary.rejected} detections were dropped as not faces; --keep-unlikely-faces keeps them)"
                    if summary.rejected
                    else ""
                )
                images = "the one image" if summary.images == 1 else f"the {summary.images} images"
                unread = f" ({len(summary.skipped)} could not be read)" if summary.skipped else ""
                raise NoFacesError(
                    f"no faces found in {images} of {dataset}{unread}{dropped}; "
                    f"{encodings_path} was not written",
                    summary,
                )
            # Before the encodings file is written: an interrupted run leaves it as it was, as the
            # message on Ctrl-C says, and the next run goes on from what the index kept.
            add_missing_thumbnails(paths, cache, jobs, summary, on_thumbnails)
            save_faces(encodings_path, faces)
            cache.rewrite(paths)
        finally:
            cache.close()
    return summary


def lock_path(encodings_path: str | os.PathLike[str]) -> Path:
    """The lock file an encoding run holds beside its encodings file."""
    return Path(f"{os.fspath(encodings_path)}.lock")


THUMBNAIL_DIR = "thumbs"
# Held in the output folder while a run writes into it (removed at the end).
OUTPUT_LOCK = ".faceclust.lock"


@dataclass
class ClusterSummary:
    faces: int
    clusters: int
    unknown: int
    written: list[Path] = field(default_factory=list)
    unreadable_images: dict[str, str] = field(default_factory=dict)
    scores: Scores | None = None
    names: dict[int, str] = field(default_factory=dict)
    # The threshold used, and the distinct faces the default cut adapted to (None if it did not).
    threshold: float | None = None
    distinct_faces: int | None = None
    # Faces corrections took out of every group (not faces, ignored people), and what the
    # corrections file could not apply or which of two corrections won.
    left_out: int = 0
    correction_notes: list[str] = field(default_factory=list)
    # Groups named from face tags other programs left in the photos, and what --xmp wrote.
    tag_named: int = 0
    sidecars: SidecarReport | None = None


def _load_nonempty(encodings_path: str | os.PathLike[str]) -> tuple[list[Face], np.ndarray]:
    faces, encodings = load_faces_and_matrix(encodings_path)
    if not faces:
        raise NoFacesError(f"{encodings_path} holds no faces")
    return faces, encodings


@dataclass(frozen=True)
class ClusterOptions:
    """What a clustering run reads beside the encodings, and which outputs it writes.

    Inputs: ``corrections`` (a corrections.json from the gallery: the clustering keeps what the
    user said), ``face_tags`` (faces other programs named in the photos' metadata, kept in the
    encoding index, are named so, as names given in the gallery are, before the corrections),
    ``previous`` (an earlier run's clusters.json, whose named groups pass their names on) and
    ``names_csv``; names come from ``previous``, then ``names_csv``, then the corrections, which
    win. Outputs beside the montages and tables: ``gallery`` (index.html and its thumbnails),
    ``organize`` ("link" or "copy": ``people/``), ``xmp`` (a sidecar beside every photo with a
    named face, outputs/sidecars.py), ``evaluate`` (a dataset laid out one folder per person: the
    clustering scored against it, into evaluation.json). ``seed`` chooses the montages' faces.
    """

    seed: int = 0
    corrections: str | os.PathLike[str] | None = None
    face_tags: bool = True
    previous: str | os.PathLike[str] | None = None
    names_csv: str | os.PathLike[str] | None = None
    gallery: bool = True
    organize: str | None = None
    xmp: bool = False
    evaluate: str | os.PathLike[str] | None = None


# Hundreds of thousands of objects made and kept (faces, clusters.json, the gallery): runtime/collector.py.
@cycle_collector_paused()
def cluster_file(
    encodings_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    clusterer: FaceClusterer,
    options: ClusterOptions = ClusterOptions(),
    say: Callable[[str], None] = lambda message: None,
    on_photos: Callable[[int, int], None] | None = None,
) -> ClusterSummary:
    """Cluster the faces of an encodings file and write every output into ``output_dir``: the
    montages, clusters.csv and clusters.json, and what ``options`` ask for.

    The run flows one way: the faces loaded, the corrections replayed, the faces clustered and
    the groups named into one :class:`ClusteringRun`, then each output written from it by its
    own writer. ``say`` gets progress messages; ``on_photos(done, total)`` follows the photos
    read for the montages and thumbnails. One run at a time writes into an output folder:
    another that holds its lock (:data:`OUTPUT_LOCK`) makes this one raise
    :class:`OutputError` at once.
    """
    all_faces, all_encodings = _load_nonempty(encodings_path)
    folder = ensure_folder(output_dir)
    # One run at a time writes into an output folder: two would mix their montages and tables,
    # and each would remove the montages of the other's groups as stale.
    with held_alone(folder / OUTPUT_LOCK, f"into {folder}", "give this run another --output folder"):
        tagged = (
            corrections_from_tags(stored_face_tags(encodings_path), all_faces) if options.face_tags else []
        )
        run, plan = _cluster(all_faces, all_encodings, encodings_path, clusterer, options, tagged, say)
        evaluate = options.evaluate
        scores = score_against_folders(run.faces, run.labels, evaluate) if evaluate is not None else None
        report = _write_outputs(run, folder, options.seed, options.gallery, on_photos)
        written = [*report.written, folder / CSV_NAME, folder / JSON_NAME]
        if options.gallery:
            written.append(folder / GALLERY_NAME)
        if options.organize is not None:
            written.append(organize_people(run, folder, options.organize))
        if scores is not None:
            written.append(write_evaluation(folder, os.fspath(evaluate), run.settings, scores.as_dict()))
        sidecars = write_sidecars(run) if options.xmp else None
        tag_names = {correction.name for correction in tagged}
        return ClusterSummary(
            faces=len(run.faces),
            clusters=len(set(run.labels.tolist()) - {NOISE}),
            unknown=int(np.count_nonzero(run.labels == NOISE)),
            written=written,
            unreadable_images=report.unreadable_images,
            scores=scores,
            names=run.names,
            threshold=clusterer.threshold_,
            distinct_faces=clusterer.distinct_faces_,
            left_out=len(run.left_out),
            correction_notes=[] if plan is None else plan.notes,
            tag_named=sum(name in tag_names for name in run.names.values()),
            sidecars=sidecars,
        )


def _cluster(
    all_faces: list[Face],
    all_encodings: np.ndarray,
    encodings_path: str | os.PathLike[str],
    clusterer: FaceClusterer,
    options: ClusterOptions,
    tagged: list[Correction],
    say: Callable[[str], None],
) -> tuple[ClusteringRun, CorrectionPlan | None]:
    """The run's groups: the face tags and corrections replayed, the faces clustered, the
    groups named, the questions asked."""
    corrections, previous, names_csv = options.corrections, options.previous, options.names_csv
    earlier, plan = [], None
    if corrections is not None:
        earlier = read_corrections(corrections)
    if corrections is not None or tagged:
        plan = plan_corrections(earlier, all_faces, tagged)
        for note in plan.notes:
            say(f"corrections: {note}")
    faces, encodings = all_faces, all_encodings
    if plan is not None:
        faces, encodings = [all_faces[i] for i in plan.kept], all_encodings[plan.kept]
    # Past the exact limit, a minute of silence per million faces otherwise.
    large = len(faces) > EXACT_AGGLOMERATIVE_FACES
    if large:
        say(f"clustering {len(faces):,} faces with {clusterer.method}")
    labels = clusterer.fit_predict(
        encodings, [face.frame for face in faces], None if plan is None else plan.links, sharpness_of(faces)
    )
    if clusterer.blurred_faces_:
        say(
            f"{clusterer.blurred_faces_:,} blurred faces (out of focus, as strangers in the background "
            f"often are) made groups with fewer than {SHARP_FACES} sharp faces: left unknown"
        )
    if large:
        say("writing the montages and tables")
    left_out = [(all_faces[i], "not_a_face") for i in ([] if plan is None else plan.not_faces.tolist())]
    corrected_names: dict[int, str] = {}
    clustered = faces
    if plan is not None:
        faces, encodings, labels, corrected_names, ignored = _apply_plan(faces, encodings, labels, plan)
        left_out += [(face, "ignored") for face in ignored]
    names = inherit_names(faces, labels, previous, encodings=encodings) if previous is not None else {}
    if names_csv is not None:
        names.update(read_names_csv(names_csv))
    # A name the user gave one group in the gallery belongs to that group alone.
    taken = set(corrected_names.values())
    names = {label: name for label, name in names.items() if name not in taken}
    names.update(corrected_names)
    report = None
    if corrections is not None:
        report = {
            "file": os.fspath(corrections),
            "corrections": len(earlier),
            "applied": plan.applied,
            "notes": plan.notes,
        }
    # What a person could settle that the clustering could not, asked again every run but for
    # what the corrections already settled.
    cut = clusterer.threshold_ or REFERENCE_CUT
    apart = [] if plan is None else _kept_apart(plan, clustered, faces)
    run = ClusteringRun(
        faces,
        labels,
        encodings,
        names,
        os.fspath(encodings_path),
        _settings(clusterer),
        left_out,
        [correction.as_dict() for correction in earlier],
        report,
        PhotoFinder(encodings_path),
        ask(encodings, labels, cut, apart),
        cut,
    )
    return run, plan


def _kept_apart(
    plan: CorrectionPlan, clustered: list[Face], faces: list[Face]
) -> list[tuple[set[int], set[int]]]:
    """The pairs of face sets the corrections keep apart, in indices of ``faces`` (the faces
    grouped in the end; ``clustered`` were those the plan's indices name)."""
    index = {face.key: position for position, face in enumerate(faces)}

    def positions(group: int) -> set[int]:
        keys = (clustered[i].key for i in plan.links.groups[group].tolist())
        return {index[key] for key in keys if key in index}

    pairs = [(positions(first), positions(second)) for first, second in plan.links.apart]
    return [(first, second) for first, second in pairs if first and second]


def _write_outputs(
    run: ClusteringRun,
    folder: Path,
    seed: int,
    gallery: bool,
    on_photos: Callable[[int, int], None] | None,
) -> MontageReport:
    """The montages here, and the tables and the page beside them; the montages' report."""

    def write_tables_and_page(receive: Callable[[], tuple[dict[int, str], dict[int, str]]]) -> None:
        write_tables(run, folder)
        if gallery:
            # Once the montages' side has read every photo: which faces got a thumbnail.
            write_gallery(run, folder, *receive())

    # The tables and the page (Python building rows and dicts) are written beside the
    # montages (JPEG encoding and file writes, mostly outside the GIL): at a million faces
    # each took about 15 s on its own. In a process of their own (runtime/beside.py): on threads the
    # two took turns at the GIL.
    with running_beside(write_tables_and_page, f"writing {CSV_NAME}, {JSON_NAME} and {GALLERY_NAME}") as send:
        # The thumbnails the encoder kept: photos whose faces all have one are not decoded
        # again. Opened after the fork: an SQLite connection must not cross one.
        stored = StoredThumbnails.of(run.encodings_path)
        try:
            return write_montages(
                run,
                folder,
                seed,
                thumbnail_dir=THUMBNAIL_DIR if gallery else None,
                stored=stored,
                on_progress=on_photos,
                # Only the page waits for this.
                when_read=(
                    (lambda read: send((read.thumbnails, read.left_out_thumbnails))) if gallery else None
                ),
            )
        finally:
            if stored is not None:
                stored.close()


def _apply_plan(
    faces: list[Face], encodings: np.ndarray, labels: np.ndarray, plan: CorrectionPlan
) -> tuple[list[Face], np.ndarray, np.ndarray, dict[int, str], list[Face]]:
    """The faces, their vectors and labels without the ignored people, renumbered; the
    corrections' names by the new labels; and the ignored faces."""
    ignored_labels = {
        int(labels[group[0]])
        for group, ignored in zip(plan.links.groups, plan.ignored, strict=True)
        if ignored
    }
    ignored = np.isin(labels, sorted(ignored_labels - {NOISE}))
    stay = np.flatnonzero(~ignored)
    renumbered = relabel_by_size(labels[stay])
    new_label = dict(zip(labels[stay].tolist(), renumbered.tolist(), strict=True))
    names = {}
    for group, name in zip(plan.links.groups, plan.names, strict=True):
        label = new_label.get(int(labels[group[0]]), NOISE)
        if name and label != NOISE:
            names[label] = name
    kept_faces, ignored_faces = [faces[i] for i in stay], [faces[i] for i in np.flatnonzero(ignored)]
    return kept_faces, encodings[stay], renumbered, names, ignored_faces


def _settings(clusterer: FaceClusterer) -> dict:
    return {
        "method": clusterer.method,
        # The threshold used: for the default, the cut adapted to this set.
        "threshold": clusterer.threshold_,
        "distinct_faces": clusterer.distinct_faces_,
        "min_samples": clusterer.min_samples,
        "min_cluster_size": clusterer.min_cluster_size,
        "cannot_link": clusterer.cannot_link,
        "local_scale": clusterer.local_scale,
        "centre_checks": clusterer.centre_checks,
    }


def tune_file(
    encodings_path: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    clusterer: FaceClusterer,
    values: list[float] | None = None,
) -> tuple[str, list[tuple[float, Scores]]]:
    """Score ``clusterer`` for each value of its method's main parameter on a labelled dataset.

    Returns the parameter's name and one ``(value, scores)`` per value.
    """
    faces, encodings = _load_nonempty(encodings_path)
    photos = [face.image_path for face in faces]
    name, grid = tuning_grid(clusterer.method)
    results = []
    for value in values or grid:
        trial = copy.copy(clusterer)
        setattr(trial, name, value)
        labels = trial.fit_predict(encodings, photos, sharpness=sharpness_of(faces))
        results.append((value, score_against_folders(faces, labels, dataset)))
    return name, results
