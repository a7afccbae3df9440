"""clusters.json, people/ folders, the gallery page and names that stick, on real photos."""

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import cv2

from faceclust.cli import cluster_main, encode_main

from .conftest import DATASET


def cluster(encodings: Path, out: Path, *extra: str) -> dict:
    assert cluster_main(["-e", str(encodings), "-o", str(out), *extra]) == 0
    return json.loads((out / "clusters.json").read_text())


def person_of(image_path: str) -> str:
    return Path(image_path).parent.name


def test_clusters_json_lists_every_face_once_with_a_representative(encoded, tmp_path):
    _, encodings, _ = encoded
    document = cluster(encodings, tmp_path / "out")
    assert document["counts"]["clusters"] == len(document["clusters"]) == 3
    assert document["settings"]["method"] == "agglomerative"
    listed = [face["image_path"] for cluster in document["clusters"] for face in cluster["faces"]]
    listed += [face["image_path"] for face in document["unknown"]["faces"]]
    assert len(listed) == document["counts"]["faces"] == len(set(listed))
    sizes = [cluster["size"] for cluster in document["clusters"]]
    assert sizes == sorted(sizes, reverse=True)
    for entry in document["clusters"]:
        assert entry["representative"] in entry["faces"]
        assert len(entry["centroid"]) == 128
        assert (tmp_path / "out" / entry["montage"]).exists()
        assert len({person_of(face["image_path"]) for face in entry["faces"]}) == 1


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_organize_links_each_persons_photos_without_touching_the_originals(encoded, tmp_path):
    dataset, encodings, _ = encoded
    before = {path: sha(path) for path in dataset.rglob("*.jpg")}
    out = tmp_path / "out"
    document = cluster(encodings, out, "--organize")  # links, by default
    people = out / "people"
    for entry in document["clusters"]:
        folder = people / f"face_id_{entry['id']}"
        links = sorted(folder.iterdir())
        assert all(link.is_symlink() for link in links)
        assert sorted(os.readlink(link) for link in links) == sorted(
            os.path.abspath(face["image_path"]) for face in entry["faces"]
        )
    assert {path: sha(path) for path in dataset.rglob("*.jpg")} == before
    # A re-run rebuilds the folder it made.
    cluster(encodings, out, "--organize", "copy")
    copies = [path for path in people.rglob("*.jpg")]
    assert copies and not any(path.is_symlink() for path in copies)


def test_organize_puts_a_two_person_photo_in_both_folders_and_keeps_same_named_photos(tmp_path):
    photos = tmp_path / "photos"
    sources = {
        "mindy": sorted((DATASET / "mindy_kaling").iterdir())[:3],
        "jerry": sorted((DATASET / "jerry_seinfeld").iterdir())[:3],
    }
    for person, paths in sources.items():
        for index, source in enumerate(paths):
            (photos / person / f"trip{index}").mkdir(parents=True)
            shutil.copy(source, photos / person / f"trip{index}" / "IMG_0001.jpg")  # one name for all
    # A side-by-side photo of both people.
    left, right = cv2.imread(str(sources["mindy"][0])), cv2.imread(str(sources["jerry"][0]))
    height = min(left.shape[0], right.shape[0])
    both = cv2.hconcat([left[:height], right[:height]])
    (photos / "_together").mkdir()
    cv2.imwrite(str(photos / "_together" / "both.jpg"), both)
    encodings = tmp_path / "enc.pickle"
    assert encode_main(["-i", str(photos), "-e", str(encodings), "-q", "-j", "1"]) == 0
    document = cluster(encodings, tmp_path / "out", "--organize", "link")
    people = tmp_path / "out" / "people"
    folders = [people / f"face_id_{entry['id']}" for entry in document["clusters"]]
    assert len(folders) == 2
    for folder in folders:
        names = sorted(path.name for path in folder.iterdir())
        assert "both.jpg" in names
        assert len([name for name in names if name.startswith("IMG_0001")]) == 3, names
        assert len(set(os.readlink(path) for path in folder.iterdir())) == len(names)


def test_organize_refuses_a_people_folder_it_did_not_make(encoded, tmp_path, capsys):
    _, encodings, _ = encoded
    (tmp_path / "out" / "people").mkdir(parents=True)
    (tmp_path / "out" / "people" / "mine.txt").write_text("keep me")
    assert cluster_main(["-e", str(encodings), "-o", str(tmp_path / "out"), "--organize", "link"]) == 1
    assert "was not made by cluster_faces.py" in capsys.readouterr().err
    assert (tmp_path / "out" / "people" / "mine.txt").read_text() == "keep me"


def page_data(page: str) -> dict:
    """The run's data inside index.html, as its script reads it."""
    found = re.search(r'<script type="application/json" id="gallery-data">(.*?)</script>', page, re.S)
    assert found, "index.html holds no gallery data"
    return json.loads(found.group(1))


def test_gallery_is_self_contained_with_relative_links_largest_first(small_dataset, tmp_path):
    # One person with three photos, the others with four: their smaller group becomes unknown.
    next((small_dataset / "mindy_kaling").iterdir()).unlink()
    encodings = tmp_path / "enc.pickle"
    assert encode_main(["-i", str(small_dataset), "-e", str(encodings), "-q", "-j", "2"]) == 0
    out = tmp_path / "out"
    document = cluster(encodings, out, "--min-cluster-size", "4")
    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert "<script src" not in page and "<link" not in page  # one file: script and style inline
    data = page_data(page)
    assert [group["id"] for group in data["groups"]] == [entry["id"] for entry in document["clusters"]]
    assert document["unknown"]["size"] > 0
    assert data["unknown"]["size"] == document["unknown"]["size"]
    entries = [face for group in data["groups"] for face in group["faces"]] + data["unknown"]["faces"]
    assert len(entries) == document["counts"]["faces"]  # every face (the cap is not reached)
    listed = [(face["image_path"], face["box"]) for entry in document["clusters"] for face in entry["faces"]]
    listed += [(face["image_path"], face["box"]) for face in document["unknown"]["faces"]]
    assert sorted((face["image_path"], face["box"]) for face in entries) == sorted(listed)
    for face in entries:
        for relative in (face["thumb"], face["href"]):
            assert not os.path.isabs(relative)
            assert (out / unquote(relative)).resolve().is_file(), relative
        assert cv2.imread(str(out / unquote(face["thumb"]))) is not None
    for group in data["groups"]:
        assert (out / group["montage"]).is_file()


def test_gallery_data_cannot_end_its_script_early(encoded, tmp_path):
    _, encodings, _ = encoded
    names = tmp_path / "names.csv"
    names.write_text('face_id,name\n0,"</script><script>alert(1)</script>"\n')
    cluster(encodings, tmp_path / "out", "--names", str(names))
    page = (tmp_path / "out" / "index.html").read_text()
    assert "alert(1)</script>" not in page
    assert page_data(page)["groups"][0]["name"] == "</script><script>alert(1)</script>"


def test_names_label_every_output_and_stick_when_photos_are_added(small_dataset, tmp_path, capsys):
    encodings = tmp_path / "enc.pickle"
    assert encode_main(["-i", str(small_dataset), "-e", str(encodings), "-q", "-j", "1"]) == 0
    first = cluster(encodings, tmp_path / "run1")
    id_of = {person_of(entry["faces"][0]["image_path"]): entry["id"] for entry in first["clusters"]}
    names_csv = tmp_path / "names.csv"
    names_csv.write_text(f"face_id,name\n{id_of['mindy_kaling']},Mindy\n{id_of['jerry_seinfeld']},Jerry S.\n")

    named = cluster(encodings, tmp_path / "run2", "--names", str(names_csv), "--organize", "link")
    by_name = {entry["name"]: entry for entry in named["clusters"]}
    assert person_of(by_name["Mindy"]["faces"][0]["image_path"]) == "mindy_kaling"
    assert (tmp_path / "run2" / "people" / "Mindy").is_dir()
    assert (tmp_path / "run2" / "people" / "Jerry S").is_dir()  # "." trimmed from the folder name
    shown = {
        group["id"]: group["name"]
        for group in page_data((tmp_path / "run2" / "index.html").read_text())["groups"]
    }
    assert shown[by_name["Mindy"]["id"]] == "Mindy"
    assert "[INFO] face ID" in capsys.readouterr().out

    # More photos: a new person (Elton, 4 photos, now larger than Ben) and two more of Mindy.
    (small_dataset / "elton_john").mkdir()
    for source in sorted((DATASET / "elton_john").iterdir())[:4]:
        shutil.copy(source, small_dataset / "elton_john" / source.name)
    for source in sorted((DATASET / "mindy_kaling").iterdir())[-2:]:
        shutil.copy(source, small_dataset / "mindy_kaling" / source.name)
    assert encode_main(["-i", str(small_dataset), "-e", str(encodings), "-q", "-j", "1"]) == 0
    later = cluster(encodings, tmp_path / "run3", "--previous", str(tmp_path / "run2" / "clusters.json"))
    names = {person_of(entry["faces"][0]["image_path"]): entry["name"] for entry in later["clusters"]}
    assert names["mindy_kaling"] == "Mindy" and names["jerry_seinfeld"] == "Jerry S."
    assert names.get("elton_john") is None and names.get("ben_afflek") is None
    mindy = next(entry for entry in later["clusters"] if entry["name"] == "Mindy")
    assert mindy["size"] == 6


def test_a_bad_names_file_is_a_clear_error(encoded, tmp_path, capsys):
    _, encodings, _ = encoded
    (tmp_path / "names.csv").write_text("face_id,name\nzero,Someone\n")
    assert (
        cluster_main(
            ["-e", str(encodings), "-o", str(tmp_path / "o"), "--names", str(tmp_path / "names.csv")]
        )
        == 1
    )
    assert "line 2: expected 'face_id,name'" in capsys.readouterr().err


def test_gallery_shows_a_capped_number_of_faces_per_person(encoded, tmp_path, monkeypatch):
    from faceclust.outputs import montages

    monkeypatch.setattr(montages, "GALLERY_FACES", 2)
    _, encodings, _ = encoded
    out = tmp_path / "out"
    document = cluster(encodings, out)
    sizes = [entry["size"] for entry in document["clusters"]] + [document["unknown"]["size"]]
    assert max(sizes) > 2
    data = page_data((out / "index.html").read_text())
    parts = data["groups"] + [data["unknown"]]
    assert [part["size"] for part in parts] == sizes
    assert [len(part["faces"]) for part in parts] == [min(size, 2) for size in sizes]
    # Thumbnails for the faces shown, and for the faces the questions show.
    shown = {(face["image_path"], tuple(face["box"])) for part in parts for face in part["faces"]}
    asked = {(face["image_path"], tuple(face["box"])) for q in data["questions"] for face in q["a"] + q["b"]}
    assert all(face["thumb"] for q in data["questions"] for face in q["a"] + q["b"])
    assert len(list((out / "thumbs").iterdir())) == len(shown | asked) > sum(min(size, 2) for size in sizes)
