"""Names to and from other photo programs through XMP, read back with exiftool, the reference
reader Immich and PhotoPrism use. Photos are made in code: a bundled portrait pasted off centre
into a larger picture, stored upright or turned (EXIF orientation 6, 8), so that a region in the
wrong frame lands off the face."""

import hashlib
import json
import os
import shutil
import subprocess

import pytest
from PIL import Image

from faceclust.cli import cluster_main, encode_main

from .conftest import DATASET, PORTRAITS, REPO

ORIENTATION = 0x0112
# How each orientation's photo is stored: the upright picture turned back, as a camera keeps it.
STORED = {1: None, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}
CANVAS = (900, 600)


@pytest.fixture(scope="module")
def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        if os.environ.get("FACECLUST_REQUIRE_EXIFTOOL"):
            pytest.fail("exiftool is required here (FACECLUST_REQUIRE_EXIFTOOL is set)")
        pytest.skip("exiftool is missing (make test installs Debian's libimage-exiftool-perl as root)")
    return path


# Where face_recognition found each portrait's face (top, right, bottom, left): its reference.
FACES = {
    image["image_path"]: image["boxes"][0]
    for image in json.loads((REPO / "tests" / "data" / "tutorial_reference.json").read_text())["images"]
    if image["boxes"]
}


def save_photo(path, person: str, orientation: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A picture of ``person``'s portrait pasted right of centre, stored with ``orientation``;
    the portrait's and its face's (left, top, right, bottom) in the stored pixels, found by
    turning masks of them with Pillow, not with the code under test."""
    with Image.open(DATASET / person / PORTRAITS[person]) as portrait:
        portrait = portrait.convert("RGB")
    canvas = Image.new("RGB", CANVAS, (90, 90, 90))
    place = (560, 60)
    canvas.paste(portrait, place)
    top, right, bottom, left = FACES[f"{person}/{PORTRAITS[person]}"]
    masks = []
    for rectangle in (
        (*place, place[0] + portrait.width, place[1] + portrait.height),
        (place[0] + left, place[1] + top, place[0] + right, place[1] + bottom),
    ):
        mask = Image.new("L", CANVAS, 0)
        mask.paste(255, rectangle)
        masks.append(mask)
    if STORED[orientation] is not None:
        canvas = canvas.transpose(STORED[orientation])
        masks = [mask.transpose(STORED[orientation]) for mask in masks]
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    canvas.save(path, quality=92, exif=exif.tobytes())
    return masks[0].getbbox(), masks[1].getbbox()


def read_xmp(exiftool: str, path) -> dict:
    result = subprocess.run(
        [exiftool, "-j", "-struct", "-XMP:all", str(path)], capture_output=True, check=True
    )
    return json.loads(result.stdout)[0]


def region_in_pixels(region: dict, width: int, height: int) -> tuple[float, float, float, float]:
    area = region["Area"]
    x, y, w, h = (float(area[key]) for key in ("X", "Y", "W", "H"))
    return ((x - w / 2) * width, (y - h / 2) * height, (x + w / 2) * width, (y + h / 2) * height)


def inside(region: tuple, portrait: tuple, slack: float = 2) -> bool:
    left, top, right, bottom = region
    return (
        left >= portrait[0] - slack
        and top >= portrait[1] - slack
        and right <= portrait[2] + slack
        and bottom <= portrait[3] + slack
    )


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def turned_photos(tmp_path):
    """Elton John upright and stored turned both ways; the portrait's place in each."""
    photos = tmp_path / "photos"
    photos.mkdir()
    places = {}
    for orientation in (1, 6, 8):
        path = photos / f"elton_{orientation}.jpg"
        places[path] = save_photo(path, "elton_john", orientation)[0]
    return photos, places


def encode_and_cluster(photos, tmp_path, capsys, *extra: str) -> str:
    encodings = tmp_path / "e.pickle"
    assert encode_main(["-i", str(photos), "-e", str(encodings), "-q", "-j", "1"]) == 0
    assert cluster_main(["-e", str(encodings), "-o", str(tmp_path / "out"), *extra]) == 0
    return capsys.readouterr()


def test_named_faces_go_to_sidecars_on_the_face_in_the_stored_frame(
    exiftool, turned_photos, tmp_path, capsys
):
    photos, places = turned_photos
    before = {path: digest(path) for path in places}
    names = tmp_path / "names.csv"
    names.write_text("face_id,name\n0,Elton John\n")
    out = encode_and_cluster(photos, tmp_path, capsys, "--names", str(names), "--xmp")
    assert "XMP sidecars: 3 written, 0 updated, 0 already up to date, 0 left alone" in out.err
    for path, portrait in places.items():
        read = read_xmp(exiftool, path.with_name(path.name + ".xmp"))
        with Image.open(path) as stored:
            width, height = stored.size  # the stored pixels, before any turn
        info = read["RegionInfo"]
        assert info["AppliedToDimensions"] == {"W": width, "H": height, "Unit": "pixel"}
        [region] = info["RegionList"]
        assert region["Name"] == "Elton John" and region["Type"] == "Face"
        assert region["Area"]["Unit"] == "normalized"
        box = region_in_pixels(region, width, height)
        # On the face: inside the portrait, and a good part of it (a wrong turn or mirror lands
        # the region on the grey canvas, left of the portrait).
        assert inside(box, portrait), (path.name, box, portrait)
        assert box[2] - box[0] > 40 and box[3] - box[1] > 40  # a face's size, not a point
        assert read["PersonInImage"] == "Elton John" or read["PersonInImage"] == ["Elton John"]
    # The photos themselves untouched.
    assert {path: digest(path) for path in places} == before
    # Run again: nothing to change.
    assert (
        cluster_main(
            ["-e", str(tmp_path / "e.pickle"), "-o", str(tmp_path / "out"), "--names", str(names), "--xmp"]
        )
        == 0
    )
    assert "0 written, 0 updated, 3 already up to date" in capsys.readouterr().err


def test_an_existing_sidecar_keeps_its_rating_keywords_and_other_regions(exiftool, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "elton.jpg"
    save_photo(photo, "elton_john", 1)
    save_photo(photos / "elton_again.jpg", "elton_john", 6)  # two faces make a group
    sidecar = photos / "elton.jpg.xmp"
    stranger = "{Area={X=0.1,Y=0.1,W=0.05,H=0.05,Unit=normalized},Name=Stranger,Type=Face}"
    subprocess.run(
        [exiftool, "-q", "-o", str(sidecar), "-XMP-xmp:Rating=4", "-XMP-dc:Subject=beach",
         f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={CANVAS[0]},H={CANVAS[1]},Unit=pixel}},RegionList=[{stranger}]}}",
         str(photo)],
        check=True,
    )  # fmt: skip
    names = tmp_path / "names.csv"
    for name in ("Elton", "Sir Elton"):
        names.write_text(f"face_id,name\n0,{name}\n")
        out = encode_and_cluster(photos, tmp_path, capsys, "--names", str(names), "--xmp", "--no-face-tags")
        # The first run writes the other photo's sidecar; the second updates both.
        assert ("1 written, 1 updated" if name == "Elton" else "0 written, 2 updated") in out.err
        read = read_xmp(exiftool, sidecar)
        assert read["Rating"] == 4 and read["Subject"] in ("beach", ["beach"])
        assert sorted(region["Name"] for region in read["RegionInfo"]["RegionList"]) == sorted(
            ["Stranger", name]
        )
        assert read["PersonInImage"] in (name, [name])  # the earlier run's name replaced, not added
    # The name taken away: this tool's region and name go, everything else stays.
    names.write_text("face_id,name\n")
    encode_and_cluster(photos, tmp_path, capsys, "--names", str(names), "--xmp", "--no-face-tags")
    read = read_xmp(exiftool, sidecar)
    assert [region["Name"] for region in read["RegionInfo"]["RegionList"]] == ["Stranger"]
    assert "PersonInImage" not in read and read["Rating"] == 4


def test_faces_named_in_other_programs_name_their_groups(exiftool, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    # Elton stored turned, named in a sidecar (digiKam's way); Mindy named inside the photo's
    # own XMP; one more photo of each, unnamed.
    elton = photos / "elton_6.jpg"
    _, elton_face = save_photo(elton, "elton_john", 6)
    save_photo(photos / "elton_1.jpg", "elton_john", 1)
    mindy = photos / "mindy.jpg"
    _, mindy_face = save_photo(mindy, "mindy_kaling", 8)
    save_photo(photos / "mindy_1.jpg", "mindy_kaling", 1)

    def region(name: str, face: tuple[int, int, int, int], size: tuple[int, int]) -> str:
        left, top, right, bottom = face
        width, height = size
        # Looser than the face found, as a person drawing a box around a head would.
        x, y = (left + right) / 2 / width, (top + bottom) / 2 / height
        w, h = (right - left) / width * 1.4, (bottom - top) / height * 1.4
        return (
            f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={width},H={height},Unit=pixel}},"
            f"RegionList=[{{Area={{X={x},Y={y},W={w},H={h},Unit=normalized}},Name={name},Type=Face}}]}}"
        )

    stored = (CANVAS[1], CANVAS[0])  # turned a quarter: stored width is the upright height
    subprocess.run(
        [exiftool, "-q", "-o", f"{elton}.xmp", region("Elton", elton_face, stored), str(elton)], check=True
    )
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", region("Mindy", mindy_face, stored), str(mindy)], check=True
    )
    out = encode_and_cluster(photos, tmp_path, capsys)
    assert "found 2 named faces in the metadata of 2 photos" in out.err
    assert "named 2 groups from face tags already in the photos" in out.out
    document = json.loads((tmp_path / "out" / "clusters.json").read_text())
    named = {
        cluster["name"]: {face["image_path"] for face in cluster["faces"]} for cluster in document["clusters"]
    }
    assert named["Elton"] == {str(elton), str(photos / "elton_1.jpg")}
    assert named["Mindy"] == {str(mindy), str(photos / "mindy_1.jpg")}
    # Off: no names.
    assert (
        cluster_main(["-e", str(tmp_path / "e.pickle"), "-o", str(tmp_path / "off"), "--no-face-tags"]) == 0
    )
    off = json.loads((tmp_path / "off" / "clusters.json").read_text())
    assert all(cluster["name"] is None for cluster in off["clusters"])
    # A sidecar written after the encoding is read on the next run, without encoding again.
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", "-XMP-mwg-rs:RegionInfo=", f"{elton}.xmp"], check=True
    )
    encodings = tmp_path / "e.pickle"
    assert encode_main(["-i", str(photos), "-e", str(encodings), "-q", "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "4 images unchanged since the last run are reused" in err
    assert "found 1 named face in the metadata of 1 photo; read again in 1 photo" in err


def test_a_hostile_sidecar_is_left_as_it_is_and_its_content_goes_nowhere(exiftool, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN-77c1e0\n")
    photo = photos / "elton.jpg"
    save_photo(photo, "elton_john", 1)
    save_photo(photos / "elton_again.jpg", "elton_john", 8)
    sidecar = photos / "elton.jpg.xmp"
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY s SYSTEM "file://{secret}">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&s;</dc:title>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    sidecar.write_bytes(hostile)
    names = tmp_path / "names.csv"
    names.write_text("face_id,name\n0,Elton\n")
    out = encode_and_cluster(photos, tmp_path, capsys, "--names", str(names), "--xmp")
    assert "face tags not read from 1 photo:" in out.err and "refused as unsafe" in out.err
    assert "1 written, 0 updated, 0 already up to date, 1 left alone" in out.err
    assert f"{sidecar}: refused as unsafe: DTDForbidden" in out.err
    assert sidecar.read_bytes() == hostile
    for path in [*tmp_path.rglob("*")]:
        if path.is_file() and path != secret:
            assert b"TOKEN-77c1e0" not in path.read_bytes(), path
