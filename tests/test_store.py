import os
import pickle
import stat

import numpy as np
import pytest

from faceclust.errors import EncodingsFileError, OutputError
from faceclust.library.store import faces_to_records, load_faces, records_to_faces, save_faces
from faceclust.records import Face


def make_faces(count: int = 3, seed: int = 0) -> list[Face]:
    rng = np.random.default_rng(seed)
    return [
        Face(f"photos/person {i}/é{i}.jpg", (10 + i, 60 + i, 70 + i, 5 + i), rng.normal(size=128))
        for i in range(count)
    ]


def assert_same_faces(loaded: list[Face], expected: list[Face]) -> None:
    assert [(f.image_path, f.box) for f in loaded] == [(f.image_path, f.box) for f in expected]
    for got, want in zip(loaded, expected, strict=True):
        assert got.encoding.dtype == np.float64
        assert np.array_equal(got.encoding, want.encoding)


def test_round_trip_keeps_paths_boxes_and_exact_vectors(tmp_path):
    faces = make_faces()
    save_faces(tmp_path / "enc.pickle", faces)
    assert_same_faces(load_faces(tmp_path / "enc.pickle"), faces)


def test_written_file_is_the_tutorials_format_readable_by_plain_pickle(tmp_path):
    faces = make_faces(2)
    save_faces(tmp_path / "enc.pickle", faces)
    raw = (tmp_path / "enc.pickle").read_bytes()
    assert raw[:2] == b"\x80\x04"  # protocol 4
    data = pickle.loads(raw)
    assert isinstance(data, list) and len(data) == 2
    assert set(data[0]) == {"imagePath", "loc", "encoding"}
    assert data[0]["loc"] == faces[0].box and type(data[0]["loc"][0]) is int
    assert data[0]["encoding"].shape == (128,)


def test_sharpness_is_kept_by_both_stores_and_absent_where_it_was_not_measured(tmp_path):
    measured = [Face(f.image_path, f.box, f.encoding, sharpness=0.25 * i) for i, f in enumerate(make_faces())]
    older = make_faces(2, seed=1)  # encoded before sharpness was measured
    for name in ("enc.pickle", "enc.npz"):
        save_faces(tmp_path / name, measured + older)
        loaded = load_faces(tmp_path / name)
        assert [face.sharpness for face in loaded] == [0.0, 0.25, 0.5, None, None]
        save_faces(tmp_path / name, older)
        assert [face.sharpness for face in load_faces(tmp_path / name)] == [None, None]
    # In the tutorial's pickle a key beside its three, only where measured.
    save_faces(tmp_path / "enc.pickle", measured[1:] + older)
    data = pickle.loads((tmp_path / "enc.pickle").read_bytes())
    assert data[0]["sharpness"] == 0.25 and "sharpness" not in data[-1]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_reads_pickles_of_every_protocol_the_tutorial_may_have_used(tmp_path, protocol):
    faces = make_faces(2)
    records = faces_to_records(faces)
    records[0]["loc"] = tuple(np.int64(v) for v in records[0]["loc"])  # numpy ints, as some tools store
    (tmp_path / "old.pickle").write_bytes(pickle.dumps(records, protocol=protocol))
    assert_same_faces(load_faces(tmp_path / "old.pickle"), faces)


def test_reads_numpy_1_spelling_of_the_array_helpers(tmp_path):
    faces = make_faces(1)
    raw = pickle.dumps(faces_to_records(faces), protocol=2)
    # Protocol 2 names globals as text lines, so the numpy 1.x module name can be put back.
    old = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in old
    (tmp_path / "numpy1.pickle").write_bytes(old)
    assert_same_faces(load_faces(tmp_path / "numpy1.pickle"), faces)


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_a_command_is_refused_and_the_command_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps([{"imagePath": "a.jpg", "loc": (1, 2, 3, 0), "encoding": RunsACommand(marker)}])
    (tmp_path / "evil.pickle").write_bytes(payload)
    with pytest.raises(EncodingsFileError, match=r"refusing to load .*system"):
        load_faces(tmp_path / "evil.pickle")
    assert not marker.exists()
    # The payload is live: plain pickle would have run it.
    pickle.loads(payload)
    assert marker.exists()


def test_other_globals_are_refused_too(tmp_path):
    (tmp_path / "eval.pickle").write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(EncodingsFileError, match=r"builtins\.eval"):
        load_faces(tmp_path / "eval.pickle")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "truncated or empty"),
        (b'{"encodings": []}', "not an encodings file"),
        (b"\x80\x04\x95", "truncated"),
    ],
)
def test_unreadable_files_get_a_clear_message(tmp_path, content, message):
    (tmp_path / "bad.pickle").write_bytes(content)
    with pytest.raises(EncodingsFileError, match=message):
        load_faces(tmp_path / "bad.pickle")


def test_a_truncated_real_file_gets_a_clear_message(tmp_path):
    save_faces(tmp_path / "enc.pickle", make_faces(5))
    raw = (tmp_path / "enc.pickle").read_bytes()
    (tmp_path / "enc.pickle").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(EncodingsFileError, match="truncated"):
        load_faces(tmp_path / "enc.pickle")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(EncodingsFileError, match="not found"):
        load_faces(tmp_path / "nope.pickle")


def good_record() -> dict:
    return {"imagePath": "a.jpg", "loc": (1, 9, 8, 2), "encoding": np.zeros(128)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"imagePath": 7}, "imagePath"),
        ({"loc": (1, 2, 3)}, "four integers"),
        ({"loc": (1.0, 9, 8, 2)}, "four integers"),
        ({"loc": (True, 9, 8, 2)}, "four integers"),
        ({"loc": (8, 9, 1, 2)}, "top < bottom"),
        ({"loc": (1, 2, 8, 9)}, "left < right"),
        ({"encoding": np.zeros(127)}, "128"),
        ({"encoding": np.full(128, np.nan)}, "NaN"),
        ({"encoding": np.array(["x"] * 128)}, "dtype"),
        ({"encoding": [0.0] * 128}, "array"),
        ({"sharpness": -0.5}, "sharpness"),
        ({"sharpness": "sharp"}, "sharpness"),
        ({"sharpness": float("nan")}, "sharpness"),
    ],
)
def test_schema_errors_name_the_record_and_the_problem(change, message):
    records = [good_record(), {**good_record(), **change}]
    with pytest.raises(EncodingsFileError, match=rf"record 1 is invalid: .*{message}"):
        records_to_faces(records)


def test_schema_requires_a_list_of_dicts():
    with pytest.raises(EncodingsFileError, match="expected a list"):
        records_to_faces({"encodings": [], "names": []})
    with pytest.raises(EncodingsFileError, match="record 0 is invalid: expected a dict"):
        records_to_faces([("a.jpg", (1, 2, 3, 0))])
    with pytest.raises(EncodingsFileError, match="record 0 is invalid: 'encoding'"):
        records_to_faces([{"imagePath": "a.jpg", "loc": (1, 9, 8, 2)}])


def test_an_empty_list_is_a_valid_empty_store(tmp_path):
    save_faces(tmp_path / "enc.pickle", [])
    assert load_faces(tmp_path / "enc.pickle") == []


def test_a_failed_write_keeps_the_old_file_whole_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "enc.pickle"
    save_faces(path, make_faces(2))
    before = path.read_bytes()

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        save_faces(path, make_faces(4, seed=1))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.pickle"]


def test_written_file_has_ordinary_permissions(tmp_path):
    old_umask = os.umask(0o022)
    try:
        save_faces(tmp_path / "enc.pickle", make_faces(1))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "enc.pickle").stat().st_mode) == 0o644


def test_a_pickle_larger_than_the_exact_clustering_limit_loads_in_float32_as_the_graph_computes(tmp_path):
    from faceclust.clustering import EXACT_AGGLOMERATIVE_FACES
    from faceclust.library.store import FLOAT32_FROM_FACES, load_faces_and_matrix

    assert FLOAT32_FROM_FACES == EXACT_AGGLOMERATIVE_FACES
    faces = make_faces(FLOAT32_FROM_FACES + 1)
    save_faces(tmp_path / "large.pickle", faces)
    loaded, matrix = load_faces_and_matrix(tmp_path / "large.pickle")
    assert matrix.dtype == np.float32 and matrix.shape == (len(faces), 128)
    assert [(f.image_path, f.box) for f in loaded] == [(f.image_path, f.box) for f in faces]
    assert all(np.shares_memory(face.encoding, matrix) for face in loaded[:3])  # rows, not copies
    np.testing.assert_allclose(matrix, [face.encoding for face in faces], rtol=1e-6, atol=1e-7)
    save_faces(tmp_path / "small.pickle", faces[:FLOAT32_FROM_FACES])
    assert load_faces_and_matrix(tmp_path / "small.pickle")[1].dtype == np.float64  # exact, as written


def test_the_compact_store_round_trips_to_float32_precision(tmp_path):
    faces = [*make_faces(5), Face("photos/person 0/é0.jpg", (1, 9, 8, 2), np.full(128, 0.125))]
    save_faces(tmp_path / "enc.npz", faces)
    loaded = load_faces(tmp_path / "enc.npz")
    assert [(f.image_path, f.box) for f in loaded] == [(f.image_path, f.box) for f in faces]
    for got, want in zip(loaded, faces, strict=True):
        assert got.encoding.dtype == np.float32 and not got.encoding.flags.writeable
        np.testing.assert_allclose(got.encoding, want.encoding, rtol=1e-6, atol=1e-7)
    with np.load(tmp_path / "enc.npz", allow_pickle=False) as archive:
        assert archive["encodings"].dtype == np.float32
        assert archive["path_index"].tolist() == [0, 1, 2, 3, 4, 0]  # the path table holds each path once


def test_the_compact_store_holds_no_pickle_and_loads_an_empty_set(tmp_path):
    save_faces(tmp_path / "empty.npz", [])
    assert load_faces(tmp_path / "empty.npz") == []
    # An .npz whose array needs pickle (an object array) is refused, not unpickled.
    np.savez(
        tmp_path / "objects.npz", format=np.array([1]), encodings=np.array([RunsACommand("x")], dtype=object)
    )
    with pytest.raises(EncodingsFileError, match="not a compact encodings file"):
        load_faces(tmp_path / "objects.npz")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": np.array([9])}, "unknown format"),
        ({"boxes": np.array([[8, 9, 1, 2]], dtype=np.int32)}, "top < bottom"),
        ({"encodings": np.full((1, 128), np.nan, dtype=np.float32)}, "NaN"),
        ({"encodings": np.zeros((1, 127), dtype=np.float32)}, "shapes"),
        ({"path_index": np.array([3], dtype=np.int32)}, "out of range"),
        ({"path_offsets": np.array([0, 99])}, "path table"),
        ({"sharpness": np.array([-1.0])}, "sharpness are damaged"),
        ({"sharpness": np.array([np.inf])}, "a value of sharpness is infinite"),
    ],
)
def test_a_damaged_compact_store_is_refused_with_the_reason(tmp_path, change, message):
    save_faces(tmp_path / "good.npz", make_faces(1))
    with np.load(tmp_path / "good.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(change)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(EncodingsFileError, match=message):
        load_faces(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(EncodingsFileError, match="not a compact encodings file"):
        load_faces(tmp_path / "junk.npz")


def test_the_compact_store_reads_compressed_and_fortran_ordered_arrays_and_refuses_cut_ones(tmp_path):
    save_faces(tmp_path / "good.npz", make_faces(3))
    with np.load(tmp_path / "good.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["encodings"] = np.asfortranarray(arrays["encodings"])
    np.savez_compressed(tmp_path / "other.npz", **arrays)
    assert [face.box for face in load_faces(tmp_path / "other.npz")] == [face.box for face in make_faces(3)]
    np.testing.assert_array_equal(
        np.stack([face.encoding for face in load_faces(tmp_path / "other.npz")]), arrays["encodings"]
    )
    # A member whose data is shorter than its header says.
    import zipfile

    with (
        zipfile.ZipFile(tmp_path / "good.npz") as source,
        zipfile.ZipFile(tmp_path / "cut.npz", "w") as target,
    ):
        for member in source.namelist():
            data = source.read(member)
            target.writestr(member, data[:-8] if member == "encodings.npy" else data)
    with pytest.raises(EncodingsFileError, match="not a compact encodings file"):
        load_faces(tmp_path / "cut.npz")
