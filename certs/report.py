"""Verification results: a ``Report`` is an ordered list of named checks, each with a stable code.

Codes are dotted and stable (``profile.curve``, ``chain.unknown_issuer``,
``secmp0063.wrong_network_operator``); scripts and the results store key on them. The outcome is
pass, warn or fail; only fail makes a report fail.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .exceptions import VerificationFailed


class Outcome(enum.Enum):
    """How one check came out."""

    PASS = "pass"
    WARN = "warn"  # accepted, but worth a human look (e.g. NULL signature parameters from Java tools)
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One named result: ``code`` is stable, ``subject`` names the certificate or cell it is about."""

    code: str
    outcome: Outcome
    message: str
    subject: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "outcome": self.outcome.value, "subject": self.subject,
                "message": self.message}

    def line(self) -> str:
        where = f"{self.subject}: " if self.subject else ""
        return f"{self.outcome.value.upper():4} {self.code}: {where}{self.message}"


def passed(code: str, message: str, subject: str = "") -> Check:
    return Check(code, Outcome.PASS, message, subject)


def warned(code: str, message: str, subject: str = "") -> Check:
    return Check(code, Outcome.WARN, message, subject)


def failed(code: str, message: str, subject: str = "") -> Check:
    return Check(code, Outcome.FAIL, message, subject)


@dataclass(frozen=True)
class Report:
    """An ordered, immutable list of checks; iterate it, index it, or ask for failures."""

    checks: tuple[Check, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, checks: Iterable[Check]) -> Report:
        return cls(tuple(checks))

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def __getitem__(self, index: int) -> Check:
        return self.checks[index]

    def __add__(self, other: Report) -> Report:
        return Report(self.checks + other.checks)

    @property
    def passed(self) -> bool:
        return not any(check.outcome is Outcome.FAIL for check in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.outcome is Outcome.FAIL)

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.outcome is Outcome.WARN)

    def codes(self, outcome: Outcome | None = None) -> set[str]:
        """The codes present, optionally only those with ``outcome``."""
        return {c.code for c in self.checks if outcome is None or c.outcome is outcome}

    def find(self, code: str) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.code == code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": "pass" if self.passed else "fail",
            "counts": {o.value: sum(1 for c in self.checks if c.outcome is o) for o in Outcome},
            "checks": [check.to_dict() for check in self.checks],
        }

    def render_text(self) -> str:
        lines = [check.line() for check in self.checks]
        counts = self.to_dict()["counts"]
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"{verdict}: {counts['pass']} passed, {counts['warn']} warnings, "
                     f"{counts['fail']} failed")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise ``VerificationFailed`` naming the first failure (and carrying every failed code)."""
        failures = self.failures
        if not failures:
            return
        first = failures[0]
        more = f" (and {len(failures) - 1} more failed checks)" if len(failures) > 1 else ""
        raise VerificationFailed(first.code, first.subject or "verification", first.message + more,
                                 tuple(c.code for c in failures))
