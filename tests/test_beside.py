import os
import signal
import sys
import threading
import time

import pytest

from faceclust.errors import OutputError
from faceclust.runtime import beside
from faceclust.runtime.beside import running_beside

# The fork's way where this system takes it, and the thread's way everywhere.
WAYS = [pytest.param(True, id="process"), pytest.param(False, id="thread")]
if not sys.platform.startswith("linux"):
    WAYS = WAYS[1:]


@pytest.fixture(params=WAYS)
def way(request, monkeypatch):
    monkeypatch.setattr(beside, "FORK", request.param)
    return request.param


def test_the_work_runs_beside_the_block_and_is_done_at_its_end(tmp_path, way):
    result = tmp_path / "work.txt"

    def work(receive) -> None:
        result.write_text(f"{os.getpid()} {threading.get_ident()}")

    with running_beside(work, "writing work.txt"):
        pass
    pid, thread = map(int, result.read_text().split())
    if way:
        # Its own process: the caller's data as it was, its interpreter and GIL its own.
        assert pid != os.getpid()
    else:
        assert pid == os.getpid() and thread != threading.get_ident()


def test_the_works_error_is_raised_at_the_blocks_end_by_its_type_and_message(way):
    def work(receive) -> None:
        raise OutputError("cannot write clusters.json: No space left on device")

    reached = []
    with (
        pytest.raises(OutputError, match="No space left on device") as raised,
        running_beside(work, "writing the tables"),
    ):
        reached.append("block")
    assert reached == ["block"]
    if way:
        # The child's traceback comes along as the cause, for whoever debugs it.
        assert "Traceback" in str(raised.value.__cause__) and "in work" in str(raised.value.__cause__)


def test_an_error_that_cannot_be_carried_back_comes_as_its_message(way):
    class Unpicklable(Exception):
        def __reduce__(self):
            raise TypeError("not picklable")

    def work(receive) -> None:
        raise Unpicklable("the disk went away")

    expected = OutputError if way else Unpicklable
    with pytest.raises(expected, match="the disk went away"), running_beside(work, "writing the tables"):
        pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the child process is Linux's way")
def test_a_killed_child_is_an_output_error_naming_the_work(monkeypatch):
    monkeypatch.setattr(beside, "FORK", True)

    def work(receive) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    killed = r"writing the tables stopped: its process was killed \(SIGKILL\)"
    with pytest.raises(OutputError, match=killed), running_beside(work, "writing the tables"):
        pass


def test_values_sent_from_the_block_reach_the_work_in_order_without_waiting_for_it(tmp_path, way):
    result = tmp_path / "work.txt"
    sent = tmp_path / "sent"
    large = bytes(range(256)) * 4096  # a megabyte: more than a pipe holds

    def work(receive) -> None:
        # Busy until the block has sent both values: a send that waited for it would hang here
        # (for 10 s, then the check below fails).
        for _ in range(1000):
            if sent.exists():
                break
            time.sleep(0.01)
        waited_for = sent.exists()
        first, second = receive(), receive()
        try:
            receive()
            ended = False
        except EOFError:
            ended = True
        result.write_text(repr((waited_for, first, second == large, ended)))

    with running_beside(work, "writing work.txt") as send:
        send({"thumbnails": {3: "thumbs/face_0000003.jpg"}})
        send(large)
        sent.touch()
    assert result.read_text() == repr((True, {"thumbnails": {3: "thumbs/face_0000003.jpg"}}, True, True))


def test_the_blocks_error_wins_and_the_work_is_still_finished(tmp_path, way):
    result = tmp_path / "work.txt"
    go_on = threading.Event()

    def work(receive) -> None:
        # In the thread's way, wait until the block failed: the work must outlive it.
        if not way:
            go_on.wait(5)
        result.write_text("done")

    with pytest.raises(KeyError), running_beside(work, "writing work.txt"):
        go_on.set()
        raise KeyError("in the block")
    assert result.read_text() == "done"
