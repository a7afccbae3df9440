"""The montage JPEGs: one grid of faces per group, and the gallery's thumbnails cut on the way."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..clustering import NOISE
from ..errors import ImageLoadError, OutputError
from ..library.index import StoredThumbnails
from ..runtime.fileio import write_remakeable
from ..runtime.threads import map_ahead
from .run import ClusteringRun
from .thumbnails import background, cut_from_photo, encode_jpeg

TILE_SIZE = 96
GRID_COLUMNS = 5
MAX_TILES = 25
# The gallery shows this many faces of each person (and of the unknown faces), the first found;
# clusters.csv lists them all. Without a cap a library of a million faces would mean a million
# thumbnails, every photo decoded, and a page no browser opens.
GALLERY_FACES = 100
HEADER_HEIGHT = 28
TITLE_RGB = (235, 235, 235)
MONTAGE_RUN = 64
UNKNOWN_MONTAGE = "unknown_faces.jpg"


def montage_name(cluster_id: int) -> str:
    return UNKNOWN_MONTAGE if cluster_id == NOISE else f"face_id_{cluster_id}.jpg"


def build_montage(tiles: list[np.ndarray], title: str) -> np.ndarray:
    """Tiles in rows of :data:`GRID_COLUMNS` under a title bar, as one RGB image."""
    import cv2

    rows = max(1, -(-len(tiles) // GRID_COLUMNS))
    # A copy of a ready background: filling with a colour tuple cost half a millisecond a
    # montage, most of the time of an empty one (tens of thousands at a million faces).
    canvas = background(HEADER_HEIGHT + rows * TILE_SIZE, GRID_COLUMNS * TILE_SIZE).copy()
    for index, tile in enumerate(tiles):
        row, column = divmod(index, GRID_COLUMNS)
        y = HEADER_HEIGHT + row * TILE_SIZE
        canvas[y : y + TILE_SIZE, column * TILE_SIZE : (column + 1) * TILE_SIZE] = tile
    cv2.putText(canvas, title, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, TITLE_RGB, 1, cv2.LINE_AA)
    return canvas


def gallery_selection(indices: list[int]) -> list[int]:
    """The faces of one cluster that the gallery shows: the first :data:`GALLERY_FACES`."""
    return indices[:GALLERY_FACES]


def sample_indices(indices: list[int], seed: int, limit: int = MAX_TILES) -> list[int]:
    """A seeded random sample of at most ``limit`` of ``indices``, in their original order."""
    if len(indices) <= limit:
        return list(indices)
    chosen = np.random.default_rng(seed).choice(len(indices), size=limit, replace=False)
    return [indices[i] for i in sorted(chosen.tolist())]


@dataclass
class MontageReport:
    written: list[Path] = field(default_factory=list)
    unreadable_images: dict[str, str] = field(default_factory=dict)
    # Face index -> its thumbnail, relative to the output folder (when thumbnails were asked for).
    thumbnails: dict[int, str] = field(default_factory=dict)
    # The same for the faces left out by corrections: index into ``left_out`` -> thumbnail.
    left_out_thumbnails: dict[int, str] = field(default_factory=dict)


@dataclass
class _PhotoCut:
    """What one photo gave the montages and the gallery: tiles and thumbnails by face index."""

    tiles: dict[int, np.ndarray] = field(default_factory=dict)
    thumbnails: dict[int, str] = field(default_factory=dict)
    left_out_thumbnails: dict[int, str] = field(default_factory=dict)
    # Why the photo could not be read, when some face shown needed it.
    failure: str | None = None


def cluster_title(label: int, count: int, name: str | None = None) -> str:
    noun = "face" if count == 1 else "faces"
    if label == NOISE:
        return f"Unknown faces ({count})"
    if name:
        return f"{name} (Face ID #{label}, {count} {noun})"
    return f"Face ID #{label} ({count} {noun})"


@dataclass
class _Plan:
    """Which faces the montages and the gallery show, and the photos to read for them."""

    members: dict[int, list[int]]
    # Each group's faces in its montage (a seeded sample), and all faces in some montage.
    shown: dict[int, list[int]]
    in_montage: set[int]
    # Faces that get a gallery thumbnail (none without a gallery).
    in_gallery: set[int]
    # Each stored photo's faces to cut: clustered faces by index, left-out ones as -1 - position.
    wanted: dict[str, list[int]]


def _plan(run: ClusteringRun, seed: int, gallery: bool) -> _Plan:
    members = run.members()
    shown = {label: sample_indices(indices, seed) for label, indices in members.items()}
    in_montage = {index for indices in shown.values() for index in indices}
    in_gallery = (
        {index for indices in members.values() for index in gallery_selection(indices)}
        | {index for question in run.questions for index in (*question.a, *question.b)}
        if gallery
        else set()
    )
    wanted: dict[str, list[int]] = {}
    for index, face in enumerate(run.faces):
        if index in in_montage or index in in_gallery:
            wanted.setdefault(face.image_path, []).append(index)
    if gallery:
        for position in gallery_selection(list(range(len(run.left_out)))):
            wanted.setdefault(run.left_out[position][0].image_path, []).append(-1 - position)
    return _Plan(members, shown, in_montage, in_gallery, wanted)


class _Cutter:
    """Cuts one photo's faces for the montages and the gallery: their thumbnails from the index
    where it kept them, the rest from the photo decoded once; writes the gallery's thumbnails."""

    def __init__(
        self, run: ClusteringRun, plan: _Plan, folder: Path, thumbnail_dir: str | None, stored
    ) -> None:
        self._run, self._plan, self._folder = run, plan, folder
        self._thumbnail_dir, self._stored = thumbnail_dir, stored

    def __call__(self, file: str, image_paths: list[str]) -> _PhotoCut:
        """The faces of ``image_paths`` (the stored paths of one ``file``), or why the photo
        could not be read."""
        wanted, faces, left_out = self._plan.wanted, self._run.faces, self._run.left_out
        indices = [index for image_path in image_paths for index in wanted[image_path]]
        found = {index: left_out[-1 - index][0] if index < 0 else faces[index] for index in indices}
        stored = self._stored
        kept = {path: stored.of_photo(path) for path in image_paths} if stored is not None else {}
        # Thumbnails the encoder kept, as JPEG bytes: the photo is decoded only for the others.
        ready = {
            index: kept[image_path][(found[index].box, found[index].time)]
            for image_path in kept
            for index in wanted[image_path]
            if (found[index].box, found[index].time) in kept[image_path]
        }
        cut = _PhotoCut()
        # A thumbnail the index kept but that cannot be read is cut from the photo instead.
        missing = [index for index in indices if not (index in ready and self._add(cut, index, ready[index]))]
        if not missing:
            return cut
        try:
            thumbnails = cut_from_photo(
                file, [found[index].box for index in missing], [found[index].time for index in missing]
            )
        except ImageLoadError as error:
            cut.failure = error.reason
            return cut
        for index, thumbnail in zip(missing, thumbnails, strict=True):
            self._add(cut, index, None, thumbnail)
        return cut

    def _add(
        self, cut: _PhotoCut, index: int, jpeg: bytes | None, thumbnail: np.ndarray | None = None
    ) -> bool:
        """Give face ``index`` its montage tile and gallery thumbnail (or a left-out face its
        thumbnail), from the JPEG the index kept or the pixels just cut; False if that JPEG
        cannot be read."""
        import cv2

        in_this_montage = index >= 0 and index in self._plan.in_montage
        # A JPEG starts and ends with its markers; a gallery-only face's bytes go out unread.
        if jpeg is not None and not (jpeg.startswith(b"\xff\xd8") and jpeg.endswith(b"\xff\xd9")):
            return False
        if thumbnail is None and in_this_montage:
            pixels = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if pixels is None:
                return False
            thumbnail = pixels[:, :, ::-1]
        if in_this_montage:
            cut.tiles[index] = cv2.resize(thumbnail, (TILE_SIZE, TILE_SIZE), interpolation=cv2.INTER_AREA)
        if index < 0:
            relative = f"{self._thumbnail_dir}/left_out_{-1 - index:07d}.jpg"
            cut.left_out_thumbnails[-1 - index] = relative
        elif index in self._plan.in_gallery:
            relative = f"{self._thumbnail_dir}/face_{index:07d}.jpg"
            cut.thumbnails[index] = relative
        else:
            return True
        write_remakeable(self._folder / relative, jpeg or encode_jpeg(thumbnail))
        return True


def write_montages(
    run: ClusteringRun,
    folder: Path,
    seed: int = 0,
    thumbnail_dir: str | None = None,
    stored: StoredThumbnails | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    when_read: Callable[[MontageReport], None] | None = None,
) -> MontageReport:
    """Write ``face_id_<N>.jpg`` per group of ``run`` and ``unknown_faces.jpg`` into ``folder``.

    With ``thumbnail_dir`` (relative to ``folder``), the first :data:`GALLERY_FACES` faces of
    each group also get a small JPEG thumbnail there, for the gallery, and so do the first of
    the faces corrections left out. Each photo is decoded once, however many of its faces are
    shown. With ``stored`` (the encoding index's thumbnails), a photo all of whose faces shown
    have a thumbnail there is not decoded at all, nor needed: it may have moved. Montages of an
    earlier run that this run did not write are removed, so the folder never shows face IDs
    that no longer exist. ``on_progress(done, total)`` follows the photos read (from the index
    or decoded): called with 0 before the first and after each. ``when_read`` gets the report
    once every photo is read, while the last montages are still being made: its thumbnails and
    unreadable photos are complete then, its montages not yet.
    """
    plan = _plan(run, seed, thumbnail_dir is not None)
    label_of = run.labels.tolist()
    report = MontageReport()
    if thumbnail_dir is not None:
        (folder / thumbnail_dir).mkdir(parents=True, exist_ok=True)
    tiles: dict[int, np.ndarray] = {}
    # The photos to decode, each once: paths that are links to one file share its decoding.
    by_file: dict[str, list[str]] = {}
    finder = run.photos
    for image_path in plan.wanted:
        if finder.found(image_path):
            by_file.setdefault(finder.real_file(image_path), []).append(image_path)
        elif stored is not None:
            # Its thumbnails may be in the index; the cutter says "file not found" if not.
            by_file.setdefault(finder(image_path), []).append(image_path)
        else:
            report.unreadable_images[image_path] = "file not found"
    cut_faces = _Cutter(run, plan, folder, thumbnail_dir, stored)

    order = sorted(label for label in plan.shown if label != NOISE) + ([NOISE] if NOISE in plan.shown else [])

    def write_montage(label: int) -> Path:
        title = cluster_title(label, len(plan.members[label]), run.names.get(label))
        # Its tiles are let go as it is made: only montages still waiting for photos hold any.
        montage = build_montage([tiles.pop(i) for i in plan.shown[label] if i in tiles], title)
        path = folder / montage_name(label)
        write_remakeable(path, encode_jpeg(montage))
        return path

    def write_montage_run(labels_run: list[int]) -> list[Path]:
        return [write_montage(label) for label in labels_run]

    # A montage is made as soon as the last photo it needs is read, and photos are read in the
    # order of the first montage that needs them: holding every tile until all photos were read
    # would take 5.8 GB for a million faces in 45,651 groups.
    rank = {label: position for position, label in enumerate(order)}
    needs = {
        file: {label_of[index] for path in paths for index in plan.wanted[path] if index in plan.in_montage}
        for file, paths in by_file.items()
    }
    waiting = dict.fromkeys(order, 0)
    for montage_labels in needs.values():
        for label in montage_labels:
            waiting[label] += 1
    files = sorted(by_file, key=lambda file: min((rank[label] for label in needs[file]), default=len(order)))
    ready = [label for label in order if waiting[label] == 0]
    made: list = []
    workers = os.cpu_count() or 1
    # Threads, one photo each: decoding, resizing and JPEG encoding release the GIL (with 200
    # real 12-megapixel photos behind 100,000 faces, this stage was most of the run). Montages
    # go to threads of their own in runs of 64: one task per montage cost more in handing out
    # tasks than the second thread gained (8,000 empty montages: 0.46 ms each, 0.35 in runs).
    with ThreadPoolExecutor(workers) as readers, ThreadPoolExecutor(workers) as drawers:

        def hand_out(final: bool = False) -> None:
            while len(ready) >= MONTAGE_RUN or (final and ready):
                made.append(drawers.submit(write_montage_run, ready[:MONTAGE_RUN]))
                del ready[:MONTAGE_RUN]

        def take(file: str, result: _PhotoCut) -> None:
            nonlocal taken
            taken += 1
            if on_progress is not None:
                on_progress(taken, len(files))
            if result.failure is not None:
                report.unreadable_images.update(dict.fromkeys(by_file[file], result.failure))
            tiles.update(result.tiles)
            report.thumbnails.update(result.thumbnails)
            report.left_out_thumbnails.update(result.left_out_thumbnails)
            for label in needs[file]:
                waiting[label] -= 1
                if waiting[label] == 0:
                    ready.append(label)
            hand_out()

        taken = 0
        if on_progress is not None:
            on_progress(0, len(files))
        hand_out()
        # A few photos in flight, not all: each finished one holds its tiles until taken.
        for file, result in map_ahead(
            readers, lambda file: cut_faces(file, by_file[file]), files, 2 * workers
        ):
            take(file, result)
        hand_out(final=True)
        if when_read is not None:
            when_read(report)
        written = {path.name: path for future in made for path in future.result()}
    report.written.extend(written[montage_name(label)] for label in order)
    _remove_stale_montages(folder, {path.name for path in report.written})
    return report


def _remove_stale_montages(output_dir: Path, keep: set[str]) -> None:
    for path in output_dir.glob("*.jpg"):
        is_ours = path.name == UNKNOWN_MONTAGE or (
            path.name.startswith("face_id_") and path.stem[len("face_id_") :].isdigit()
        )
        if is_ours and path.name not in keep:
            try:
                path.unlink()
            except OSError as error:
                raise OutputError(f"cannot remove old montage {path}: {error.strerror}") from None
