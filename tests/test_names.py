import json

import numpy as np
import pytest

from faceclust.clustering.names import NamesError, inherit_names, read_names_csv
from faceclust.records import Face


def test_read_names_csv_takes_an_optional_header_a_bom_and_blank_lines(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("\ufefffaceid_is_not_a_header_but_face_id_is\n", encoding="utf-8")
    with pytest.raises(NamesError, match="line 1"):
        read_names_csv(path)
    path.write_text("\ufeffface_id,name\n0, Ann \n\n3,Bob, the builder\n", encoding="utf-8")
    assert read_names_csv(path) == {0: "Ann", 3: "Bob"}
    path.write_text("2,Cy\n", encoding="utf-8")
    assert read_names_csv(path) == {2: "Cy"}


@pytest.mark.parametrize("text", ["x,Ann\n", "1,\n", "1\n"])
def test_read_names_csv_rejects_bad_rows(tmp_path, text):
    (tmp_path / "n.csv").write_text(text)
    with pytest.raises(NamesError, match="expected 'face_id,name'"):
        read_names_csv(tmp_path / "n.csv")


def test_read_names_csv_reports_a_missing_file(tmp_path):
    with pytest.raises(NamesError, match="cannot read names file"):
        read_names_csv(tmp_path / "gone.csv")


def faces_around(centre: np.ndarray, photos: list[str], seed: int) -> list[Face]:
    rng = np.random.default_rng(seed)
    return [Face(photo, (0, 10, 10, 0), centre + rng.normal(scale=0.01, size=128)) for photo in photos]


def previous_run(tmp_path, clusters: list[dict]) -> str:
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps({"format": 1, "clusters": clusters}))
    return str(path)


def old_cluster(name, faces: list[Face]) -> dict:
    return {
        "name": name,
        "faces": [{"image_path": f.image_path, "box": list(f.box)} for f in faces],
        "centroid": np.mean([f.encoding for f in faces], axis=0).tolist(),
    }


def test_names_follow_shared_faces_then_nearby_centres_each_name_once(tmp_path):
    rng = np.random.default_rng(0)
    ann_centre, bob_centre, cy_centre = (rng.normal(size=128) * 0.1 for _ in range(3))
    ann_old = faces_around(ann_centre, ["a1", "a2", "a3"], 1)
    bob_old = faces_around(bob_centre, ["b1", "b2"], 2)
    previous = previous_run(
        tmp_path,
        [
            old_cluster("Ann", ann_old),
            old_cluster("Bob", bob_old),
            {"name": None, "faces": [], "centroid": None},
        ],
    )

    ann_new = ann_old + faces_around(ann_centre, ["a4"], 3)  # 3 of 4 shared
    bob_new = faces_around(bob_centre, ["b9", "b8"], 4)  # nothing shared, same centre
    cy_new = faces_around(cy_centre, ["c1", "c2"], 5)  # a stranger
    faces = ann_new + bob_new + cy_new
    labels = np.array([2] * 4 + [0] * 2 + [1] * 2)
    assert inherit_names(faces, labels, previous) == {2: "Ann", 0: "Bob"}


def test_half_of_the_faces_is_not_enough_to_inherit_by_sharing(tmp_path):
    rng = np.random.default_rng(1)
    old = faces_around(rng.normal(size=128), ["p1", "p2"], 1)
    previous = previous_run(tmp_path, [old_cluster("Ann", old)])
    far = faces_around(rng.normal(size=128), ["q1", "q2"], 2)  # 2 of 4 shared, centre far away
    labels = np.array([0, 0, 0, 0])
    assert inherit_names(old + far, labels, previous) == {}


def test_a_file_that_is_not_a_clusters_json_is_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text('{"clusters": [{"name": "A"}]}')
    with pytest.raises(NamesError, match=r"not a clusters\.json"):
        inherit_names([], np.array([]), tmp_path / "x.json")
    (tmp_path / "y.json").write_text("not json")
    with pytest.raises(NamesError, match=r"not a clusters\.json"):
        inherit_names([], np.array([]), tmp_path / "y.json")
