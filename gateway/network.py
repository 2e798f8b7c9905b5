"""Network operations on an open radio: permit joining (optionally with install codes), backup and restore
in zigpy's open coordinator backup format, energy and network scans, forming and leaving a network.

Everything goes through zigpy's standard ``ControllerApplication`` API (``permit``,
``permit_with_link_key``, ``backups``, ``energy_scan``, ``network_scan``, ``form_network``,
``reset_network_info``), so it reads the same on ``sim://``, through bellows on the virtual EZSP stick
and on hardware; a backup hanrig writes is the document zigpy-cli and ZHA read and write
(``NetworkBackup.as_open_coordinator_json``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zigpy.application
import zigpy.backups
import zigpy.types as zigpy_t

from hanrig_errors import INPUT_FILE_MAX, read_input_text

from .exceptions import BadBackup

MAX_PERMIT_S = 254  # Mgmt_Permit_Joining_req PermitDuration: 0xFF would mean "forever"


def channels_mask(channels: list[int] | None) -> zigpy_t.Channels:
    """The 2.4 GHz channels to scan (11..26), all of them when none are named."""
    if not channels:
        return zigpy_t.Channels.ALL_CHANNELS
    return zigpy_t.Channels.from_channel_list(channels)


async def permit(app: zigpy.application.ControllerApplication, duration_s: int,
                 install_codes: Mapping[zigpy_t.EUI64, bytes] | None = None) -> None:
    """Open the network for ``duration_s``: to everyone (zigpy's broadcast permit), or, with install codes
    (EUI-64 -> derived link key), only to those devices, each with its own key."""
    if install_codes:
        for ieee, link_key in install_codes.items():
            await app.permit_with_link_key(ieee, zigpy_t.KeyData(link_key), duration_s)
    else:
        await app.permit(duration_s)


async def backup(app: zigpy.application.ControllerApplication) -> dict[str, Any]:
    """The radio's network as an open coordinator backup document (network and link keys, children)."""
    network_backup = await app.backups.create_backup(load_devices=True)
    return network_backup.as_open_coordinator_json()


def read_backup(path: Path) -> zigpy.backups.NetworkBackup:
    """Parse an open coordinator backup file with zigpy's own parser; BadBackup names what is wrong."""
    try:
        document = json.loads(read_input_text(path, limit=INPUT_FILE_MAX))
    except json.JSONDecodeError as exc:
        raise BadBackup(f"{path}: not a JSON document ({exc})") from None
    try:
        return zigpy.backups.NetworkBackup.from_open_coordinator_json(document)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise BadBackup(f"{path}: not an open coordinator backup ({type(exc).__name__}: {exc})") from None


async def restore(app: zigpy.application.ControllerApplication,
                  network_backup: zigpy.backups.NetworkBackup) -> None:
    """Write a backup's network (and keys, children) to the radio, as zigpy-cli's ``radio restore``."""
    app.backups.stop_periodic_backups()  # a periodic backup would talk to the NCP while it is rewritten
    await app.backups.restore_backup(network_backup)
    await app.load_network_info(load_devices=False)


async def energy_scan(app: zigpy.application.ControllerApplication, channels: list[int] | None,
                      duration_exp: int, count: int) -> dict[int, float]:
    """Energy per channel (0..255, the highest of ``count`` scans)."""
    return await app.energy_scan(channels=channels_mask(channels), duration_exp=duration_exp, count=count)


async def network_scan(app: zigpy.application.ControllerApplication, channels: list[int] | None,
                       duration_exp: int) -> list[zigpy_t.NetworkBeacon]:
    """The beacons an active scan hears (one per router that answers), in the order heard."""
    return [beacon async for beacon in app.network_scan(channels=channels_mask(channels),
                                                        duration_exp=duration_exp)]


async def form(app: zigpy.application.ControllerApplication) -> None:
    """Form a new network (zigpy picks the parameters the radio's config leaves open: a random PAN ID,
    extended PAN ID and network key, the quietest channel) and start it."""
    app.backups.stop_periodic_backups()
    await app.form_network()
    await app.start_network()


async def reset(app: zigpy.application.ControllerApplication) -> None:
    """Leave the network: the radio forgets its network parameters and keys."""
    await app.reset_network_info()
    # let the stack settle (bellows answers stackStatusHandler NETWORK_DOWN asynchronously)
    await asyncio.sleep(0)
