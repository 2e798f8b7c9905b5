"""``hanrig radio``: list serial ports with the Zigbee stick each looks like, and describe an open radio.

``radio list`` is ``hal.discovery`` over pyserial's port list. ``radio info`` opens the radio through
``hal.open_radio`` and reports only what zigpy's standard application state says (``app.state``),
so it reads the same for a real stick and for ``sim://``.
"""

from __future__ import annotations

from typing import Any

import click

from hal import discovery

from .common import emit, fmt_hex, json_option, radio_option


@click.group()
def radio() -> None:
    """Radios: find Zigbee sticks on serial ports, describe an open radio."""


def _render_list(ports: list[dict[str, Any]]) -> str:
    if not ports:
        return "no serial ports found"
    rows = [("DEVICE", "VID:PID", "STICK", "TYPE", "URL")]
    for port in ports:
        ids = f"{port['vid'][2:]}:{port['pid'][2:]}" if port["vid"] and port["pid"] else "-"
        kind = port["radio_type"] or "unknown"
        if port["confidence"] == discovery.Confidence.LIKELY:
            kind += " (likely)"
        rows.append((port["device"], ids, port["stick"], kind, port["url"] or "-"))
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


_UNKNOWN_EUI64 = "ff:ff:ff:ff:ff:ff:ff:ff"  # zigpy's EUI64.UNKNOWN / ExtendedPanId.UNKNOWN


def _eui64(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).lower()
    return None if text == _UNKNOWN_EUI64 else text


def _stack_version(metadata: dict[str, Any]) -> str | None:
    """The radio library's stack version from ``network_info.metadata`` (bellows: EZSP protocol)."""
    for section in metadata.values():
        if isinstance(section, dict):
            for key in ("stack_version", "version", "firmware_version"):
                if section.get(key) is not None:
                    return str(section[key])
    return None


def describe_radio(app: Any, url: str) -> dict[str, Any]:
    """What ``radio info`` reports, from zigpy's standard ``app.state`` and ``app.devices``."""
    node = app.state.node_info
    network = app.state.network_info
    extended_pan_id = _eui64(network.extended_pan_id)
    formed = extended_pan_id is not None and network.pan_id != 0xFFFE and network.channel != 0
    pan_id = None if network.pan_id == 0xFFFE else int(network.pan_id)
    return {
        "url": url,
        "stack": network.source,
        "stack_version": _stack_version(network.metadata or {}),
        "firmware_version": node.version,
        "manufacturer": node.manufacturer,
        "model": node.model,
        "ieee": _eui64(node.ieee),
        "nwk": fmt_hex(int(node.nwk)),
        "nwk_int": int(node.nwk),
        "logical_type": node.logical_type.name,
        "network_state": "formed" if formed else "not formed",
        "channel": int(network.channel) or None,
        "pan_id": None if pan_id is None else fmt_hex(pan_id),
        "pan_id_int": pan_id,
        "extended_pan_id": extended_pan_id,
        "nwk_update_id": int(network.nwk_update_id),
        "tx_power": network.tx_power,
        "devices": sum(1 for ieee in app.devices if ieee != node.ieee),
    }


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
        f"{label.ljust(width)}  {'-' if info[key] is None else info[key]}" for label, key in labels
    )


async def read_radio_info(url: str) -> dict[str, Any]:
    """Open the radio at ``url``, describe it, close it."""
    from hal.radio import open_radio  # imported late so `radio list` does not pay for the radio layer

    async with open_radio(url) as app:
        return describe_radio(app, url)


@radio.command("info")
@radio_option
@json_option
def info(radio_url: str, as_json: bool) -> None:
    """Stack and firmware version, IEEE, channel, PAN and network state of the radio at --radio."""
    from hal.radio import run

    document = run(lambda: read_radio_info(radio_url), radio_url)  # on the radio's (maybe virtual) clock
    emit(document, as_json, _render_info)
