"""The errors the OTA image toolkit raises, each under one of the ``hanrig_errors`` kinds.

Every message is one line naming the thing (file, key path) and the problem, so the CLI can print it
as is: ``fw.ota: offset 8: header length 12 outside 56..69``.
"""

from __future__ import annotations

from hanrig_errors import BadInput, CheckFailed


class ImageError(CheckFailed):
    """An OTA file is invalid or truncated; ``offset`` is the byte offset in the file."""

    def __init__(self, name: str, offset: int, problem: str) -> None:
        super().__init__(f"{name}: offset {offset}: {problem}")
        self.name = name
        self.offset = offset
        self.problem = problem


class BuildError(BadInput):
    """``build_image``/``sign_image`` refused to write an image (bad metadata or an ambiguous payload)."""


class KeyFileError(BadInput):
    """A key or certificate file is unreadable as what it should be (PEM/DER, EC P-256)."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


class CplError(BadInput):
    """A CPL file that does not parse; the message names the file and line."""


class VerificationFailed(CheckFailed):
    """An image failed a verification check (signature, integrity code, sizes); ``report`` has all checks."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class CatalogueError(BadInput):
    """A catalogue directory or ``index.json`` is unusable (missing file, malformed index, stale hash)."""


class CatalogueConflict(CheckFailed):
    """Two catalogue entries claim the same identity with different bytes."""
