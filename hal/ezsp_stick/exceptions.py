"""Errors raised by the virtual EZSP stick."""

from __future__ import annotations

from hanrig_errors import BadInput, Unreachable


class AshFrameError(BadInput):
    """A serial frame that is not valid ASH (bad CRC, bad length, bad escape, unknown control byte)."""


class StickConfigError(BadInput):
    """The stick was asked for something it cannot be (an EZSP version, a baud rate)."""


class StickPortError(Unreachable):
    """The pseudo-terminal could not be opened or served."""
