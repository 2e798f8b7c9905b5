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
from ..formatting import fmt_hex

__all__ = ["EUI64", "EXISTING_DIR", "EXISTING_FILE", "Eui64Type", "emit", "fmt_hex", "json_option",
           "radio_option"]

_radio_url_option = click.option(
    "--radio", "radio_url", envvar="HANRIG_RADIO", required=True, metavar="URL",
    help="Radio URL: sim://, sim://?rig=FILE, ezsp:///dev/ttyUSB0?baudrate=115200, znp:..., deconz:..., "
         "labgrid://PLACE (env HANRIG_RADIO).",
)


def _wait_for_places(ctx: click.Context, _param: click.Parameter, wait: bool) -> None:
    if wait:
        from hal.lab_place import wait_for_places

        ctx.with_resource(wait_for_places(lambda text: click.echo(f"hanrig: {text}", err=True)))


place_wait_option = click.option(
    "--wait", is_flag=True, expose_value=False, callback=_wait_for_places,
    help="A labgrid:// place held by someone else is waited for (with a message), not refused.")


def radio_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--radio URL`` (and ``--wait`` for a labgrid place) on a command."""
    return _radio_url_option(place_wait_option(command))


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


def emit(document: Any, as_json: bool, render_text: Callable[[Any], str]) -> None:
    """Print ``document`` as JSON, or as the text ``render_text`` makes of it."""
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=False, default=str))
    else:
        click.echo(render_text(document))
