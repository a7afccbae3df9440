"""index.html: a self-contained page of everyone found, where the user corrects the groups.

No network and no absolute paths: montages and face thumbnails sit beside the page, and each
thumbnail links to its original photo by a relative path, so the page works from ``file://``.
The page's script and style live beside this file (page.js, page.css) and are inlined when
the page is written, so it stays one file. The run's groups go in as JSON data, which the
script reads with ``textContent``: names and paths never pass through HTML.
"""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from ...clustering import NOISE
from ...records import Face
from ...runtime.fileio import atomic_write_bytes
from ..montages import gallery_selection, montage_name
from ..run import ClusteringRun
from ..tables import LEFT_OUT_REASONS, json_bytes, questions_document

GALLERY_NAME = "index.html"

TOOLBAR = """
<div class="toolbar">
<button id="merge" type="button" title="the selected faces and their groups are one person">Merge <kbd>m</kbd></button>
<button id="take-out" type="button" title="the selected faces are not this person">Take out <kbd>x</kbd></button>
<button id="move" type="button">Move to</button><select id="move-target" aria-label="group to move the selected faces to"></select>
<button id="not-a-face" type="button">Not a face <kbd>d</kbd></button>
<button id="ignore-selected" type="button" title="leave the selected faces' people out">Ignore person <kbd>i</kbd></button>
<button id="undo" type="button">Undo <kbd>u</kbd></button>
<button id="save" type="button">Save corrections.json <kbd>s</kbd></button>
<button id="questions" type="button" title="answer the questions the clustering could not settle">Questions <kbd>q</kbd></button>
<span id="status" role="status"></span>
</div>
"""


def _href(target: str, output_dir: Path) -> str:
    relative = os.path.relpath(os.path.abspath(target), os.path.abspath(output_dir))
    return quote(relative.replace(os.sep, "/"), safe="/")


def _href_maker(output_dir: Path) -> Callable[[str], str]:
    """:func:`_href` for many photos: a relative path is joined to the way from the output
    folder back to here, worked out once (relpath itself costs 60 µs a photo)."""
    back = os.path.relpath(os.getcwd(), os.path.abspath(output_dir))
    # Per folder, worked out once: a library has far fewer folders than photos.
    folders: dict[str, str] = {}

    def href(target: str) -> str:
        if os.path.isabs(target):
            return _href(target, output_dir)
        folder, name = os.path.split(target)
        way = folders.get(folder)
        if way is None:
            way = folders[folder] = quote(
                os.path.normpath(os.path.join(back, folder)).replace(os.sep, "/"), safe="/"
            )
        return quote(name, safe="") if way == "." else f"{way}/{quote(name, safe='')}"

    return href


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def gallery_data(
    run: ClusteringRun,
    folder: Path,
    thumbnails: dict[int, str],
    left_out_thumbnails: dict[int, str] | None = None,
) -> dict:
    """What the page shows, as JSON-ready data: each group's faces (the first shown), the
    unknown faces, the faces corrections left out, and the corrections this run applied.
    ``thumbnails`` (by face index) and ``left_out_thumbnails`` (by position in ``run.left_out``)
    are relative to ``folder``, where the page is written."""
    faces, names, left_out, locate = run.faces, run.names, run.left_out, run.photos
    left_out_thumbnails = left_out_thumbnails or {}
    members = run.members()
    href = _href_maker(folder)

    def face_entry(face: Face, thumbnail: str | None) -> dict:
        entry = face.entry()
        entry["thumb"] = None if thumbnail is None else quote(thumbnail)
        # A face in a video opens the video at its second (a media fragment, which browsers
        # honour on file:// links too).
        at = "" if face.time is None else f"#t={face.time:.3f}"
        entry["href"] = href(locate(face.image_path)) + at
        return entry

    def part(indices: list[int]) -> dict:
        return {
            "size": len(indices),
            "faces": [face_entry(faces[i], thumbnails.get(i)) for i in gallery_selection(indices)],
        }

    order = sorted(
        (label for label in members if label != NOISE), key=lambda label: (-len(members[label]), label)
    )
    groups = [
        {"id": label, "name": names.get(label), "montage": montage_name(label), **part(members[label])}
        for label in order
    ]
    unknown = {"montage": montage_name(NOISE), **part(members.get(NOISE, []))}
    pools: dict[str, dict] = {why: {"size": 0, "faces": []} for why in LEFT_OUT_REASONS}
    shown = set(gallery_selection(list(range(len(left_out)))))
    for position, (face, why) in enumerate(left_out):
        pools[why]["size"] += 1
        if position in shown:
            pools[why]["faces"].append(face_entry(face, left_out_thumbnails.get(position)))
    # Changes made in the page are kept per run, so a new run starts with a clean slate.
    questions = questions_document(run, lambda index: face_entry(faces[index], thumbnails.get(index)))
    earlier = list(run.corrections)
    key = hashlib.sha256(json_bytes([groups, unknown, pools, earlier], sort_keys=True)).hexdigest()[:16]
    return {
        "run": key,
        "photos": len({face.image_path for face in faces}),
        "groups": groups,
        "unknown": unknown,
        "left_out": pools,
        "earlier": earlier,
        "questions": questions,
    }


def write_gallery(
    run: ClusteringRun,
    folder: Path,
    thumbnails: dict[int, str],
    left_out_thumbnails: dict[int, str] | None = None,
) -> Path:
    """Write index.html into ``folder``: the page and, inside it, :func:`gallery_data`'s data."""
    data = gallery_data(run, folder, thumbnails, left_out_thumbnails)
    people = len(data["groups"])
    title = f"{people} people in {data['photos']} photos"
    # In a script element only "</" could end it early; JSON allows "<" escaped inside strings.
    payload = json_bytes(data).decode("utf-8").replace("<", "\\u003c")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_asset('page.css')}</style></head><body>",
        f"<header><h1>{html.escape(title)}</h1>",
        '<div id="counts" class="count"></div>',
        TOOLBAR,
        '<nav id="nav"></nav></header>',
        '<div id="ask" role="dialog" aria-label="Same person?" hidden></div>',
        '<main id="groups"></main>',
        "<noscript>The faces are drawn by the page's script; clusters.json lists them too.</noscript>",
        f'<script type="application/json" id="gallery-data">{payload}</script>',
        f"<script>{_asset('page.js')}</script>",
        "</body></html>",
    ]
    path = folder / GALLERY_NAME
    atomic_write_bytes(path, ("\n".join(parts) + "\n").encode("utf-8"))
    return path
