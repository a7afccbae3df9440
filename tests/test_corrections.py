"""corrections.json: reading it, replaying it (later wins), the must-link and apart rules, and
``cluster_faces.py --corrections`` on the bundled dataset's real encodings."""

import json
import re

import numpy as np
import pytest

from faceclust.cli import cluster_main
from faceclust.clustering import NOISE, FaceClusterer, LinkConstraints, apply_links
from faceclust.clustering.corrections import (
    Correction,
    CorrectionsError,
    corrections_document,
    parse_corrections,
    plan_corrections,
    read_corrections,
)
from faceclust.library.store import load_faces, save_faces
from faceclust.records import Face

from .conftest import REPO
from .test_clustering import blobs

# ---------------------------------------------------------------- the must-link and apart rules


def group(*indices: int) -> np.ndarray:
    return np.array(indices, dtype=np.int64)


def test_a_group_joins_whole_the_clusters_its_faces_lie_in():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, NOISE])
    encodings = blobs([3, 2, 2, 1])
    joined = apply_links(encodings, labels, LinkConstraints([group(0, 3, 7)], kept=(True,)))
    assert len(set(joined[[0, 1, 2, 3, 4, 7]].tolist())) == 1  # clusters 0 and 1 whole, and the unknown face
    assert joined[5] == joined[6] == 2  # a cluster no group touches is left alone


def test_apart_groups_in_one_cluster_are_split_and_the_others_go_to_the_nearest():
    encodings = blobs([4, 4])
    labels = np.zeros(8, dtype=np.int64)  # the method merged two people
    links = LinkConstraints([group(0), group(4)], apart=frozenset({(0, 1)}), kept=(True, True))
    split = apply_links(encodings, labels, links)
    assert len(set(split[:4].tolist())) == 1 and len(set(split[4:].tolist())) == 1
    assert split[0] != split[4]


def test_a_face_taken_out_leaves_its_group_and_is_unknown_when_alone():
    encodings = blobs([6])
    encodings[5] += 0.02  # still the same person to the method
    links = LinkConstraints(
        [group(5), group(0), group(1)], apart=frozenset({(0, 1), (0, 2)}), kept=(False,) * 3
    )
    labels = FaceClusterer("agglomerative").fit_predict(encodings, None, links)
    assert labels.tolist() == [0, 0, 0, 0, 0, NOISE]


def test_a_named_group_stays_a_group_below_the_minimum_size():
    encodings = blobs([5, 1, 1])
    links = LinkConstraints([group(5, 6)], kept=(True,))
    assert FaceClusterer("agglomerative", min_cluster_size=3).fit_predict(
        encodings, None, links
    ).tolist() == [0] * 5 + [1, 1]
    plain = FaceClusterer("agglomerative", min_cluster_size=3).fit_predict(encodings)
    assert plain.tolist() == [0] * 5 + [NOISE, NOISE]


def test_links_win_over_the_same_photo_rule():
    encodings = blobs([3, 3])
    photos = ["a", "b", "c", "a", "e", "f"]  # face 3 shares a photo with face 0
    links = LinkConstraints([group(0, 3)], kept=(True,))
    labels = FaceClusterer("agglomerative").fit_predict(encodings, photos, links)
    assert len(set(labels.tolist())) == 1


def test_bad_link_constraints_are_value_errors():
    with pytest.raises(ValueError, match="does not name two"):
        LinkConstraints([group(0)], apart=frozenset({(0, 1)}))
    with pytest.raises(ValueError, match="shares faces"):
        apply_links(blobs([2]), np.zeros(2, dtype=np.int64), LinkConstraints([group(0, 1), group(1)]))


# ---------------------------------------------------------------- replaying corrections


def faces_of(photos: int, per_photo: int = 1) -> list[Face]:
    return [
        Face(f"p/{photo}.jpg", (10 + 100 * k, 60 + 100 * k, 60 + 100 * k, 10 + 100 * k), np.zeros(128))
        for photo in range(photos)
        for k in range(per_photo)
    ]


def key(face: Face) -> tuple:
    return face.key


def test_merged_then_taken_out_the_later_wins_and_says_so():
    faces = faces_of(4)
    merge = Correction("merge", tuple(key(f) for f in faces))
    take_out = Correction("move", (key(faces[3]),), away_from=tuple(key(f) for f in faces[:3]))
    plan = plan_corrections([merge, take_out], faces)
    together = [sorted(g.tolist()) for g in plan.links.groups if len(g) > 1]
    assert together == [[0, 1, 2]]
    alone = next(i for i, g in enumerate(plan.links.groups) if g.tolist() == [3])
    merged = next(i for i, g in enumerate(plan.links.groups) if len(g) == 3)
    assert (min(alone, merged), max(alone, merged)) in plan.links.apart
    assert any(
        "#2 takes the face in p/3.jpg" in note and "#1" in note and "later one wins" in note
        for note in plan.notes
    )


def test_taken_out_then_merged_back_the_later_wins_and_says_so():
    faces = faces_of(3)
    take_out = Correction("move", (key(faces[0]),), away_from=(key(faces[1]), key(faces[2])))
    merge = Correction("merge", (key(faces[0]), key(faces[1])))
    plan = plan_corrections([take_out, merge], faces)
    pair = next(i for i, g in enumerate(plan.links.groups) if sorted(g.tolist()) == [0, 1])
    other = next(i for i, g in enumerate(plan.links.groups) if g.tolist() == [2])
    assert (min(pair, other), max(pair, other)) in plan.links.apart  # face 0 still not with face 2
    assert any("#2 puts the face in p/0.jpg together with the face in p/1.jpg" in note for note in plan.notes)


def test_a_face_moved_to_another_group_goes_with_it():
    faces = faces_of(5)
    move = Correction("move", (key(faces[0]),), away_from=(key(faces[1]),), to=(key(faces[3]), key(faces[4])))
    plan = plan_corrections([move], faces)
    assert [0, 3, 4] in [sorted(g.tolist()) for g in plan.links.groups]


def test_names_same_name_is_one_person_different_names_are_apart():
    faces = faces_of(6)
    plan = plan_corrections(
        [
            Correction("name", (key(faces[0]), key(faces[1])), name="Anna"),
            Correction("name", (key(faces[2]),), name="Bob"),
            Correction("name", (key(faces[4]),), name="Anna"),
        ],
        faces,
    )
    by_name = {name: sorted(g.tolist()) for g, name in zip(plan.links.groups, plan.names, strict=True)}
    assert by_name == {"Anna": [0, 1, 4], "Bob": [2]}
    assert plan.links.apart == frozenset({(0, 1)}) and all(plan.links.kept)


def test_merging_two_named_people_keeps_the_given_name_and_says_so():
    faces = faces_of(2)
    plan = plan_corrections(
        [
            Correction("name", (key(faces[0]),), name="Anna"),
            Correction("name", (key(faces[1]),), name="Ann"),
            Correction("merge", (key(faces[0]), key(faces[1]))),
        ],
        faces,
    )
    assert plan.names == ["Anna"] and plan.links.apart == frozenset()
    assert any("people named Anna and Ann" in note for note in plan.notes)


def test_not_a_face_is_left_out_and_a_later_correction_can_bring_it_back():
    faces = faces_of(3)
    plan = plan_corrections([Correction("not_a_face", (key(faces[1]),))], faces)
    assert plan.not_faces.tolist() == [1] and plan.kept.tolist() == [0, 2]
    back = plan_corrections(
        [Correction("not_a_face", (key(faces[1]),)), Correction("merge", (key(faces[1]), key(faces[2])))],
        faces,
    )
    assert back.not_faces.tolist() == [] and any("#1 marked it not a face" in note for note in back.notes)
    # Indices of the links count the kept faces only.
    named = plan_corrections(
        [Correction("not_a_face", (key(faces[0]),)), Correction("name", (key(faces[2]),), name="C")], faces
    )
    assert [g.tolist() for g in named.links.groups] == [[1]]


def test_ignore_marks_the_group_and_keeps_it_apart_from_named_people():
    faces = faces_of(3)
    plan = plan_corrections(
        [
            Correction("ignore", (key(faces[0]), key(faces[1]))),
            Correction("name", (key(faces[2]),), name="Anna"),
        ],
        faces,
    )
    assert plan.ignored == [True, False] and plan.links.apart == frozenset({(0, 1)})


def test_stale_photos_and_moved_boxes_are_reported_and_skipped_never_fatal():
    faces = faces_of(3)
    top, right, bottom, left = faces[0].box
    nudged = (
        faces[0].image_path,
        (top + 3, right + 2, bottom + 3, left + 2),
        None,
    )  # re-encoded: a few pixels off
    elsewhere = (faces[1].image_path, (400, 500, 500, 400), None)  # that photo has no face there
    gone = ("p/deleted.jpg", (1, 2, 3, 4), None)
    plan = plan_corrections(
        [Correction("name", (nudged, gone), name="Anna"), Correction("name", (elsewhere,), name="Bob")], faces
    )
    assert [g.tolist() for g in plan.links.groups] == [[0]] and plan.names == ["Anna"]
    assert plan.applied == 1
    assert any(
        "1 photo named by correction #1 is no longer in the encodings" in n and "p/deleted.jpg" in n
        for n in plan.notes
    )
    assert any("no longer has a face where correction #2" in n and "p/1.jpg" in n for n in plan.notes)


# ---------------------------------------------------------------- the file


def document(*entries) -> dict:
    return {"format": "faceclust-corrections", "version": 1, "corrections": list(entries)}


FACE = {"image_path": "a.jpg", "box": [1, 5, 4, 2]}


def test_corrections_round_trip_through_the_documented_format():
    corrections = [
        Correction("name", (("a.jpg", (1, 5, 4, 2), None),), name="Anna"),
        Correction("move", (("b.jpg", (1, 5, 4, 2), None),), away_from=(("a.jpg", (1, 5, 4, 2), None),)),
        Correction(
            "move", (("b.jpg", (1, 5, 4, 2), None),), away_from=(), to=(("a.jpg", (1, 5, 4, 2), None),)
        ),
        Correction("not_a_face", (("c.jpg", (0, 9, 9, 0), None),)),
    ]
    assert parse_corrections(json.loads(json.dumps(corrections_document(corrections)))) == corrections


@pytest.mark.parametrize(
    "content, message",
    [
        ({"corrections": []}, 'no "format": "faceclust-corrections"'),
        ({"format": "faceclust-corrections", "version": 2, "corrections": []}, "version 2; this version"),
        (document({"action": "rename", "faces": [FACE]}), "correction 1: action must be one of"),
        (document({"action": "name", "faces": [FACE]}), "correction 1 (name): has no name"),
        (
            document({"action": "merge", "faces": [{"image_path": "a.jpg", "box": [1, 2]}]}),
            "each face must be",
        ),
        (document({"action": "merge", "faces": []}), "names no faces"),
    ],
)
def test_a_bad_corrections_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "corrections.json"
    path.write_text(json.dumps(content))
    with pytest.raises(CorrectionsError, match=re.escape(message)):
        read_corrections(path)


def test_cluster_faces_reports_a_bad_corrections_file(tmp_path, capsys):
    path = tmp_path / "corrections.json"
    path.write_text("{not json")
    argv = ["-e", str(REPO / "encodings.pickle"), "-o", str(tmp_path / "out"), "--corrections", str(path)]
    assert cluster_main(argv) == 1
    assert "is not JSON" in capsys.readouterr().err


# ---------------------------------------------------------------- on the bundled dataset


def person(face: dict) -> str:
    return face["image_path"].split("/")[1]


def run(tmp_path, name, *extra, encodings="encodings.pickle") -> dict:
    out = tmp_path / name
    assert cluster_main(["-e", encodings, "-o", str(out), *extra]) == 0
    return json.loads((out / "clusters.json").read_text())


def test_corrections_shape_the_next_run_and_survive_new_numbering(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    first = run(tmp_path, "first")
    by_person = {}
    for entry in first["clusters"]:
        people = {person(face) for face in entry["faces"]}
        if len(people) == 1:
            by_person.setdefault(people.pop(), entry)
    ben, elton, jerry, mindy, madonna = (
        by_person[p]["faces"]
        for p in ("ben_afflek", "elton_john", "jerry_seinfeld", "mindy_kaling", "madonna")
    )
    corrections = tmp_path / "corrections.json"
    corrections.write_text(
        json.dumps(
            document(
                {"action": "name", "faces": ben, "name": "Ben"},
                {"action": "merge", "faces": jerry + mindy[:2]},
                {"action": "move", "faces": elton[:1], "from": elton[1:]},
                {"action": "not_a_face", "faces": madonna[:1]},
                {"action": "ignore", "faces": madonna[1:3]},
            )
        )
    )
    second = run(tmp_path, "second", "--corrections", str(corrections))
    clusters = {
        entry["name"] or min(person(face) for face in entry["faces"]): entry for entry in second["clusters"]
    }
    assert {person(face) for face in clusters["Ben"]["faces"]} == {"ben_afflek"}
    assert len(clusters["Ben"]["faces"]) == len(ben)
    merged = next(entry for entry in second["clusters"] if len(entry["faces"]) >= len(jerry) + len(mindy))
    assert {person(face) for face in merged["faces"]} == {"jerry_seinfeld", "mindy_kaling"}
    taken_out = (elton[0]["image_path"], elton[0]["box"])
    assert taken_out in [(face["image_path"], face["box"]) for face in second["unknown"]["faces"]]
    assert len(clusters["elton_john"]["faces"]) == len(elton) - 1
    assert second["left_out"]["not_a_face"] == madonna[:1]
    assert {person(face) for face in second["left_out"]["ignored"]} == {"madonna"}
    assert all(face in second["left_out"]["ignored"] for face in madonna[1:])
    in_groups = [face for entry in second["clusters"] for face in entry["faces"]] + second["unknown"]["faces"]
    assert not any(face in in_groups for face in madonna)
    montage_titles = sorted(path.name for path in (tmp_path / "second").glob("face_id_*.jpg"))
    assert len(montage_titles) == len(second["clusters"])
    assert second["corrections"]["applied"] == 5 and second["corrections"]["notes"] == []

    # Fewer photos (Jerry's are gone, the IDs change): what is left of the corrections still holds.
    kept = [face for face in load_faces("encodings.pickle") if "jerry_seinfeld" not in face.image_path]
    save_faces(tmp_path / "fewer.pickle", kept)
    capsys.readouterr()
    third = run(
        tmp_path, "third", "--corrections", str(corrections), encodings=str(tmp_path / "fewer.pickle")
    )
    named = [entry for entry in third["clusters"] if entry["name"] == "Ben"]
    assert len(named) == 1 and {person(face) for face in named[0]["faces"]} == {"ben_afflek"}
    assert any(
        "jerry_seinfeld" in note and "no longer in the encodings" in note
        for note in third["corrections"]["notes"]
    )
    assert "corrections: " in capsys.readouterr().err


def test_gallery_names_win_over_names_csv_and_previous_run(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    first = run(tmp_path, "first")
    ben = next(entry for entry in first["clusters"] if person(entry["faces"][0]) == "ben_afflek")
    elton = next(entry for entry in first["clusters"] if person(entry["faces"][0]) == "elton_john")
    names = tmp_path / "names.csv"
    names.write_text(f"face_id,name\n{ben['id']},Benjamin\n{elton['id']},Reg\n")
    run(tmp_path, "named", "--names", str(names))
    corrections = tmp_path / "corrections.json"
    corrections.write_text(json.dumps(document({"action": "name", "faces": ben["faces"][:3], "name": "Ben"})))
    previous = str(tmp_path / "named" / "clusters.json")
    later = run(tmp_path, "later", "--previous", previous, "--corrections", str(corrections))
    names_now = [(person(entry["faces"][0]), entry["name"]) for entry in later["clusters"] if entry["name"]]
    assert sorted(names_now) == [("ben_afflek", "Ben"), ("elton_john", "Reg")]  # the gallery's name wins
    # And over a names CSV given in the same run.
    both = run(tmp_path, "both", "--names", str(names), "--corrections", str(corrections))
    assert sorted((person(e["faces"][0]), e["name"]) for e in both["clusters"] if e["name"]) == sorted(
        names_now
    )


def test_a_face_taken_out_leaves_its_name_behind():
    faces = faces_of(2)
    plan = plan_corrections(
        [
            Correction("name", (key(faces[0]),), name="Bob"),
            Correction("move", (key(faces[0]),), away_from=(key(faces[1]),)),
        ],
        faces,
    )
    assert plan.names == [None, None] and len(plan.links.apart) == 1
