"""EZSP commands of the virtual NCP: the network.

Network state, init, form, leave and parameters; permit joining; energy and active scans; child,
address and neighbour tables; the coordinator listener's join and leave events (``trustCenterJoinHandler``).
Handlers and the registration table follow ``hal.ezsp_stick.commands``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import bellows.types as t
import zigpy.types as zigpy_t
from bellows.zigbee.util import map_energy_to_rssi

from ..codec import zeroed
from ..stack import COORDINATOR_NWK, NetworkState
from . import Handler

LOGGER = logging.getLogger("hal.ezsp_stick.ncp")  # one logger for the whole NCP


def _network_found(beacon: zigpy_t.NetworkBeacon) -> dict[str, Any]:
    """A ``networkFoundHandler`` callback's fields for one beacon heard in an active scan."""
    return {
        "networkFound": t.EmberZigbeeNetwork(
            channel=beacon.channel, panId=beacon.pan_id, extendedPanId=beacon.extended_pan_id,
            allowingJoin=t.Bool(beacon.permit_joining), stackProfile=beacon.stack_profile,
            nwkUpdateId=beacon.nwk_update_id,
        ),
        "lastHopLqi": beacon.lqi,
        "lastHopRssi": beacon.rssi if beacon.rssi is not None else -80,
    }


class NetworkCommands:
    """Network: a mixin of :class:`~hal.ezsp_stick.ncp.EzspNcp` (``self`` is the NCP)."""

    def _formed(self) -> bool:
        return bool(self.han.network.formed) and not self.nvm.left_network

    def on_join(self, nwk: int, ieee: zigpy_t.EUI64, parent_nwk: int) -> None:
        self._known[zigpy_t.EUI64(ieee)] = nwk
        if not self.network_up:
            LOGGER.debug("ezsp ncp: network down, join of %s not reported", ieee)
            return
        self.callback("trustCenterJoinHandler", {
            "newNodeId": nwk, "newNodeEui64": ieee,
            "status": t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
            "policyDecision": t.EmberJoinDecision.USE_PRECONFIGURED_KEY, "parentOfNewNodeId": parent_nwk})

    def on_leave(self, nwk: int, ieee: zigpy_t.EUI64) -> None:
        self._known.pop(zigpy_t.EUI64(ieee), None)
        if not self.network_up:
            return
        self.callback("trustCenterJoinHandler", {
            "newNodeId": nwk, "newNodeEui64": ieee, "status": t.EmberDeviceUpdate.DEVICE_LEFT,
            "policyDecision": t.EmberJoinDecision.NO_ACTION, "parentOfNewNodeId": 0xFFFF})

    def _ieee_of(self, nwk: int) -> zigpy_t.EUI64 | None:
        return next((ieee for ieee, n in self._known.items() if n == nwk), None)

    async def _cmd_setConcentrator(self, after: list, **_: Any) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_setSourceRouteDiscoveryMode(self, after: list, mode: int) -> dict[str, Any]:
        return {"remainingTime": 0}

    async def _cmd_setSourceRoute(self, after: list, **_: Any) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_networkState(self, after: list) -> dict[str, Any]:
        status = (t.EmberNetworkStatus.JOINED_NETWORK if self.network_up
                  else t.EmberNetworkStatus.NO_NETWORK)
        return {"status": status}

    async def _cmd_networkInit(self, after: list, networkInitBitmask: int = 0) -> dict[str, Any]:
        if self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        if not self._formed():
            return {"status": t.sl_Status.NOT_JOINED}
        self._network = NetworkState.UP
        self._stack_status(after, t.sl_Status.NETWORK_UP)
        return {"status": t.sl_Status.OK}

    async def _cmd_getNetworkParameters(self, after: list) -> dict[str, Any]:
        net = self.han.network
        if not self._formed():
            return {"status": t.sl_Status.OK, "nodeType": t.EmberNodeType.UNKNOWN_DEVICE,
                    "parameters": zeroed(t.EmberNetworkParameters)}
        params = t.EmberNetworkParameters(
            extendedPanId=t.ExtendedPanId(net.extended_pan_id), panId=int(net.pan_id),
            radioTxPower=self._tx_power & 0xFF, radioChannel=int(net.channel),
            joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
            nwkManagerId=COORDINATOR_NWK, nwkUpdateId=int(net.nwk_update_id),
            channels=t.Channels.from_channel_list([int(net.channel)]))
        return {"status": t.sl_Status.OK, "nodeType": t.EmberNodeType.COORDINATOR, "parameters": params}

    async def _cmd_formNetwork(self, after: list, parameters: t.EmberNetworkParameters) -> dict[str, Any]:
        if self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        security = self._initial_security
        if security is None:
            return {"status": t.sl_Status.INVALID_CONFIGURATION}
        new = dataclasses.replace(
            self.han.network, channel=int(parameters.radioChannel), pan_id=zigpy_t.PanId(parameters.panId),
            extended_pan_id=zigpy_t.ExtendedPanId(parameters.extendedPanId),
            network_key=zigpy_t.KeyData(security.networkKey),
            tc_link_key=zigpy_t.KeyData(security.preconfiguredKey),
            nwk_update_id=int(parameters.nwkUpdateId), coordinator_ieee=self.ieee, formed=True)
        await self.han.form(new)
        self.nvm.left_network = False
        self._network = NetworkState.UP
        self._stack_status(after, t.sl_Status.NETWORK_UP)
        return {"status": t.sl_Status.OK}

    async def _cmd_leaveNetwork(self, after: list, options: int = 0) -> dict[str, Any]:
        if not self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        self._network = NetworkState.DOWN
        self.nvm.left_network = True
        self._stack_status(after, t.sl_Status.NETWORK_DOWN)
        return {"status": t.sl_Status.OK}

    async def _cmd_permitJoining(self, after: list, duration: int) -> dict[str, Any]:
        if not self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        await self.han.permit_join(duration)
        self._host_ready()
        return {"status": t.sl_Status.OK}

    async def _cmd_startScan(self, after: list, scanType: t.EzspNetworkScanType, channelMask: t.Channels,
                             duration: int) -> dict[str, Any]:
        channels = [c for c in range(11, 27) if channelMask & (1 << c)]
        if not channels:
            return {"status": t.sl_Status.INVALID_CHANNEL_MASK}
        generation = self._generation

        async def scan() -> None:
            if scanType == t.EzspNetworkScanType.ENERGY_SCAN:
                energies = await self.han.energy_scan(channels, duration)
                for channel in channels:
                    energy = min(254, max(1, int(energies.get(channel, 1))))
                    rssi = max(-128, min(127, round(map_energy_to_rssi(energy))))
                    if generation == self._generation:
                        self.callback("energyScanResultHandler", {"channel": channel, "maxRssiValue": rssi})
            elif scanType == t.EzspNetworkScanType.ACTIVE_SCAN:
                for beacon in await self.han.network_scan(channels, duration):
                    if generation == self._generation:
                        self.callback("networkFoundHandler", _network_found(beacon))
            if generation == self._generation:
                self.callback("scanCompleteHandler", {"channel": 0, "status": t.sl_Status.OK})

        self._spawn(scan(), "ezsp-ncp-scan")
        return {"status": t.sl_Status.OK}

    async def _cmd_getChildData(self, after: list, index: int) -> dict[str, Any]:
        # the child table: the sleepy end devices that joined through the coordinator (bellows reads it
        # for backups and on startup; routers are neighbours, not children)
        children = getattr(self.han, "children", lambda: [])()
        if not self._formed() or index >= len(children):
            return {"status": t.sl_Status.NOT_JOINED}
        ieee, nwk = children[index]
        schema = self.codec.commands["getChildData"][2]
        # EZSP v7+ answer one EmberChildData struct (named childData or child_data by version)
        key = next((k for k, kind in schema.items() if hasattr(kind, "fields")), None)
        if key is None:  # EZSP v4..v6 answer the fields flat
            return {"status": t.sl_Status.OK, "childId": nwk, "childEui64": ieee,
                    "childType": t.EmberNodeType.SLEEPY_END_DEVICE}
        kind = schema[key]
        values = {f.name: getattr(zeroed(kind), f.name) for f in kind.fields}
        values.update(eui64=ieee, type=t.EmberNodeType.SLEEPY_END_DEVICE, id=nwk)
        return {"status": t.sl_Status.OK, key: kind(**values)}

    async def _cmd_setChildData(self, after: list, index: int, **_: Any) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_gpSinkTableClearAll(self, after: list) -> dict[str, Any]:
        return {}

    async def _cmd_gpClearProxyTable(self, after: list) -> dict[str, Any]:
        return {}

    async def _cmd_lookupNodeIdByEui64(self, after: list, eui64: zigpy_t.EUI64) -> dict[str, Any]:
        nwk = self._known.get(zigpy_t.EUI64(eui64))
        if nwk is None:
            return {"status": t.sl_Status.NOT_FOUND, "nodeId": 0xFFFF}
        return {"status": t.sl_Status.OK, "nodeId": nwk}

    async def _cmd_lookupEui64ByNodeId(self, after: list, nodeId: int) -> dict[str, Any]:
        ieee = self._ieee_of(nodeId)
        if ieee is None:
            return {"status": t.sl_Status.NOT_FOUND}
        return {"status": t.sl_Status.OK, "eui64": ieee}

    async def _cmd_getExtendedTimeout(self, after: list, remoteEui64: zigpy_t.EUI64) -> dict[str, Any]:
        extended = zigpy_t.EUI64(remoteEui64) in self._extended_timeout
        return {"extendedTimeout": extended, "status": t.sl_Status.OK if extended else t.sl_Status.FAIL}

    async def _cmd_setExtendedTimeout(self, after: list, remoteEui64: zigpy_t.EUI64,
                                      extendedTimeout: bool) -> dict[str, Any]:
        self._set_extended_timeout(zigpy_t.EUI64(remoteEui64), extendedTimeout)
        return {"status": t.sl_Status.OK}

    def _set_extended_timeout(self, ieee: zigpy_t.EUI64, extended: bool) -> None:
        self.stats.extended_timeout_changes += 1
        if extended:
            self._extended_timeout.add(ieee)
        else:
            self._extended_timeout.discard(ieee)

    async def _cmd_replaceAddressTableEntry(self, after: list, addressTableIndex: int,
                                            newEui64: zigpy_t.EUI64, newId: int,
                                            newExtendedTimeout: bool) -> dict[str, Any]:
        if addressTableIndex >= self._config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_RANGE}
        old = self._address_table.get(addressTableIndex)
        self._address_table[addressTableIndex] = (zigpy_t.EUI64(newEui64), newId)
        await self._cmd_setExtendedTimeout(after, newEui64, newExtendedTimeout)
        old_ieee, old_nwk = old if old else (zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00"), 0xFFFF)
        return {"status": t.sl_Status.OK, "oldEui64": old_ieee, "oldId": old_nwk,
                "oldExtendedTimeout": old_ieee in self._extended_timeout}

    async def _cmd_getAddressTableInfo(self, after: list, index: int) -> dict[str, Any]:
        if index not in self._address_table:
            return {"status": t.sl_Status.NOT_FOUND}
        ieee, nwk = self._address_table[index]
        return {"status": t.sl_Status.OK, "nwk": nwk, "eui64": ieee}

    async def _cmd_getAddressTableRemoteNodeId(self, after: list, addressTableIndex: int) -> dict[str, Any]:
        entry = self._address_table.get(addressTableIndex)
        return {"nodeId": entry[1] if entry else 0xFFFF}

    async def _cmd_getAddressTableRemoteEui64(self, after: list, addressTableIndex: int) -> dict[str, Any]:
        entry = self._address_table.get(addressTableIndex)
        return {"eui64": entry[0] if entry else zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00")}

    async def _cmd_removeDevice(self, after: list, destShort: int, destLong: zigpy_t.EUI64,
                                targetLong: zigpy_t.EUI64) -> dict[str, Any]:
        known = zigpy_t.EUI64(targetLong) in self._known
        return {"status": t.sl_Status.OK if known else t.sl_Status.NOT_FOUND}


# EZSP command name -> handler (see hal.ezsp_stick.commands for how to add one)
COMMANDS: dict[str, Handler] = {
    "setConcentrator": NetworkCommands._cmd_setConcentrator,
    "setSourceRouteDiscoveryMode": NetworkCommands._cmd_setSourceRouteDiscoveryMode,
    "setSourceRoute": NetworkCommands._cmd_setSourceRoute,
    "networkState": NetworkCommands._cmd_networkState,
    "networkInit": NetworkCommands._cmd_networkInit,
    "getNetworkParameters": NetworkCommands._cmd_getNetworkParameters,
    "formNetwork": NetworkCommands._cmd_formNetwork,
    "leaveNetwork": NetworkCommands._cmd_leaveNetwork,
    "permitJoining": NetworkCommands._cmd_permitJoining,
    "startScan": NetworkCommands._cmd_startScan,
    "getChildData": NetworkCommands._cmd_getChildData,
    "setChildData": NetworkCommands._cmd_setChildData,
    "gpSinkTableClearAll": NetworkCommands._cmd_gpSinkTableClearAll,
    "gpClearProxyTable": NetworkCommands._cmd_gpClearProxyTable,
    "lookupNodeIdByEui64": NetworkCommands._cmd_lookupNodeIdByEui64,
    "lookupEui64ByNodeId": NetworkCommands._cmd_lookupEui64ByNodeId,
    "getExtendedTimeout": NetworkCommands._cmd_getExtendedTimeout,
    "setExtendedTimeout": NetworkCommands._cmd_setExtendedTimeout,
    "replaceAddressTableEntry": NetworkCommands._cmd_replaceAddressTableEntry,
    "getAddressTableInfo": NetworkCommands._cmd_getAddressTableInfo,
    "getAddressTableRemoteNodeId": NetworkCommands._cmd_getAddressTableRemoteNodeId,
    "getAddressTableRemoteEui64": NetworkCommands._cmd_getAddressTableRemoteEui64,
    "removeDevice": NetworkCommands._cmd_removeDevice,
}
