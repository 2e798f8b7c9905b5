"""The root of every error hanrig raises on purpose, and the exit code each kind maps to.

Each package has its own ``exceptions.py`` whose classes derive from one of the three kinds below.
The CLI maps them to exit codes in one place (``gateway/cli``), per ``cli.md``:
0 done, 1 a check ran and failed, 2 bad usage or bad input, 3 radio/device unreachable or timeout.
This module sits outside the five packages because the pure libraries (``ota``, ``certs``) and the
radio layer (``hal``) must share the root without importing each other.
"""

from __future__ import annotations


class HanrigError(Exception):
    """Base of all hanrig errors; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 2


class CheckFailed(HanrigError):
    """A check ran and its subject failed it (an invalid image, a failed verification)."""

    exit_code = 1


class BadInput(HanrigError):
    """Bad usage or malformed input: an unreadable file, a malformed rig file, a bad URL."""

    exit_code = 2


class Unreachable(HanrigError):
    """A radio or device did not answer, or an operation timed out."""

    exit_code = 3
