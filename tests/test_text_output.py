"""Text output says ``unknown`` where a value is unknown, never ``None``, ``?`` or ``-``, and writes hex
one way: ``0x`` and lower-case digits (issue 17, "one error format" items owned by the hardening work)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.cli import main

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "firmware_images" / "TEST-ONLY-ppmid-1234-0084-00010100.ota"
UNKNOWN_SPELLINGS = re.compile(r"(?<![\w'\"])(None|\?|-)(?![\w'\"])")
HEX = re.compile(r"0[xX][0-9a-fA-F]+")


def text_of(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr().out
    assert info.value.code == 0, out
    return out


@pytest.mark.parametrize("args", [
    ["radio", "info", "--radio", "sim://"],
    ["devices", "--radio", "sim://"],
    ["ota", "inspect", str(IMAGE)],
    ["ota", "verify", str(IMAGE)],
])
def test_no_none_or_question_marks_and_one_hex_spelling(args, capsys):
    text = text_of(args, capsys)
    for line in text.splitlines():
        values = line.split("  ")  # columns; a lone '-' column means "unknown" and must say so
        assert not any(UNKNOWN_SPELLINGS.fullmatch(v.strip()) for v in values if v.strip()), line
        assert "None" not in line.split() and "?" not in line.split(), line
    for token in HEX.findall(text):
        assert token.startswith("0x") and token[2:] == token[2:].lower(), token


def test_radio_info_says_unknown(capsys):
    text = text_of(["radio", "info", "--radio", "sim://"], capsys)
    assert re.search(r"^stack version\s+unknown$", text, re.MULTILINE)
