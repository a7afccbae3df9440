"""Work handed to a thread pool and taken back in order, a few items ahead."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_ahead(
    pool: Executor, function: Callable[[Item], Result], items: Iterable[Item], ahead: int
) -> Iterator[tuple[Item, Result]]:
    """``(item, function(item))`` for each of ``items`` in their order, computed on ``pool``
    with at most ``ahead`` more submitted than taken: finished results are not held in bulk
    (each may hold a photo's tiles), and a caller that stops leaves only those few running."""
    in_flight: deque = deque()
    for item in items:
        in_flight.append((item, pool.submit(function, item)))
        if len(in_flight) > ahead:
            done, future = in_flight.popleft()
            yield done, future.result()
    while in_flight:
        done, future = in_flight.popleft()
        yield done, future.result()
