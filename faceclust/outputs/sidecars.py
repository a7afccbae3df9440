"""XMP sidecars: the named people of a run, written beside their photos for other programs.

For every photo with a face in a named group, ``PHOTO.EXT.xmp`` (the sidecar digiKam, darktable
and Immich read) gets one MWG face region per named face (``mwg-rs:Regions``: the face's centre
and size as fractions of the stored image, which for a photo stored turned is not the upright
one our boxes are in) and the names in ``Iptc4xmpExt:PersonInImage``. The photo itself is never
touched. An existing sidecar is merged into: everything in it stays (ratings, keywords, edits,
other programs' regions) but for the regions and names an earlier run of this tool wrote, which
are replaced; they carry a ``faceclust:Source`` field and a ``faceclust:Names`` list to be told
apart. A sidecar that is not well-formed, safe XMP is left as it is, and reported.

Hierarchical keywords (digiKam's ``TagsList``, Lightroom's ``hierarchicalSubject``) are not
written: digiKam, Lightroom, Immich and PhotoPrism read names from the regions themselves, and
keywords would add a ``People`` branch to every user's keyword tree whether they use one or not.
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from ..clustering import NOISE
from ..errors import ImageLoadError, OutputError
from ..photos.images import SIDECAR_SUFFIX, read_header
from ..photos.xmp import NS, Region, XmpError, parse_packet, stored_region, tag
from ..records import Box
from ..runtime.fileio import atomic_write_bytes
from .run import ClusteringRun

SOURCE = "cluster_faces.py"
PACKET_START = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
PACKET_END = '\n<?xpacket end="w"?>\n'
EMPTY = (
    f'<x:xmpmeta xmlns:x="{NS["x"]}"><rdf:RDF xmlns:rdf="{NS["rdf"]}">'
    '<rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>'
)
# Written as fractions of the image: 6 digits are a tenth of a pixel of a 10,000 px photo.
DIGITS = 6


@dataclass
class SidecarReport:
    """What ``--xmp`` did: sidecars written new, updated, already as they should be, and left
    alone (with why)."""

    written: int = 0
    updated: int = 0
    unchanged: int = 0
    left_alone: list[tuple[str, str]] = field(default_factory=list)


def sidecar_of(photo: str | os.PathLike[str]) -> Path:
    """``PHOTO.EXT.xmp``: the sidecar this tool writes."""
    path = Path(photo)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecars(run: ClusteringRun) -> SidecarReport:
    """Write or update the sidecar of every photo of ``run`` with a named face, and of every
    photo whose sidecar holds regions an earlier run wrote (a name since taken away)."""
    named: dict[str, list[tuple[str, Box]]] = {}
    for face, label in zip(run.faces, run.labels.tolist(), strict=True):
        name = run.names.get(label) if label != NOISE else None
        if name and face.time is None:
            named.setdefault(face.image_path, []).append((name, face.box))
    report = SidecarReport()
    # Face regions name areas of a still: a video's faces (each of one frame) are not written.
    for image_path in sorted({face.image_path for face in run.faces if face.time is None}):
        faces = named.get(image_path, [])
        photo = run.photos(image_path)
        sidecar = sidecar_of(photo)
        if not faces and not sidecar.is_file():
            continue
        try:
            outcome = _update(photo, sidecar, faces)
        except (XmpError, ImageLoadError, OSError) as error:
            report.left_alone.append((str(sidecar), str(error)))
            continue
        if outcome == "written":
            report.written += 1
        elif outcome == "updated":
            report.updated += 1
        elif outcome == "unchanged":
            report.unchanged += 1
    return report


def _update(photo: str, sidecar: Path, faces: list[tuple[str, Box]]) -> str | None:
    """Merge ``faces`` into ``sidecar``: "written" (new), "updated", "unchanged", or None (no
    sidecar, and nothing to write)."""
    old = sidecar.read_bytes() if sidecar.is_file() else None
    if old is not None:
        root = parse_packet(old)  # XmpError: left alone, said by the caller
        if not faces and not any(element.tag.startswith(f"{{{NS['faceclust']}}}") for element in root.iter()):
            return None  # nothing of ours in it, nothing to add: not even re-serialized
    elif not faces:
        return None
    else:
        root = ElementTree.fromstring(EMPTY)
    regions = []
    dimensions = None
    if faces:
        if not os.path.isfile(photo):
            raise ImageLoadError(photo, "photo not found")
        orientation, (height, width), _ = read_header(photo)
        regions = [stored_region(name, box, orientation, height, width) for name, box in faces]
        # The stored image's size: a quarter turn swaps the upright one's.
        dimensions = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    rdf = root if root.tag == tag("rdf:RDF") else root.find(tag("rdf:RDF"))
    if rdf is None:
        raise XmpError("no rdf:RDF element")
    _merge_regions(rdf, regions, dimensions)
    _merge_names(rdf, list(dict.fromkeys(name for name, _ in faces)))
    _register_prefixes(old)
    new = (PACKET_START + ElementTree.tostring(root, encoding="unicode") + PACKET_END).encode("utf-8")
    if new == old:
        return "unchanged"
    try:
        atomic_write_bytes(sidecar, new)
    except OutputError as error:
        raise OSError(str(error)) from None
    return "written" if old is None else "updated"


def _register_prefixes(packet: bytes | None) -> None:
    """Write the prefixes the sidecar used, and ours (ElementTree would write ns0:, ns1:, ...
    otherwise). Called after the packet was parsed safely: it declares no entities to expand.
    ElementTree keeps prefixes for the whole process; each sidecar sets its own before writing."""
    used = (
        [pair for _, pair in ElementTree.iterparse(io.BytesIO(packet), events=("start-ns",))]
        if packet is not None
        else []
    )
    for prefix, uri in [*NS.items(), *used]:
        try:
            ElementTree.register_namespace(prefix, uri)
        except ValueError:  # a prefix ElementTree keeps for itself (ns0, ns1, ...)
            continue


def _description(rdf: ElementTree.Element) -> ElementTree.Element:
    description = rdf.find(tag("rdf:Description"))
    if description is None:
        description = ElementTree.SubElement(rdf, tag("rdf:Description"), {tag("rdf:about"): ""})
    return description


def _child(parent: ElementTree.Element, name: str) -> ElementTree.Element:
    """``parent``'s first ``name`` element, made if it has none."""
    child = parent.find(tag(name))
    return ElementTree.SubElement(parent, tag(name)) if child is None else child


def _struct(element: ElementTree.Element) -> ElementTree.Element:
    inner = element.find(tag("rdf:Description"))
    return element if inner is None else inner


def _merge_regions(
    rdf: ElementTree.Element, regions: list[Region], dimensions: tuple[int, int] | None
) -> None:
    holder, regions_element = None, None
    for description in rdf.iter(tag("rdf:Description")):
        found = description.find(tag("mwg-rs:Regions"))
        if found is not None:
            holder, regions_element = description, found
            break
    if regions_element is None:
        if not regions:
            return
        holder = _description(rdf)
        regions_element = ElementTree.SubElement(
            holder, tag("mwg-rs:Regions"), {tag("rdf:parseType"): "Resource"}
        )
    struct = _struct(regions_element)
    bag = _child(_child(struct, "mwg-rs:RegionList"), "rdf:Bag")
    for li in list(bag):
        if _struct(li).find(tag("faceclust:Source")) is not None:
            bag.remove(li)
    if not len(bag) and not regions:
        # Only this tool's regions were there: the whole property goes with them.
        holder.remove(regions_element)
        return
    if dimensions is not None and struct.find(tag("mwg-rs:AppliedToDimensions")) is None:
        width, height = dimensions
        applied = ElementTree.Element(
            tag("mwg-rs:AppliedToDimensions"),
            {tag("stDim:w"): str(width), tag("stDim:h"): str(height), tag("stDim:unit"): "pixel"},
        )
        struct.insert(0, applied)
    for region in regions:
        li = ElementTree.SubElement(bag, tag("rdf:li"), {tag("rdf:parseType"): "Resource"})
        ElementTree.SubElement(li, tag("mwg-rs:Type")).text = "Face"
        ElementTree.SubElement(li, tag("mwg-rs:Name")).text = region.name
        area = {
            tag(f"stArea:{axis}"): f"{min(max(value, 0.0), 1.0):.{DIGITS}f}"
            for axis, value in zip("xywh", (region.x, region.y, region.w, region.h), strict=True)
        }
        area[tag("stArea:unit")] = "normalized"
        ElementTree.SubElement(li, tag("mwg-rs:Area"), area)
        ElementTree.SubElement(li, tag("faceclust:Source")).text = SOURCE


def _bag_texts(element: ElementTree.Element | None) -> list[str]:
    if element is None:
        return []
    return [(li.text or "").strip() for li in element.iter(tag("rdf:li"))]


def _merge_names(rdf: ElementTree.Element, names: list[str]) -> None:
    earlier: set[str] = set()
    for candidate in rdf.iter(tag("rdf:Description")):
        ours = candidate.find(tag("faceclust:Names"))
        if ours is not None:
            earlier.update(_bag_texts(ours))
            candidate.remove(ours)
    description = _description(rdf)
    people = None
    for candidate in rdf.iter(tag("rdf:Description")):
        people = candidate.find(tag("Iptc4xmpExt:PersonInImage"))
        if people is not None:
            description = candidate
            break
    if people is None and not names:
        return
    if people is None:
        people = ElementTree.SubElement(description, tag("Iptc4xmpExt:PersonInImage"))
    bag = _child(people, "rdf:Bag")
    for li in list(bag):
        if (li.text or "").strip() in earlier:
            bag.remove(li)
    present = set(_bag_texts(bag))
    for name in names:
        if name not in present:
            ElementTree.SubElement(bag, tag("rdf:li")).text = name
    if not len(bag):
        description.remove(people)
    if names:
        mine = ElementTree.SubElement(description, tag("faceclust:Names"))
        mine_bag = ElementTree.SubElement(mine, tag("rdf:Bag"))
        for name in names:
            ElementTree.SubElement(mine_bag, tag("rdf:li")).text = name
