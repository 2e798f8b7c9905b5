"""EZSP commands of the virtual NCP: configuration and tokens.

Version negotiation, configuration values (``CONFIG_DEFAULTS``, lost on reset), values and policies,
endpoints, manufacturing and NVM tokens, the NCP's identity (EUI-64, node id, manufacturer code), radio
power and counters. Handlers and the registration table follow ``hal.ezsp_stick.commands``.
"""

from __future__ import annotations

import logging
from typing import Any

import bellows.types as t

from ..stack import (
    COORDINATOR_NWK,
    FREE_BUFFERS,
    MFG_BOARD_NAME,
    MFG_STRING,
    STACK_TYPE,
    STACK_VERSION,
    VERSION_INFO,
)
from . import Handler

LOGGER = logging.getLogger("hal.ezsp_stick.ncp")  # one logger for the whole NCP


class ConfigCommands:
    """Configuration and tokens: a mixin of :class:`~hal.ezsp_stick.ncp.EzspNcp` (``self`` is the NCP)."""

    async def _cmd_version(self, after: list, desiredProtocolVersion: int) -> dict[str, Any]:
        # A real NCP answers with its own version; the host re-sends `version` in that format.
        self._negotiated = desiredProtocolVersion == self.version
        if desiredProtocolVersion != self.version:
            LOGGER.info("ezsp ncp: host asked for EZSPv%d, this stick speaks v%d",
                        desiredProtocolVersion, self.version)
        return {"protocolVersion": self.version, "stackType": STACK_TYPE, "stackVersion": STACK_VERSION}

    async def _cmd_nop(self, after: list) -> dict[str, Any]:
        return {}

    async def _cmd_getConfigurationValue(self, after: list, configId: t.EzspConfigId) -> dict[str, Any]:
        if configId not in self._config:
            return {"status": t.sl_Status.INVALID_PARAMETER, "value": 0}
        return {"status": t.sl_Status.OK, "value": self._config[configId]}

    async def _cmd_setConfigurationValue(self, after: list, configId: t.EzspConfigId,
                                         value: int) -> dict[str, Any]:
        if self.network_up:  # configuration is fixed once the stack is up (UG100)
            return {"status": t.sl_Status.INVALID_PARAMETER}
        self._config[configId] = value
        return {"status": t.sl_Status.OK}

    async def _cmd_getValue(self, after: list, valueId: t.EzspValueId) -> dict[str, Any]:
        if valueId == t.EzspValueId.VALUE_VERSION_INFO:
            build, major, minor, patch, special = VERSION_INFO
            value = build.to_bytes(2, "little") + bytes([major, minor, patch, special])
        elif valueId == t.EzspValueId.VALUE_FREE_BUFFERS:
            value = bytes([FREE_BUFFERS])
        elif valueId in self._values:
            value = self._values[valueId]
        else:
            return {"status": t.sl_Status.INVALID_PARAMETER, "value": b""}
        return {"status": t.sl_Status.OK, "value": value}

    async def _cmd_setValue(self, after: list, valueId: t.EzspValueId, value: bytes) -> dict[str, Any]:
        self._values[valueId] = bytes(value)
        return {"status": t.sl_Status.OK}

    async def _cmd_setPolicy(self, after: list, policyId: t.EzspPolicyId, decisionId: int) -> dict[str, Any]:
        self._policies[policyId] = int(decisionId)
        return {"status": t.sl_Status.OK}

    async def _cmd_getPolicy(self, after: list, policyId: t.EzspPolicyId) -> dict[str, Any]:
        return {"status": t.sl_Status.OK, "decisionId": self._policies.get(policyId, 0)}

    async def _cmd_addEndpoint(self, after: list, endpoint: int, profileId: int, deviceId: int,
                               deviceVersion: int, inputClusterCount: int, outputClusterCount: int,
                               inputClusterList: list[int], outputClusterList: list[int]) -> dict[str, Any]:
        if endpoint in self._endpoints or self.network_up:
            return {"status": t.sl_Status.INVALID_PARAMETER}
        # the schema's lists are count-less, so the first one swallows both: split by the counts
        clusters = [*inputClusterList, *outputClusterList]
        if len(clusters) != inputClusterCount + outputClusterCount:
            return {"status": t.sl_Status.INVALID_PARAMETER}
        self._endpoints[endpoint] = {
            "profile": profileId, "device_type": deviceId, "device_version": deviceVersion,
            "input_clusters": clusters[:inputClusterCount], "output_clusters": clusters[inputClusterCount:]}
        return {"status": t.sl_Status.OK}

    async def _cmd_getMfgToken(self, after: list, tokenId: t.EzspMfgTokenId) -> dict[str, Any]:
        tokens = {
            t.EzspMfgTokenId.MFG_STRING: MFG_STRING.ljust(16, b"\xff"),
            t.EzspMfgTokenId.MFG_BOARD_NAME: MFG_BOARD_NAME.ljust(32, b"\xff")[:32],
            t.EzspMfgTokenId.MFG_CUSTOM_EUI_64: b"\xff" * 8,  # never written: custom EUI64 burnable
        }
        return {"tokenData": tokens.get(tokenId, b"\xff" * 2)}

    async def _cmd_getTokenData(self, after: list, token: int, index: int) -> dict[str, Any]:
        return {"status": t.sl_Status.NOT_FOUND}  # no NV3 token interface on this firmware

    async def _cmd_setTokenData(self, after: list, token: int, index: int,
                                token_data: bytes) -> dict[str, Any]:
        return {"status": t.sl_Status.NOT_FOUND}

    async def _cmd_getEui64(self, after: list) -> dict[str, Any]:
        return {"eui64": self.ieee}

    async def _cmd_getNodeId(self, after: list) -> dict[str, Any]:
        return {"nodeId": COORDINATOR_NWK if self.network_up else 0xFFFE}

    async def _cmd_setManufacturerCode(self, after: list, code: int) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}

    async def _cmd_setRadioPower(self, after: list, power: int) -> dict[str, Any]:
        self._tx_power = power
        return {"status": t.sl_Status.OK}

    async def _cmd_readCounters(self, after: list) -> dict[str, Any]:
        return {"values": [0] * len(t.EmberCounterType)}

    async def _cmd_readAndClearCounters(self, after: list) -> dict[str, Any]:
        return {"values": [0] * len(t.EmberCounterType)}

    async def _cmd_tokenFactoryReset(self, after: list, excludeOutgoingFC: bool,
                                     excludeBootCounter: bool) -> dict[str, Any]:
        self.nvm.key_table.clear()
        self.nvm.multicast.clear()
        return {}


# EZSP command name -> handler (see hal.ezsp_stick.commands for how to add one)
COMMANDS: dict[str, Handler] = {
    "version": ConfigCommands._cmd_version,
    "nop": ConfigCommands._cmd_nop,
    "getConfigurationValue": ConfigCommands._cmd_getConfigurationValue,
    "setConfigurationValue": ConfigCommands._cmd_setConfigurationValue,
    "getValue": ConfigCommands._cmd_getValue,
    "setValue": ConfigCommands._cmd_setValue,
    "setPolicy": ConfigCommands._cmd_setPolicy,
    "getPolicy": ConfigCommands._cmd_getPolicy,
    "addEndpoint": ConfigCommands._cmd_addEndpoint,
    "getMfgToken": ConfigCommands._cmd_getMfgToken,
    "getTokenData": ConfigCommands._cmd_getTokenData,
    "setTokenData": ConfigCommands._cmd_setTokenData,
    "getEui64": ConfigCommands._cmd_getEui64,
    "getNodeId": ConfigCommands._cmd_getNodeId,
    "setManufacturerCode": ConfigCommands._cmd_setManufacturerCode,
    "setRadioPower": ConfigCommands._cmd_setRadioPower,
    "readCounters": ConfigCommands._cmd_readCounters,
    "readAndClearCounters": ConfigCommands._cmd_readAndClearCounters,
    "tokenFactoryReset": ConfigCommands._cmd_tokenFactoryReset,
}
