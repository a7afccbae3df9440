"""What every bench shares: its command line, timing (once, best of N, or in turns), and
publishing its table to bench/results/ and into the docs page that quotes it.

Each bench keeps only what it measures. A table goes into the page of docs/ that holds its
markers, ``<!-- SECTION table: start -->`` and ``<!-- SECTION table: end -->``, never into the
README, which is a user's guide.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOCS = REPO / "docs"

Result = TypeVar("Result")


def bench_parser(doc: str, publishes: bool = True) -> argparse.ArgumentParser:
    """The bench's argument parser, described by its docstring's first line; with
    ``--no-publish`` where it publishes a table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if publishes:
        parser.add_argument(
            "--no-publish", action="store_true", help="print the table and keep it in bench/results/ only"
        )
    return parser


def timed(function: Callable[[], Result]) -> tuple[Result, float]:
    """``function()``'s result and the seconds it took."""
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def best_of(function: Callable[[], object], repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls, in seconds: the run least disturbed by the machine."""
    return min(timed(function)[1] for _ in range(repeats))


def in_turns(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each contender's ``repeats`` runs, taken in turns (A, B, A, B, ...), so that a
    slow spell of the machine falls on all of them alike rather than on whichever ran then."""
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, function in contenders.items():
            seconds[name].append(timed(function)[1])
    return seconds


def publish(
    table: str, name: str, section: str | None = None, args: argparse.Namespace | None = None
) -> None:
    """Print ``table``, write it to bench/results/NAME.md and, with ``section`` (unless the
    bench was run with ``--no-publish``), between that section's markers in whichever page of
    docs/ holds them."""
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(table)
    if section is None or (args is not None and args.no_publish):
        return
    start_marker, end_marker = f"<!-- {section} table: start -->", f"<!-- {section} table: end -->"
    pages = [page for page in sorted(DOCS.glob("*.md")) if start_marker in page.read_text()]
    if len(pages) != 1:
        raise SystemExit(f"{len(pages)} pages of {DOCS} hold the marker {start_marker!r}; expected one")
    text = pages[0].read_text()
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    pages[0].write_text(text[:start] + "\n" + table + text[end:])
    print(f"published to {pages[0].relative_to(REPO)} ({section})")
