#!/usr/bin/env python3
"""Make docs/gallery.jpg, the README's picture of the gallery in the middle of an edit.

.venv/bin/python docs/make_screenshot.py   (needs chromium and chromedriver: make browser)

Clusters the bundled encodings into a temporary folder, opens the page in headless Chromium,
names a group, merges two, selects faces of a third, and saves the window as a JPEG.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from headless_chromium import start_chromium  # noqa: E402

from faceclust.cli import cluster_main  # noqa: E402


def main() -> int:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "output"
        os.chdir(REPO)
        if cluster_main(["-e", "encodings.pickle", "-o", str(out)]) != 0:
            return 1
        browser = start_chromium(Path(folder) / "profile")
        browser.set_window_size(1280, 860)
        try:
            browser.get((out / "index.html").resolve().as_uri())
            sections = browser.find_elements(By.CSS_SELECTOR, "section")
            sections[0].find_element(By.CSS_SELECTOR, "input.name").send_keys("Jerry", Keys.ENTER)
            time.sleep(0.3)
            # Two faces of the second group selected, as before "Take out" or "Merge".
            faces = browser.find_elements(By.CSS_SELECTOR, "section")[1].find_elements(
                By.CSS_SELECTOR, ".face img"
            )
            for face in faces[:2]:
                face.click()
            browser.execute_script(
                "window.scrollTo(0, document.querySelectorAll('section')[1].offsetTop - 150)"
            )
            time.sleep(0.5)
            png = Path(folder) / "shot.png"
            browser.save_screenshot(str(png))
        finally:
            browser.quit()
        image = cv2.imread(str(png))
        target = REPO / "docs" / "gallery.jpg"
        cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"wrote {target} ({target.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
