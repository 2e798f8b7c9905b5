"""How identifiers are spelled in JSON documents (the CLI contract), for the CLI and the run reports
alike: hex identifiers are strings such as ``"0x121d"`` (with an ``_int`` twin where a document has
one). It sits below ``gateway.cli`` so that ``rigs.reports`` can use it without importing the CLI."""

from __future__ import annotations


def fmt_hex(value: int, width: int = 4) -> str:
    """Format an identifier as the JSON contract wants it: ``"0x121d"``."""
    return f"0x{value:0{width}x}"
