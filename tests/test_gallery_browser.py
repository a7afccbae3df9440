"""The gallery in a real browser: headless Chromium driven by Selenium through Debian's
chromedriver. It loads every image, and a user's edits (rename, merge, take out) survive a
reload, undo, and reach the next run through the saved corrections.json."""

import importlib.util
import json
import os
import time
from pathlib import Path

import cv2
import pytest
from headless_chromium import find_chromium, start_chromium  # bench/, on the path from conftest

from faceclust.cli import cluster_main

from .conftest import REPO


def browser_paths() -> tuple[str, str] | None:
    """Chromium and chromedriver, when both and Selenium are installed."""
    paths = find_chromium()
    selenium = importlib.util.find_spec("selenium") is not None
    if (paths is None or not selenium) and os.environ.get("FACECLUST_REQUIRE_BROWSER"):
        pytest.fail(
            "chromium, chromedriver and selenium are required here (FACECLUST_REQUIRE_BROWSER is set)"
        )
    return paths if selenium else None


@pytest.fixture
def browser(tmp_path):
    if browser_paths() is None:
        pytest.skip(
            "chromium, chromedriver or selenium is missing (make test installs them when run as root)"
        )
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = start_chromium(tmp_path / "profile", downloads)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition, what: str, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def cluster(out: Path, *extra: str) -> dict:
    assert cluster_main(["-e", "encodings.pickle", "-o", str(out), *extra]) == 0
    return json.loads((out / "clusters.json").read_text())


def person(face: dict) -> str:
    return face["image_path"].split("/")[1]


def face_keys(faces: list[dict]) -> set[tuple]:
    return {(face["image_path"], tuple(face["box"])) for face in faces}


def test_gallery_loads_every_image(browser, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By

    monkeypatch.chdir(REPO)
    out = tmp_path / "out"
    document = cluster(out)
    browser.get((out / "index.html").resolve().as_uri() + "#check")
    check = json.loads(
        wait_for(lambda: browser.execute_script("return document.body.dataset.check"), "the check")
    )
    assert check["broken"] == []
    assert check["images"] == document["counts"]["faces"]
    links = browser.find_elements(By.CSS_SELECTOR, "a.montage")
    assert sorted(
        link.get_attribute("href").rsplit("/", 1)[1] for link in links if link.is_displayed()
    ) == sorted(
        [entry["montage"] for entry in document["clusters"]]
        + [document["unknown"]["montage"]] * bool(document["unknown"]["size"])
    )


def test_edits_in_the_gallery_reach_the_next_run(browser, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    monkeypatch.chdir(REPO)
    first = cluster(tmp_path / "first")
    groups = {}
    for entry in first["clusters"]:  # each person's largest group
        people = {person(face) for face in entry["faces"]}
        if len(people) == 1:
            groups.setdefault(people.pop(), entry)
    ben, elton, jerry, mindy = (
        groups[p] for p in ("ben_afflek", "elton_john", "jerry_seinfeld", "mindy_kaling")
    )
    page = (tmp_path / "first" / "index.html").resolve().as_uri()
    browser.get(page)

    def section(entry: dict):
        return browser.find_element(By.ID, f"face-{entry['id']}")

    def press(key: str) -> None:
        browser.find_element(By.TAG_NAME, "body").send_keys(key)

    def click(element) -> None:
        # As a user scrolls: the element to the middle of the window, clear of the sticky header.
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def status() -> str:
        return browser.find_element(By.ID, "status").text

    # Rename Ben's group: type, Enter.
    name = section(ben).find_element(By.CSS_SELECTOR, "input.name")
    name.send_keys("Ben Affleck", Keys.ENTER)
    wait_for(lambda: "1 change" in status(), "the rename")
    # Merge Jerry's and Mindy's groups: select both, then the m key.
    click(section(jerry).find_element(By.CSS_SELECTOR, "button.select-all"))
    click(section(mindy).find_element(By.CSS_SELECTOR, "button.select-all"))
    assert status().startswith(f"{len(jerry['faces']) + len(mindy['faces'])} selected")
    press("m")
    wait_for(lambda: "2 changes" in status(), "the merge")
    merged = section(jerry) if len(jerry["faces"]) >= len(mindy["faces"]) else section(mindy)
    assert len(merged.find_elements(By.CSS_SELECTOR, ".face")) == len(jerry["faces"]) + len(mindy["faces"])
    # Take one of Elton's faces out: click it, then the x key.
    taken = elton["faces"][0]
    click(section(elton).find_elements(By.CSS_SELECTOR, ".face img")[0])
    press("x")
    wait_for(lambda: "3 changes" in status(), "taking a face out")
    unknown = browser.find_element(By.ID, "unknown")
    assert len(unknown.find_elements(By.CSS_SELECTOR, ".face")) == first["unknown"]["size"] + 1

    # Changes too many, undone by keyboard; then the page reloads with the three kept.
    click(section(ben).find_elements(By.CSS_SELECTOR, ".face img")[0])
    press("d")
    wait_for(lambda: "4 changes" in status(), "marking not a face")
    assert len(browser.find_element(By.ID, "not-faces").find_elements(By.CSS_SELECTOR, ".face")) == 1
    madonna = groups["madonna"]
    click(section(madonna).find_element(By.CSS_SELECTOR, "button.ignore"))
    wait_for(lambda: "5 changes" in status(), "ignoring a person")
    order = [element.get_attribute("id") for element in browser.find_elements(By.CSS_SELECTOR, "section")]
    assert order[-3:] == [
        "unknown",
        f"face-{madonna['id']}",
        "not-faces",
    ]  # left out, after the unknown faces
    assert "left-out" in section(madonna).get_attribute("class").split()
    press("u")
    press("u")
    wait_for(lambda: "3 changes" in status(), "the undo")
    assert not browser.find_elements(By.ID, "not-faces")
    # Chromium hands localStorage writes to its browser process a moment later: a reload within
    # milliseconds of the last change could read the storage before it (seen twice under load,
    # never alone). A person pauses longer than this before reloading.
    time.sleep(1)
    browser.refresh()
    wait_for(lambda: "3 changes" in status(), "the changes after a reload")
    assert section(ben).find_element(By.CSS_SELECTOR, "input.name").get_attribute("value") == "Ben Affleck"
    screenshot = tmp_path / "editing.png"
    browser.save_screenshot(str(screenshot))
    assert cv2.imread(str(screenshot)).shape[1] == 1280

    click(browser.find_element(By.ID, "save"))
    saved = wait_for(lambda: (browser.downloads / "corrections.json").is_file(), "the download") and (
        browser.downloads / "corrections.json"
    )
    corrections = json.loads(saved.read_text())
    assert [c["action"] for c in corrections["corrections"]] == ["name", "merge", "move"]

    second = cluster(tmp_path / "second", "--corrections", str(saved))
    by_faces = {frozenset(face_keys(entry["faces"])): entry for entry in second["clusters"]}
    named = by_faces[frozenset(face_keys(ben["faces"]))]
    assert named["name"] == "Ben Affleck"
    assert frozenset(face_keys(jerry["faces"]) | face_keys(mindy["faces"])) in by_faces
    assert frozenset(face_keys(elton["faces"]) - face_keys([taken])) in by_faces
    assert face_keys([taken]) <= face_keys(second["unknown"]["faces"])
    # Every other group is as it was.
    untouched = [
        entry
        for entry in first["clusters"]
        if entry["id"] not in {e["id"] for e in (ben, elton, jerry, mindy)}
    ]
    for entry in untouched:
        assert frozenset(face_keys(entry["faces"])) in by_faces

    # The new gallery shows the corrections already made, and carries them for the next save.
    browser.get((tmp_path / "second" / "index.html").resolve().as_uri())
    wait_for(lambda: "3 earlier corrections kept" in status(), "the new page")
    shown = browser.execute_script(
        """return [...document.querySelectorAll("section")].map(section => ({
             id: section.id,
             name: section.querySelector("input.name").value,
             faces: [...section.querySelectorAll(".face")].map(face => face.dataset.key)}));"""
    )

    def key_text(face: dict) -> str:
        return face["image_path"] + "\n" + ",".join(map(str, face["box"]))

    section_of = {face: section for section in shown for face in section["faces"]}
    assert section_of[key_text(ben["faces"][0])]["name"] == "Ben Affleck"
    together = section_of[key_text(jerry["faces"][0])]
    assert sorted(together["faces"]) == sorted(key_text(face) for face in jerry["faces"] + mindy["faces"])
    assert section_of[key_text(taken)]["id"] == "unknown"


def test_two_groups_given_one_name_become_one_in_the_page(browser, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    monkeypatch.chdir(REPO)
    document = cluster(tmp_path / "out")
    first, second = document["clusters"][:2]
    browser.get((tmp_path / "out" / "index.html").resolve().as_uri())
    for entry in (first, second):
        name = browser.find_element(By.ID, f"face-{entry['id']}").find_element(By.CSS_SELECTOR, "input.name")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", name)
        name.send_keys("Same Person", Keys.ENTER)
    wait_for(lambda: "2 changes" in browser.find_element(By.ID, "status").text, "two names")
    people = [
        s
        for s in browser.find_elements(By.CSS_SELECTOR, "section")
        if s.get_attribute("id").startswith("face-")
    ]
    assert len(people) == len(document["clusters"]) - 1
    together = browser.find_element(By.ID, f"face-{first['id']}")
    assert len(together.find_elements(By.CSS_SELECTOR, ".face")) == first["size"] + second["size"]


def test_questions_are_answered_by_keyboard_and_the_next_run_keeps_the_answers(
    browser, tmp_path, monkeypatch
):
    from selenium.webdriver.common.by import By

    monkeypatch.chdir(REPO)
    first = cluster(tmp_path / "first")
    questions = first["questions"]
    assert len(questions) >= 3
    browser.get((tmp_path / "first" / "index.html").resolve().as_uri())

    def press(key: str) -> None:
        browser.find_element(By.TAG_NAME, "body").send_keys(key)

    def panel():
        return browser.find_element(By.ID, "ask")

    press("q")
    wait_for(lambda: panel().is_displayed(), "the questions")
    assert f"0 of {len(questions)} answered" in panel().text
    assert len(panel().find_elements(By.CSS_SELECTOR, ".side img")) == len(questions[0]["a"]) + len(
        questions[0]["b"]
    )
    press("y")  # the first: the same person
    wait_for(lambda: f"1 of {len(questions)} answered" in panel().text, "the first answer")
    press("n")  # the second: different people
    wait_for(lambda: f"2 of {len(questions)} answered" in panel().text, "the second answer")
    press("k")  # the third skipped
    wait_for(lambda: "1 skipped" in panel().text, "the skip")
    press("q")
    wait_for(lambda: not panel().is_displayed(), "the questions closed")
    status = browser.find_element(By.ID, "status").text
    assert "2 changes" in status and "not the same person" in status

    browser.find_element(By.ID, "save").click()
    saved = wait_for(lambda: (browser.downloads / "corrections.json").is_file(), "the download") and (
        browser.downloads / "corrections.json"
    )
    corrections = json.loads(saved.read_text())["corrections"]
    assert corrections == questions[0]["if_same"] + questions[1]["if_different"]

    second = cluster(tmp_path / "second", "--corrections", str(saved))
    same = face_keys(questions[0]["a"]) | face_keys(questions[0]["b"])
    assert any(same <= face_keys(entry["faces"]) for entry in second["clusters"])  # now one group
    different = (face_keys(questions[1]["a"]), face_keys(questions[1]["b"]))
    for question in second["questions"]:  # not asked again
        sides = (face_keys(question["a"]), face_keys(question["b"]))
        assert not (sides[0] & different[0] and sides[1] & different[1])
        assert not (sides[0] & different[1] and sides[1] & different[0])


def test_a_face_in_a_video_opens_the_video_at_its_second_and_a_correction_keeps_its_time(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from faceclust.cli import encode_main

    from .test_videos import ACTORS, clip, person_images

    library = tmp_path / "library"
    for actor in ACTORS:
        (library / actor).mkdir(parents=True)
        for source in [p for p in person_images(actor, 4) if p.name != ACTORS[actor]][:2]:
            (library / actor / source.name).write_bytes(source.read_bytes())
    clip(library / "party.mp4")
    encodings = tmp_path / "e.pickle"
    assert encode_main(["-i", str(library), "-e", str(encodings), "-q"]) == 0
    out = tmp_path / "out"
    assert cluster_main(["-e", str(encodings), "-o", str(out)]) == 0
    browser.get((out / "index.html").resolve().as_uri())
    videos = wait_for(
        lambda: [
            f
            for f in browser.find_elements(By.CSS_SELECTOR, ".face")
            if "party.mp4 at 0:" in (f.get_attribute("title") or "")
        ],
        "the video's faces",
    )
    link = videos[0].find_element(By.CSS_SELECTOR, "a.open")
    assert link.get_attribute("textContent").startswith("video 0:")  # shown on hover
    assert "party.mp4#t=" in link.get_attribute("href")
    # Take that face out of its group, save, and run again: the correction names it by its second.
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", videos[0])
    videos[0].find_element(By.CSS_SELECTOR, "img").click()
    browser.find_element(By.TAG_NAME, "body").send_keys("x")
    wait_for(lambda: "1 change" in browser.find_element(By.ID, "status").text, "taking the face out")
    browser.find_element(By.ID, "save").click()
    saved = browser.downloads / "corrections.json"
    wait_for(saved.is_file, "the download")
    [correction] = json.loads(saved.read_text())["corrections"]
    [face] = correction["faces"]
    assert face["image_path"].endswith("party.mp4") and isinstance(
        face["time"], int | float
    )  # JSON: 0.0 is 0
    again = tmp_path / "again"
    assert cluster_main(["-e", str(encodings), "-o", str(again), "--corrections", str(saved)]) == 0
    unknown = json.loads((again / "clusters.json").read_text())["unknown"]["faces"]
    assert any(f.get("time") == face["time"] and f["box"] == face["box"] for f in unknown)
