"""index.html: a self-contained page of everyone found, to open from the output folder.

No network and no absolute paths: montages and face thumbnails sit beside the page, and each
thumbnail links to its original photo by a relative path, so the page works from ``file://``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np

from .clustering import NOISE
from .fileio import atomic_write_bytes
from .outputs import THUMBNAIL_SIZE, cluster_title, gallery_selection, montage_name
from .records import Face

GALLERY_NAME = "index.html"

STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #1c1c1e; color: #eee; }
header { padding: 16px 24px; background: #2c2c2e; position: sticky; top: 0; z-index: 1; }
h1 { margin: 0 0 4px; font-size: 22px; } h2 { margin: 0 0 8px; font-size: 18px; }
nav a { color: #9cf; margin-right: 12px; text-decoration: none; white-space: nowrap; }
section { padding: 16px 24px; border-bottom: 1px solid #333; }
.count { color: #aaa; font-weight: normal; font-size: 15px; }
.montage { display: block; max-width: 100%; margin-bottom: 12px; border-radius: 4px; }
.faces { display: flex; flex-wrap: wrap; gap: 6px; }
.faces img { width: 96px; height: 96px; border-radius: 4px; background: #333; }
.missing { color: #f99; }
.more { color: #aaa; align-self: center; }
"""

# With #check in the address, load every image now and record which failed, for the tests.
CHECK_SCRIPT = """
if (location.hash === "#check") {
  const images = [...document.images];
  const done = images.map(image => new Promise(resolve => {
    if (image.complete) { resolve(); return; }
    image.addEventListener("load", resolve); image.addEventListener("error", resolve);
  }));
  images.forEach(image => { image.loading = "eager"; });
  Promise.all(done).then(() => {
    const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
    document.body.dataset.check = JSON.stringify({images: images.length, broken: broken});
  });
}
"""


def _href(target: str, output_dir: Path) -> str:
    relative = os.path.relpath(os.path.abspath(target), os.path.abspath(output_dir))
    return quote(relative.replace(os.sep, "/"), safe="/")


def write_gallery(
    output_dir: Path,
    faces: list[Face],
    labels: np.ndarray,
    names: dict[int, str],
    thumbnails: dict[int, str],
    locate: Callable[[str], str] = lambda path: path,
) -> Path:
    """Write index.html: one section per person, largest first, then the unknown faces."""
    members: dict[int, list[int]] = {}
    for index, label in enumerate(labels.tolist()):
        members.setdefault(label, []).append(index)
    order = sorted(
        (label for label in members if label != NOISE), key=lambda label: (-len(members[label]), label)
    )
    if NOISE in members:
        order.append(NOISE)

    people = len(order) - (NOISE in members)
    photos = len({face.image_path for face in faces})
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{people} people in {photos} photos</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<header><h1>{people} people in {photos} photos</h1>",
        f'<div class="count">{len(faces)} faces, {len(members.get(NOISE, []))} not placed with anyone</div>',
        "<nav>",
    ]
    for label in order:
        anchor = "unknown" if label == NOISE else f"face-{label}"
        caption = "Unknown" if label == NOISE else names.get(label) or f"#{label}"
        parts.append(f'<a href="#{anchor}">{html.escape(caption)} ({len(members[label])})</a>')
    parts.append("</nav></header>")

    for label in order:
        anchor = "unknown" if label == NOISE else f"face-{label}"
        title = cluster_title(label, len(members[label]), names.get(label))
        heading, _, count = title.rpartition(" (")
        parts.append(
            f'<section id="{anchor}"><h2>{html.escape(heading)} <span class="count">({html.escape(count)}</span></h2>'
        )
        parts.append(
            f'<img class="montage" src="{montage_name(label)}" alt="{html.escape(title)}" loading="lazy">'
        )
        parts.append('<div class="faces">')
        shown = gallery_selection(members[label])
        for index in shown:
            face = faces[index]
            photo = html.escape(face.image_path)
            thumbnail = thumbnails.get(index)
            if thumbnail is None:
                parts.append(f'<span class="missing" title="{photo}">photo missing</span>')
                continue
            parts.append(
                f'<a href="{_href(locate(face.image_path), output_dir)}" title="{photo}">'
                f'<img src="{quote(thumbnail)}" alt="face in {photo}" loading="lazy" '
                f'width="{THUMBNAIL_SIZE}" height="{THUMBNAIL_SIZE}"></a>'
            )
        hidden = len(members[label]) - len(shown)
        if hidden > 0:
            parts.append(f'<span class="more">and {hidden:,} more (clusters.csv lists every face)</span>')
        parts.append("</div></section>")
    parts.append(f"<script>{CHECK_SCRIPT}</script></body></html>")
    path = output_dir / GALLERY_NAME
    atomic_write_bytes(path, ("\n".join(parts) + "\n").encode("utf-8"))
    return path
