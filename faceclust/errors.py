"""Typed errors raised by the library; only the command-line layer turns them into messages."""

import os


class FaceclustError(Exception):
    """An expected failure the user can act on; its message is shown as-is."""


class DatasetError(FaceclustError):
    """The dataset folder is missing, not a folder, or holds nothing to encode."""


class ImageLoadError(FaceclustError):
    """One image could not be decoded; ``reason`` is a short phrase for the summary."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    @classmethod
    def unopenable(cls, path: str, error: OSError) -> "ImageLoadError":
        """For a file that cannot be opened at all (one of :data:`UNOPENABLE`), photo or video."""
        if isinstance(error, FileNotFoundError):
            return cls(path, "file not found")
        if isinstance(error, PermissionError):
            return cls(path, "permission denied")
        return cls(path, "is a folder")

    @classmethod
    def unreadable(cls, path: str, reason: str) -> "ImageLoadError":
        """For a file its decoder refused: ``reason``, or "empty file" when it has no bytes (common in
        a library, a copy or a cloud sync that failed, and says more as such)."""
        try:
            empty = os.path.getsize(path) == 0
        except OSError:
            empty = False
        return cls(path, "empty file" if empty else reason)


# The errors of a file that cannot be opened at all.
UNOPENABLE = (FileNotFoundError, PermissionError, IsADirectoryError)


class EncodingsFileError(FaceclustError):
    """An encodings file is missing, truncated, of the wrong format or refused as unsafe."""


class ModelError(FaceclustError):
    """The dlib model files cannot be found or loaded."""


class OutputError(FaceclustError):
    """An output file or folder cannot be written."""


class NoFacesError(FaceclustError):
    """There is nothing to work on: no images, or no faces in them. ``summary``, when images
    were read: the run's counts (an ``encoding.EncodeSummary``), whose skipped files say why."""

    def __init__(self, message: str, summary: object | None = None):
        super().__init__(message)
        self.summary = summary
