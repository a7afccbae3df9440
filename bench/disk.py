"""How fast the disk makes small files right now, for the tables of benches that write many.

This machine's disk (ext4 mounted with ``discard``) at times takes 0.5 ms of kernel time to
make each small file in some folders (6,000 took 3.2-3.5 s, all of it system time, against
0.14 s in another folder at the same minute), mostly after hundreds of thousands of files were
deleted. A bench whose command writes thousands of montages prints this beside its table, so
that a slow spell is seen rather than taken for the code.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

FILES = 2_000
FILE_BYTES = 3_500  # about an empty montage's JPEG


def small_file_seconds(folder: Path, count: int = FILES) -> float:
    """Seconds to make ``count`` small files in a new folder inside ``folder`` (then removed)."""
    probe = folder / f".disk-probe-{os.getpid()}"
    probe.mkdir()
    data = b"\0" * FILE_BYTES
    try:
        started = time.perf_counter()
        for number in range(count):
            handle = os.open(probe / f"{number}.jpg", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            os.write(handle, data)
            os.close(handle)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(probe)


def disk_note(before: float, after: float) -> str:
    """A line for a table's foot, from :func:`small_file_seconds` before and after the runs."""
    return (
        f"Disk: {FILES:,} small files made in {before:.2f} s in the runs' folder before the runs, "
        f"{after:.2f} s after (0.05 s when it is quick).\n"
    )
