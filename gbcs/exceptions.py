"""The errors the GBCS library raises, each under one of the ``hanrig_errors`` kinds.

Every message is one line naming the problem and, for malformed bytes, the offset in the message:
``offset 29: date-time length 7, expected 0 or 12``.
"""

from __future__ import annotations

from hanrig_errors import BadInput, CheckFailed


class GbcsError(BadInput):
    """Not a GBCS message: truncated, bad lengths, garbage. ``offset`` is the byte offset in the input."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(f"offset {offset}: {problem}")
        self.offset = offset
        self.problem = problem


class BuildError(BadInput):
    """A message or content cannot be built from what was given (a missing key, a value out of range)."""


class KeystoreError(BadInput):
    """A keystore directory or one of its files is unreadable as what it should be."""


class SecurityCheckFailed(CheckFailed):
    """A MAC or a signature did not verify."""


class CounterRejected(CheckFailed):
    """An originator counter broke the GBCS rules; ``reason`` is ``replay`` or ``out-of-order``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
