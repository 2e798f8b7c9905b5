"""``hanrig devices --radio URL [--json]``: the joined devices, with role, EUI-64, NWK, Basic attributes
and OTA firmware identity (contract: shared ``cli.md``).

Runs on the radio's clock (``hal.run``), so on ``sim://`` it answers in well under a second of wall
time even though the sleepy GSME needs several polls. The rows are ``gateway.inventory``'s (SECMP0056):
the role is inferred from the Smart Energy device type (``gateway.session``), and a device that answers
only some attributes still gets a row naming the missing ones.
"""

from __future__ import annotations

from typing import Any

import click

import hal

from .common import emit, json_option, radio_option


async def list_devices(url: str) -> list[dict[str, Any]]:
    """Open ``url`` as a gateway session and read every joined device's inventory (``gw.inventory``:
    Basic and OTA client attributes, role; a partial answer names what is missing), ordered by EUI-64."""
    from gateway.session import Gateway

    async with Gateway.open([url]) as gw:
        return [row.as_dict() for row in await gw.inventory.read_all()]


def _render(document: dict[str, Any]) -> str:
    lines = [f"{len(document['devices'])} device(s) on {document['radio']}"]
    for rec in document["devices"]:
        basic = rec["basic"]
        fields = [
            f"{(rec['role'] or '?'):7} {rec['eui64']}",
            f"nwk {rec['nwk']}",
            f"fw {rec['firmware_version'] or '?'}",
            f"{basic.get('manufacturer') or '?'} / {basic.get('model') or '?'}",
            f"hw {basic.get('hw_version')}",
            f"date {basic.get('date_code')}",
            f"build {basic.get('sw_build_id')}",
            f"power {basic.get('power_source')}",
        ]
        if rec["missing"]:
            fields.append(f"missing {', '.join(rec['missing'])}")
        lines.append("  ".join(fields))
    return "\n".join(lines)


@click.command("devices")
@radio_option
@json_option
def devices(radio_url: str, as_json: bool) -> None:
    """List joined devices: role, EUI-64, NWK, Basic attributes and firmware version."""
    hal.parse_radio_url(radio_url)
    records = hal.run(lambda: list_devices(radio_url), radio_url)
    emit({"radio": radio_url, "devices": records}, as_json, _render)
