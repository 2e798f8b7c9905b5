"""Errors of the HAN host (``gateway``): each is one of the three kinds of ``hanrig_errors``."""

from __future__ import annotations

from hanrig_errors import BadInput, CheckFailed, Unreachable


class GatewayError(BadInput):
    """The gateway was asked something it cannot do with what it was given."""


class DeviceNotFound(Unreachable):
    """A device the command names has not joined any of the session's radios."""

    def __init__(self, device: str, problem: str) -> None:
        super().__init__(f"device {device}: {problem}")
        self.device = device


class DeviceCheckFailed(CheckFailed):
    """A device answered, and what it answered fails the check."""

