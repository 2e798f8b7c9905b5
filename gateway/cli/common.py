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

from hanrig_errors import CERT_MAX, INPUT_FILE_MAX, KEY_MAX, OTA_IMAGE_MAX, parse_eui64, regular_file_problem

from ..formatting import fmt_hex

__all__ = [
    "CERT_FILE",
    "EUI64",
    "EXISTING_DIR",
    "EXISTING_FILE",
    "IMAGE_FILE",
    "KEY_FILE",
    "Eui64Type",
    "InputFileType",
    "document_emitted",
    "emit",
    "fmt_hex",
    "json_option",
    "place_wait_option",
    "radio_option",
    "reset_emitted",
    "shown",
]

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
    """``--radio URL``, ``--capture FILE.pcapng`` and ``--wait`` (a busy labgrid place): every command
    that opens a radio takes them."""
    return _radio_url_option(capture_option(place_wait_option(command)))


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")



class InputFileType(click.ParamType):
    """A file argument: an existing regular file of at most ``limit`` bytes (``hanrig_files``).

    FIFOs, devices and directories are refused here, before any command opens them (opening a FIFO
    blocks; reading /dev/zero never ends); read the file with ``hanrig_files.read_input``."""

    name = "FILE"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        problem = regular_file_problem(value, self.limit)
        if problem is not None:
            self.fail(f"{value}: {problem}", param, ctx)
        return Path(value)


# Path parameters every command group uses: input files by kind (each with its size cap), directories
IMAGE_FILE = InputFileType(OTA_IMAGE_MAX)
EXISTING_FILE = InputFileType(INPUT_FILE_MAX)  # any other input file
CERT_FILE = InputFileType(CERT_MAX)
KEY_FILE = InputFileType(KEY_MAX)
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


class DeviceKeyType(click.ParamType):
    """A device named by EUI-64 (normalised) or by role (ESME, GSME, IHD, PPMID, HCALCS, upper-cased);
    the gateway resolves it with ``Gateway.device``."""

    name = "EUI64|ROLE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from hal.roles import Role

        if isinstance(value, str) and value.upper() in Role.__members__:
            return value.upper()
        normal = parse_eui64(value) if isinstance(value, str) else None
        if normal is None:
            self.fail(f"{value!r} is neither an EUI-64 (16 hex digits) nor a role "
                      f"({', '.join(Role.__members__)})", param, ctx)
        return normal


DEVICE_KEY = DeviceKeyType()


_emitted = False  # whether this process printed its document on stdout (see gateway.cli.main)


def emit(document: Any, as_json: bool, render_text: Callable[[Any], str]) -> None:
    """Print ``document`` as JSON, or as the text ``render_text`` makes of it."""
    global _emitted
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=False, default=str))
    else:
        click.echo(render_text(document))
    _emitted = True


def shown(value: Any) -> str:
    """A value for text output: ``unknown`` where it is not known (never ``None``, ``?`` or ``-``)."""
    return "unknown" if value is None or value == "" else str(value)


def document_emitted() -> bool:
    """True once :func:`emit` printed; an error after it must not print a second JSON document."""
    return _emitted


def reset_emitted() -> None:
    global _emitted
    _emitted = False
