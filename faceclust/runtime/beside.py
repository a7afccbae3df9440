"""Work that runs beside the caller's, in a process of its own where the system allows.

The output stage of cluster_faces.py does two things that do not wait for each other: the
montages (JPEG encoding and file writes, mostly outside the GIL, on threads) and the tables
(clusters.csv and clusters.json: Python building rows and dicts, holding the GIL throughout).
On threads of one process the two take turns at the GIL: at 100,000 faces the montages took
1.6-2.2 s beside the tables against 1.2 s alone. A forked child has an interpreter of its own
and sees the caller's data as it was at the fork, without a copy (pages are shared until one
side writes to them). Where fork is not safe to use (Windows has none; macOS's system libraries
may hang in a forked child), the work runs on a thread, as it did before.

The block can hand the work values as it goes (``send``; the work takes them with ``receive``):
the gallery page is written beside too, once the montages' side has read every photo and knows
which faces got a thumbnail, while it still draws the last montages.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any

from ..errors import OutputError
from .malloc_tuning import return_free_memory

# Where the work runs in a forked child; elsewhere on a thread. A module constant so that the
# tests can take the thread's way on Linux too.
FORK = sys.platform.startswith("linux")


class _ChildTraceback(Exception):
    """The child's traceback, as text: the cause of its error raised in the parent."""

    def __str__(self) -> str:
        return self.args[0]


@contextlib.contextmanager
def running_beside(work: Callable[[Callable[[], Any]], None], what: str) -> Iterator[Callable[[Any], None]]:
    """Run ``work(receive)`` while the with-block runs, and wait for it at the block's end.

    The block gets ``send``: each value it sends, ``receive()`` returns in the work, in order
    (``receive`` raises EOFError once the block ended without sending more). Sending does not
    wait for the work to take the value.

    ``work`` runs in a forked child process (:data:`FORK`), or else on a thread; it must only
    write files, as whatever else it changes is lost with the child. Its exception is raised at
    the end of the block, by its own type and message, with the child's traceback as its cause;
    if the child is killed (out of memory, say), :class:`OutputError` names ``what`` ("writing
    clusters.csv, clusters.json and index.html"). If the block itself raises, the work is still waited for,
    and the block's exception is the one raised.
    """
    if not FORK:
        sent: SimpleQueue = SimpleQueue()

        def receive() -> Any:
            value = sent.get()
            if value is _END:
                raise EOFError("nothing more was sent")
            return value

        with ThreadPoolExecutor(max_workers=1) as thread:
            done = thread.submit(work, receive)
            try:
                yield sent.put
            finally:
                sent.put(_END)
            done.result()
        return
    results_reader, results_writer = os.pipe()
    values_reader, values_writer = os.pipe()
    # Free pages kept in the heap would be shared with the child, and copied by whichever side
    # first allocates into them: each side would then hold its own.
    return_free_memory()
    with warnings.catch_warnings():
        # Python 3.12+ warns on fork in a process with threads: another thread may hold a lock
        # the child then waits for. Ours are BLAS's and OpenMP's pools, idle between calls, and
        # the child's work needs none of their locks (OpenBLAS restarts its pool after a fork).
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 1
        try:
            os.close(results_reader)
            os.close(values_writer)
            code = _run_in_child(work, values_reader, results_writer)
        finally:
            os._exit(code)
    os.close(results_writer)
    os.close(values_reader)
    sender = _Sender(values_writer)
    try:
        yield sender.send
    finally:
        sender.close()
        with open(results_reader, "rb") as pipe:
            failure = pipe.read()  # before waiting: a long report would fill the pipe
        _, status = os.waitpid(pid, 0)
    if failure:
        error, text = pickle.loads(failure)
        raise error from _ChildTraceback(text)
    if os.WIFSIGNALED(status):
        raise OutputError(
            f"{what} stopped: its process was killed ({signal.Signals(os.WTERMSIG(status)).name})"
        )
    if os.WEXITSTATUS(status) != 0:
        raise OutputError(f"{what} stopped: its process exited with status {os.WEXITSTATUS(status)}")


_END = object()


class _Sender:
    """Values pickled into the pipe to the child by a thread of their own: the child may be busy
    with its first job, and a value larger than the pipe holds would stop the block until then."""

    def __init__(self, descriptor: int):
        self._pipe = open(descriptor, "wb")  # noqa: SIM115 - closed in close()
        self._thread = ThreadPoolExecutor(max_workers=1)  # one: the values go in order

    def send(self, value: Any) -> None:
        self._thread.submit(self._write, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))

    def _write(self, data: bytes) -> None:
        # A child that already ended (its error is reported from its status) takes no more.
        with contextlib.suppress(BrokenPipeError):
            self._pipe.write(data)
            self._pipe.flush()

    def close(self) -> None:
        """Wait for the values sent to be written (or the child to be gone), then close."""
        self._thread.shutdown(wait=True)
        with contextlib.suppress(BrokenPipeError):
            self._pipe.close()


def _run_in_child(work: Callable[[Callable[[], Any]], None], values: int, results: int) -> int:
    """Run ``work``; on an exception, send it and its traceback to the parent. The exit code."""
    with open(values, "rb") as sent:
        try:
            work(lambda: pickle.load(sent))
            return 0
        except BaseException as error:
            text = traceback.format_exc()
            try:
                report = pickle.dumps((error, text))
            except Exception:  # an exception that cannot be pickled goes back as its message
                report = pickle.dumps((OutputError(f"{type(error).__name__}: {error}"), text))
            with open(results, "wb") as pipe:
                pipe.write(report)
            return 1
