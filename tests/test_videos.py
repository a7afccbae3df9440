"""Faces in videos: clips written in code (PyAV's H.264 and HEVC encoders) of the bundled
dataset's people, run through the real detector and embedding like the photos."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from clips import Appearance, write_clip
from PIL import Image

from faceclust.cli import cluster_main, encode_main
from faceclust.clustering.corrections import Correction, plan_corrections
from faceclust.encode import video as video_module
from faceclust.encode.local import encode_images
from faceclust.encode.settings import EncodeSettings
from faceclust.encode.video import encode_video
from faceclust.library.index import FileStamp
from faceclust.library.store import load_faces, save_faces
from faceclust.photos.images import scan_folder
from faceclust.photos.video import VideoSampling, frame_at, sample_frames
from faceclust.records import Face

from .conftest import DATASET, PORTRAITS, person_images
from .test_people import page_data

# One photo of each person, the clip's "actors", in which HOG finds the face at every size from
# 150 to 300 px tall; their other photos are the library's.
ACTORS = {"ben_afflek": "httpwwwhillsindcomstorebenjpg.jpg", "mindy_kaling": PORTRAITS["mindy_kaling"]}


def sprite(person: str) -> np.ndarray:
    with Image.open(DATASET / person / ACTORS[person]) as image:
        return np.asarray(image.convert("RGB"))


def two_people(seconds: float = 6.0) -> list[Appearance]:
    """Ben from the start, Mindy from the second second on, side by side, drifting."""
    return [
        Appearance("ben_afflek", sprite("ben_afflek"), 0.0, seconds, (0.27, 0.5), (0.3, 0.55), 0.7, 0.75),
        Appearance("mindy_kaling", sprite("mindy_kaling"), 2.0, seconds, (0.75, 0.5), (0.72, 0.45), 0.7, 0.7),
    ]


def clip(path: Path, **options) -> Path:
    appearances = options.pop("appearances", None)
    settings = {"width": 640, "height": 360, "seconds": 6.0, "preset": "ultrafast", **options}
    write_clip(str(path), appearances or two_people(settings["seconds"]), **settings)
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """Photos of both actors (not the ones in the clip) and a clip of them, H.264 in MP4."""
    root = tmp_path_factory.mktemp("library")
    for person in ACTORS:
        (root / person).mkdir()
        for source in [p for p in person_images(person, 5) if p.name != ACTORS[person]][:3]:
            shutil.copy(source, root / person / source.name)
    (root / "videos").mkdir()
    clip(root / "videos" / "party.mp4")
    return root


@pytest.fixture(scope="module")
def clustered(library, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    encodings = out / "enc.pickle"
    assert encode_main(["-i", str(library), "-e", str(encodings), "-j", "2", "-q"]) == 0
    assert cluster_main(["-e", str(encodings), "-o", str(out / "groups"), "--organize"]) == 0
    return encodings, out / "groups"


def test_the_people_of_a_clip_are_found_and_grouped_with_their_photos(library, clustered):
    encodings, groups = clustered
    with open(encodings, "rb") as stream:
        records = pickle.load(stream)
    video = str(library / "videos" / "party.mp4")
    in_video = [record for record in records if record["imagePath"] == video]
    # The tutorial's keys stay, with the time of the frame as one more.
    assert in_video and all(isinstance(record["time"], float) for record in in_video)
    assert all("time" not in record for record in records if record["imagePath"] != video)
    document = json.loads((groups / "clusters.json").read_text())
    people_of = {}
    for cluster in document["clusters"]:
        folders = {Path(face["image_path"]).parent.name for face in cluster["faces"] if "time" not in face}
        timed = [face for face in cluster["faces"] if "time" in face]
        if timed:
            people_of[tuple(sorted(folders))] = timed
    # Each actor's faces in the clip are in the group of that actor's photos, and only there.
    assert set(people_of) == {("ben_afflek",), ("mindy_kaling",)}
    # Mindy walks in at 2 s: none of her faces is from before.
    assert min(face["time"] for face in people_of[("mindy_kaling",)]) >= 2.0
    assert len(in_video) == sum(len(faces) for faces in people_of.values())
    # --organize links the video into the folder of each person seen in it.
    holding = sorted(path.parent.name for path in (groups / "people").rglob("party.mp4"))
    assert len(holding) == 2 and "unknown" not in holding


def test_times_reach_the_csv_and_the_gallery_opens_the_video_at_the_face(library, clustered):
    _, groups = clustered
    with open(groups / "clusters.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    timed = [row for row in rows if row["time"]]
    assert timed and all(row["image_path"].endswith("party.mp4") for row in timed)
    assert all(row["time"] == "" for row in rows if not row["image_path"].endswith(".mp4"))
    page = (groups / "index.html").read_text()
    data = page_data(page)
    faces = [face for group in data["groups"] for face in group["faces"] if "time" in face]
    assert faces
    for face in faces:
        assert face["href"].endswith(f"party.mp4#t={face['time']:.3f}")
        assert Path(face["href"].split("#")[0]).name == "party.mp4"
        # Its thumbnail was cut from that frame when it was encoded.
        assert face["thumb"] and (groups / face["thumb"]).stat().st_size > 0


def test_without_the_index_the_faces_are_cut_from_the_video_s_frames(library, clustered, tmp_path, capsys):
    encodings, _ = clustered
    alone = tmp_path / "alone.pickle"
    shutil.copy(encodings, alone)  # no index beside it: no stored thumbnails
    assert cluster_main(["-e", str(alone), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "could not" not in err and "party.mp4" not in err
    data = page_data((tmp_path / "out" / "index.html").read_text())
    timed = [face for group in data["groups"] for face in group["faces"] if "time" in face]
    assert timed and all(face["thumb"] for face in timed)
    # Cut from the frame at its second: the same face as the thumbnail the encoder kept.
    with Image.open(tmp_path / "out" / timed[0]["thumb"]) as cut:
        again = np.asarray(cut.convert("L"), dtype=np.float64)
    kept = page_data((clustered[1] / "index.html").read_text())
    same = next(
        face
        for group in kept["groups"]
        for face in group["faces"]
        if face.get("time") == timed[0]["time"] and face["box"] == timed[0]["box"]
    )
    with Image.open(clustered[1] / same["thumb"]) as stored:
        first = np.asarray(stored.convert("L"), dtype=np.float64)
    assert np.abs(again - first).mean() < 8  # JPEG twice, at most


def test_a_video_is_kept_in_the_index_and_not_encoded_again(library, clustered, capsys):
    encodings, _ = clustered
    assert encode_main(["-i", str(library), "-e", str(encodings), "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "7 images unchanged since the last run are reused; 0 to encode" in err
    assert "1 video among them" in err


def test_each_person_keeps_their_clearest_faces_one_per_frame(tmp_path, models):
    path = clip(tmp_path / "one.mp4", appearances=two_people()[:1])
    sampling = VideoSampling()
    frames = list(sample_frames(str(path), 0.5, sampling))
    assert len(frames) >= 10  # between the keyframes, from a full decode
    result = encode_video(str(path), EncodeSettings(video_every=0.5, video_faces=4), models)
    assert result.skip_reason is None and result.frames_searched == len(frames)
    assert len(result.faces) == 4
    assert len({face.time for face in result.faces}) == 4
    assert len(result.thumbnails) == 4
    kept_all = encode_video(str(path), EncodeSettings(video_every=0.5, video_faces=100), models)
    assert len(kept_all.faces) == len(frames)
    # The four kept are among the clearest of all the frames' faces, and as close as photos of
    # one person: one person.
    vectors = np.array([face.encoding for face in result.faces])
    assert np.linalg.norm(vectors - vectors.mean(axis=0), axis=1).max() < 0.3


def test_keyframes_are_used_where_a_video_has_them_often_enough(tmp_path):
    path = clip(tmp_path / "gop.mp4", keyframe_seconds=2.0)
    sampling = VideoSampling()
    times = [frame.time for frame in sample_frames(str(path), 2.0, sampling)]
    assert times == [0.0, 2.0, 4.0]
    assert sampling.decoded_in_full == 0
    # Keyframes 5 s apart leave gaps, filled from a full decode.
    sparse = clip(tmp_path / "sparse.mp4", keyframe_seconds=5.0, seconds=10.0)
    sampling = VideoSampling()
    times = [frame.time for frame in sample_frames(str(sparse), 2.0, sampling)]
    assert sampling.decoded_in_full > 0
    assert max(np.diff([0.0, *sorted(times), 10.0])) <= 3.0


def test_hevc_in_a_mov_is_read(tmp_path, models):
    path = clip(tmp_path / "phone.mov", codec="hevc", seconds=4.0)
    result = encode_video(str(path), EncodeSettings(), models)
    assert result.skip_reason is None
    assert len({face.time for face in result.faces}) >= 2 and len(result.faces) >= 3


@pytest.mark.skipif(
    not hasattr(av.video.stream.VideoStream, "set_display_rotation"),
    reason="writing a display matrix needs PyAV 18 (Python 3.11 and later)",
)
def test_a_portrait_video_stored_on_its_side_gives_upright_faces(tmp_path, models):
    appearances = [
        Appearance("ben_afflek", sprite("ben_afflek"), 0.0, 4.0, (0.5, 0.4), (0.5, 0.45), 0.35, 0.35)
    ]
    path = clip(
        tmp_path / "portrait.mov", appearances=appearances, width=360, height=640, seconds=4.0, rotation=90
    )
    with av.open(str(path)) as container:
        stored = next(container.decode(video=0))
        assert (stored.width, stored.height) == (640, 360)  # lying on its side
        assert models.detect(stored.to_ndarray(format="rgb24")) == []  # HOG finds no face sideways
    frame = frame_at(str(path), 0.0)
    assert frame.shape[:2] == (640, 360)
    result = encode_video(str(path), EncodeSettings(), models)
    assert result.faces
    for face in result.faces:
        top, right, bottom, left = face.box
        assert bottom <= 640 and right <= 360
        # Where the sprite was placed in the upright frame: the upper middle.
        assert 0.3 < (left + right) / 2 / 360 < 0.7 and (top + bottom) / 2 / 640 < 0.55


def test_a_live_photo_counts_once_and_a_lone_movie_is_a_video(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(DATASET / "ben_afflek" / ACTORS["ben_afflek"], photos / "IMG_0001.JPG")
    clip(photos / "IMG_0001.MOV", seconds=2.0)  # the Live Photo's movie
    clip(photos / "IMG_0002.MOV", seconds=2.0)  # a video of its own
    scan = scan_folder(photos)
    assert [Path(p).name for p in scan.images] == ["IMG_0001.JPG", "IMG_0002.MOV"]
    assert [Path(p).name for p in scan.live_photos] == ["IMG_0001.MOV"]
    encodings = tmp_path / "e.pickle"
    assert encode_main(["-i", str(photos), "-e", str(encodings), "-q", "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "1 Live Photo movie left to the photo of the same name beside them" in err
    assert "2 images read" in err and "1 video among them" in err
    paths = {face.image_path for face in load_faces(encodings)}
    assert paths == {str(photos / "IMG_0001.JPG"), str(photos / "IMG_0002.MOV")}


def test_a_broken_or_truncated_video_is_skipped_with_its_reason(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    whole = clip(videos / "whole.mp4", seconds=4.0).read_bytes()
    (videos / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (videos / "notes.mkv").write_text("not a video at all\n")
    (videos / "empty.webm").write_bytes(b"")
    encodings = tmp_path / "e.pickle"
    assert encode_main(["-i", str(videos), "-e", str(encodings), "-q", "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "skipped 3 files" in err
    lines = {line.split(": ", 1)[0].strip(): line for line in err.splitlines() if line.startswith("  ")}
    assert "not a readable video" in lines[str(videos / "truncated.mp4")]
    assert "not a readable video" in lines[str(videos / "notes.mkv")]
    assert "empty file" in lines[str(videos / "empty.webm")]
    assert {face.image_path for face in load_faces(encodings)} == {str(videos / "whole.mp4")}


def test_faces_of_videos_keep_their_times_in_both_stores_and_in_corrections(tmp_path):
    vector = np.linspace(-0.1, 0.1, 128)
    faces = [
        Face("a.jpg", (1, 20, 21, 2), vector),
        Face("v.mp4", (1, 20, 21, 2), vector + 0.01, 2.0),
        Face("v.mp4", (1, 20, 21, 2), vector + 0.02, 4.5),
    ]
    for name in ("e.pickle", "e.npz"):
        save_faces(tmp_path / name, faces)
        assert [(face.image_path, face.box, face.time) for face in load_faces(tmp_path / name)] == [
            (face.image_path, face.box, face.time) for face in faces
        ]
    # The same box at another second is another face; a correction names one by its time.
    correction = Correction("not_a_face", (faces[2].key,))
    assert correction.as_dict()["faces"] == [{"image_path": "v.mp4", "box": [1, 20, 21, 2], "time": 4.5}]
    plan = plan_corrections([correction], faces)
    assert plan.kept.tolist() == [0, 1]


def test_a_long_video_is_encoded_in_parts_joined_into_one_result(tmp_path, monkeypatch, models):
    path = str(clip(tmp_path / "long.mp4", seconds=6.0))
    settings = EncodeSettings(video_every=1.0, video_faces=3)
    whole = encode_video(path, settings, models)
    monkeypatch.setattr(video_module, "PART_SECONDS", 2.0)  # parts of 0-2, 2-4 and 4- s
    parts = []
    [joined] = encode_images([path], settings, jobs=1, durations={path: 6.0}, on_part=parts.append)
    assert [part.part[0] for part in parts] == [0.0, 2.0, 4.0] and parts[-1].part[1] == float("inf")
    assert joined.part is None and joined.image_path == path
    assert joined.frames_searched == sum(part.frames_searched for part in parts) == whole.frames_searched

    # The same people, each with the same number of faces, as the video encoded whole.
    def per_time(result):
        return sorted(face.time for face in result.faces)

    assert len(joined.faces) == len(whole.faces) == 6  # two people, three faces each
    assert len(joined.thumbnails) == len(joined.faces)
    assert len(set(per_time(joined))) >= 3
    vectors = np.array([face.encoding for face in joined.faces])
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    assert (np.sort(distances, axis=1)[:, 1:3] < 0.3).all()  # each face has its person's two others near


def test_a_camcorder_s_mpeg_ts_counts_its_seconds_from_its_first_frame(tmp_path):
    # An .mts file's timestamps may start hours in; a player shows its first frame at 0:00.
    path = str(clip(tmp_path / "camcorder.mts", seconds=6.0, first_timestamp=3600.0))
    assert [frame.time for frame in sample_frames(path, 2.0)] == [0.0, 2.0, 4.0]
    assert [frame.time for frame in sample_frames(path, 2.0, start=2.0, end=4.0)] == [2.0]
    assert frame_at(path, 4.0).shape == (360, 640, 3)


def test_a_run_killed_in_the_middle_of_a_long_video_goes_on_from_its_last_part(tmp_path, monkeypatch):
    from faceclust.encode.run import encode_dataset
    from faceclust.library.index import EncodingCache

    path = str(clip(tmp_path / "long.mp4", seconds=6.0))
    monkeypatch.setattr(video_module, "PART_SECONDS", 2.0)  # parts of 0-2, 2-4 and 4- s
    settings = EncodeSettings(video_every=1.0, video_faces=3)

    def index() -> EncodingCache:
        return EncodingCache(tmp_path / "e.index", settings.cache_key(), settings.video_cache_key())

    seen: list = []

    def killed_after_two(part) -> None:
        seen.append(part.part[0])
        if len(seen) == 2:
            raise KeyboardInterrupt  # as Ctrl-C in the middle of the video

    cache = index()
    with pytest.raises(KeyboardInterrupt):
        encode_dataset([path], settings, 1, cache=cache, on_part=killed_after_two)
    cache.close()
    assert seen == [0.0, 2.0]
    again: list = []
    cache = index()
    faces, summary = encode_dataset(
        [path], settings, 1, cache=cache, on_part=lambda part: again.append(part.part[0])
    )
    cache.close()
    assert again == [4.0]  # only the part the killed run had not finished
    whole, _ = encode_dataset([path], settings, 1)
    assert [(f.time, f.box) for f in faces] == [(f.time, f.box) for f in whole]
    np.testing.assert_allclose([f.encoding for f in faces], [f.encoding for f in whole], rtol=0, atol=1e-6)
    assert summary.frames_searched == 6
    # Kept whole now: a third run encodes nothing, and the parts are gone from the index.
    cache = index()
    assert cache.stored_parts(path, FileStamp.of(path)) == []
    _, summary = encode_dataset([path], settings, 1, cache=cache, on_part=lambda part: again.append(part))
    cache.close()
    assert summary.reused == 1 and again == [4.0]
