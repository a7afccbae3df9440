import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from faceclust.errors import OutputError
from faceclust.runtime.fileio import atomic_write_bytes, ensure_folder, held_alone, write_remakeable

from .conftest import REPO

SIZE = 8_000_000

WRITER = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(REPO)!r})
    from faceclust.runtime.fileio import atomic_write_bytes
    target = sys.argv[1]
    for turn in range(1_000_000):
        atomic_write_bytes(target, (b"AB"[turn % 2:turn % 2 + 1]) * {SIZE})
    """
)


@pytest.mark.parametrize("delay", [0.05, 0.13, 0.31])
def test_killing_a_writer_mid_write_leaves_a_whole_old_or_new_file(tmp_path, delay):
    target = tmp_path / "encodings.pickle"
    target.write_bytes(b"A" * SIZE)
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
    try:
        time.sleep(delay)
        assert child.poll() is None, "the writer should still be running"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    data = target.read_bytes()
    assert len(data) == SIZE
    assert data in (b"A" * SIZE, b"B" * SIZE)


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "clusters.csv"
    target.write_text("old\n")

    def fail(*args):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError, match=r"cannot write .*Input/output error"):
        atomic_write_bytes(target, b"new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["clusters.csv"]


def test_writing_into_a_missing_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write_bytes(tmp_path / "gone" / "x.jpg", b"x")


def test_a_remakeable_image_is_written_in_place_when_new_and_replaced_whole_when_there(tmp_path, monkeypatch):
    target = tmp_path / "face_id_0.jpg"
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda *paths: renames.append(paths) or real_replace(*paths))
    write_remakeable(target, b"first")
    assert target.read_bytes() == b"first" and renames == []
    write_remakeable(target, b"second")
    assert target.read_bytes() == b"second" and len(renames) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["face_id_0.jpg"]
    # The same image again (a person grouped as before) leaves the file as it is.
    os.utime(target, (1_000_000_000, 1_000_000_000))
    write_remakeable(target, b"second")
    assert target.stat().st_mtime == 1_000_000_000 and len(renames) == 1
    # A torn image (a crash while it was written), a longer or a shorter one is replaced.
    for there in (b"sec", b"second and more", b"secomd"):
        target.write_bytes(there)
        write_remakeable(target, b"second")
        assert target.read_bytes() == b"second"
    assert len(renames) == 4


def test_a_remakeable_image_that_fails_to_write_leaves_no_file_and_the_old_one_whole(tmp_path, monkeypatch):
    class Refusing:
        def __init__(self, stream):
            self.stream = stream

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

        def write(self, data):
            self.stream.write(data[:2])
            raise OSError(28, "No space left on device")

    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *args: Refusing(real_fdopen(*args)))
    with pytest.raises(OutputError, match="No space left"):
        write_remakeable(tmp_path / "new.jpg", b"image")
    (tmp_path / "old.jpg").write_bytes(b"old image")
    with pytest.raises(OutputError, match="No space left"):
        write_remakeable(tmp_path / "old.jpg", b"new image")
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == [("old.jpg", b"old image")]
    with pytest.raises(OutputError, match="cannot write"):
        write_remakeable(tmp_path / "gone" / "x.jpg", b"x")


def test_ensure_folder_creates_parents_and_reports_what_it_cannot_create(tmp_path, monkeypatch):
    assert ensure_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot create output folder"):
        ensure_folder(tmp_path / "file" / "out")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root can write anywhere
    with pytest.raises(OutputError, match="not writable"):
        ensure_folder(tmp_path / "a")


HOLDER = textwrap.dedent(
    f"""
    import sys, time
    sys.path.insert(0, {str(REPO)!r})
    from faceclust.runtime.fileio import held_alone
    with held_alone(sys.argv[1], "the encodings", "wait"):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_lock_refuses_a_second_holder_names_the_first_and_dies_with_it(tmp_path):
    lock = tmp_path / "enc.pickle.lock"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "held\n"
        with (
            pytest.raises(
                OutputError, match=f"another run is writing the encodings \\(process {child.pid}\\)"
            ),
            held_alone(lock, "the encodings", "wait"),
        ):
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # Killed, it left no stale lock: the next run takes it, and lets go of it and its file.
    with held_alone(lock, "the encodings", "wait"):
        assert lock.read_text() == f"{os.getpid()}\n"
        with (
            pytest.raises(OutputError, match="another run is writing"),
            held_alone(lock, "the encodings", "wait"),
        ):
            pass
    assert not lock.exists()
    with held_alone(lock, "the encodings", "wait"):
        pass


def test_a_lock_whose_file_its_holder_removed_is_taken_again_on_the_new_file(tmp_path, monkeypatch):
    from faceclust.runtime import fileio

    lock = tmp_path / "enc.pickle.lock"
    real_flock = fileio.fcntl.flock
    turns = []

    def flock_after_the_holder_left(handle, operation):
        # The first time, as if the holder let go and removed the file between this run's
        # open and its lock: the lock is then on a file no one else can find.
        if not turns:
            os.unlink(lock)
        turns.append(os.fstat(handle).st_ino)
        return real_flock(handle, operation)

    monkeypatch.setattr(fileio.fcntl, "flock", flock_after_the_holder_left)
    with held_alone(lock, "the encodings", "wait"):
        assert len(turns) == 2 and lock.stat().st_ino == turns[1]
        assert lock.read_text() == f"{os.getpid()}\n"
