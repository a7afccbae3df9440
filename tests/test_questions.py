"""Which "same person?" questions a clustering asks, and what their answers do."""

import numpy as np

from faceclust.clustering.corrections import Correction, plan_corrections
from faceclust.clustering.questions import ask, corrections_for
from faceclust.records import Face

CUT = 0.55


def person(rng, centre, count, spread=0.06):
    return centre + rng.normal(0, spread / np.sqrt(128), (count, 128))


def test_a_person_split_in_two_a_pair_merged_and_a_stray_face_are_the_questions_asked():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (4, 128))
    centres *= 0.9 / np.linalg.norm(centres[0] - centres[1])  # people lie about 0.9 apart
    ana = person(rng, centres[0], 20)
    # Ben's faces, split by the clustering into groups of 12 and 8 that lie a little apart.
    ben = np.r_[person(rng, centres[1], 12), person(rng, centres[1] + 0.3 / np.sqrt(128), 8)]
    # Cid and Dee, nearly alike, merged into one group of 10 + 6.
    cid_dee = np.r_[person(rng, centres[2], 10), person(rng, centres[2] + 0.62 / np.sqrt(128) * 1.0, 6)]
    stray = person(rng, centres[0], 1)  # one more photo of Ana, left unknown
    encodings = np.r_[ana, ben, cid_dee, stray]
    labels = np.r_[np.zeros(20), np.full(12, 1), np.full(8, 2), np.full(16, 3), [-1]].astype(int)
    questions = ask(encodings, labels, CUT)
    kinds = {(q.kind, q.a_size, q.b_size) for q in questions}
    assert ("merge", 12, 8) in kinds
    assert ("split", 10, 6) in kinds
    assert ("lone", 1, 20) in kinds
    # Its "why" says what the ranking read: the stray is the nearest face outside Ana's group
    # to each of her faces, one of the five nearest (the rest are Ben's, Cid's and Dee's).
    lone = next(q for q in questions if q.kind == "lone")
    assert lone.share == 0.2
    assert lone.why(CUT).endswith("; 20% of the faces nearest the group, outside it, are this face")
    # Each side shows its typical faces, at most four, from the side it stands for.
    for question in questions:
        assert 1 <= len(question.a) <= 4 and 1 <= len(question.b) <= 4
        assert len({labels[i] for i in question.a}) == 1 or question.kind == "split"
    # Ranked by the pairs an answer is expected to set right.
    values = [q.value for q in questions]
    assert values == sorted(values, reverse=True)
    # What a user already said are two people is not asked again.
    merge = next(q for q in questions if q.kind == "merge" and q.a_size * q.b_size == 96)
    again = ask(encodings, labels, CUT, apart=[(set(range(20, 32)), set(range(32, 40)))])
    assert not any(q.kind == "merge" and {q.a_size, q.b_size} == {12, 8} for q in again)
    assert len(again) == len(questions) - 1 and merge not in again


def test_each_answer_writes_corrections_that_do_what_it_meant():
    rng = np.random.default_rng(1)
    encodings = np.r_[person(rng, np.zeros(128), 6), person(rng, np.full(128, 0.06), 5)]
    labels = np.r_[np.zeros(6), np.ones(5)].astype(int)
    faces = [Face(f"p{i}.jpg", (0, 10, 10, 0), e) for i, e in enumerate(encodings)]
    question = next(q for q in ask(encodings, labels, CUT) if q.kind == "merge")
    same, different = corrections_for(question, faces)
    assert [c.action for c in same] == ["merge"] and [c.action for c in different] == ["apart"]
    together = plan_corrections(same, faces).links
    assert len(together.groups) == 1 and set(together.groups[0].tolist()) == {*question.a, *question.b}
    apart = plan_corrections(different, faces).links
    assert apart.apart and all(len(group) == 1 for group in apart.groups)


def test_no_question_without_groups_or_faces():
    assert ask(np.empty((0, 128)), np.empty(0, dtype=int), CUT) == []
    encodings = np.random.default_rng(2).normal(size=(5, 128))
    assert ask(encodings, np.full(5, -1), CUT) == []


def test_no_to_a_lone_face_keeps_it_where_the_user_put_it():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 1, (2, 128))
    centres *= 0.7 / np.linalg.norm(centres[0] - centres[1])
    ana, bob = person(rng, centres[0], 12), person(rng, centres[1], 12)
    # One more photo of Ana that came out nearer Bob, left unknown; the user put it with Ana.
    stray = (0.45 * centres[0] + 0.55 * centres[1])[None, :]
    encodings = np.r_[ana, bob, stray]
    labels = np.r_[np.zeros(12), np.ones(12), [-1]].astype(int)
    faces = [Face(f"p{i}.jpg", (0, 10, 10, 0), e) for i, e in enumerate(encodings)]
    question = next(q for q in ask(encodings, labels, CUT) if q.kind == "lone" and q.a == (24,))
    assert question.b_size == 12 and set(question.b) <= set(range(12, 24))  # asked about Bob
    with_ana = [Correction("merge", (faces[24].key, faces[0].key))]
    _, no = corrections_for(question, faces)
    assert [c.action for c in no] == ["apart"]
    links = plan_corrections(with_ana + no, faces).links
    number = next(n for n, group in enumerate(links.groups) if 24 in group.tolist())
    assert 0 in links.groups[number].tolist()  # still with Ana
    bob_groups = {n for n, group in enumerate(links.groups) if set(group.tolist()) & set(question.b)}
    assert any(
        {number, other} <= set(pair) for pair in links.apart for other in bob_groups
    )  # and kept from Bob
