"""Python's cycle collector paused while a job makes many objects and keeps them.

Every few hundred new objects the collector runs, and every so often it walks all the objects
alive: a job that makes a million faces, or the hundreds of thousands of dicts and lists of
clusters.json and the gallery, pays for walks that find nothing to free (these objects hold
no cycles). Unpickling a million records took 9.3 s with it and 2.6 s without; clustering
100,000 faces end to end spent 0.3-0.5 s of a 5-6 s run in it, and left it about a thousand
objects to free at the end (closures of the output threads).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """The cycle collector off inside, and after as it was before (so nested pauses keep it off
    until the outermost ends). Also a decorator."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
