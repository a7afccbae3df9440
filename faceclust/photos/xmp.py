"""XMP face regions: named faces other photo programs (digiKam, Lightroom, Picasa, Windows Photo
Gallery, Immich) keep in a photo or its sidecar, read safely, and the orientation maths that
carries a region between the stored photo and the upright one our boxes live in.

XMP in a user's photos is untrusted input: it is parsed with defusedxml, which refuses
document type declarations (so no external entities and no entity expansion), and a packet
larger than :data:`MAX_PACKET` bytes is refused before parsing.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from ..errors import ImageLoadError
from ..records import Box
from .images import SIDECAR_SUFFIX, read_header

# A sidecar or embedded packet larger than this is refused unread: face regions and a
# library's keywords take kilobytes; a packet of megabytes is an embedded preview or an attack.
MAX_PACKET = 4_000_000

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "MP": "http://ns.microsoft.com/photo/1.2/",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    # What marks the regions and names this tool wrote, so that a later run replaces them and
    # leaves every other program's alone.
    "faceclust": "urn:faceclust:xmp:1",
}


def tag(prefixed: str) -> str:
    """``"mwg-rs:Name"`` as ElementTree spells it: ``"{namespace}Name"``."""
    prefix, name = prefixed.split(":")
    return f"{{{NS[prefix]}}}{name}"


class XmpError(Exception):
    """A packet that is not well-formed, safe XMP; ``str(error)`` says why in a few words."""


def parse_packet(data: bytes) -> ElementTree.Element:
    """The root element of an XMP packet, refused (:class:`XmpError`) if it is too large, not
    well-formed XML, or declares a document type (entities, external or nested)."""
    if len(data) > MAX_PACKET:
        raise XmpError(f"larger than {MAX_PACKET:,} bytes")
    try:
        return SafeElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as error:
        raise XmpError(f"refused as unsafe: {type(error).__name__}") from None
    except ElementTree.ParseError as error:
        raise XmpError(f"not well-formed XML ({error})") from None


def sidecars(photo: str | os.PathLike[str]) -> list[Path]:
    """Where other programs keep a photo's sidecar: ``PHOTO.EXT.xmp`` (digiKam, darktable,
    Immich), then ``PHOTO.xmp`` (Lightroom, Capture One)."""
    path = Path(photo)
    return [path.with_name(path.name + SIDECAR_SUFFIX), path.with_suffix(SIDECAR_SUFFIX)]


@dataclass(frozen=True)
class Region:
    """A named face region as stored: its centre and size as fractions of the stored image."""

    name: str
    x: float
    y: float
    w: float
    h: float
    # Written by this tool (a later run replaces it).
    ours: bool = False


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0.0 <= number <= 1.0 else None


def _field(element: ElementTree.Element, name: str) -> str | None:
    """A property of a struct, written as an attribute or as a child element."""
    value = element.get(tag(name))
    if value is not None:
        return value
    child = element.find(tag(name))
    return None if child is None else (child.text or "").strip()


def _struct(li: ElementTree.Element) -> ElementTree.Element:
    """A list item's struct: the item itself (rdf:parseType="Resource") or its rdf:Description."""
    description = li.find(tag("rdf:Description"))
    return li if description is None else description


def _area(struct: ElementTree.Element, name: str) -> ElementTree.Element | None:
    area = struct.find(tag(name))
    return None if area is None else _struct(area)


def named_regions(root: ElementTree.Element) -> list[Region]:
    """Every named face region of the packet: MWG regions (``mwg-rs:Regions``, of type Face or
    of no type) and Microsoft Photo's (``MP:RegionInfo``, whose rectangle is its top-left
    corner and size)."""
    regions = []
    for li in root.iterfind(f".//{tag('mwg-rs:RegionList')}//{tag('rdf:li')}"):
        struct = _struct(li)
        name, kind = _field(struct, "mwg-rs:Name"), _field(struct, "mwg-rs:Type")
        area = _area(struct, "mwg-rs:Area")
        if not name or kind not in (None, "", "Face") or area is None:
            continue
        numbers = [_number(_field(area, f"stArea:{axis}")) for axis in "xywh"]
        if None not in numbers:
            ours = _field(struct, "faceclust:Source") is not None
            regions.append(Region(name, *numbers, ours=ours))
    for li in root.iterfind(f".//{tag('MPRI:Regions')}//{tag('rdf:li')}"):
        struct = _struct(li)
        name, rectangle = _field(struct, "MPReg:PersonDisplayName"), _field(struct, "MPReg:Rectangle")
        if not name or not rectangle:
            continue
        numbers = [_number(part.strip()) for part in rectangle.split(",")]
        if len(numbers) == 4 and None not in numbers:
            left, top, width, height = numbers
            regions.append(Region(name, left + width / 2, top + height / 2, width, height))
    return regions


# EXIF orientation: where a point of the stored image, as fractions (x right, y down), lies in
# the upright image. 6 and 8 turn a quarter (width and height swap); 5 and 7 also mirror.
_UPRIGHT = {
    1: lambda x, y: (x, y),
    2: lambda x, y: (1 - x, y),
    3: lambda x, y: (1 - x, 1 - y),
    4: lambda x, y: (x, 1 - y),
    5: lambda x, y: (y, x),
    6: lambda x, y: (1 - y, x),
    7: lambda x, y: (1 - y, 1 - x),
    8: lambda x, y: (y, 1 - x),
}
# Each turn's undoing: a quarter turn one way is undone by one the other way.
_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def _turned(region: Region, orientation: int) -> Region:
    x, y = _UPRIGHT.get(orientation, _UPRIGHT[1])(region.x, region.y)
    w, h = (region.h, region.w) if orientation in (5, 6, 7, 8) else (region.w, region.h)
    return Region(region.name, x, y, w, h, region.ours)


def upright_box(region: Region, orientation: int, height: int, width: int) -> Box:
    """The region's ``(top, right, bottom, left)`` in pixels of the upright ``height`` x
    ``width`` photo, from its place in the stored one of that EXIF ``orientation``."""
    turned = _turned(region, orientation)
    left, right = (turned.x - turned.w / 2) * width, (turned.x + turned.w / 2) * width
    top, bottom = (turned.y - turned.h / 2) * height, (turned.y + turned.h / 2) * height
    return (round(top), round(right), round(bottom), round(left))


def stored_region(name: str, box: Box, orientation: int, height: int, width: int) -> Region:
    """The region, in fractions of the stored image, of face ``box`` found in the upright
    ``height`` x ``width`` photo whose stored image has EXIF ``orientation``."""
    top, right, bottom, left = box
    upright = Region(
        name,
        (left + right) / 2 / width,
        (top + bottom) / 2 / height,
        (right - left) / width,
        (bottom - top) / height,
    )
    return _turned(upright, _INVERSE.get(orientation, 1))


@dataclass
class FaceTags:
    """The named faces a photo's metadata holds, in pixels of the upright photo; the newest
    modification time of its sidecars (0: none), which tells a later run whether to read them
    again; and why a packet was refused, if one was."""

    tags: list[tuple[str, Box]]
    sidecar_stamp: int = 0
    refused: str | None = None


def sidecar_stamp(photo: str | os.PathLike[str]) -> int:
    """The newest modification time of ``photo``'s sidecars, in nanoseconds; 0 if it has none.
    On every re-run, for every photo: plain strings and stat, no Path objects (a third of the
    time of a re-run's 700 unchanged photos went to building them)."""
    name = os.fspath(photo)
    newest = 0
    for sidecar in (name + SIDECAR_SUFFIX, os.path.splitext(name)[0] + SIDECAR_SUFFIX):
        try:
            newest = max(newest, os.stat(sidecar).st_mtime_ns)
        except OSError:
            continue
    return newest


def read_face_tags(
    photo: str | os.PathLike[str], embedded: bytes | None, orientation: int, full_size: tuple[int, int]
) -> FaceTags:
    """The named face regions of ``photo``'s embedded XMP packet and of its sidecars, as boxes of
    the upright ``full_size`` (height, width) photo. Regions this tool wrote are left out: its
    own names come back through the corrections, not as tags. A packet that cannot be read
    safely is skipped, and said."""
    height, width = full_size
    found: list[tuple[str, Box]] = []
    refused = []
    packets: list[tuple[str, bytes]] = [("embedded XMP", embedded)] if embedded else []
    for sidecar in sidecars(photo):
        try:
            if sidecar.stat().st_size > MAX_PACKET:
                refused.append(f"{sidecar.name}: larger than {MAX_PACKET:,} bytes")
                continue
            packets.append((sidecar.name, sidecar.read_bytes()))
        except OSError:
            continue
    for source, packet in packets:
        try:
            regions = named_regions(parse_packet(packet))
        except XmpError as error:
            refused.append(f"{source}: {error}")
            continue
        for region in regions:
            if region.ours or not (height and width):
                continue
            tagged = (region.name, upright_box(region, orientation, height, width))
            if tagged not in found:
                found.append(tagged)
    return FaceTags(found, sidecar_stamp(photo), "; ".join(refused) or None)


def face_tags_of(photo: str) -> FaceTags:
    """:func:`read_face_tags` for a photo not being decoded: its header read for the purpose."""
    try:
        orientation, full_size, embedded = read_header(photo)
    except ImageLoadError:
        return FaceTags([], sidecar_stamp(photo))
    return read_face_tags(photo, embedded, orientation, full_size)
