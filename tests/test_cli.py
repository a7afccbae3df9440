"""The two scripts end to end, on real photos through the real dlib models."""

import csv
import json
import pickle
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from faceclust.cli import cluster_main, encode_main
from faceclust.encode.settings import EncodeSettings
from faceclust.library.index import cache_path
from faceclust.outputs.montages import HEADER_HEIGHT, TILE_SIZE
from faceclust.photos.images import decode_image

from .conftest import REPO, jpeg_bytes, noise_image
from .test_outputs import count_tiles


def test_encode_then_cluster_groups_each_person_and_writes_every_output(encoded, tmp_path, capsys):
    dataset, encodings, err = encoded
    assert "14 images read" in err
    assert "skipped 2 files" in err
    assert "truncated.jpg: corrupt or truncated" in err
    assert "not_an_image.jpg: not an image" in err
    # Small web photos are searched whole: faces down to the detector's own 40 px.
    assert "looked for faces down to 40 px in the largest photo" in err

    data = pickle.loads(encodings.read_bytes())
    assert len(data) >= 10
    for record in data:
        assert record["encoding"].shape == (128,)
        assert record["imagePath"].startswith(str(dataset))

    out = tmp_path / "out"
    assert cluster_main(["-e", str(encodings), "-o", str(out), "--min-samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "[INFO] # unique faces: 3" in printed

    with open(out / "clusters.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(data)
    assert [row["image_path"] for row in rows] == [record["imagePath"] for record in data]
    people = {}
    for row in rows:
        person = row["image_path"].split("/")[-2]
        people.setdefault(person, set()).add(row["cluster_id"])
    # Each person lands in one cluster of their own.
    assert all(len(ids) == 1 and "-1" not in ids for ids in people.values())
    assert len({ids.pop() for ids in people.values()}) == 3

    sizes = {}
    for row in rows:
        sizes[row["cluster_id"]] = sizes.get(row["cluster_id"], 0) + 1
    for cluster_id, size in sizes.items():
        montage = cv2.imread(str(out / f"face_id_{cluster_id}.jpg"))
        assert montage is not None
        assert count_tiles(montage) == min(size, 25)
    assert not (out / "unknown_faces.jpg").exists()


def test_cluster_with_the_tutorial_defaults_marks_small_groups_unknown(encoded, tmp_path, capsys):
    _, encodings, _ = encoded
    out = tmp_path / "out"
    assert (
        cluster_main(
            ["-e", str(encodings), "-o", str(out), "-m", "dbscan", "--eps", "0.5", "--min-samples", "5"]
        )
        == 0
    )
    assert "[INFO] # unique faces: 0" in capsys.readouterr().out
    assert count_tiles(cv2.imread(str(out / "unknown_faces.jpg"))) >= 10


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / script), *args], capture_output=True, text=True, check=False
    )


def test_the_scripts_run_from_the_shell_with_the_readme_flags(small_dataset, tmp_path):
    encodings = str(tmp_path / "enc.pickle")
    dataset = str(small_dataset / "mindy_kaling")
    encode = run_script(
        "encode_faces.py",
        "--dataset",
        dataset,
        "--encodings",
        encodings,
        "--detection-method",
        "hog",
        "--jobs",
        "1",
    )
    assert encode.returncode == 0, encode.stderr
    assert "4 images read, 4 with faces" in encode.stderr
    output = str(tmp_path / "out")
    cluster = run_script(
        "cluster_faces.py", "--encodings", encodings, "--output", output, "--min-samples", "3"
    )
    assert cluster.returncode == 0, cluster.stderr
    assert "[INFO] # unique faces: 1" in cluster.stdout
    assert (tmp_path / "out" / "face_id_0.jpg").exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    for argv in (["-i", str(tmp_path), "-d", "haar"], ["-i", str(tmp_path), "--jobs", "0"], []):
        with pytest.raises(SystemExit) as caught:
            encode_main(argv)
        assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        cluster_main(["--eps", "-0.5"])
    assert caught.value.code == 2


def test_a_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    assert encode_main(["-i", str(tmp_path / "nope"), "-e", str(tmp_path / "e.pickle"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: dataset folder not found: {tmp_path / 'nope'}"


def test_an_empty_dataset_or_one_without_faces_exits_3_and_keeps_the_old_file(tmp_path, capsys):
    encodings = tmp_path / "e.pickle"
    encodings.write_bytes(b"old")
    (tmp_path / "empty").mkdir()
    assert encode_main(["-i", str(tmp_path / "empty"), "-e", str(encodings), "-q"]) == 3
    assert "no images found" in capsys.readouterr().err
    (tmp_path / "scenery").mkdir()
    (tmp_path / "scenery" / "noise.jpg").write_bytes(jpeg_bytes(noise_image(100, 80)))
    assert encode_main(["-i", str(tmp_path / "scenery"), "-e", str(encodings), "-q", "-j", "1"]) == 3
    assert "no faces found" in capsys.readouterr().err
    assert encodings.read_bytes() == b"old"


def test_a_folder_of_only_broken_files_says_why_each_one_failed(tmp_path, portrait_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    data = portrait_path.read_bytes()
    for number in range(3):
        (photos / f"cut{number}.jpg").write_bytes(data[: len(data) // (2 + number)])
    (photos / "notes.jpg").write_text("a text file named .jpg\n")
    (photos / "clip.mov").write_bytes(b"\0" * 10)
    (photos / "notes.txt").write_text("a text file\n")
    assert encode_main(["-i", str(photos), "-e", str(tmp_path / "e.pickle"), "-q", "-j", "1"]) == 3
    err = capsys.readouterr().err
    assert "passed over 1 file not of an image type this tool reads (.txt: 1)" in err
    assert "skipped 5 files (3 corrupt or truncated, 1 not a readable video, 1 not an image):" in err
    for number in range(3):
        assert f"{photos / f'cut{number}.jpg'}: corrupt or truncated" in err
    assert f"{photos / 'notes.jpg'}: not an image" in err
    assert f"{photos / 'clip.mov'}: not a readable video" in err
    assert (
        err.rstrip()
        .splitlines()[-1]
        .startswith("error: no faces found in the 5 images of " + str(photos) + " (5 could not be read)")
    )
    assert not (tmp_path / "e.pickle").exists()


def test_strict_turns_a_skipped_file_into_a_failure_but_still_writes(small_dataset, tmp_path, capsys):
    encodings = tmp_path / "e.pickle"
    argv = ["-i", str(small_dataset / "_junk"), "-e", str(encodings), "-q", "-j", "1"]
    face_photo = sorted((small_dataset / "mindy_kaling").iterdir())[0]
    (small_dataset / "_junk" / "face.jpg").write_bytes(face_photo.read_bytes())
    assert encode_main(argv) == 0
    assert encode_main([*argv, "--strict"]) == 1
    assert "--strict: 2 files were skipped or passed over" in capsys.readouterr().err
    assert encodings.exists()


def test_cluster_reports_a_bad_encodings_file_in_one_line(tmp_path, capsys):
    (tmp_path / "e.pickle").write_text("nonsense")
    assert cluster_main(["-e", str(tmp_path / "e.pickle"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "not an encodings file" in err[0]


def test_cluster_reports_an_output_folder_it_cannot_create(encoded, tmp_path, capsys):
    _, encodings, _ = encoded
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should go")
    assert cluster_main(["-e", str(encodings), "-o", str(blocker / "out")]) == 1
    assert "cannot create output folder" in capsys.readouterr().err


def test_evaluate_scores_against_the_person_folders_and_writes_json(encoded, tmp_path, capsys):
    dataset, encodings, _ = encoded
    out = tmp_path / "out"
    assert cluster_main(["-e", str(encodings), "-o", str(out), "--evaluate", str(dataset)]) == 0
    printed = capsys.readouterr().out
    assert "scores against" in printed and "B3 F1" in printed
    report = json.loads((out / "evaluation.json").read_text())
    assert report["settings"]["method"] == "agglomerative"
    # Three people: few distinct faces, so the adapted cut is the loosest.
    assert report["settings"]["threshold"] == 0.6
    assert 3 <= report["settings"]["distinct_faces"] <= 12
    assert "[INFO] cut at 0.600, adapted to" in printed
    scores = report["scores"]
    assert scores["identities"] == 3  # _junk carries no identity
    assert scores["faces_scored"] == len(pickle.loads(encodings.read_bytes()))
    assert scores["bcubed_f1"] == 1.0  # each person in one group of their own, as shown above


def test_local_scale_runs_through_the_command_and_is_recorded(encoded, tmp_path, capsys):
    # Real faces through the real models: three people few enough that the scale is hardly
    # trusted, so the groups stay what the default gives.
    dataset, encodings, _ = encoded
    out = tmp_path / "out"
    argv = ["-e", str(encodings), "-o", str(out), "--evaluate", str(dataset), "--local-scale"]
    assert cluster_main(argv) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["settings"]["local_scale"] is True and report["settings"]["threshold"] == 0.6
    assert report["scores"]["bcubed_f1"] == 1.0
    document = json.loads((out / "clusters.json").read_text())
    assert document["settings"]["local_scale"] is True and document["settings"]["centre_checks"] is True
    capsys.readouterr()


def test_tune_prints_a_row_per_threshold_and_writes_nothing(encoded, tmp_path, capsys):
    dataset, encodings, _ = encoded
    out = tmp_path / "out"
    argv = [
        "-e",
        str(encodings),
        "-o",
        str(out),
        "--evaluate",
        str(dataset),
        "--tune",
        "-m",
        "chinese_whispers",
    ]
    assert cluster_main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("chinese_whispers on")
    assert lines[1].split()[:2] == ["threshold", "clusters"]
    assert [line.split()[0] for line in lines[2:]][:3] == ["0.4", "0.425", "0.45"]
    assert not out.exists()


def test_evaluating_against_a_folder_without_the_photos_is_a_clear_error(encoded, tmp_path, capsys):
    _, encodings, _ = encoded
    assert (
        cluster_main(["-e", str(encodings), "-o", str(tmp_path / "o"), "--evaluate", str(tmp_path / "x")])
        == 1
    )
    assert "evaluation needs one folder per person" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--tune"],
        ["-m", "hdbscan", "--threshold", "0.5"],
        ["-m", "kmeans"],
        ["--min-cluster-size", "0"],
        ["--local-scale", "--threshold", "0.5"],
        ["--local-scale", "-m", "dbscan"],
        ["--local-scale", "--tune", "--evaluate", "x"],
    ],
)
def test_cluster_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as caught:
        cluster_main(argv)
    assert caught.value.code == 2


def test_framings_flag_chooses_dlibs_framing_alone_or_three(tmp_path, models, portrait_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(portrait_path, photos / "portrait.jpg")
    rgb = decode_image(portrait_path).rgb
    for flags, framings in (([], 3), (["--framings", "1"], 1)):
        encodings = tmp_path / f"framings{framings}.pickle"
        assert encode_main(["-i", str(photos), "-e", str(encodings), "-q", "-j", "1", *flags]) == 0
        with open(encodings, "rb") as stream:
            (entry,) = pickle.load(stream)
        expected = models.embed(rgb, [tuple(entry["loc"])], flip=True, framings=framings)[0]
        np.testing.assert_allclose(entry["encoding"], expected, rtol=0, atol=1e-6)
    with pytest.raises(SystemExit):
        encode_main(["-i", str(photos), "--framings", "2"])


def test_an_exif_rotated_photo_gives_an_upright_montage_tile(tmp_path, portrait, portrait_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned a quarter clockwise; viewers turn it back
    (photos / "turned.jpg").write_bytes(jpeg_bytes(portrait.transpose(Image.Transpose.ROTATE_270), exif=exif))
    shutil.copy(portrait_path, photos / "upright.jpg")
    encodings = tmp_path / "enc.pickle"
    assert encode_main(["-i", str(photos), "-e", str(encodings), "-q", "-j", "1"]) == 0
    out = tmp_path / "out"
    assert cluster_main(["-e", str(encodings), "-o", str(out)]) == 0
    montage = cv2.imread(str(out / "face_id_0.jpg"))
    assert count_tiles(montage) == 2
    tiles = [
        montage[HEADER_HEIGHT : HEADER_HEIGHT + TILE_SIZE, i * TILE_SIZE : (i + 1) * TILE_SIZE].astype(int)
        for i in (0, 1)
    ]
    # Both tiles show the face upright: the turned photo's tile matches the upright photo's tile
    # better than it matches that tile turned by any quarter.
    upright_difference = np.abs(tiles[0] - tiles[1]).mean()
    for quarters in (1, 2, 3):
        assert upright_difference < np.abs(tiles[0] - np.rot90(tiles[1], quarters)).mean()


def test_a_huge_photo_is_encoded_from_a_reduced_decode(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    x = np.linspace(0, 255, 8000, dtype=np.uint8)[None, :, None]
    y = np.linspace(0, 255, 6000, dtype=np.uint8)[:, None, None]
    Image.fromarray(np.broadcast_to(x // 2 + y // 2, (6000, 8000, 3)).copy()).save(
        photos / "huge.jpg", quality=80
    )
    # Searched at 1024 px (the older --detect-size), it is decoded at 2000 px.
    min_side, min_scale = EncodeSettings(detect_size=1024).decode_limits()
    decoded = decode_image(photos / "huge.jpg", min_side=min_side, min_scale=min_scale)
    assert decoded.rgb.shape == (1500, 2000, 3)  # 48 megapixels decoded as 3: memory stays small
    argv = ["-i", str(photos), "-e", str(tmp_path / "e.pickle"), "-q", "-j", "1", "--detect-size", "1024"]
    assert encode_main(argv) == 3
    assert "no faces found in the one image" in capsys.readouterr().err


def test_min_face_size_and_detect_size_cannot_both_be_given(tmp_path, capsys):
    argv = ["-i", str(tmp_path), "--min-face-size", "40", "--detect-size", "2048"]
    with pytest.raises(SystemExit) as exit_info:
        encode_main(argv)
    assert exit_info.value.code == 2
    assert "give one" in capsys.readouterr().err


def test_the_encodings_files_folder_is_made_when_it_does_not_exist(small_dataset, tmp_path):
    encodings = tmp_path / "new" / "deeper" / "enc.pickle"
    assert encode_main(["-i", str(small_dataset), "-e", str(encodings), "-j", "1", "-q"]) == 0
    assert encodings.is_file() and cache_path(encodings).is_file()


def test_the_summary_names_the_size_each_detector_searches_photos_whole_up_to(capsys):
    from faceclust.cli.encode import _print_encode_summary
    from faceclust.encode.run import EncodeSummary
    from faceclust.encode.settings import EncodeSettings

    camera = EncodeSummary(images=1, faces=1, largest_side=4000)
    _print_encode_summary(camera, "encodings.pickle", False, EncodeSettings())
    assert (
        "down to 55 px in the largest photo (4000 px on its longer side), down to 40 px in photos up to 1024 px"
        in (capsys.readouterr().err)
    )
    # YuNet searches photos whole up to 640 px, where it finds faces from 20 px.
    _print_encode_summary(camera, "encodings.pickle", False, EncodeSettings("yunet"))
    assert (
        "down to 40 px in the largest photo (4000 px on its longer side), down to 20 px in photos up to 640 px"
        in (capsys.readouterr().err)
    )
