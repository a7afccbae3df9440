"""The memory a command and the processes it forks hold together, sampled while it runs.

cluster_faces.py writes its tables and gallery in a forked child (faceclust/runtime/beside.py). Each
process's peak resident set (GNU time's %M, the largest of them) counts the pages the two share
in both and the child's own memory in neither's peak alone. The proportional set size (PSS,
/proc/PID/smaps_rollup) splits each shared page between the processes sharing it, so the sum
over the command's processes is the memory they hold together.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

INTERVAL = 0.1


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found = [pid]
    try:
        for thread in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{thread}/children") as children:
                for child in children.read().split():
                    found += _tree(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def run_measured(command: list[str]) -> tuple[float, float, str, str]:
    """Wall seconds, peak MB and what the command printed (out, then errors). The peak is the larger of GNU time's
    %M (exact, but one process's) and the most the processes' PSS summed to in samples every
    :data:`INTERVAL` seconds (a spike shorter than that can be missed; %M catches the parent's)."""
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder) / "out", Path(folder) / "err"
        with out.open("w") as stdout, err.open("w") as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(["/usr/bin/time", "-f", "%M", *command], stdout=stdout, stderr=stderr)
            peak_kb = 0
            while process.poll() is None:
                # Below GNU time: the command and whatever it forked.
                peak_kb = max(peak_kb, sum(_pss_kb(pid) for pid in _tree(process.pid)[1:]))
                time.sleep(INTERVAL)
            seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, command, out.read_text(), err.read_text())
        errors = err.read_text().strip().splitlines()
        # GNU time's line comes last, after what the command wrote to stderr.
        return seconds, max(peak_kb, int(errors[-1])) / 1024, out.read_text(), "\n".join(errors[:-1])
