"""``hanrig radio``: list serial ports with the Zigbee stick each looks like, and describe an open radio.

``radio list`` is ``hal.discovery`` over pyserial's port list. ``radio info`` opens the radio as a
gateway session and reports ``gw.radio_info`` (zigpy's standard application state, see
``gateway.radio_info``), so it reads the same for a real stick and for ``sim://``.
"""

from __future__ import annotations

from typing import Any

import click

from hal import discovery

from .common import emit, json_option, radio_option, shown


@click.group()
def radio() -> None:
    """Radios: find Zigbee sticks on serial ports, describe an open radio."""


def _render_list(ports: list[dict[str, Any]]) -> str:
    if not ports:
        return "no serial ports found"
    rows = [("DEVICE", "VID:PID", "STICK", "TYPE", "URL")]
    for port in ports:
        ids = f"{port['vid'][2:]}:{port['pid'][2:]}" if port["vid"] and port["pid"] else "unknown"
        kind = port["radio_type"] or "unknown"
        if port["confidence"] == discovery.Confidence.LIKELY:
            kind += " (likely)"
        rows.append((port["device"], ids, port["stick"], kind, shown(port["url"])))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row[:4], widths)), row[4]]) for row in rows
    ]
    notes = [
        f"{port['device']}: {port['note']}"
        for port in ports
        if port["confidence"] != discovery.Confidence.IDENTIFIED and port["vid"]
    ]
    return "\n".join(lines + (["", *notes] if notes else []))


@radio.command("list")
@json_option
def list_(as_json: bool) -> None:
    """Serial ports, the stick each looks like, its radio type and the --radio URL to use."""
    ports = [port.as_dict() for port in discovery.discover()]
    emit({"ports": ports} if as_json else ports, as_json, lambda document: _render_list(document))


def _render_info(info: dict[str, Any]) -> str:
    labels = [
        ("radio", "url"),
        ("stack", "stack"),
        ("stack version", "stack_version"),
        ("firmware", "firmware_version"),
        ("manufacturer", "manufacturer"),
        ("model", "model"),
        ("IEEE", "ieee"),
        ("NWK", "nwk"),
        ("network", "network_state"),
        ("channel", "channel"),
        ("PAN ID", "pan_id"),
        ("extended PAN ID", "extended_pan_id"),
        ("devices", "devices"),
    ]
    width = max(len(label) for label, _ in labels)
    return "\n".join(
        f"{label.ljust(width)}  {shown(info[key])}" for label, key in labels
    )


async def read_radio_info(url: str) -> dict[str, Any]:
    """Open the radio at ``url`` as a gateway session, describe it, close it."""
    from gateway.session import Gateway  # imported late so `radio list` does not pay for the radio layer

    async with Gateway.open([url]) as gw:
        return gw.radio_info("radio0")


@radio.command("info")
@radio_option
@json_option
def info(radio_url: str, as_json: bool) -> None:
    """Stack and firmware version, IEEE, channel, PAN and network state of the radio at --radio."""
    from hal import run

    document = run(lambda: read_radio_info(radio_url), radio_url)  # on the radio's (maybe virtual) clock
    emit(document, as_json, _render_info)
