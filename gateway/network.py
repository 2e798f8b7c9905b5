"""Network operations on a session's radios, the gateway feature ``gw.network``: permit joining (optionally
with install codes), backup and restore in zigpy's open coordinator backup format, energy and network
scans, forming and leaving a network. ``hanrig network`` and ``Gateway.permit_join`` go through it.

Everything goes through zigpy's standard ``ControllerApplication`` API (``permit``,
``permit_with_link_key``, ``backups``, ``energy_scan``, ``network_scan``, ``form_network``,
``reset_network_info``), so it reads the same on ``sim://``, through bellows on the virtual EZSP stick
and on hardware; a backup hanrig writes is the document zigpy-cli and ZHA read and write
(``NetworkBackup.as_open_coordinator_json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zigpy.application
import zigpy.backups
import zigpy.types as zigpy_t

from hanrig_errors import INPUT_FILE_MAX, read_input_text

from .exceptions import BadBackup
from .formatting import fmt_hex

if TYPE_CHECKING:
    from .session import Gateway

MAX_PERMIT_S = 254  # Mgmt_Permit_Joining_req PermitDuration: 0xFF would mean "forever"


def channels_mask(channels: list[int] | None) -> zigpy_t.Channels:
    """The 2.4 GHz channels to scan (11..26), all of them when none are named."""
    if not channels:
        return zigpy_t.Channels.ALL_CHANNELS
    return zigpy_t.Channels.from_channel_list(channels)


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


class NetworkService:
    """The network operations of a session's radios (``gw.network``); ``radio_id`` None is the session's
    first radio. Results are plain documents and zigpy types, never the application object."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def _app(self, radio_id: str | None) -> zigpy.application.ControllerApplication:
        apps = self._gateway.apps
        return apps[radio_id] if radio_id is not None else next(iter(apps.values()))

    def state(self, radio_id: str | None = None) -> dict[str, Any]:
        """The radio's network as zigpy's state says now: channel, PAN ID, extended PAN ID, update id."""
        network = self._app(radio_id).state.network_info
        return {
            "channel": int(network.channel),
            "pan_id": fmt_hex(int(network.pan_id)),
            "pan_id_int": int(network.pan_id),
            "extended_pan_id": str(network.extended_pan_id).lower(),
            "nwk_update_id": int(network.nwk_update_id),
        }

    async def permit(self, duration_s: int, install_codes: Mapping[zigpy_t.EUI64, bytes] | None = None,
                     radio_id: str | None = None) -> None:
        """Open the network for ``duration_s``: to everyone (zigpy's broadcast permit), or, with install
        codes (EUI-64 -> derived link key), only to those devices, each with its own key."""
        app = self._app(radio_id)
        if install_codes:
            for ieee, link_key in install_codes.items():
                await app.permit_with_link_key(ieee, zigpy_t.KeyData(link_key), duration_s)
        else:
            await app.permit(duration_s)

    @contextlib.contextmanager
    def watch_joins(self, radio_id: str | None = None) -> Iterator[dict[str, int]]:
        """While open, the devices that join the radio: EUI-64 text -> NWK address."""
        joined: dict[str, int] = {}

        class Joins:
            def device_joined(self, device: Any) -> None:
                joined[str(device.ieee)] = int(device.nwk)

        app, listener = self._app(radio_id), Joins()
        app.add_listener(listener)
        try:
            yield joined
        finally:
            app.remove_listener(listener)

    def not_on_network(self, eui64s: Iterable[zigpy_t.EUI64], radio_id: str | None = None
                       ) -> list[zigpy_t.EUI64]:
        """Those of ``eui64s`` the radio does not know as devices of its network."""
        devices = self._app(radio_id).devices
        return [eui64 for eui64 in eui64s if eui64 not in devices]

    async def backup(self, radio_id: str | None = None) -> dict[str, Any]:
        """The radio's network as an open coordinator backup document (network and link keys, children)."""
        network_backup = await self._app(radio_id).backups.create_backup(load_devices=True)
        return network_backup.as_open_coordinator_json()

    async def restore(self, network_backup: zigpy.backups.NetworkBackup,
                      radio_id: str | None = None) -> dict[str, Any]:
        """Write a backup's network (and keys, children) to the radio, as zigpy-cli's ``radio restore``;
        the network state after it."""
        app = self._app(radio_id)
        app.backups.stop_periodic_backups()  # a periodic backup would talk to the NCP while it is rewritten
        await app.backups.restore_backup(network_backup)
        await app.load_network_info(load_devices=False)
        return self.state(radio_id)

    async def energy_scan(self, channels: list[int] | None, duration_exp: int, count: int,
                          radio_id: str | None = None) -> dict[int, float]:
        """Energy per channel (0..255, the highest of ``count`` scans)."""
        return await self._app(radio_id).energy_scan(channels=channels_mask(channels),
                                                     duration_exp=duration_exp, count=count)

    async def scan(self, channels: list[int] | None, duration_exp: int,
                   radio_id: str | None = None) -> list[zigpy_t.NetworkBeacon]:
        """The beacons an active scan hears (one per router that answers), in the order heard."""
        app = self._app(radio_id)
        return [beacon async for beacon in app.network_scan(channels=channels_mask(channels),
                                                            duration_exp=duration_exp)]

    async def form(self, radio_id: str | None = None) -> dict[str, Any]:
        """Form a new network (zigpy picks the parameters the radio's config leaves open: a random PAN ID,
        extended PAN ID and network key, the quietest channel), start it; the network state after it."""
        app = self._app(radio_id)
        app.backups.stop_periodic_backups()
        await app.form_network()
        await app.start_network()
        return self.state(radio_id)

    async def reset(self, radio_id: str | None = None) -> None:
        """Leave the network: the radio forgets its network parameters and keys."""
        await self._app(radio_id).reset_network_info()
        # let the stack settle (bellows answers stackStatusHandler NETWORK_DOWN asynchronously)
        await asyncio.sleep(0)
