#!/usr/bin/env python3
"""Where the time of the whole cluster_faces.py command goes, stage by stage.

.venv/bin/python bench/stages.py [--faces 100000] [--repeat 3] [--no-readme]

The faces of bench/end_to_end.py (synthetic, seed 0, one photo each, photos that do not
exist), from the tutorial's pickle and from .npz. Each run is the command in a fresh process,
into a new output folder, with a timer around each stage of ``cluster_file``: when it starts
and ends, in seconds since the process started (so Python's start and the imports come first),
and its process's CPU time (user + system, all threads) when it ends. The tables and the
gallery are written in a forked child beside the montages (faceclust/runtime/beside.py), so those rows
overlap; the child's CPU time is its own, from the fork. The table shows each file's fastest
run of ``--repeat``, whole (runs take turns between the files). As bench/end_to_end.py does,
the bench compiles the package's bytecode first and notes the disk's speed below the table.
Writes the table into docs/ (harness.publish).
"""

from __future__ import annotations

import compileall
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from disk import disk_note, small_file_seconds  # noqa: E402
from harness import bench_parser, publish  # noqa: E402

# Runs in the child: the stages wrapped with timers, then the command's own main(). Each stage
# is appended to a file as it ends, by whichever process ran it: the tables and the gallery are
# written in a forked child of the command (faceclust/runtime/beside.py).
TIMED_RUN = """
import json, os, resource, sys, time
with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
    ticks = float(stat.read().rsplit(")", 1)[1].split()[19])
    started = time.time() - (float(uptime.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK"))
sys.path.insert(0, sys.argv[1])
record_path = sys.argv[2]
import faceclust.pipeline as pipeline
from faceclust.clustering import FaceClusterer
from faceclust.cli import cluster_main

command = os.getpid()

def record(label, begin, end):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if os.getpid() != command:
        label += " (child process)"
    line = json.dumps([label, begin, end, usage.ru_utime + usage.ru_stime]) + "\\n"
    with open(record_path, "a") as records:
        records.write(line)

def timed(owner, name, label):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        begin = time.time() - started
        try:
            return inner(*args, **kwargs)
        finally:
            record(label, begin, time.time() - started)
    setattr(owner, name, wrapper)

for name, label in [
    ("_load_nonempty", "loading"),
    ("write_clusters_csv", "clusters.csv"),
    ("cluster_document", "clusters.json: its data"),
    ("document_json", "clusters.json: its text"),
    ("write_montages", "montages"),
    ("gallery_data", "gallery: its data"),
    ("write_gallery", "gallery: index.html"),
]:
    timed(pipeline, name, label)
timed(FaceClusterer, "fit_predict", "clustering")
record("start and imports", 0.0, time.time() - started)
code = cluster_main(sys.argv[3:])
ended = time.time() - started
record("command done", ended, ended)
sys.exit(code)
"""


def timed_run(encodings: Path, output: Path) -> dict[str, tuple[float, float, float | None]]:
    """Each stage's start, end and the CPU time of its process by its end (the child's own, for
    the child's stages); and the process's end, by the clock of this one (Python's teardown
    included), as bench/end_to_end.py times the command."""
    records = output.with_suffix(".stages")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", TIMED_RUN, str(REPO), str(records), "-e", str(encodings), "-o", str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    ended = time.perf_counter() - started
    stages = {}
    for line in records.read_text().splitlines():
        label, begin, end, cpu = json.loads(line)
        stages[label] = (begin, end, None if label == "start and imports" else cpu)
    stages["process ended"] = (ended, ended, None)
    order = ["start and imports", "loading", "clustering", "montages"]
    return dict(sorted(stages.items(), key=lambda item: (item[0] not in order[:3], item[1][0], item[1][1])))


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from synthetic import save_as_encodings, synthetic_embeddings

    compileall.compile_dir(REPO / "faceclust", quiet=1)
    encodings, identities = synthetic_embeddings(args.faces, 0)
    columns: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = {suffix: Path(folder) / f"faces{suffix}" for suffix in (".pickle", ".npz")}
        for path in paths.values():
            save_as_encodings(path, encodings, identities)
        disk_before = small_file_seconds(Path(folder))
        # Runs in turns, so that a slow spell of the machine falls on both files alike.
        for repeat in range(args.repeat):
            for suffix, path in paths.items():
                run = timed_run(path, Path(folder) / f"out{suffix}-{repeat}")
                columns.setdefault(suffix, []).append(run)
                print(suffix, repeat, json.dumps(run), flush=True)
        disk_after = small_file_seconds(Path(folder))
    # Each file's fastest run, whole: the stages of one run add up, medians of each need not.
    fastest = {suffix: min(runs, key=lambda run: run["process ended"][1]) for suffix, runs in columns.items()}
    lines = [
        f"| stage ({args.faces:,} faces; the fastest of {args.repeat} runs) "
        "| from .pickle: start - end s (CPU s) | from .npz: start - end s (CPU s) |",
        "|---|---|---|",
    ]
    for label in fastest[".npz"]:
        cells = []
        for suffix in (".pickle", ".npz"):
            begin, end, cpu = fastest[suffix][label]
            used = "" if cpu is None else f" ({cpu:.2f})"
            cells.append(f"{begin:.2f} - {end:.2f}{used}" if begin < end else f"{end:.2f}{used}")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    table = "\n".join(lines) + "\n\n" + disk_note(disk_before, disk_after)
    publish(table, "stages", "stages", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
