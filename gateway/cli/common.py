"""Options, parameter types and output helpers shared by every ``hanrig`` command.

Every reporting command takes ``--json`` and prints one JSON document on stdout (logs go to stderr).
Hex identifiers in JSON are strings (see ``fmt_hex``); EUI-64s are ``"00:0d:6f:..."`` strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..eui64 import parse_eui64

_radio_url_option = click.option(
    "--radio", "radio_url", envvar="HANRIG_RADIO", required=True, metavar="URL",
    help="Radio URL: sim://, sim://?rig=FILE, ezsp:///dev/ttyUSB0?baudrate=115200, znp:..., deconz:... "
         "(env HANRIG_RADIO).",
)


def _start_capture(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        from hal.capture import start_capture

        try:
            ctx.call_on_close(start_capture(value))
        except OSError as exc:
            raise click.BadParameter(f"{value}: {exc.strerror or exc}", ctx, param) from None


capture_option = click.option(
    "--capture", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.pcapng",
    expose_value=False, callback=_start_capture, is_eager=True,
    help="Record the HAN traffic into a pcapng file Wireshark reads (sim:// and the virtual stick: every "
         "frame on the air; a real radio: what the host sends and receives).",
)


def radio_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--radio URL`` and ``--capture FILE.pcapng``: every command that opens a radio takes both."""
    return _radio_url_option(capture_option(command))
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")

# Path parameters every command group uses: an existing readable file, an existing directory
EXISTING_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


class Eui64Type(click.ParamType):
    """An EUI-64 written as 16 hex digits, with or without ':' or '-' separators."""

    name = "EUI64"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not isinstance(value, str):
            self.fail(f"{value!r} is not an EUI-64", param, ctx)
        normal = parse_eui64(value)
        if normal is None:
            self.fail(f"{value!r} is not an EUI-64 (expected 16 hex digits, e.g. 00:0d:6f:00:0a:bc:12:34)",
                      param, ctx)
        return normal


EUI64 = Eui64Type()


def fmt_hex(value: int, width: int = 4) -> str:
    """Format an identifier as the JSON contract wants it: ``"0x121d"``."""
    return f"0x{value:0{width}x}"


def emit(document: Any, as_json: bool, render_text: Callable[[Any], str]) -> None:
    """Print ``document`` as JSON, or as the text ``render_text`` makes of it."""
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=False, default=str))
    else:
        click.echo(render_text(document))
