"""The project's .venv holds exactly what the lock names: a bug report can say what it ran."""

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from .conftest import REPO

DEV_LOCK = REPO / "requirements-dev-lock.txt"
# venv itself puts these in a new environment (setuptools before Python 3.12); the lock pins
# pip, and setuptools is not a dependency of ours.
SEEDED_BY_VENV = {"setuptools"}


def locked_versions(lock: Path) -> dict[str, str]:
    """``{name: version}`` of the lock's lines that apply to this Python and platform."""
    pinned = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if match and (match[3] is None or Marker(match[3]).evaluate()):
            pinned[canonicalize_name(match[1])] = match[2]
    return pinned


def test_the_lock_parses_to_one_version_per_package_here():
    pinned = locked_versions(DEV_LOCK)
    # What the tool cannot run without, each pinned once for this Python.
    for name in ("dlib-bin", "numpy", "pillow", "pillow-heif", "faiss-cpu", "pytest", "pip"):
        assert re.fullmatch(r"[0-9][0-9a-z.]*", pinned[name]), name
    # The runtime lock is the same resolution, without the test tools.
    runtime = locked_versions(REPO / "requirements-lock.txt")
    assert runtime.items() <= pinned.items() and "pytest" not in runtime


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (REPO / ".venv").resolve(),
    reason="run outside the project's .venv (make test installs it from the lock)",
)
def test_the_venv_holds_exactly_the_locked_versions():
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=sys.path)}
    installed = {name: version for name, version in installed.items() if name not in SEEDED_BY_VENV}
    # The repository's own package, when pip-installed into the venv, is ours, not a dependency.
    installed.pop("faceclust", None)
    assert installed == locked_versions(DEV_LOCK)
