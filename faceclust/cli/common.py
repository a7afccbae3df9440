"""What both commands share: argument types, messages, progress bars and the one error boundary.

Exit codes: 0 done, 1 error, 2 usage, 3 nothing to do (no images or no faces), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ..errors import FaceclustError, NoFacesError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_FACES = 3
EXIT_INTERRUPTED = 130


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"expected a number {limit}, got {value}")
        return value

    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text}")
    return value


def detect_size_value(text: str) -> int:
    value = bounded_int(0)(text)
    if 0 < value < 64:
        raise argparse.ArgumentTypeError(f"expected 0 (full resolution) or at least 64, got {value}")
    return value


UNREADABLE_LISTED = 5  # photos named when the montages cannot read some


def program_name(script: str) -> str:
    """The command's name in messages: the installed command's (faceclust-encode), else the script's."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv else ""
    return invoked if invoked.startswith("faceclust-") else script


def say(message: str) -> None:
    print(message, file=sys.stderr)


class CountedBar:
    """A progress bar on stderr driven by ``(done, total)`` calls: made when ``done`` is 0,
    advanced by one on each call after, closed when ``done`` reaches ``total``."""

    def __init__(self, **options):
        self._options = options
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if done == 0:
            self.close()
            self._bar = tqdm(total=total, file=sys.stderr, **self._options)
        else:
            self._bar.update(1)
        if done == total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def guarded(run: Callable[[], int], interrupted: str = "interrupted") -> int:
    """The one error boundary: expected errors become a one-line message and an exit code."""
    try:
        return run()
    except NoFacesError as error:
        say(f"error: {error}")
        return EXIT_NO_FACES
    except FaceclustError as error:
        say(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        say(interrupted)
        return EXIT_INTERRUPTED


def counted(count: int, noun: str) -> str:
    """``"1 file"``, ``"2 files"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
