"""Project-wide test configuration: strictness (malformed log calls fail the test)."""

from __future__ import annotations

import logging

import pytest


class FailOnBadFormattingHandler(logging.Handler):
    """Fail any test whose log call has arguments that do not fit its format string."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.getMessage()
        except Exception as exc:  # pragma: no cover - only fires on a bug
            pytest.fail(f"bad log call {record.msg!r} % {record.args!r}: {exc}")


@pytest.fixture(autouse=True)
def _strict_logging():
    handler = FailOnBadFormattingHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield
    root.removeHandler(handler)
