import csv
import json
import os

import cv2
import numpy as np
import pytest

from faceclust.outputs import thumbnails
from faceclust.outputs.montages import (
    GRID_COLUMNS,
    HEADER_HEIGHT,
    TILE_SIZE,
    build_montage,
    sample_indices,
    write_montages,
)
from faceclust.outputs.photo_finder import PhotoFinder
from faceclust.outputs.run import ClusteringRun
from faceclust.outputs.tables import cluster_document, document_json, write_clusters_csv
from faceclust.outputs.thumbnails import BACKGROUND_RGB, face_tile
from faceclust.records import Face

from .conftest import jpeg_bytes, noise_image


def count_tiles(montage: np.ndarray) -> int:
    """Tiles that hold something other than the plain background."""
    rows = (montage.shape[0] - HEADER_HEIGHT) // TILE_SIZE
    filled = 0
    for row in range(rows):
        for column in range(GRID_COLUMNS):
            y, x = HEADER_HEIGHT + row * TILE_SIZE, column * TILE_SIZE
            tile = montage[y : y + TILE_SIZE, x : x + TILE_SIZE].astype(int)
            if np.abs(tile - np.array(BACKGROUND_RGB)).max() > 40:
                filled += 1
    return filled


def test_face_tile_is_square_and_pads_past_the_edge_with_the_background():
    rgb = np.full((50, 80, 3), 200, np.uint8)
    tile = face_tile(rgb, (0, 40, 40, 0), TILE_SIZE)  # a face in the corner: its margin leaves the image
    assert tile.shape == (TILE_SIZE, TILE_SIZE, 3)
    assert tile[0, 0].tolist() == list(BACKGROUND_RGB)
    assert tile[TILE_SIZE // 2, TILE_SIZE // 2].tolist() == [200, 200, 200]


def test_build_montage_grows_by_rows_of_five():
    tiles = [np.full((TILE_SIZE, TILE_SIZE, 3), 250, np.uint8)] * 7
    montage = build_montage(tiles, "Face ID #3")
    assert montage.shape == (HEADER_HEIGHT + 2 * TILE_SIZE, GRID_COLUMNS * TILE_SIZE, 3)
    assert count_tiles(montage) == 7


def test_sample_indices_is_seeded_bounded_and_ordered():
    indices = list(range(100, 160))
    first = sample_indices(indices, seed=3)
    assert len(first) == 25 and first == sorted(first) and set(first) <= set(indices)
    assert sample_indices(indices, seed=3) == first
    assert sample_indices(indices, seed=4) != first
    assert sample_indices([1, 2], seed=0) == [1, 2]


@pytest.fixture
def photo_faces(tmp_path):
    """30 faces in 3 noise photos (10 boxes each), with labels: 27 in cluster 0, 2 in 1, 1 unknown."""
    faces = []
    for photo in range(3):
        path = tmp_path / f"p{photo}.jpg"
        path.write_bytes(jpeg_bytes(noise_image(200, 40, seed=photo)))
        faces += [Face(str(path), (5, 20 * i + 18, 35, 20 * i + 2), np.zeros(128)) for i in range(10)]
    labels = np.array([0] * 27 + [1, 1, -1])
    return faces, labels


def test_write_montages_writes_one_per_cluster_and_unknown_with_the_right_tile_counts(tmp_path, photo_faces):
    faces, labels = photo_faces
    out = tmp_path / "out"
    out.mkdir()
    (out / "face_id_7.jpg").write_bytes(b"stale")
    (out / "holiday.jpg").write_bytes(b"the user's own")
    report = write_montages(ClusteringRun(faces, labels), out, seed=0)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["face_id_0.jpg", "face_id_1.jpg", "holiday.jpg", "unknown_faces.jpg"]
    assert [p.name for p in report.written] == ["face_id_0.jpg", "face_id_1.jpg", "unknown_faces.jpg"]
    counts = {}
    for name in ("face_id_0.jpg", "face_id_1.jpg", "unknown_faces.jpg"):
        montage = cv2.imread(str(out / name))
        assert montage is not None
        counts[name] = count_tiles(montage)
    assert counts == {"face_id_0.jpg": 25, "face_id_1.jpg": 2, "unknown_faces.jpg": 1}
    assert report.unreadable_images == {}


def test_write_montages_reports_photos_that_are_gone(tmp_path, photo_faces):
    faces, labels = photo_faces
    (tmp_path / "p1.jpg").unlink()
    report = write_montages(ClusteringRun(faces, labels), tmp_path, seed=0)
    assert list(report.unreadable_images) == [str(tmp_path / "p1.jpg")]
    shown = sample_indices(list(range(27)), seed=0)
    from_other_photos = [i for i in shown if not 10 <= i < 20]
    assert count_tiles(cv2.imread(str(tmp_path / "face_id_0.jpg"))) == len(from_other_photos)


def test_the_thumbnails_are_handed_on_once_every_photo_is_read(tmp_path, photo_faces):
    faces, labels = photo_faces
    (tmp_path / "p1.jpg").unlink()
    out = tmp_path / "out"
    out.mkdir()
    handed = []

    def when_read(report) -> None:
        handed.append((dict(report.thumbnails), dict(report.unreadable_images), len(report.written), report))

    report = write_montages(
        ClusteringRun(faces, labels), out, seed=0, thumbnail_dir="thumbs", when_read=when_read
    )
    assert len(handed) == 1
    thumbnails, unreadable, written, same = handed[0]
    # Complete when handed on: every face of the two photos there, none of the one gone.
    assert thumbnails == report.thumbnails and sorted(thumbnails) == [*range(10), *range(20, 30)]
    assert unreadable == {str(tmp_path / "p1.jpg"): "file not found"}
    assert written == 0 and same is report and len(report.written) == 3


def test_clusters_csv_has_one_row_per_face(tmp_path, photo_faces):
    faces, labels = photo_faces
    write_clusters_csv(faces, labels, tmp_path / "clusters.csv")
    with open(tmp_path / "clusters.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["image_path", "top", "right", "bottom", "left", "cluster_id", "time"]
    assert len(rows) == 31
    assert rows[1] == [faces[0].image_path, "5", "18", "35", "2", "0", ""]  # no time: a photo's face
    assert rows[-1][-2] == "-1"


def test_photo_finder_falls_back_to_the_encodings_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "dataset").mkdir(parents=True)
    (project / "dataset" / "a.jpg").write_bytes(b"x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    locate = PhotoFinder(project / "encodings.pickle")
    assert locate("dataset/a.jpg") == str(project / "dataset" / "a.jpg")
    assert locate("dataset/missing.jpg") == "dataset/missing.jpg"
    assert locate.found("dataset/a.jpg") and not locate.found("dataset/missing.jpg")


def test_photos_are_looked_for_once_per_folder(tmp_path, monkeypatch):
    import os

    for index in range(50):
        (tmp_path / f"p{index}.jpg").write_bytes(b"x")
    listings = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda folder: listings.append(folder) or real_scandir(folder))
    locate = PhotoFinder(tmp_path / "encodings.pickle")
    found = [locate.found(str(tmp_path / f"p{index}.jpg")) for index in range(60)]
    assert found == [True] * 50 + [False] * 10
    assert listings == [str(tmp_path)]


def test_each_cluster_is_represented_by_its_face_nearest_the_centre_the_first_of_ties():
    rng = np.random.default_rng(3)
    labels = np.array([2, -1, 0, 2, 1, 0, 2, 1, -1, 2, 3])
    encodings = rng.normal(size=(len(labels), 8)).astype(np.float32)
    # Cluster 1's two faces are equally far from their mean: the first is taken.
    encodings[4], encodings[7] = 1.0, -1.0
    faces = [Face(f"p{i}.jpg", (i, i + 1, i + 1, i), encodings[i]) for i in range(len(labels))]
    document = cluster_document(ClusteringRun(faces, labels, encodings, encodings_path="x"))
    for cluster in document["clusters"]:
        members = np.flatnonzero(labels == cluster["id"])
        centre = encodings[members].astype(np.float64).mean(axis=0)
        nearest = members[np.argmin(np.linalg.norm(encodings[members] - centre, axis=1))]
        assert cluster["representative"] == {"image_path": f"p{nearest}.jpg", "box": list(faces[nearest].box)}
        assert [face["image_path"] for face in cluster["faces"]] == [f"p{i}.jpg" for i in members]
    assert document["clusters"][1]["representative"]["image_path"] == "p4.jpg"
    assert [cluster["size"] for cluster in document["clusters"]] == [2, 2, 4, 1]


def test_clusters_json_text_is_one_cluster_per_line_and_the_same_document():
    document = {
        "format": 1,
        "settings": {"method": "agglomerative", "threshold": 0.5},
        "clusters": [
            {"id": 0, "faces": [{"image_path": "a\nb.jpg", "box": [1, 2, 3, 4]}]},
            {"id": 1, "faces": []},
        ],
        "unknown": {"size": 0, "faces": []},
        "empty": [],
    }
    text = document_json(document).decode("utf-8")
    assert json.loads(text) == document
    lines = text.splitlines()
    assert lines[4].strip().startswith('{"id":0') and lines[5].strip().startswith('{"id":1')


def test_cluster_faces_sums_up_photos_it_cannot_find(tmp_path, capsys):
    from faceclust.cli import cluster_main
    from faceclust.library.store import save_faces

    rng = np.random.default_rng(0)
    centre = rng.normal(size=128) * 0.1
    faces = [
        Face(f"gone/photo_{i:02d}.jpg", (0, 50, 50, 0), centre + rng.normal(size=128) * 0.01)
        for i in range(12)
    ]
    save_faces(tmp_path / "e.pickle", faces)
    assert cluster_main(["-e", str(tmp_path / "e.pickle"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert (
        "12 photos could not be read for the montages and thumbnails (file not found: 12); the first:" in err
    )
    assert len([line for line in err.splitlines() if line.startswith("  gone/")]) == 5
    assert "  and 7 more" in err


def test_a_second_run_into_the_same_output_folder_is_refused_while_the_first_writes(tmp_path, capsys):
    from faceclust.cli import cluster_main
    from faceclust.library.store import save_faces
    from faceclust.pipeline import OUTPUT_LOCK
    from faceclust.runtime.fileio import held_alone

    rng = np.random.default_rng(0)
    faces = [Face(f"gone/p{i}.jpg", (0, 50, 50, 0), rng.normal(size=128) * 0.1) for i in range(6)]
    save_faces(tmp_path / "e.pickle", faces)
    out = tmp_path / "out"
    out.mkdir()
    # This process stands for a run still writing there: it holds the lock a run holds.
    with held_alone(out / OUTPUT_LOCK, "a run", "wait"):
        assert cluster_main(["-e", str(tmp_path / "e.pickle"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"another run is writing into {out} (process {os.getpid()})" in err
    assert "give this run another --output folder" in err
    assert sorted(path.name for path in out.iterdir()) == []
    assert cluster_main(["-e", str(tmp_path / "e.pickle"), "-o", str(out)]) == 0
    assert (out / "clusters.csv").exists() and not (out / OUTPUT_LOCK).exists()


def test_the_cycle_collector_is_off_while_a_file_is_clustered_and_back_after(tmp_path):
    import gc

    from faceclust.clustering import FaceClusterer
    from faceclust.library.store import save_faces
    from faceclust.pipeline import cluster_file

    rng = np.random.default_rng(0)
    faces = [Face(f"gone/p{i}.jpg", (0, 50, 50, 0), rng.normal(size=128) * 0.1) for i in range(6)]
    save_faces(tmp_path / "e.pickle", faces)
    seen = []

    class Recording(FaceClusterer):
        def fit_predict(self, *args, **kwargs):
            seen.append(gc.isenabled())
            if len(seen) == 2:
                raise RuntimeError("failed mid-run")
            return super().fit_predict(*args, **kwargs)

    assert gc.isenabled()
    summary = cluster_file(tmp_path / "e.pickle", tmp_path / "out", Recording())
    assert summary.faces == 6 and seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError, match="failed mid-run"):
        cluster_file(tmp_path / "e.pickle", tmp_path / "out", Recording())
    assert seen == [False, False] and gc.isenabled()
    # Left off by the caller, it stays off.
    gc.disable()
    try:
        cluster_file(tmp_path / "e.pickle", tmp_path / "again", FaceClusterer())
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("fork", [True, False], ids=["tables in a child process", "tables on a thread"])
def test_the_tables_come_out_the_same_beside_the_montages_either_way(tmp_path, monkeypatch, fork):
    from faceclust.clustering import FaceClusterer
    from faceclust.library.store import save_faces
    from faceclust.pipeline import ClusterOptions, cluster_file
    from faceclust.runtime import beside

    rng = np.random.default_rng(0)
    people = rng.normal(size=(3, 128)) * 0.1
    faces = [
        Face(f"gone/p{i}.jpg", (0, 50, 50, 0), people[i % 3] + rng.normal(size=128) * 0.005)
        for i in range(12)
    ]
    save_faces(tmp_path / "e.pickle", faces)
    monkeypatch.setattr(beside, "FORK", fork)
    summary = cluster_file(
        tmp_path / "e.pickle", tmp_path / "out", FaceClusterer(), ClusterOptions(gallery=False)
    )
    assert summary.clusters == 3
    rows = list(csv.reader((tmp_path / "out" / "clusters.csv").open()))
    assert rows[1:] == [
        [f"gone/p{i}.jpg", "0", "50", "50", "0", str(rows[1 + i % 3][5]), ""] for i in range(12)
    ]
    document = json.loads((tmp_path / "out" / "clusters.json").read_text())
    assert [cluster["size"] for cluster in document["clusters"]] == [4, 4, 4]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "clusters.csv",
        "clusters.json",
        "face_id_0.jpg",
        "face_id_1.jpg",
        "face_id_2.jpg",
    ]


def test_tables_that_cannot_be_written_fail_the_run_with_the_reason(tmp_path, capsys):
    from faceclust.cli import cluster_main
    from faceclust.library.store import save_faces

    rng = np.random.default_rng(0)
    faces = [Face(f"gone/p{i}.jpg", (0, 50, 50, 0), rng.normal(size=128) * 0.1) for i in range(6)]
    save_faces(tmp_path / "e.pickle", faces)
    out = tmp_path / "out"
    (out / "clusters.json").mkdir(parents=True)  # in the way of the file
    assert cluster_main(["-e", str(tmp_path / "e.pickle"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot write {out / 'clusters.json'}" in err
    # The montages, written beside, are whole.
    assert all(cv2.imread(str(path)) is not None for path in out.glob("*.jpg"))


def test_montage_jpegs_keep_their_colours():
    from faceclust.outputs.thumbnails import encode_jpeg

    red = build_montage([np.full((TILE_SIZE, TILE_SIZE, 3), (220, 20, 20), np.uint8)], "red")
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(red), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    tile = decoded[HEADER_HEIGHT + 10 : HEADER_HEIGHT + 80, 10:80].reshape(-1, 3).mean(axis=0)
    assert np.allclose(tile, (220, 20, 20), atol=6)
    background = decoded[HEADER_HEIGHT + 10, TILE_SIZE * 3]
    assert np.allclose(background, BACKGROUND_RGB, atol=6)


def test_thumbnails_of_large_faces_come_from_a_reduced_decode(tmp_path, monkeypatch):

    photo = np.zeros((2000, 2000, 3), np.uint8)
    photo[400:1600, 400:1600] = (200, 40, 40)  # a large red "face"
    cv2.imwrite(str(tmp_path / "big.jpg"), photo[:, :, ::-1])
    scales = []
    real_decode = thumbnails.decode_image
    monkeypatch.setattr(
        thumbnails, "decode_image", lambda *a, **k: scales.append(k["min_scale"]) or real_decode(*a, **k)
    )
    faces = [Face(str(tmp_path / "big.jpg"), (400, 1600, 1600, 400), np.zeros(128))]
    report = write_montages(ClusteringRun(faces, np.array([0])), tmp_path, thumbnail_dir="thumbs")
    assert scales and scales[0] < 0.125  # a 1,200 px face: an eighth is plenty for 128 px
    thumb = cv2.imread(str(tmp_path / report.thumbnails[0]))[:, :, ::-1]
    assert np.allclose(thumb[64, 64], (200, 40, 40), atol=12)  # the face, centred, not a corner


def test_photos_reached_by_several_links_are_decoded_once(tmp_path, monkeypatch):

    photo = np.zeros((400, 400, 3), np.uint8)
    photo[100:300, 100:300] = (40, 200, 40)
    cv2.imwrite(str(tmp_path / "original.jpg"), photo)
    (tmp_path / "links").mkdir()
    for index in range(6):
        (tmp_path / "links" / f"copy{index}.jpg").symlink_to(tmp_path / "original.jpg")
    decoded = []
    real_decode = thumbnails.decode_image
    monkeypatch.setattr(
        thumbnails, "decode_image", lambda path, **k: decoded.append(path) or real_decode(path, **k)
    )
    faces = [
        Face(str(tmp_path / "links" / f"copy{i}.jpg"), (100, 300, 300, 100), np.zeros(128)) for i in range(6)
    ]
    run = ClusteringRun(faces, np.zeros(6, dtype=np.int64), photos=PhotoFinder(tmp_path / "e.pickle"))
    report = write_montages(run, tmp_path, thumbnail_dir="t")
    assert decoded == [str(tmp_path / "original.jpg")]
    assert sorted(report.thumbnails) == list(range(6)) and report.unreadable_images == {}


def test_progress_follows_each_photo_read_once_and_not_the_missing_ones(tmp_path):
    for name in ("a", "b", "c"):
        noise_image(200, 200).save(tmp_path / f"{name}.jpg")
    box = (50, 150, 150, 50)
    faces = [Face(str(tmp_path / f"{name}.jpg"), box, np.zeros(128)) for name in ("a", "a", "b", "c", "gone")]
    progress = []
    report = write_montages(
        ClusteringRun(faces, np.array([0, 0, 1, 1, -1])),
        tmp_path,
        thumbnail_dir="t",
        on_progress=lambda *p: progress.append(p),
    )
    assert progress == [(0, 3), (1, 3), (2, 3), (3, 3)]  # a's two faces from one decoding
    assert list(report.unreadable_images) == [str(tmp_path / "gone.jpg")]


def test_each_montage_is_made_once_its_photos_are_read_not_after_all_of_them(tmp_path, monkeypatch):
    import time

    from faceclust.outputs import montages

    # 40 people, each in a photo of their own, listed in the reverse of their face IDs' order,
    # with faces of one colour per person: montages in runs of 4, photos read slowly.
    monkeypatch.setattr(montages, "MONTAGE_RUN", 4)
    people = 40
    faces = []
    for person in range(people):
        photo = np.zeros((200, 200, 3), np.uint8)
        photo[50:150, 50:150] = (person * 6, 255 - person * 6, 128)
        path = tmp_path / f"p{person:02d}.jpg"
        cv2.imwrite(str(path), photo[:, :, ::-1])
        faces.append(Face(str(path), (50, 150, 150, 50), np.zeros(128)))
    faces.reverse()
    labels = np.arange(people)[::-1].copy()  # face ID 0 is the last face listed
    events = []
    real_decode, real_write = thumbnails.decode_image, montages.write_remakeable

    def slow_decode(path, **kwargs):
        events.append(("read", os.path.basename(path)))
        time.sleep(0.01)
        return real_decode(path, **kwargs)

    def recording_write(path, data, **kwargs):
        if os.path.basename(path).startswith("face_id_"):
            events.append(("montage", os.path.basename(path)))
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(thumbnails, "decode_image", slow_decode)
    monkeypatch.setattr(montages, "write_remakeable", recording_write)
    report = write_montages(ClusteringRun(faces, labels), tmp_path)
    reads = [name for kind, name in events if kind == "read"]
    # Photos are read in the order of the montages that need them, face ID 0 first (two
    # threads read, so neighbours may swap) ...
    assert sorted(reads) == [f"p{person:02d}.jpg" for person in range(people)]
    assert max(reads.index(f"p{person:02d}.jpg") for person in range(10)) < min(
        reads.index(f"p{person:02d}.jpg") for person in range(30, people)
    )
    # ... and the first montages are written while later photos are still being read.
    first_montage = next(i for i, (kind, _) in enumerate(events) if kind == "montage")
    last_read = max(i for i, (kind, _) in enumerate(events) if kind == "read")
    assert first_montage < last_read
    assert [path.name for path in report.written] == [f"face_id_{label}.jpg" for label in range(people)]
    for label in (0, people - 1):
        montage = cv2.imread(str(tmp_path / f"face_id_{label}.jpg"))[:, :, ::-1]
        tile = montage[HEADER_HEIGHT + TILE_SIZE // 2, TILE_SIZE // 2].astype(int)
        assert np.abs(tile - (label * 6, 255 - label * 6, 128)).max() < 24  # its own person's face


def test_montages_and_thumbnails_come_from_the_index_when_the_photos_have_moved(encoded, tmp_path, capsys):
    from faceclust.cli import cluster_main
    from faceclust.library.index import cache_path

    dataset, encodings, _ = encoded
    dataset.rename(tmp_path / "elsewhere")  # the photos are gone from where they were encoded
    out = tmp_path / "out"
    assert cluster_main(["-e", str(encodings), "-o", str(out)]) == 0
    assert "could not be read" not in capsys.readouterr().err
    montages = sorted(out.glob("face_id_*.jpg"))
    assert montages
    for montage in montages:
        assert count_tiles(cv2.imread(str(montage))[:, :, ::-1]) > 0
    faces = json.loads((out / "clusters.json").read_text())["counts"]["faces"]
    assert len(list((out / "thumbs").glob("face_*.jpg"))) == faces

    # Without the index the photos are needed, and missed: blank tiles, and said so.
    cache_path(encodings).unlink()
    blank = tmp_path / "blank"
    assert cluster_main(["-e", str(encodings), "-o", str(blank)]) == 0
    assert "could not be read" in capsys.readouterr().err
    assert all(count_tiles(cv2.imread(str(m))[:, :, ::-1]) == 0 for m in blank.glob("face_id_*.jpg"))


@pytest.mark.parametrize("damaged", [b"not a jpeg", b"\xff\xd8 torn", b"\xff\xd8 not really \xff\xd9"])
def test_a_damaged_thumbnail_in_the_index_is_cut_from_the_photo_instead(encoded, tmp_path, capsys, damaged):
    import sqlite3

    from faceclust.cli import cluster_main
    from faceclust.library.index import cache_path

    _, encodings, _ = encoded
    with sqlite3.connect(cache_path(encodings)) as db:
        db.execute("UPDATE faces SET thumbnail = ?", (damaged,))
    out = tmp_path / "out"
    assert cluster_main(["-e", str(encodings), "-o", str(out)]) == 0
    assert "could not be read" not in capsys.readouterr().err
    for montage in out.glob("face_id_*.jpg"):
        assert count_tiles(cv2.imread(str(montage))[:, :, ::-1]) > 0
