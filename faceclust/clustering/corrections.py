"""corrections.json: what a user changed in the gallery, replayed onto every later run.

One JSON object, written by the gallery page or by hand::

    {"format": "faceclust-corrections", "version": 1,
     "corrections": [{"action": "name", "name": "Anna",
                      "faces": [{"image_path": "photos/a.jpg", "box": [40, 120, 110, 50]}]}]}

A face is named by its photo (the path as stored in the encodings) and its box (top, right,
bottom, left), so a correction outlives the face IDs, which change whenever photos are added.
The actions, replayed in order; where two say opposite things about a face, the later wins:

- ``name`` (``faces``, ``name``): these faces are one person called ``name`` ("" removes it);
- ``merge`` (``faces``, optional ``name``): these faces, and the groups they lie in, are one person;
- ``move`` (``faces``, ``from``, optional ``to``): these faces are not the person of the faces
  in ``from``; they are the person of the faces in ``to``, or nobody known when it is absent;
- ``apart`` (``faces``, ``from``): these faces are not the person of the faces in ``from``;
  unlike ``move``, nobody leaves a group (the gallery's answer "different people" to a
  question about two groups);
- ``not_a_face`` (``faces``): these detections are not faces: left out of everything;
- ``ignore`` (``faces``): the person of these faces is left out of groups and montages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceclustError
from ..records import Box, Face, FaceKey, key_entry
from . import LinkConstraints

FORMAT = "faceclust-corrections"
VERSION = 1
ACTIONS = ("name", "merge", "move", "apart", "not_a_face", "ignore")
# A box matches a face of the same photo whose box overlaps it this much (intersection over
# union), so a correction survives re-encoding with settings that move boxes a few pixels.
MATCHING_OVERLAP = 0.5
LISTED = 3  # photos named in a note before "and N more"


class CorrectionsError(FaceclustError):
    """A corrections file cannot be read or is not in the corrections format."""


@dataclass(frozen=True)
class Correction:
    """One change a user made; see the module's docstring for what each action means."""

    action: str
    faces: tuple[FaceKey, ...]
    name: str | None = None
    away_from: tuple[FaceKey, ...] = ()  # "from" in the file
    to: tuple[FaceKey, ...] = ()

    def as_dict(self) -> dict:
        entry: dict = {"action": self.action, "faces": [key_entry(key) for key in self.faces]}
        if self.name is not None:
            entry["name"] = self.name
        if self.action in ("move", "apart"):
            entry["from"] = [key_entry(key) for key in self.away_from]
            if self.to:
                entry["to"] = [key_entry(key) for key in self.to]
        return entry


def read_corrections(path: str | os.PathLike[str]) -> list[Correction]:
    """The corrections of a corrections.json file, in order."""
    try:
        with open(path, encoding="utf-8") as stream:
            document = json.load(stream)
    except OSError as error:
        raise CorrectionsError(f"cannot read corrections file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CorrectionsError(f"corrections file {path} is not UTF-8 text") from None
    except ValueError as error:
        raise CorrectionsError(f"corrections file {path} is not JSON ({error})") from None
    return parse_corrections(document, str(path))


def parse_corrections(document: object, source: str = "corrections") -> list[Correction]:
    """Validate a corrections document (already decoded from JSON) and return its corrections."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CorrectionsError(f'{source} is not a corrections file (no "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION:
        raise CorrectionsError(
            f"{source} is corrections format version {version!r}; this version of faceclust reads {VERSION}"
        )
    entries = document.get("corrections")
    if not isinstance(entries, list):
        raise CorrectionsError(f'{source}: "corrections" must be a list')
    return [_parse_entry(entry, f"{source}, correction {number}") for number, entry in enumerate(entries, 1)]


def _parse_entry(entry: object, where: str) -> Correction:
    if not isinstance(entry, dict):
        raise CorrectionsError(f"{where}: expected an object, found {type(entry).__name__}")
    action = entry.get("action")
    if action not in ACTIONS:
        raise CorrectionsError(f"{where}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
    faces = _parse_faces(entry.get("faces"), f"{where} ({action}), faces")
    if not faces:
        raise CorrectionsError(f"{where} ({action}): names no faces")
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        raise CorrectionsError(f"{where} ({action}): name must be text")
    if action == "name" and name is None:
        raise CorrectionsError(f"{where} (name): has no name")
    away_from = to = ()
    if action == "move":
        away_from = _parse_faces(entry.get("from", []), f"{where} (move), from")
        to = _parse_faces(entry.get("to") or [], f"{where} (move), to")
    if action == "apart":
        away_from = _parse_faces(entry.get("from"), f"{where} (apart), from")
        if not away_from:
            raise CorrectionsError(f"{where} (apart): from names no faces")
    return Correction(action, faces, None if name is None else name.strip(), away_from, to)


def _parse_faces(value: object, where: str) -> tuple[FaceKey, ...]:
    if not isinstance(value, list):
        raise CorrectionsError(f"{where}: expected a list of faces")
    keys = []
    for face in value:
        path = face.get("image_path") if isinstance(face, dict) else None
        box = face.get("box") if isinstance(face, dict) else None
        time = face.get("time") if isinstance(face, dict) else None
        if (
            not isinstance(path, str)
            or not isinstance(box, list)
            or len(box) != 4
            or not all(isinstance(value, int) and not isinstance(value, bool) for value in box)
            or not (time is None or (isinstance(time, int | float) and not isinstance(time, bool)))
        ):
            raise CorrectionsError(
                f'{where}: each face must be {{"image_path": text, "box": [top, right, bottom, left]}} '
                f'(and "time": seconds, for a face in a video), not {json.dumps(face)[:120]}'
            )
        keys.append((path, (box[0], box[1], box[2], box[3]), None if time is None else float(time)))
    return tuple(keys)


def corrections_document(corrections: Sequence[Correction]) -> dict:
    """The JSON object of a corrections file holding ``corrections``."""
    return {"format": FORMAT, "version": VERSION, "corrections": [c.as_dict() for c in corrections]}


@dataclass
class CorrectionPlan:
    """Corrections matched to the faces of one encodings file, ready for the clustering.

    ``kept``: indices (into the encodings' faces) of the faces to cluster, every face but the
    ones marked not a face, which are ``not_faces``. ``links`` is in indices of ``kept``. Per
    group of ``links``: ``names`` (None: no name given) and ``ignored`` (the person is left
    out). ``notes``: what could not be applied, and which later correction won over an
    earlier one, for the user.
    """

    kept: np.ndarray
    not_faces: np.ndarray
    links: LinkConstraints
    names: list[str | None]
    ignored: list[bool]
    notes: list[str] = field(default_factory=list)
    applied: int = 0


def plan_corrections(
    corrections: Sequence[Correction], faces: Sequence[Face], tagged: Sequence[Correction] = ()
) -> CorrectionPlan:
    """Replay ``corrections`` on ``faces``: which faces go together, apart, or nowhere. The
    names other programs tagged (``tagged``, from :func:`corrections_from_tags`) are replayed
    first, so that every correction of the user's wins over them."""

    def label(number: int) -> str:
        if number <= len(tagged):
            return f"the face tags naming {tagged[number - 1].name}"
        return f"correction #{number - len(tagged)}"

    matcher = _FaceMatcher(faces)
    replay = _Replay(faces, label)
    applied = 0
    for number, correction in enumerate([*tagged, *corrections], 1):
        # The matcher's notes number the user's corrections as the file does.
        found = matcher.indices(correction.faces, number - len(tagged))
        if not found:
            continue
        applied += number > len(tagged)
        away_from = matcher.indices(correction.away_from, number - len(tagged))
        to = matcher.indices(correction.to, number - len(tagged))
        replay.apply(number, correction, found, away_from, to)
    notes = matcher.notes() + replay.notes
    plan = replay.plan(len(faces))
    plan.notes = notes
    plan.applied = applied
    return plan


# A face other programs tagged matches our face in the same photo whose box overlaps the
# tag's this much (intersection over union), the best first: their regions are drawn by hand or
# by other detectors, looser or tighter than dlib's boxes (a region half again as wide and tall
# as the face overlaps it by 0.44).
TAG_OVERLAP = 0.3


def corrections_from_tags(tags: dict[str, list[tuple[str, Box]]], faces: Sequence[Face]) -> list[Correction]:
    """One ``name`` correction per name that other programs tagged faces of ``faces`` with
    (``tags``: by photo, each tag's name and box), naming the faces the tags cover: the same
    name is the same person, as in the gallery. A tag matches at most one face, the face at
    most one tag."""
    by_photo: dict[str, list[Face]] = {}
    for face in faces:
        if face.time is None:  # tags name regions of photos, not of a video's frames
            by_photo.setdefault(face.image_path, []).append(face)
    named: dict[str, list[FaceKey]] = {}
    for photo, photo_tags in tags.items():
        candidates = by_photo.get(photo, [])
        pairs = sorted(
            (
                (_overlap(face.box, box), number, position)
                for number, (_, box) in enumerate(photo_tags)
                for position, face in enumerate(candidates)
            ),
            reverse=True,
        )
        used_tags, used_faces = set(), set()
        for overlap, number, position in pairs:
            if overlap < TAG_OVERLAP:
                break
            if number in used_tags or position in used_faces:
                continue
            used_tags.add(number)
            used_faces.add(position)
            named.setdefault(photo_tags[number][0], []).append(candidates[position].key)
    return [Correction("name", tuple(keys), name) for name, keys in sorted(named.items())]


class _FaceMatcher:
    """Finds the face a key names: same photo (or video frame), same box or the one overlapping
    it most."""

    def __init__(self, faces: Sequence[Face]):
        self.by_frame: dict[tuple[str, float | None], list[tuple[Box, int]]] = {}
        self.photos = {face.image_path for face in faces}
        for index, face in enumerate(faces):
            self.by_frame.setdefault((face.image_path, face.time), []).append((tuple(face.box), index))
        self.missing_photos: dict[str, set[int]] = {}
        self.missing_faces: dict[str, set[int]] = {}

    def indices(self, keys: Sequence[FaceKey], number: int) -> list[int]:
        found = []
        for path, box, time in keys:
            if path not in self.photos:
                self.missing_photos.setdefault(path, set()).add(number)
                continue
            candidates = self.by_frame.get((path, time))
            if candidates is None:
                self.missing_faces.setdefault(path, set()).add(number)
                continue
            best = max(candidates, key=lambda candidate: _overlap(candidate[0], box))
            if best[0] != box and _overlap(best[0], box) < MATCHING_OVERLAP:
                self.missing_faces.setdefault(path, set()).add(number)
                continue
            found.append(best[1])
        return list(dict.fromkeys(found))

    def notes(self) -> list[str]:
        notes = []
        if self.missing_photos:
            verb = "is" if len(self.missing_photos) == 1 else "are"
            notes.append(
                f"{_count(self.missing_photos, 'photo')} named by {_numbers(self.missing_photos)} {verb} no "
                f"longer in the encodings; their faces were skipped: {_first(self.missing_photos)}"
            )
        if self.missing_faces:
            verb = "has" if len(self.missing_faces) == 1 else "have"
            notes.append(
                f"{_count(self.missing_faces, 'photo')} no longer {verb} a face where {_numbers(self.missing_faces)} "
                f"say; those faces were skipped: {_first(self.missing_faces)}"
            )
        return notes


def _overlap(first: Box, second: Box) -> float:
    top, right = max(first[0], second[0]), min(first[1], second[1])
    bottom, left = min(first[2], second[2]), max(first[3], second[3])
    inside = max(0, bottom - top) * max(0, right - left)
    area = (first[2] - first[0]) * (first[1] - first[3]) + (second[2] - second[0]) * (second[1] - second[3])
    return inside / (area - inside) if area > inside else 0.0


def _count(photos: dict, noun: str) -> str:
    return f"{len(photos)} {noun}{'s' if len(photos) != 1 else ''}"


def _numbers(photos: dict[str, set[int]]) -> str:
    numbers = sorted(set().union(*photos.values()))
    shown = ", ".join(f"#{n}" for n in numbers[:LISTED])
    noun = "correction" if len(numbers) == 1 else "corrections"
    return f"{noun} {shown}" + (f" and {len(numbers) - LISTED} more" if len(numbers) > LISTED else "")


def _first(photos: dict) -> str:
    paths = sorted(photos)
    return ", ".join(paths[:LISTED]) + (f" and {len(paths) - LISTED} more" if len(paths) > LISTED else "")


class _Replay:
    """The corrections' effect, face by face: who is with whom (tags), apart, or left out.

    Every face a correction names gets a tag; faces with one tag must end in one cluster.
    Each face also remembers which correction put it with others, and each pair kept apart
    which correction did so, to say which one won when a later correction undoes it.
    """

    def __init__(self, faces: Sequence[Face], label: Callable[[int], str]):
        self.faces = faces
        # How a note names the correction of a number.
        self.label = label
        self.tag_of: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}
        self.name: dict[int, str] = {}
        self.ignored: set[int] = set()
        self.joined_by: dict[int, int] = {}  # face -> the correction that put it with others
        self.apart: dict[int, dict[int, int]] = {}  # face -> {face kept apart from it: correction}
        self.not_faces: dict[int, int] = {}
        self.next_tag = 0
        self.notes: list[str] = []

    def _tag(self, face: int) -> int:
        if face not in self.tag_of:
            self.tag_of[face] = self.next_tag
            self.members[self.next_tag] = {face}
            self.next_tag += 1
        return self.tag_of[face]

    def _describe(self, face: int) -> str:
        return f"the face in {self.faces[face].image_path}"

    def apply(self, number: int, correction: Correction, found: list[int], away: list[int], to: list[int]):
        action = correction.action
        if action in ("name", "merge", "ignore"):
            tag = self._unite(number, found)
            if correction.name is not None:
                if correction.name:
                    self.name[tag] = correction.name
                else:
                    self.name.pop(tag, None)
            if action == "ignore":
                self.ignored.add(tag)
        elif action == "move":
            for face in found:
                self._take_out(number, face, "takes")
            for face in found:
                for other in away:
                    if other not in found:
                        self._tag(other)
                        self.apart.setdefault(face, {})[other] = number
                        self.apart.setdefault(other, {})[face] = number
                if to:
                    self._unite(number, [face, *to])
        elif action == "apart":
            for face in found:
                for other in away:
                    if other in found:
                        continue
                    if self.tag_of.get(face) is not None and self.tag_of.get(face) == self.tag_of.get(other):
                        self.notes.append(
                            f"{self.label(number)} keeps {self._describe(face)} apart from "
                            f"{self._describe(other)}, which an earlier correction put together: the earlier "
                            "one stands"
                        )
                        continue
                    self._tag(face)
                    self._tag(other)
                    self.apart.setdefault(face, {})[other] = number
                    self.apart.setdefault(other, {})[face] = number
        elif action == "not_a_face":
            for face in found:
                self._take_out(number, face, "marks not a face")
                self.not_faces[face] = number

    def _take_out(self, number: int, face: int, verb: str) -> None:
        """The face leaves its group (and its name, and an ignored person) for a tag of its own."""
        self.not_faces.pop(face, None)
        tag = self._tag(face)
        earlier = self.joined_by.pop(face, None)
        if len(self.members[tag]) > 1 and earlier is not None:
            self.notes.append(
                f"{self.label(number)} {verb} {self._describe(face)}, which {self.label(earlier)} put "
                f"with others: the later one wins"
            )
        self.members[tag].discard(face)
        if not self.members[tag]:
            del self.members[tag]
            self.name.pop(tag, None)
            self.ignored.discard(tag)
        del self.tag_of[face]
        self._tag(face)

    def _unite(self, number: int, faces: list[int]) -> int:
        tags = list(dict.fromkeys(self._tag(face) for face in faces))
        target = tags[0]
        names = list(dict.fromkeys(self.name[tag] for tag in tags if tag in self.name))
        if len(names) > 1:
            self.notes.append(
                f"{self.label(number)} puts together people named {' and '.join(names)}: "
                f"the group is called {names[0]}"
            )
        for tag in tags[1:]:
            for face in self.members.pop(tag):
                self.tag_of[face] = target
                self.members[target].add(face)
            if tag in self.ignored:
                self.ignored.discard(tag)
                self.ignored.add(target)
            if tag in self.name and target not in self.name:
                self.name[target] = self.name[tag]
            self.name.pop(tag, None)
        members = self.members[target]
        if len(members) > 1:
            for face in faces:
                self.joined_by[face] = number
        for face in faces:
            if face in self.not_faces:
                earlier = self.not_faces.pop(face)
                self.notes.append(
                    f"{self.label(number)} puts {self._describe(face)} in a group after "
                    f"{self.label(earlier)} marked it not a face: the later one wins"
                )
        for face in list(members):
            for other, earlier in list(self.apart.get(face, {}).items()):
                if other in members:
                    del self.apart[face][other]
                    del self.apart[other][face]
                    if face < other:
                        self.notes.append(
                            f"{self.label(number)} puts {self._describe(face)} together with "
                            f"{self._describe(other)}, which {self.label(earlier)} kept apart: "
                            "the later one wins"
                        )
        return target

    def plan(self, face_count: int) -> CorrectionPlan:
        # One name, one person: groups given the same name are one group.
        by_name: dict[str, int] = {}
        for tag, name in sorted(self.name.items()):
            if name in by_name and tag in self.members:
                first = by_name[name]
                for face in self.members.pop(tag):
                    self.tag_of[face] = first
                    self.members[first].add(face)
                if tag in self.ignored:
                    self.ignored.add(first)
            else:
                by_name.setdefault(name, tag)
        self.name = {tag: name for tag, name in self.name.items() if tag in self.members}

        not_faces = np.array(sorted(self.not_faces), dtype=np.int64)
        kept = np.setdiff1d(np.arange(face_count, dtype=np.int64), not_faces)
        position = np.full(face_count, -1, dtype=np.int64)
        position[kept] = np.arange(len(kept))

        involved = {
            self.tag_of[face] for face, others in self.apart.items() if others and face in self.tag_of
        }
        tags = [
            tag
            for tag in sorted(self.members)
            if len(self.members[tag]) > 1 or tag in self.name or tag in self.ignored or tag in involved
        ]
        groups, numbers = [], {}
        for tag in tags:
            members = [face for face in sorted(self.members[tag]) if face not in self.not_faces]
            if members:
                numbers[tag] = len(groups)
                groups.append(position[members])
        tags = [tag for tag in tags if tag in numbers]
        apart = set()
        for face, others in self.apart.items():
            for other in others:
                first, second = numbers.get(self.tag_of.get(face)), numbers.get(self.tag_of.get(other))
                if first is not None and second is not None and first != second:
                    apart.add((min(first, second), max(first, second)))
        # Different names, or a name and an ignored person, are different people.
        distinct = [(numbers[tag], self.name.get(tag), tag in self.ignored) for tag in tags]
        distinct = [entry for entry in distinct if entry[1] is not None or entry[2]]
        for position_a, (first, first_name, _) in enumerate(distinct):
            for second, second_name, _ in distinct[position_a + 1 :]:
                if first_name != second_name:
                    apart.add((first, second))
        kept_groups = tuple(
            len(self.members[tag]) > 1 or tag in self.name or tag in self.ignored for tag in tags
        )
        return CorrectionPlan(
            kept=kept,
            not_faces=not_faces,
            links=LinkConstraints(groups, frozenset(apart), kept_groups),
            names=[self.name.get(tag) for tag in tags],
            ignored=[tag in self.ignored for tag in tags],
        )
