"""Re-running encode_faces.py reuses what it can, and a killed run resumes."""

import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from faceclust.encode.settings import EncodeSettings
from faceclust.library.index import cache_path
from faceclust.pipeline import encode_folder, lock_path
from faceclust.runtime.fileio import held_alone

from .conftest import DATASET, REPO


def run(dataset, encodings, settings=None):
    encoded = []
    summary = encode_folder(
        dataset, encodings, settings or EncodeSettings(), jobs=1, on_result=encoded.append
    )
    return summary, sorted(r.image_path for r in encoded)


def indexed_photos(encodings) -> int:
    if not cache_path(encodings).exists():
        return 0
    try:
        with sqlite3.connect(cache_path(encodings)) as db:
            return db.execute("SELECT count(*) FROM photos").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the run has made the file but not yet its tables


def stored(encodings):
    return [(r["imagePath"], r["loc"]) for r in pickle.loads(encodings.read_bytes())]


def test_a_rerun_encodes_only_what_changed(small_dataset, tmp_path):
    encodings = tmp_path / "enc.pickle"
    first, encoded = run(small_dataset, encodings)
    assert first.reused == 0 and len(encoded) == 14
    before = stored(encodings)
    first_file = encodings.read_bytes()

    again, encoded = run(small_dataset, encodings)
    assert again.reused == 14 and encoded == []
    assert stored(encodings) == before
    # Every vector from the index: the very file the fresh run wrote.
    assert encodings.read_bytes() == first_file
    assert len(again.skipped) == 2  # failed files are remembered and still reported

    # Add a photo, change one, delete one.
    added = small_dataset / "mindy_kaling" / "added.jpg"
    shutil.copy(DATASET / "mindy_kaling" / sorted(os.listdir(DATASET / "mindy_kaling"))[-1], added)
    changed = sorted((small_dataset / "ben_afflek").iterdir())[0]
    changed.write_bytes((DATASET / "elton_john" / "httpftqncomymusicLxZeltonjohnjpg.jpg").read_bytes())
    deleted = sorted((small_dataset / "jerry_seinfeld").iterdir())[0]
    deleted.unlink()

    third, encoded = run(small_dataset, encodings)
    assert encoded == sorted([str(added), str(changed)])
    assert third.reused == 12
    paths = {path for path, _ in stored(encodings)}
    assert str(added) in paths and str(deleted) not in paths
    assert indexed_photos(encodings) == 14  # the deleted photo is gone from the index too


def test_changing_detection_settings_encodes_everything_again(small_dataset, tmp_path):
    encodings = tmp_path / "enc.pickle"
    run(small_dataset / "mindy_kaling", encodings)
    summary, encoded = run(small_dataset / "mindy_kaling", encodings, EncodeSettings(upsample=0))
    assert summary.reused == 0 and len(encoded) == 4


def test_fresh_ignores_the_cache(small_dataset, tmp_path):
    encodings = tmp_path / "enc.pickle"
    run(small_dataset / "mindy_kaling", encodings)
    summary = encode_folder(small_dataset / "mindy_kaling", encodings, EncodeSettings(), jobs=1, fresh=True)
    assert summary.reused == 0


def test_a_killed_run_resumes_where_it_stopped_and_ends_equal_to_a_clean_run(small_dataset, tmp_path):
    encodings = tmp_path / "enc.pickle"
    encodings.write_bytes(b"the previous encodings")
    command = [
        sys.executable,
        str(REPO / "encode_faces.py"),
        "-i",
        str(small_dataset),
        "-e",
        str(encodings),
        "-j",
        "1",
        "-q",
    ]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if indexed_photos(encodings) >= 4:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = indexed_photos(encodings)
    assert 4 <= done < 14, "the run should have been killed part-way"
    assert encodings.read_bytes() == b"the previous encodings"  # never torn, never half-new

    resumed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} images unchanged since the last run are reused" in resumed.stderr

    clean = tmp_path / "clean.pickle"
    encode_folder(small_dataset, clean, EncodeSettings(), jobs=1)
    resumed_records, clean_records = pickle.loads(encodings.read_bytes()), pickle.loads(clean.read_bytes())
    assert [(r["imagePath"], r["loc"]) for r in resumed_records] == [
        (r["imagePath"], r["loc"]) for r in clean_records
    ]
    for a, b in zip(resumed_records, clean_records, strict=True):
        # The network computes in float32, and the matrix products round differently for a
        # different batch of chips (the resumed run's are not the clean run's): a few units in
        # the last place (1.5e-7 seen once in CI), far below what moves a distance.
        np.testing.assert_allclose(a["encoding"], b["encoding"], rtol=0, atol=1e-6)


def test_a_second_run_on_the_same_encodings_file_is_refused_while_the_first_writes(small_dataset, tmp_path):
    encodings = tmp_path / "enc.pickle"
    run(small_dataset, encodings)
    photos, written = indexed_photos(encodings), encodings.read_bytes()
    command = [sys.executable, str(REPO / "encode_faces.py"), "-i", str(small_dataset), "-e", str(encodings)]
    # This process stands for a run still encoding: it holds the lock a run holds.
    with held_alone(lock_path(encodings), "another run", "wait"):
        second = subprocess.run([*command, "--fresh"], capture_output=True, text=True, check=False)
    assert second.returncode == 1
    assert f"another run is writing {encodings} (process {os.getpid()})" in second.stderr
    # It touched nothing: not the index (--fresh would have removed it), not the encodings.
    assert indexed_photos(encodings) == photos and encodings.read_bytes() == written
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{photos} images unchanged since the last run are reused" in again.stderr
    assert not lock_path(encodings).exists()


def test_a_run_from_another_folder_reuses_the_cache_and_names_photos_as_given(
    small_dataset, tmp_path, monkeypatch
):
    encodings = tmp_path / "enc.pickle"
    monkeypatch.chdir(small_dataset.parent)
    first = encode_folder("photos/mindy_kaling", encodings, EncodeSettings(), jobs=1)
    assert first.reused == 0
    monkeypatch.chdir(small_dataset / "mindy_kaling")
    again = encode_folder(".", encodings, EncodeSettings(), jobs=1)
    assert again.reused == 4
    assert all(path.startswith("./") for path, _ in stored(encodings))


def thumbnails_by_face(encodings) -> dict[tuple[str, int], bytes | None]:
    with sqlite3.connect(cache_path(encodings)) as db:
        return {
            (photo, position): jpeg
            for photo, position, jpeg in db.execute("SELECT photo, position, thumbnail FROM faces")
        }


def test_photos_encoded_before_thumbnails_were_kept_get_them_on_the_next_run_without_encoding_again(
    small_dataset, tmp_path
):
    import cv2

    encodings = tmp_path / "enc.pickle"
    run(small_dataset, encodings)
    cut_by_encoder = thumbnails_by_face(encodings)
    records = pickle.loads(encodings.read_bytes())
    # As an index of version 1 is after its upgrade: no thumbnails. One photo is then damaged
    # in place, keeping its size and time, so the index still takes it for unchanged.
    with sqlite3.connect(cache_path(encodings)) as db:
        db.execute("UPDATE faces SET thumbnail = NULL")
    damaged = small_dataset / "ben_afflek" / sorted(os.listdir(small_dataset / "ben_afflek"))[0]
    stat = damaged.stat()
    damaged.write_bytes(b"\0" * stat.st_size)
    os.utime(damaged, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    command = [sys.executable, str(REPO / "encode_faces.py"), "-i", str(small_dataset), "-e", str(encodings)]
    again = subprocess.run([*command, "-j", "1"], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert "14 images unchanged since the last run are reused; 0 to encode" in again.stderr
    photos_with_faces = len({photo for photo, _ in cut_by_encoder})
    assert (
        f"{photos_with_faces} photos were encoded by a version that kept no face thumbnails" in again.stderr
    )
    assert f"cut the face thumbnails of {photos_with_faces - 1} photos" in again.stderr
    assert f"could not cut the face thumbnails of 1 photo ({damaged}: " in again.stderr
    # The same faces (their vectors as the index keeps them, in float32): nothing encoded again.
    reused = pickle.loads(encodings.read_bytes())
    assert [(r["imagePath"], r["loc"]) for r in reused] == [(r["imagePath"], r["loc"]) for r in records]
    for a, b in zip(reused, records, strict=True):
        np.testing.assert_allclose(a["encoding"], b["encoding"], rtol=0, atol=1e-6)

    cut_later = thumbnails_by_face(encodings)
    assert cut_later.keys() == cut_by_encoder.keys()
    for (photo, position), jpeg in cut_later.items():
        if photo == str(damaged):
            assert jpeg is None
            continue
        # The same crop as the encoder's, from a decode reduced as far as the face allows.
        later, first = (
            cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR).astype(float)
            for b in (jpeg, cut_by_encoder[photo, position])
        )
        assert later.shape == first.shape and np.abs(later - first).mean() < 6, photo

    # Done once: the next run has nothing to cut but the photo it still cannot read.
    third = subprocess.run([*command, "-j", "2"], capture_output=True, text=True, check=False)
    assert third.returncode == 0, third.stderr
    assert "1 photos were encoded by a version that kept no face thumbnails" in third.stderr
    assert not any(line.startswith("cut the face thumbnails") for line in third.stderr.splitlines())


def test_a_run_with_other_settings_says_before_it_starts_that_it_encodes_the_index_again(
    small_dataset, tmp_path, capsys
):
    from faceclust.cli import encode_main

    encodings = str(tmp_path / "enc.pickle")
    folder = str(small_dataset / "mindy_kaling")
    assert encode_main(["-i", folder, "-e", encodings, "-j", "1", "-q"]) == 0
    capsys.readouterr()
    # Another detector: every photo is encoded again, which on a library can take a day; the
    # run says so before its first photo, with the settings the index was made with.
    assert encode_main(["-i", folder, "-e", encodings, "-j", "1", "-q", "-d", "yunet"]) == 0
    err = capsys.readouterr().err
    assert (
        f"4 images in the index were encoded with other settings ({EncodeSettings().cache_key()}) "
        f"and are encoded again with these ({EncodeSettings('yunet').cache_key()}); run with that "
        "run's flags to reuse them" in err
    )
    # Now the index holds YuNet's: a second run reuses them and says nothing of other settings.
    assert encode_main(["-i", folder, "-e", encodings, "-j", "1", "-q", "-d", "yunet"]) == 0
    err = capsys.readouterr().err
    assert "4 images unchanged since the last run are reused" in err and "other settings" not in err


@pytest.mark.parametrize("flags", [["--min-face-size", "70"], ["--full-scan", "--min-face-size", "70"]])
def test_an_index_made_by_an_earlier_default_is_named_and_reused_with_its_flags(
    flags, small_dataset, tmp_path, capsys
):
    # Indexes made by earlier versions' default runs (HOG from 70 px where YuNet sees a face,
    # and before that HOG's scan of every whole photo): the run names the flags that reuse them
    # rather than re-encoding a library without a word.
    import shutil

    from faceclust.cli import encode_main
    from faceclust.library.index import cache_path

    encodings = str(tmp_path / "enc.pickle")
    folder = str(small_dataset / "mindy_kaling")
    assert encode_main(["-i", folder, "-e", encodings, "-j", "1", "-q", *flags]) == 0
    capsys.readouterr()
    kept = str(tmp_path / "kept.pickle")
    shutil.copy(encodings, kept)
    shutil.copy(cache_path(encodings), cache_path(kept))
    assert encode_main(["-i", folder, "-e", encodings, "-j", "1", "-q"]) == 0
    err = capsys.readouterr().err
    assert "4 images in the index were encoded with other settings" in err
    assert f"add {' '.join(flags)} to reuse them (faces encoded by a version before this one" in err
    # As it says: the same index, with those flags, is reused.
    assert encode_main(["-i", folder, "-e", kept, "-j", "1", "-q", *flags]) == 0
    err = capsys.readouterr().err
    assert "4 images unchanged since the last run are reused" in err and "other settings" not in err
