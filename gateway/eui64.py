"""EUI-64 text as the CLI contract writes it (``00:0d:6f:00:0a:bc:12:34``): one normaliser for the CLI,
rig files and the session. Pure string work, so the CLI can use it without importing zigpy."""

from __future__ import annotations

HEX_DIGITS = frozenset("0123456789abcdef")


def parse_eui64(text: str) -> str | None:
    """Normalise an EUI-64 (16 hex digits, ':'/'-' separators optional) to "00:0d:6f:..", or None."""
    digits = text.replace(":", "").replace("-", "").lower()
    if len(digits) != 16 or not HEX_DIGITS.issuperset(digits):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 16, 2))
