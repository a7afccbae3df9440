"""Headless Chromium driven by Selenium, for the gallery's tests, benchmark and screenshot.

Debian's chromium and chromedriver (``make browser`` installs them as root); Selenium is told
where the driver is, so it never looks for one on the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# Without the background-networking flags Chromium keeps trying the closed network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]


def find_chromium() -> tuple[str, str] | None:
    """The browser and its driver, or None if either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return None if browser is None or driver is None else (browser, driver)


def start_chromium(profile: Path, downloads: Path | None = None):
    """A Selenium driver of a new headless Chromium with its own ``profile`` folder;
    ``downloads``, if given, receives downloads without asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = find_chromium()
    if paths is None:
        raise RuntimeError("chromium or chromedriver is not installed (make browser installs them as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    return webdriver.Chrome(options=options, service=Service(paths[1]))
