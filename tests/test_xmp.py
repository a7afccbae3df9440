"""Reading face regions from XMP: MWG and Microsoft Photo regions, orientation, hostile packets."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faceclust.photos.xmp import (
    XmpError,
    named_regions,
    parse_packet,
    read_face_tags,
    stored_region,
    upright_box,
)

MWG = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
  xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:faceclust="urn:faceclust:xmp:1"
  xmlns:MP="http://ns.microsoft.com/photo/1.2/" xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
  xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
 <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
  <rdf:li><rdf:Description mwg-rs:Name="Anna" mwg-rs:Type="Face">
   <mwg-rs:Area stArea:x="0.25" stArea:y="0.5" stArea:w="0.1" stArea:h="0.2" stArea:unit="normalized"/>
  </rdf:Description></rdf:li>
  <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Pet</mwg-rs:Name><mwg-rs:Type>Pet</mwg-rs:Type>
   <mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.1" stArea:h="0.1"/></rdf:li>
  <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Ours</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
   <mwg-rs:Area stArea:x="0.7" stArea:y="0.5" stArea:w="0.1" stArea:h="0.1"/>
   <faceclust:Source>cluster_faces.py</faceclust:Source></rdf:li>
  <rdf:li rdf:parseType="Resource"><mwg-rs:Type>Face</mwg-rs:Type>
   <mwg-rs:Area stArea:x="0.9" stArea:y="0.5" stArea:w="0.1" stArea:h="0.1"/></rdf:li>
 </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
 <MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
  <rdf:li MPReg:PersonDisplayName="Ben" MPReg:Rectangle="0.1, 0.2, 0.3, 0.4"/>
 </rdf:Bag></MPRI:Regions></MP:RegionInfo>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_named_face_regions_of_mwg_and_microsoft_photo_are_read_and_others_skipped():
    regions = named_regions(parse_packet(MWG.encode()))
    assert [(r.name, r.ours) for r in regions] == [("Anna", False), ("Ours", True), ("Ben", False)]
    anna, _, ben = regions
    assert (anna.x, anna.y, anna.w, anna.h) == (0.25, 0.5, 0.1, 0.2)
    # Microsoft's rectangle is its top-left corner and size: its centre is 0.1 + 0.15, 0.2 + 0.2.
    assert (ben.x, ben.y, ben.w, ben.h) == pytest.approx((0.25, 0.4, 0.3, 0.4))


@given(
    orientation=st.integers(1, 8),
    height=st.integers(50, 4000),
    width=st.integers(50, 4000),
    corner=st.tuples(st.floats(0, 0.7), st.floats(0, 0.7)),
    size=st.tuples(st.floats(0.05, 0.3), st.floats(0.05, 0.3)),
)
def test_a_box_carried_to_the_stored_image_and_back_is_the_same_box(orientation, height, width, corner, size):
    top, left = round(corner[0] * height), round(corner[1] * width)
    box = (top, left + round(size[1] * width), top + round(size[0] * height), left)
    region = stored_region("x", box, orientation, height, width)
    assert all(0 <= value <= 1 for value in (region.x, region.y, region.w, region.h))
    back = upright_box(region, orientation, height, width)
    assert max(abs(a - b) for a, b in zip(back, box, strict=True)) <= 1


def test_a_quarter_turn_moves_the_region_where_the_turned_pixels_go():
    # A photo stored as 400 x 300 (width x height) with orientation 6 shows upright as 300 x 400:
    # the stored top-left corner is the upright top-right.
    stored_top_left = stored_region("x", (0, 300, 40, 260), 6, 400, 300)
    assert (stored_top_left.x, stored_top_left.y) == pytest.approx((0.05, 0.0667), abs=1e-3)
    assert (stored_top_left.w, stored_top_left.h) == pytest.approx((40 / 400, 40 / 300))


HOSTILE = {
    "external entity": b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file://{secret}">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/">
<mwg-rs:Name>&secret;</mwg-rs:Name></rdf:Description></rdf:RDF></x:xmpmeta>""",
    "entity expansion": b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/">
<mwg-rs:Name>&g;</mwg-rs:Name></rdf:Description></rdf:RDF></x:xmpmeta>""",
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_a_hostile_sidecar_is_refused_at_once_and_read_for_nothing(tmp_path, attack):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN-4f2a9c\n")
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"")
    (tmp_path / "p.jpg.xmp").write_bytes(HOSTILE[attack].replace(b"{secret}", str(secret).encode()))
    started = time.perf_counter()
    tagged = read_face_tags(str(photo), None, 1, (300, 400))
    assert time.perf_counter() - started < 0.5  # refused before any expansion
    assert tagged.tags == [] and tagged.refused == "p.jpg.xmp: refused as unsafe: DTDForbidden"
    with pytest.raises(XmpError, match="refused as unsafe"):
        parse_packet(HOSTILE[attack])


def test_a_packet_that_is_not_xml_or_too_large_is_refused_with_its_reason():
    with pytest.raises(XmpError, match="not well-formed XML"):
        parse_packet(b"<x:xmpmeta><unclosed>")
    with pytest.raises(XmpError, match="larger than"):
        parse_packet(b" " * 5_000_000)
