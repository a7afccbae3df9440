#!/usr/bin/env python3
"""How the gallery page keeps up with a few thousand faces: load, select, merge, undo, reload.

.venv/bin/python bench/gallery_edit.py [--sizes 1000,3000,10000]

Writes pages of made-up groups (40 faces each, the gallery's own cap of 100 shown per group
never reached, plus 100 unknown faces; every thumbnail the same real 128 px JPEG, so the
browser's image decoding is not what is measured) and drives each in headless Chromium
through Selenium. Times are the page's own (performance.now around the handler, which runs
synchronously), medians of 5; load is the navigation's domContentLoadedEventEnd, which
covers parsing the data and the first drawing. Writes the table into docs/ (harness.publish).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import bench_parser, publish  # noqa: E402
from headless_chromium import start_chromium  # noqa: E402

from faceclust.outputs.gallery import write_gallery  # noqa: E402
from faceclust.outputs.run import ClusteringRun  # noqa: E402
from faceclust.outputs.thumbnails import THUMBNAIL_SIZE, encode_jpeg  # noqa: E402
from faceclust.records import Face  # noqa: E402

GROUP_SIZE = 40
UNKNOWN = 100
REPEATS = 5
TIMED = """
const [what] = arguments;
const sections = document.querySelectorAll("section");
const t0 = performance.now();
if (what === "select") sections[1].querySelector(".face img").click();
if (what === "merge") {
  sections[0].querySelector(".select-all").click();
  sections[1].querySelector(".select-all").click();
  document.getElementById("merge").click();
}
if (what === "undo") document.getElementById("undo").click();
if (what === "rename") {
  const input = sections[0].querySelector("input.name");
  input.value = "Person " + t0;
  input.dispatchEvent(new Event("change"));
}
return performance.now() - t0;
"""

ESCAPE = "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))"


def write_page(folder: Path, faces_total: int) -> Path:
    thumb = folder / "thumbs" / "face.jpg"
    thumb.parent.mkdir(parents=True)
    tile = np.random.default_rng(0).integers(0, 255, (THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3), dtype=np.uint8)
    thumb.write_bytes(encode_jpeg(tile))
    clustered = faces_total - UNKNOWN
    faces = [Face(f"photos/{i:06d}.jpg", (10, 60, 60, 10), np.zeros(128)) for i in range(faces_total)]
    labels = np.full(faces_total, -1, dtype=np.int64)
    labels[:clustered] = np.arange(clustered) // GROUP_SIZE
    thumbnails = {i: "thumbs/face.jpg" for i in range(faces_total)}
    return write_gallery(ClusteringRun(faces, labels), folder, thumbnails)


def measure(browser, page: Path) -> dict[str, float]:
    url = page.resolve().as_uri()
    results: dict[str, list[float]] = {
        "load": [],
        "select": [],
        "merge": [],
        "undo": [],
        "reload 50 changes": [],
    }
    for _ in range(REPEATS):
        browser.get(url)
        results["load"].append(
            browser.execute_script(
                "return performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
            )
        )
        results["select"].append(browser.execute_script(TIMED, "select"))
        browser.execute_script(ESCAPE)
        results["merge"].append(browser.execute_script(TIMED, "merge"))
        results["undo"].append(browser.execute_script(TIMED, "undo"))
        for change in range(50):  # 15 merges (a 1,000-face page has 22 groups), 35 renames
            browser.execute_script(TIMED, "merge" if change < 15 else "rename")
        browser.get(url)
        results["reload 50 changes"].append(
            browser.execute_script(
                "return performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
            )
        )
        browser.execute_script("localStorage.clear()")
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000", help="faces per page, comma-separated")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        browser = start_chromium(Path(temporary) / "profile")
        try:
            for size in [int(value) for value in args.sizes.split(",")]:
                folder = Path(temporary) / f"page{size}"
                folder.mkdir()
                page = write_page(folder, size)
                timings = measure(browser, page)
                rows.append((size, page.stat().st_size, timings))
                print(size, {name: round(value, 1) for name, value in timings.items()}, flush=True)
        finally:
            browser.quit()
    names = list(rows[0][2])
    lines = [
        "| faces on the page | index.html | " + " | ".join(f"{name} (ms)" for name in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for size, page_bytes, timings in rows:
        cells = " | ".join(f"{timings[name]:.0f}" for name in names)
        lines.append(f"| {size:,} | {page_bytes / 1e6:.1f} MB | {cells} |")
    table = "\n".join(lines) + "\n"
    publish(table, "gallery_edit", "gallery edit", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
