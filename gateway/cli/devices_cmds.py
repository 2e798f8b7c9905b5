"""``hanrig devices --radio URL [--json]``: the joined devices, with role, EUI-64, NWK, Basic attributes
and OTA firmware identity (contract: shared ``cli.md``).

Runs on the radio's clock (``hal.run``), so on ``sim://`` it answers in well under a second of wall
time even though the sleepy GSME needs several polls. The role comes from the simulator's device table
on ``sim://`` and is inferred from the Smart Energy device type otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
import zigpy.application
import zigpy.device
import zigpy.exceptions
from zigpy.zcl.clusters.general import Basic, Ota
from zigpy.zcl.clusters.smartenergy import Metering

import hal
from hal.exceptions import RadioUnreachable
from hal.sim.config import Role
from hal.sim.devices import SE_DEVICE_TYPES

from .common import emit, fmt_hex, json_option, radio_option

SE_PROFILE = 0x0109
BASIC_ATTRIBUTES = (
    "zcl_version",
    "app_version",
    "stack_version",
    "hw_version",
    "manufacturer",
    "model",
    "date_code",
    "power_source",
    "sw_build_id",
)
OTA_ATTRIBUTES = ("current_file_version", "manufacturer_id", "image_type_id")
READ_TIMEOUT_S = 60.0
# SE device id -> role for the ids only one role uses (meters share theirs; see infer_role)
SE_ROLES = {SE_DEVICE_TYPES[role]: role.value for role in (Role.IHD, Role.PPMID, Role.HCALCS)}


def infer_role(app: zigpy.application.ControllerApplication, device: zigpy.device.Device) -> str | None:
    """The GB role of ``device``: the simulator knows it; otherwise it follows from the SE device type."""
    han = getattr(app, "han", None)
    if han is not None and device.ieee in han.devices:
        return str(han.devices[device.ieee].spec.role.value)
    for endpoint in device.non_zdo_endpoints:
        if endpoint.profile_id != SE_PROFILE:
            continue
        if endpoint.device_type in SE_ROLES:
            return SE_ROLES[endpoint.device_type]
        if endpoint.device_type == SE_DEVICE_TYPES[Role.ESME] or Metering.cluster_id in endpoint.in_clusters:
            sleepy = device.node_desc is not None and device.node_desc.is_end_device
            return "GSME" if sleepy else "ESME"
    return None


async def _read(cluster: Any, names: tuple[str, ...]) -> dict[str, Any]:
    try:
        success, _failure = await cluster.read_attributes(list(names), allow_cache=False)
    except (TimeoutError, zigpy.exceptions.ZigbeeException):
        return {}
    return {name: success.get(name) for name in names if name in success}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    return str(value)


async def describe(
    app: zigpy.application.ControllerApplication, device: zigpy.device.Device
) -> dict[str, Any]:
    """Read one device's Basic and OTA client attributes into the ``devices --json`` record."""
    basic: dict[str, Any] = {}
    ota: dict[str, Any] = {}
    for endpoint in device.non_zdo_endpoints:
        if not basic and Basic.cluster_id in endpoint.in_clusters:
            basic = await _read(endpoint.in_clusters[Basic.cluster_id], BASIC_ATTRIBUTES)
        if not ota and Ota.cluster_id in endpoint.out_clusters:
            ota = await _read(endpoint.out_clusters[Ota.cluster_id], OTA_ATTRIBUTES)
    record: dict[str, Any] = {
        "role": infer_role(app, device),
        "eui64": str(device.ieee),
        "nwk": fmt_hex(device.nwk),
        "nwk_int": int(device.nwk),
        "basic": {name: _json_value(value) for name, value in basic.items()},
    }
    if "power_source" in basic and basic["power_source"] is not None:
        record["basic"]["power_source"] = Basic.PowerSource(basic["power_source"]).name
    for name, key, width in (
        ("current_file_version", "firmware_version", 8),
        ("manufacturer_id", "manufacturer_code", 4),
        ("image_type_id", "image_type", 4),
    ):
        value = ota.get(name)
        record[key] = fmt_hex(int(value), width) if value is not None else None
        record[f"{key}_int"] = int(value) if value is not None else None
    return record


async def list_devices(url: str) -> list[dict[str, Any]]:
    """Open ``url`` and describe every joined device but the coordinator, ordered by EUI-64."""
    async with hal.open_radio(url) as app:
        own = app.state.node_info.ieee
        devices = sorted((d for ieee, d in app.devices.items() if ieee != own), key=lambda d: str(d.ieee))
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                return [await describe(app, device) for device in devices]
        except TimeoutError:
            raise RadioUnreachable(url, f"device attributes not read within {READ_TIMEOUT_S:.0f} s") from None


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
