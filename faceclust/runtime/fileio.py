"""Writing files so that a crash leaves the old file or the new one, never a torn one; and a lock
so that one run at a time writes what two must not write at once."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows has no fcntl: runs there go without the lock
    fcntl = None

from ..errors import OutputError

# Temporary files are named by process and a running number: cheaper than tempfile's random
# names and a chmod after them (136 against 81 microseconds a file; a million faces write
# tens of thousands of montages), and the kernel applies the umask as for a plain open().
_temp_numbers = itertools.count()
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    The file gets the permissions a plain ``open(path, "wb")`` would give it, not the
    private ones of a temporary file. ``durable=False`` skips the fsync before the rename (see
    :func:`write_remakeable`). Raises :class:`OutputError` when it cannot be written.
    """
    # Plain strings: pathlib's parsing was a third of the time of a small file.
    target = os.fspath(path)
    folder, name = os.path.split(target)
    try:
        while True:
            temp_name = os.path.join(folder, f".{name}.{os.getpid()}.{next(_temp_numbers)}.tmp")
            try:
                handle = os.open(temp_name, _TEMP_FLAGS, 0o666)
                break
            except FileExistsError:  # left by a process of the same number that died: skip it
                continue
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
    _fill_created(handle, temp_name, data, target, durable)


def ensure_folder(path: str | os.PathLike[str]) -> Path:
    """Create the folder ``path`` (and its parents) if needed; OutputError if that fails."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {folder}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder is not writable: {folder}")
    return folder


def write_remakeable(path: str | os.PathLike[str], data: bytes) -> None:
    """Write one of the many small images a run can always make again (montages, thumbnails).

    A file that is not there yet is written in place: a crash can leave a torn new image, which
    the next run replaces, but cannot cost an old one. One that is there is replaced as
    :func:`atomic_write_bytes` replaces it, without the fsync (on tens of thousands of montages
    the fsyncs took a third of the time). A temporary file and a rename are three changes to
    the folder where writing in place is one, and this machine's disk is slow at them in busy
    spells: 5,000 small files took 0.3-4.0 s through temporary files against 0.2-2.1 s in
    place, and the montages of 100,000 synthetic faces (4,983 groups) 2.1-5.8 s against
    1.6-4.1 s, runs taken in turns. One that already holds ``data`` (a person a re-run grouped
    as before) is left as it is: reading 3 KB back costs less than a new file and the removal
    of the old one, and the file keeps its time for whatever syncs or backs up the folder.
    Raises :class:`OutputError` when it cannot be written.
    """
    target = os.fspath(path)
    try:
        handle = os.open(target, _TEMP_FLAGS, 0o666)
    except FileExistsError:
        if not _holds(target, data):
            atomic_write_bytes(target, data, durable=False)
        return
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
    _fill_created(handle, target, data, target, durable=False)


def _holds(path: str, data: bytes) -> bool:
    """Whether the file ``path`` holds exactly ``data`` (False if it cannot be read)."""
    try:
        with open(path, "rb") as stream:
            # One byte more than ``data``: a longer file is told apart without reading it all.
            return os.fstat(stream.fileno()).st_size == len(data) and stream.read(len(data) + 1) == data
    except OSError:
        return False


def _fill_created(handle: int, created: str, data: bytes, target: str, durable: bool) -> None:
    """Write ``data`` into the file just created as ``created`` (open as ``handle``), fsync it
    if ``durable``, and rename it to ``target`` if that is another name. On any failure the
    created file is removed, and an OSError is raised as an :class:`OutputError`."""
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        if created != target:
            os.replace(created, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(created)
        if isinstance(error, OSError):
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
        raise


@contextlib.contextmanager
def held_alone(lock_path: str | os.PathLike[str], what: str, remedy: str) -> Iterator[None]:
    """Hold the lock file ``lock_path`` for this process alone while inside, so that two runs
    never write ``what`` at once; :class:`OutputError` at once if another process holds it,
    whose message offers waiting or ``remedy`` (both phrases for the message).

    The kernel's ``flock`` lock goes with the process: one killed, even by SIGKILL, leaves no
    stale lock behind. The file holds the holder's process id, for the message, and is removed
    when the lock is let go. Where Python has no ``fcntl`` (Windows), nothing is locked.
    """
    if fcntl is None:
        yield
        return
    path = os.fspath(lock_path)
    handle = _locked(path, what, remedy)
    try:
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        yield
    finally:
        # Removed while still held: a run that opened it just before finds, once it holds the
        # lock, that the name no longer leads to this file, and takes a new one (_locked).
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(handle)


def _locked(path: str, what: str, remedy: str) -> int:
    """An open descriptor of the lock file ``path``, locked for this process."""
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as error:
            raise OutputError(f"cannot create the lock file {path}: {error.strerror or error}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 32).decode("ascii", "replace").strip()
            os.close(handle)
            by = f" (process {holder})" if holder.isdigit() else ""
            raise OutputError(
                f"another run is writing {what}{by}: wait for it to finish, or {remedy} (its lock: {path})"
            ) from None
        except OSError:
            return handle  # a file system without locks (some network mounts): as on Windows
        try:
            current = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return handle
        os.close(handle)  # locked a file its holder removed as it finished: open the new one
