"""Errors raised by the radio layer (``hal``): bad radio URLs, missing radio extras, dead radios."""

from __future__ import annotations

from hanrig_errors import BadInput, HanrigError, Unreachable


class BadRadioUrl(BadInput):
    """A radio URL that hanrig cannot use; the message names the URL and the problem."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"radio URL {url!r}: {problem}")
        self.url = url
        self.problem = problem


class MissingRadioExtra(BadInput):
    """The radio library for a URL scheme is not installed; the message names the extra."""

    def __init__(self, scheme: str, extra: str) -> None:
        super().__init__(f"radio scheme {scheme!r} needs its library: pip install 'hanrig[{extra}]'")
        self.scheme = scheme
        self.extra = extra


class RadioUnreachable(Unreachable):
    """The radio did not answer or could not be opened; the message names the URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"radio {url}: {reason}")
        self.url = url
        self.reason = reason


class BadInstallCode(BadInput):
    """An install code that does not give a link key; the message names the device."""

    def __init__(self, eui64: str, problem: str) -> None:
        super().__init__(f"install code for {eui64}: {problem}")
        self.eui64 = eui64
        self.problem = problem


class TunnelFramingError(BadInput):
    """A GB-HRGP tunnel stream that cannot hold a GBCS message (``hal.gbhrgp``); says where and why."""


class UnsupportedZigpy(HanrigError):
    """The installed zigpy is outside the range ``hal.zigpy_fixes`` was written for (see its message)."""
